"""The FastAPI app factory.

    from referee.service import create_app, load_settings
    app = create_app(load_settings())          # or: uvicorn --factory referee.service.app:app_from_env

Long-lived resources live in the lifespan: the `Runtime` (worker pool, models, HTTP clients) and the
enabled sources. Route modules reach them through `request.app.state`: `settings`, `registry`,
`runtime`, `sources` (EnabledSources), `metrics`, `admission`, `audit` (or None). Every route that scores
goes through `scoring.run_scoring` (admission, deadline, metrics, audit log); every request body through
`limits.BodyLimits` (API key, size, admission by bytes, text check) before a route sees it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

import referee
from referee.judges import configure_judges
from referee.verifiers import Registry, Runtime

from . import routes_judges
from .admission import Admission
from .audit import open_audit_log
from .errors import install_error_handlers
from .limits import BodyLimits
from .metrics import Metrics, MetricsMiddleware
from .protocols import nemo_gym, openai_graders, openrlhf
from .routes import api_router, ops_router
from .schemas import ScoreRequest
from .settings import ServiceSettings, load_settings
from .sources import EnabledSources

__all__ = ["SETTINGS_ENV", "SourcesFactory", "app_from_env", "create_app"]

# How `referee serve` hands its settings to uvicorn worker processes, which import the app afresh.
SETTINGS_ENV = "REFEREE_SERVE_SETTINGS_JSON"


# Builds `app.state.sources` in the lifespan; `referee serve --ray` passes one whose sources are Ray deployments.
SourcesFactory = Callable[[Registry, Runtime, ServiceSettings], EnabledSources]


def create_app(settings: ServiceSettings | None = None, registry: Registry | None = None, *,
               sources: SourcesFactory | None = None) -> FastAPI:
    settings = settings or load_settings()
    registry = registry or Registry()
    # Fail before binding a port if a configured source is unknown or its plugin is broken.
    EnabledSources(registry, Runtime(), settings.sources, settings.source_options)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        enabled = settings.sources if settings.sources is not None else registry.names()
        preload = ["sympy", *registry.worker_preload(enabled)]
        async with Runtime(workers=settings.pool_workers, item_timeout_s=settings.item_timeout_s,
                           worker_memory_mb=settings.worker_memory_mb, preload=preload) as runtime:
            app.state.runtime = runtime
            configure_judges(runtime, settings.judge_environment())
            app.state.sources = (sources or _local_sources)(registry, runtime, settings)
            await app.state.sources.start()
            app.state.admission = Admission(settings.max_inflight_items, settings.queue_timeout_s)
            app.state.audit = open_audit_log(settings.audit_db) if settings.audit_db else None
            if app.state.audit is not None:
                await app.state.audit.open()  # a log it cannot use stops the service here, not at a request
            app.state.ready = True
            try:
                yield
            finally:
                app.state.ready = False
                if app.state.audit is not None:
                    await app.state.audit.aclose()

    app = FastAPI(
        title="referee",
        version=referee.__version__,
        description="Reward service for RL post-training: verifiable rewards and constitution judges.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.registry = registry
    app.state.metrics = Metrics()
    app.state.ready = False
    app.include_router(ops_router)
    app.include_router(api_router)
    app.include_router(openrlhf.router)
    app.include_router(nemo_gym.router)
    app.include_router(openai_graders.router)
    app.include_router(routes_judges.router)
    install_error_handlers(app)
    app.add_middleware(BodyLimits, settings=settings)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _local_sources(registry: Registry, runtime: Runtime, settings: ServiceSettings) -> EnabledSources:
    return EnabledSources(registry, runtime, settings.sources, settings.source_options)


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers started by `referee serve --http-workers N`."""
    raw = os.environ.get(SETTINGS_ENV)
    settings = ServiceSettings.model_validate_json(raw) if raw else load_settings()
    return create_app(settings)


def _openapi(app: FastAPI) -> dict[str, Any]:
    # /v1/score parses its body itself (from bytes, for speed), so FastAPI does not see the model;
    # publish it under components so the documented request body resolves.
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        body = ScoreRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(body.pop("$defs", {}))
        components["ScoreRequest"] = body
        app.openapi_schema = schema
    return app.openapi_schema
