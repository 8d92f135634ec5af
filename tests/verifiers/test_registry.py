"""The entry-point registry: built-ins and third-party plugins through the same group."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from referee.verifiers import (
    ConfigError,
    DuplicateSourceError,
    PluginLoadError,
    Registry,
    Runtime,
    UnknownSourceError,
)


def test_builtin_and_plugin_register_the_same_way() -> None:
    reg = Registry()
    assert {"exact", "wordcount"} <= set(reg.names())
    assert reg.info("exact").provider.startswith("referee ")
    assert reg.info("wordcount").provider.startswith("referee-testplugin ")


def test_unknown_name_lists_available() -> None:
    with pytest.raises(UnknownSourceError) as err:
        Registry().get("mathh")
    assert "source 'mathh' is not registered; available:" in str(err.value)
    assert "exact" in str(err.value)


async def test_options_are_validated() -> None:
    async with Runtime() as rt:
        with pytest.raises(ConfigError, match=r"invalid options for source 'wordcount': target"):
            Registry().create("wordcount", {"target": -1}, rt)
        assert Registry().create("wordcount", {"target": 3}, rt).config.target == 3  # type: ignore[attr-defined]


def _fake_dist(root: Path, dist: str, entry: str) -> None:
    info = root / f"{dist}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[referee.sources]\n{entry}\n")


def test_duplicate_name_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dist(tmp_path, "imposter", "exact = imposter:Exact")
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    with pytest.raises(DuplicateSourceError, match="'exact' is registered twice") as err:
        Registry()
    assert "imposter" in str(err.value)


def test_broken_plugin_is_a_clear_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_dist(tmp_path, "brokenplugin", "broken = no_such_module_xyz:Source")
    (tmp_path / "notsource.py").write_text("class NotSource:\n    pass\n")
    _fake_dist(tmp_path / "b", "halfplugin", "half = notsource:NotSource")
    monkeypatch.setattr(sys, "path", [str(tmp_path), str(tmp_path / "b"), *sys.path])
    reg = Registry()
    with pytest.raises(PluginLoadError, match=r"'broken'.*failed to import.*no_such_module_xyz"):
        reg.get("broken")
    with pytest.raises(PluginLoadError, match=r"'half'.*not a source factory.*name"):
        reg.get("half")


def test_sources_name_modules_for_the_worker_pool_to_preload() -> None:
    reg = Registry()
    assert reg.worker_preload(["exact", "math", "math"]) == ["referee.verifiers.math.source",
                                                          "referee.verifiers.math.units"]
