"""HTTP errors: every one answers `ErrorBody` JSON (`detail`, `errors`), never an HTML page or a bare 500.

Bad input is a 4xx whose `detail` names the input, the expectation and the fix; a 500 means a bug in
referee and carries the request id to report.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from referee.verifiers import ConfigError, RefereeError, RegistryError, UnknownSourceError

__all__ = ["ApiError", "describe_errors", "install_error_handlers"]

log = logging.getLogger(__name__)


class ApiError(RefereeError):
    """An HTTP error answer: `status`, `detail` (one sentence), optional per-field `errors` and headers."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.headers = headers
        super().__init__(detail)


def describe_errors(errors: list[Any], prefix: str = "") -> tuple[str, list[dict[str, Any]]]:
    """Pydantic / FastAPI validation errors as one sentence plus a JSON-safe list."""
    clean: list[dict[str, Any]] = []
    parts: list[str] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        where = _path(loc) or "body"
        parts.append(f"{prefix}{where}: {err.get('msg', 'invalid')}")
        clean.append({"loc": loc, "msg": err.get("msg", ""), "type": err.get("type", "")})
    shown = "; ".join(parts[:5]) + (f"; and {len(parts) - 5} more" if len(parts) > 5 else "")
    return f"invalid request: {shown}", clean


def _path(loc: list[str]) -> str:
    out = ""
    for p in loc:
        out += f"[{p}]" if p.isdigit() else (f".{p}" if out else p)
    return out


def _body(status: int, detail: str, errors: list[dict[str, Any]] | None = None,
          headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors or []}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> JSONResponse:
        return _body(exc.status, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(UnknownSourceError)
    async def _unknown(request: Request, exc: UnknownSourceError) -> JSONResponse:
        return _body(404, str(exc))

    @app.exception_handler(ConfigError)
    async def _config(request: Request, exc: ConfigError) -> JSONResponse:
        return _body(422, str(exc))

    @app.exception_handler(RegistryError)
    async def _registry(request: Request, exc: RegistryError) -> JSONResponse:
        return _body(503, f"{exc}; the service cannot use this source until the plugin is fixed")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail, errors = describe_errors(list(exc.errors()))
        return _body(422, detail, errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _body(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        rid = getattr(request.state, "request_id", "?")
        log.exception("unhandled error in request %s", rid)
        return _body(500, f"internal error (a bug in referee); request id {rid}")
