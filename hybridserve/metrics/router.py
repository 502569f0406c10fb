"""Router metrics: routing decisions, predicted vs reported cache hits, group health, failures."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from hybridserve.metrics.buckets import DECISION_BUCKETS
from hybridserve.metrics.spec import MetricSpec

REQUESTS = MetricSpec(
    "hybridserve_router_requests_total",
    "Requests routed, by policy and chosen worker group",
    "counter",
    ("policy", "group"),
)
DECISION_DURATION = MetricSpec(
    "hybridserve_router_decision_duration_seconds",
    "Time the policy took to pick a group",
    "histogram",
    ("policy",),
    DECISION_BUCKETS,
)
PREDICTED_HIT_TOKENS = MetricSpec(
    "hybridserve_router_predicted_cache_hit_tokens_total",
    "Prompt tokens the prefix index predicted cached on the chosen group",
    "counter",
    ("group",),
)
REPORTED_HIT_TOKENS = MetricSpec(
    "hybridserve_router_reported_cache_hit_tokens_total",
    "Prompt tokens the chosen group reported as prefix-cache hits",
    "counter",
    ("group",),
)
HEALTHY_GROUPS = MetricSpec(
    "hybridserve_router_healthy_groups",
    "Worker groups passing health checks",
    "gauge",
    gauge_mode="livemax",
)
RETRIES = MetricSpec(
    "hybridserve_router_retries_total",
    "Requests retried on another group after a failure before the first token, by failed group",
    "counter",
    ("group",),
)
UPSTREAM_ERRORS = MetricSpec(
    "hybridserve_router_upstream_errors_total",
    "Errors from worker groups, by group and gRPC status code name",
    "counter",
    ("group", "code"),
)
ROUTER_SPECS: tuple[MetricSpec, ...] = (
    REQUESTS,
    DECISION_DURATION,
    PREDICTED_HIT_TOKENS,
    REPORTED_HIT_TOKENS,
    HEALTHY_GROUPS,
    RETRIES,
    UPSTREAM_ERRORS,
)


class RouterMetrics:
    """The router's metrics, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = REQUESTS.counter(registry)
        self.decision_duration = DECISION_DURATION.histogram(registry)
        self.predicted_hit_tokens = PREDICTED_HIT_TOKENS.counter(registry)
        self.reported_hit_tokens = REPORTED_HIT_TOKENS.counter(registry)
        self.healthy_groups = HEALTHY_GROUPS.gauge(registry)
        self.retries = RETRIES.counter(registry)
        self.upstream_errors = UPSTREAM_ERRORS.counter(registry)

    def observe_decision(
        self, policy: str, group: str, seconds: float, predicted_hit_tokens: int
    ) -> None:
        """One routing decision: `group` was chosen by `policy` in `seconds`."""
        self.requests.labels(policy, group).inc()
        self.decision_duration.labels(policy).observe(seconds)
        self.predicted_hit_tokens.labels(group).inc(predicted_hit_tokens)

    def observe_reported_hit(self, group: str, cached_tokens: int) -> None:
        self.reported_hit_tokens.labels(group).inc(cached_tokens)

    def observe_retry(self, failed_group: str) -> None:
        self.retries.labels(failed_group).inc()

    def observe_upstream_error(self, group: str, code: str) -> None:
        self.upstream_errors.labels(group, code).inc()

    def set_healthy_groups(self, count: int) -> None:
        self.healthy_groups.set(count)
