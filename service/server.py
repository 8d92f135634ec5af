"""Run the service under uvicorn (what `referee serve` does)."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import socket

import uvicorn

from referee.verifiers import ConfigError

from .app import SETTINGS_ENV, create_app
from .audit import open_audit_log
from .settings import ServiceSettings

__all__ = ["check_port", "serve"]


def check_port(host: str, port: int) -> None:
    """A `ConfigError` if `host:port` cannot be bound. Checked before the app starts: uvicorn binds only after
    the lifespan (worker pool, sources) is up, so a busy port would otherwise fail after the slow part."""
    if port == 0:
        return
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot bind host {host!r}: {exc.strerror}; give an IP address or a resolvable name "
                          "with --host") from exc
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is already in use (another `referee serve`?); stop "
                                  "what holds it, or choose another --port") from exc
            raise ConfigError(f"cannot bind {host}:{port}: {exc.strerror}; choose another --host or --port") from exc


def serve(settings: ServiceSettings, *, log_level: str = "info") -> None:
    """Serve until interrupted. Several HTTP workers re-create the app from `SETTINGS_ENV`."""
    check_port(settings.host, settings.port)
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
