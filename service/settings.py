"""Service settings: the one place the service reads its configuration.

Sources, in increasing priority: defaults, a YAML settings file (`referee serve --settings FILE`),
environment variables prefixed `REFEREE_` (e.g. `REFEREE_API_KEY`), command-line flags. The API key is best
given as a file (`api_key_file`) or in the environment: a command-line flag shows in `ps`.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

from referee.judges import JudgeEnvironment, constitution_dirs, default_cache_dir
from referee.judges.environment import split_dirs
from referee.verifiers import ConfigError, format_validation_error

from .scale.config import RaySettings

__all__ = ["ServiceSettings", "is_loopback", "load_settings"]


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REFEREE_", extra="forbid")

    host: str = Field("127.0.0.1", description="Address to bind; anything but loopback needs an API key.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port to bind (0 picks a free one).")
    http_workers: int = Field(1, ge=1, le=64, description="Uvicorn worker processes; they share nothing.")
    api_key: SecretStr | None = Field(
        None, description="If set, every /v1 and /metrics request needs `Authorization: Bearer <key>`."
    )
    api_key_file: Path | None = Field(
        None, description="A file holding the API key (surrounding whitespace ignored): keeps it out of `ps`."
    )
    allow_insecure_bind: bool = Field(
        False, description="Allow binding a non-loopback address without an API key (trusted networks only)."
    )
    sources: list[str] | None = Field(
        None, description="Reward sources to enable, by registered name; null enables every installed one."
    )
    source_options: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per-source default options, e.g. {code: {isolation: namespaces}}; requests override them, "
        "except fields a source marks operator_only, which only this setting may set.",
    )
    pool_workers: int | None = Field(
        None, ge=1, description="Processes for CPU-bound checks (math, parsing); null means one per CPU."
    )
    worker_memory_mb: int = Field(
        2048, ge=256, description="Memory cap of each worker process; an item past it is unscored worker_error."
    )
    item_timeout_s: float = Field(
        10.0, gt=0, le=600, description="Default deadline per item for CPU-bound checks, in seconds."
    )
    request_timeout_s: float = Field(
        600.0, gt=0, description="Deadline for a whole scoring request; items still open then are unscored."
    )
    max_inflight_items: int = Field(
        16384, ge=1, description="Most samples scored at once; more wait up to queue_timeout_s, then get 503."
    )
    queue_timeout_s: float = Field(
        5.0, ge=0, description="How long a request may wait for room under load before it is refused (503)."
    )
    audit_db: str | None = Field(
        None, description="Audit log: a SQLite file path or a postgresql:// URL; null keeps no log."
    )
    audit_texts: bool = Field(
        False, description="Store prompt, completion and reference texts in the audit log (needed to rescore)."
    )
    max_items: int = Field(4096, ge=1, description="Most samples (or pairs) accepted in one request.")
    max_body_bytes: int = Field(64 * 1024 * 1024, ge=1024, description="Largest request body accepted.")
    max_inflight_bytes: int = Field(
        256 * 1024 * 1024, ge=1024,
        description="Most request-body bytes held at once; more wait up to queue_timeout_s, then get 503.",
    )
    max_field_chars: int = Field(
        1_000_000, ge=1, description="Longest prompt, completion or reference accepted, in characters."
    )
    cache: Path = Field(
        default_factory=default_cache_dir,
        description="Cache folder (REFEREE_CACHE), where the judge model is materialised.",
    )
    constitution_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders of <name>/v<N>.md constitutions searched after the shipped ones and ./constitutions "
        "(REFEREE_CONSTITUTION_DIRS: a JSON list or folders separated by ':').",
    )
    ray: RaySettings = Field(
        default_factory=RaySettings, description="Layout on a Ray cluster (`referee serve --ray`): replicas, "
        "resources and batching per source; see docs/scale.md. Ignored by the single-process service."
    )

    @field_validator("constitution_dirs", mode="before")
    @classmethod
    def _dirs_from_text(cls, value: Any) -> Any:
        return split_dirs(value) if isinstance(value, str) else value

    def judge_environment(self) -> JudgeEnvironment:
        """What the judges get: the cache folder and the constitution search path (see referee.judges.environment)."""
        return JudgeEnvironment(self.cache.expanduser(), constitution_dirs(self.constitution_dirs))

    @model_validator(mode="after")
    def _key_from_file(self) -> ServiceSettings:
        if self.api_key_file is None:
            return self
        if self.api_key is not None:
            raise ValueError("api_key and api_key_file are both set; give the key once (the file keeps it out of ps)")
        try:
            key = self.api_key_file.read_text().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read api_key_file {self.api_key_file}: {exc}") from exc
        if not key:
            raise ValueError(f"api_key_file {self.api_key_file} is empty; write the key into it")
        self.api_key = SecretStr(key)
        return self

    @model_validator(mode="after")
    def _key_not_empty(self) -> ServiceSettings:
        # An empty key would switch the non-loopback guard off and match a bare `Authorization: Bearer`.
        if self.api_key is not None and not self.api_key.get_secret_value().strip():
            raise ValueError("api_key is empty: give a real key (--api-key-file FILE or REFEREE_API_KEY), or none "
                             "at all on a loopback address")
        return self

    @model_validator(mode="after")
    def _budget_holds_a_body(self) -> ServiceSettings:
        if self.max_inflight_bytes < self.max_body_bytes:
            raise ValueError(f"max_inflight_bytes={self.max_inflight_bytes} is smaller than max_body_bytes="
                             f"{self.max_body_bytes}: the largest body allowed could never be admitted; raise "
                             "max_inflight_bytes or lower max_body_bytes")
        return self

    @model_validator(mode="after")
    def _bind_needs_key(self) -> ServiceSettings:
        if not is_loopback(self.host) and self.api_key is None and not self.allow_insecure_bind:
            raise ValueError(
                f"host={self.host!r} is not a loopback address and no api_key is set: anyone who can reach "
                "it could use the service. Set an API key (--api-key-file / REFEREE_API_KEY), bind 127.0.0.1, "
                "or pass --allow-insecure-bind on a trusted network"
            )
        return self


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(settings_file: Path | None = None, **overrides: Any) -> ServiceSettings:
    """Settings from file, environment and `overrides` (None values are ignored); ConfigError if invalid."""
    from_file: dict[str, Any] = {}
    if settings_file is not None:
        try:
            from_file = yaml.safe_load(settings_file.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read settings file {settings_file}: {exc}") from exc
        if not isinstance(from_file, dict):
            raise ConfigError(f"settings file {settings_file} must hold a mapping of setting: value")
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        from_env = EnvSettingsSource(ServiceSettings)()
        return ServiceSettings(**{**from_file, **from_env, **given})
    except ValidationError as exc:
        raise ConfigError(f"invalid service settings: {format_validation_error(exc)}") from exc
