"""Gateway metrics: HTTP requests by route and status, and request latency."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from hybridserve.metrics.buckets import E2E_BUCKETS
from hybridserve.metrics.spec import MetricSpec

REQUESTS = MetricSpec(
    "hybridserve_gateway_requests_total",
    "HTTP requests by route template and status code",
    "counter",
    ("route", "status"),
)
REQUEST_DURATION = MetricSpec(
    "hybridserve_gateway_request_duration_seconds",
    "HTTP request time until the last body byte (whole stream), by route",
    "histogram",
    ("route",),
    E2E_BUCKETS,
)
GATEWAY_SPECS: tuple[MetricSpec, ...] = (REQUESTS, REQUEST_DURATION)


class GatewayMetrics:
    """The gateway's metrics, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = REQUESTS.counter(registry)
        self.request_duration = REQUEST_DURATION.histogram(registry)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.request_duration.labels(route).observe(seconds)
