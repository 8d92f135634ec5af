"""The `ray` settings and `referee serve --ray`'s start-up checks: no cluster needed, and none is started."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from referee.judges import Judge
from referee.service.scale import BatchSettings, DeploymentSettings, RaySettings
from referee.service.scale.launch import batch_settings
from referee.service.settings import load_settings
from referee.verifiers import ConfigError
from referee.verifiers.exact import ExactMatch
from tests.test_cli import referee

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "ray_settings.yaml"


def test_the_documented_example_is_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REFEREE_API_KEY", "k")  # the example binds 0.0.0.0, which needs a key
    settings = load_settings(EXAMPLE)
    assert settings.ray.deployment("judge").ray_actor_options["num_gpus"] == 1
    assert settings.ray.deployment("code").autoscaling_config is not None
    assert settings.ray.deployment("wordcount") == DeploymentSettings()  # a source not named gets the defaults


def test_one_way_to_count_replicas() -> None:
    with pytest.raises(ValidationError, match=r"num_replicas \(3\) or autoscaling_config"):
        DeploymentSettings(num_replicas=3, autoscaling_config={"max_replicas": 4})
    DeploymentSettings(num_replicas="auto", autoscaling_config={"max_replicas": 4})


def test_unknown_ray_settings_are_refused_with_their_name(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"ray": {"deployments": {"code": {"chunk_sise": 8}}}}))
    with pytest.raises(ConfigError, match="chunk_sise"):
        load_settings(path)


def test_model_backed_sources_opt_in_to_batching_and_settings_decide() -> None:
    assert batch_settings(DeploymentSettings(), Judge) == BatchSettings()
    assert batch_settings(DeploymentSettings(), ExactMatch) is None
    assert batch_settings(DeploymentSettings(batch=False), Judge) is None
    assert batch_settings(DeploymentSettings(batch=True), ExactMatch) == BatchSettings()
    mine = BatchSettings(max_batch_size=8)
    assert batch_settings(DeploymentSettings(batch=mine), ExactMatch) == mine


@pytest.mark.parametrize(("args", "needle"), [
    (["--audit-db", "audit.db"], "use a postgresql:// URL"),
    (["--sources", "math", "--settings", "{settings}"], "ray.deployments names source(s) that are not enabled: code"),
])
def test_serve_ray_refuses_a_layout_that_cannot_keep_its_promises(tmp_path: Path, args: list[str],
                                                                  needle: str) -> None:
    settings = tmp_path / "s.yaml"
    settings.write_text(yaml.safe_dump({"ray": {"deployments": {"code": {"num_replicas": 2}}}}))
    result = referee("serve", "--ray", *[a.format(settings=settings) for a in args], check=False)
    assert result.returncode == 2 and needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_single_process_service_ignores_the_ray_section() -> None:
    settings = load_settings(None, ray={"deployments": {"math": {"num_replicas": 4}}})
    assert settings.ray == RaySettings(deployments={"math": DeploymentSettings(num_replicas=4)})


def test_the_serve_config_builder_reads_the_settings_file(tmp_path: Path) -> None:
    serve = pytest.importorskip("ray.serve", reason="Ray is not installed (the `ray` extra)")
    from referee.service.scale import app_builder

    path = tmp_path / "s.yaml"
    layout = {"deployments": {"math": {"num_replicas": 3}}}
    path.write_text(yaml.safe_dump({"sources": ["exact", "math"], "ray": layout}))
    assert isinstance(app_builder({"settings": str(path)}), serve.Application)  # binding starts nothing
    path.write_text(yaml.safe_dump({"sources": ["exact"], "ray": layout}))
    with pytest.raises(ConfigError, match="not enabled: math"):
        app_builder({"settings": str(path)})
