"""Prometheus request metrics of the gateway (default registry), recorded by an ASGI middleware."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Module-level: the default registry accepts each name once per process.
REQUESTS = Counter(
    "hybridserve_gateway_requests_total", "HTTP requests by route and status", ["route", "status"]
)
LATENCY = Histogram(
    "hybridserve_gateway_request_duration_seconds",
    "HTTP request time until the last body byte (whole stream), by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)


class MetricsMiddleware:
    """Counts every HTTP request by its route template (unknown paths: "other") and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "other")
            REQUESTS.labels(route, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - start)
