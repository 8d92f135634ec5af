"""The API key: never empty, and given without showing in `ps` (a file or the environment)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from referee.service import load_settings
from referee.service.local import LocalService
from referee.verifiers import ConfigError


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_key_is_a_start_up_error(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="api_key is empty"):
        load_settings(api_key=key, host="0.0.0.0")
    monkeypatch.setenv("REFEREE_API_KEY", key)
    with pytest.raises(ConfigError, match="api_key is empty"):
        load_settings()


def test_serve_refuses_an_empty_key_in_one_line() -> None:
    result = subprocess.run([sys.executable, "-m", "referee", "serve", "--port", "0", "--host", "0.0.0.0",
                             "--api-key", ""], capture_output=True, text=True, timeout=20)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "api_key is empty" in result.stderr


def test_the_key_from_a_file(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-from-file\n")
    with LocalService(extra_args=["--api-key-file", str(key_file)]) as svc:
        body = {"source": "exact", "samples": [{"completion": "1", "reference": "1"}]}
        ok = httpx.post(svc.url + "/v1/score", json=body, headers={"Authorization": "Bearer s3cret-from-file"})
        assert ok.status_code == 200
        for header in ("Bearer", "bearer  s3cret", "Bearer s3cret-from-filex"):
            assert httpx.post(svc.url + "/v1/score", json=body, headers={"Authorization": header}).status_code == 401


def test_key_file_problems_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ConfigError, match=f"api_key_file {empty} is empty"):
        load_settings(api_key_file=empty)
    with pytest.raises(ConfigError, match="cannot read api_key_file"):
        load_settings(api_key_file=tmp_path / "missing")
    with pytest.raises(ConfigError, match="give the key once"):
        load_settings(api_key_file=empty, api_key="k")
    good = tmp_path / "good"
    good.write_text("k1")
    monkeypatch.setenv("REFEREE_API_KEY_FILE", str(good))
    settings = load_settings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "k1"


def test_help_says_how_to_keep_the_key_out_of_ps() -> None:
    out = subprocess.run([sys.executable, "-m", "referee", "serve", "--help"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    flat = " ".join(out.split())
    assert "--api_key_file" in flat and "REFEREE_API_KEY" in flat and "visible to other users in ps" in flat
