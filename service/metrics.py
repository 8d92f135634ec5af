"""Prometheus metrics, one registry per app (so several apps in one process, as in tests, do not clash)."""

from __future__ import annotations

import time
from collections import Counter as TallyCounter
from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from referee.verifiers import Score

from .monitors import HackingMonitors

__all__ = ["Metrics", "MetricsMiddleware"]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "referee_http_requests", "HTTP requests by route template and status code.",
            ["method", "route", "status"], registry=self.registry,
        )
        self.request_seconds = Histogram(
            "referee_http_request_seconds", "HTTP request latency by route template.",
            ["route"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.items = Counter(
            "referee_items", "Samples scored, by source.", ["source"], registry=self.registry
        )
        self.unscored = Counter(
            "referee_unscored", "Samples that could not be scored, by source and reason.",
            ["source", "reason"], registry=self.registry,
        )
        self.score_seconds = Histogram(
            "referee_score_seconds", "Time to score one request's batch, by source.",
            ["source"], buckets=_LATENCY_BUCKETS, registry=self.registry,
        )
        self.shed = Counter(
            "referee_shed_items", "Samples refused with 503 because the service was at capacity.",
            registry=self.registry,
        )
        self.batch_items = Histogram(
            "referee_batch_items", "Samples per scoring request, by source.", ["source"],
            buckets=(1, 4, 16, 64, 256, 1024, 4096), registry=self.registry,
        )

        self.monitors = HackingMonitors(self.registry)

    def observe_batch(self, source: str, scores: Sequence[Score], seconds: float) -> None:
        self.items.labels(source).inc(len(scores))
        self.batch_items.labels(source).observe(len(scores))
        self.score_seconds.labels(source).observe(seconds)
        for reason, n in TallyCounter(s.reason for s in scores if s.reason is not None).items():
            self.unscored.labels(source, reason.value).inc(n)
        # A mix's components are sources in their own right: count their items and failures too.
        parts = TallyCounter((c.source, c.reason) for s in scores for c in s.components or ())
        for (name, why), n in parts.items():
            self.items.labels(name).inc(n)
            if why is not None:
                self.unscored.labels(name, why.value).inc(n)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (never by raw path: unbounded labels)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(time.perf_counter() - start)
