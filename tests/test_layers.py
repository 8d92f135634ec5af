"""Layers point one way: verifiers <- judges <- service <- trainer. Checked over every import in the tree."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RANK = {"verifiers": 0, "judges": 1, "service": 2, "trainer": 3}
# Only these may import the training stack; the service must start without torch.
HEAVY = {"trl": {"trainer"}, "datasets": {"trainer"}, "vllm": {"trainer"}, "peft": {"trainer"}}
VERIFIERS_MAY_NOT = {"torch", "transformers", "fastapi", "starlette", "uvicorn", "httpx"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _layer_files() -> list[tuple[str, Path]]:
    return [(layer, f) for layer in RANK for f in (ROOT / layer).rglob("*.py")]


def test_layers_point_one_way() -> None:
    bad = []
    for layer, path in _layer_files():
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "referee" and len(parts) > 1 and parts[1] in RANK and RANK[parts[1]] > RANK[layer]:
                bad.append(f"{path.relative_to(ROOT)} ({layer}) imports {name}")
            if parts[0] in HEAVY and layer not in HEAVY[parts[0]]:
                bad.append(f"{path.relative_to(ROOT)} ({layer}) imports {name}, which only trainer/ may")
            if layer == "verifiers" and parts[0] in VERIFIERS_MAY_NOT:
                bad.append(f"{path.relative_to(ROOT)} (verifiers) imports {name}")
    assert not bad, "layer violations:\n" + "\n".join(bad)


def test_the_check_sees_the_tree() -> None:
    files = _layer_files()
    assert any(layer == "service" for layer, _ in files) and any(layer == "verifiers" for layer, _ in files)


def test_service_starts_without_torch() -> None:
    import subprocess
    import sys

    code = ("import sys, referee.service.app, referee.verifiers; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'vllm', 'ray') if m in sys.modules]; "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_only_the_scale_package_imports_ray() -> None:
    """Ray is an optional extra: the single-process service, the trainer and the rest never import it."""
    allowed = ROOT / "service" / "scale"
    bad = [f"{path.relative_to(ROOT)} imports {name}" for _, path in _layer_files() for name in _imports(path)
           if name.split(".")[0] == "ray" and allowed not in path.parents]
    assert not bad, "\n".join(bad)
