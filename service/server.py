"""Run the service under uvicorn (what `referee serve` does)."""

from __future__ import annotations

import asyncio
import json
import os

import uvicorn

from referee.verifiers import ConfigError

from .app import SETTINGS_ENV, create_app
from .audit import open_audit_log
from .settings import ServiceSettings

__all__ = ["serve"]


def serve(settings: ServiceSettings, *, log_level: str = "info") -> None:
    """Serve until interrupted. Several HTTP workers re-create the app from `SETTINGS_ENV`."""
    if settings.audit_db:
        asyncio.run(_check_audit_log(settings.audit_db))
    common = {"host": settings.host, "port": settings.port, "log_level": log_level,
              "proxy_headers": False, "server_header": False}
    if settings.http_workers == 1:
        uvicorn.run(create_app(settings), **common)  # type: ignore[arg-type]
        return
    data = settings.model_dump(mode="json")
    data["api_key"] = settings.api_key.get_secret_value() if settings.api_key else None
    data["api_key_file"] = None  # read already: the key itself travels (in this process's environment only)
    os.environ[SETTINGS_ENV] = json.dumps(data)
    uvicorn.run("referee.service.app:app_from_env", factory=True, workers=settings.http_workers,
                **common)  # type: ignore[arg-type]


async def _check_audit_log(target: str) -> None:
    """Open (create or migrate) the audit log once before binding: a log it cannot use is one line of error."""
    log = open_audit_log(target)
    try:
        await log.open()
    except ConfigError:
        raise
    except Exception as exc:
        raise ConfigError(f"cannot open the audit log {target.split('@')[-1]}: {type(exc).__name__}: {exc}") from exc
    finally:
        await log.aclose()
