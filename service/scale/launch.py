"""Lay the service out on Ray Serve and run it: `referee serve --ray [ADDRESS]`, or `serve run` with a config.

    referee serve --ray                      # a new local Ray instance (or the one RAY_ADDRESS names)
    referee serve --ray auto --settings docs/examples/ray_settings.yaml   # join the running cluster
    serve run referee.service.scale:app_builder settings=docs/examples/ray_settings.yaml

Ray is imported inside these functions only: the single-process service never needs it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from referee.verifiers import ConfigError, Registry, Runtime

from .config import BatchSettings, DeploymentSettings

if TYPE_CHECKING:
    from ..settings import ServiceSettings

__all__ = ["APP_NAME", "app_builder", "batch_settings", "build_app", "serve_on_ray"]

log = logging.getLogger(__name__)

APP_NAME = "referee"


def _require_ray() -> None:
    try:
        import ray.serve  # noqa: F401
    except ImportError as exc:
        raise ConfigError("`referee serve --ray` needs Ray Serve: pip install 'referee[ray]'") from exc


def settings_json(settings: ServiceSettings) -> str:
    """The settings as the replicas receive them (the API key in clear: the ingress must check it)."""
    data = settings.model_dump(mode="json")
    data["api_key"] = settings.api_key.get_secret_value() if settings.api_key else None
    return json.dumps(data)


def _check(settings: ServiceSettings, names: list[str]) -> None:
    audit = settings.audit_db
    if audit is not None and not audit.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"audit_db={audit!r} is a SQLite file, which ingress replicas on other nodes (or a "
                          "replica restarted elsewhere) would not share: in Ray mode use a postgresql:// URL, "
                          "shared by every ingress replica")
    unknown = sorted(set(settings.ray.deployments) - set(names))
    if unknown:
        raise ConfigError(f"ray.deployments names source(s) that are not enabled: {', '.join(unknown)}; "
                          f"enabled: {', '.join(names)}")


def build_app(settings: ServiceSettings, registry: Registry | None = None) -> Any:
    """The Ray Serve application: the ingress bound to one deployment per enabled source."""
    from ..sources import EnabledSources

    registry = registry or Registry()
    names = sorted(settings.sources) if settings.sources is not None else registry.names()
    EnabledSources(registry, Runtime(), names, settings.source_options)  # unknown names fail here, not in a replica
    _check(settings, names)
    _require_ray()
    from . import replica

    source_deployment: Any = replica.SourceReplica  # serve.deployment's wrapper, which mypy sees as the class
    ingress_deployment: Any = replica.Ingress

    data = settings_json(settings)
    handles = {}
    for name in names:
        d = settings.ray.deployment(name)
        options: dict[str, Any] = {"name": f"source-{name}", "ray_actor_options": d.ray_actor_options,
                                   "max_ongoing_requests": d.max_ongoing_requests,
                                   # one line per chunk would cost more than scoring it; the ingress logs requests
                                   "logging_config": {"enable_access_log": False}}
        if d.autoscaling_config is not None:
            options["autoscaling_config"] = d.autoscaling_config
        else:
            options["num_replicas"] = d.num_replicas
        if d.max_replicas_per_node is not None:
            options["max_replicas_per_node"] = d.max_replicas_per_node
        batch = batch_settings(d, registry.get(name))
        handles[name] = source_deployment.options(**options).bind(name, data, batch and batch.model_dump())
    ingress = ingress_deployment.options(name="ingress", num_replicas=settings.ray.ingress_replicas,
                              ray_actor_options=settings.ray.ingress_actor_options)
    return ingress.bind(data, handles)


def batch_settings(deployment: DeploymentSettings, factory: Any) -> BatchSettings | None:
    """Whether a source's replicas batch across requests: its settings say, else the source's own
    `batch_across_requests` attribute (a model-backed source sets it to True)."""
    batch = deployment.batch
    if batch is None:
        batch = bool(getattr(factory, "batch_across_requests", False))
    if batch is True:
        return BatchSettings()
    return batch or None


def app_builder(args: dict[str, Any]) -> Any:
    """For Ray Serve's config files and `serve run`: `args` may name a YAML `settings` file."""
    from ..settings import load_settings

    path = args.get("settings")
    return build_app(load_settings(Path(path) if path else None))


def serve_on_ray(settings: ServiceSettings, *, address: str | None = None, log_level: str = "info") -> None:
    """Start (or join) Ray, deploy the application, serve until interrupted, then take it down."""
    app = build_app(settings)  # configuration errors (and a missing Ray) before anything starts
    import ray
    from ray import serve

    address = address or settings.ray.address
    started_here = address is None and not os.environ.get("RAY_ADDRESS")  # else the cluster is someone else's
    try:
        ray.init(address=address, logging_level=getattr(logging, log_level.upper()))
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise ConfigError(f"cannot join the Ray cluster at {address!r}: {exc}; start one with `ray start --head` "
                          "or give its address (--ray auto, --ray ray://HOST:10001)") from exc
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # from here on, a signal takes the application down cleanly
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(proxy_location=settings.ray.proxy_location,
                    http_options={"host": settings.host, "port": settings.port,
                                  # the app's own deadline answers first; this only catches a stuck replica
                                  "request_timeout_s": settings.request_timeout_s + 30})
        try:
            serve.run(app, name=APP_NAME, route_prefix="/", blocking=False)
        except RuntimeError as exc:
            raise ConfigError(f"referee failed to deploy on Ray: {str(exc).strip().splitlines()[0]} "
                              "(the replicas' logs under /tmp/ray/session_latest/logs/serve say why)") from exc
        log.warning("referee is serving on http://%s:%d (Ray Serve; sources: %s)", settings.host, settings.port,
                    ", ".join(settings.sources or Registry().names()))
        stop.wait()
    finally:
        try:
            serve.delete(APP_NAME)
            if started_here:
                serve.shutdown()
        finally:
            ray.shutdown()

