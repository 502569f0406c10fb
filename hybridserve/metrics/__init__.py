"""Every Prometheus metric of hybridserve, defined once: one factory class per component."""

from __future__ import annotations

from hybridserve.metrics.buckets import (
    DECISION_BUCKETS,
    E2E_BUCKETS,
    ITL_BUCKETS,
    STEP_BUCKETS,
    TTFT_BUCKETS,
)
from hybridserve.metrics.exposition import exposition_registry, multiproc_dir, render
from hybridserve.metrics.gateway import GATEWAY_SPECS, GatewayMetrics
from hybridserve.metrics.http_server import MetricsHttpServer
from hybridserve.metrics.router import ROUTER_SPECS, RouterMetrics
from hybridserve.metrics.spec import MetricSpec
from hybridserve.metrics.worker import WORKER_SPECS, StatsLike, WorkerMetrics

ALL_SPECS: tuple[MetricSpec, ...] = GATEWAY_SPECS + ROUTER_SPECS + WORKER_SPECS
# Names as written in PromQL: counters end in _total; histograms are the base name (add
# _bucket/_sum/_count when querying).
ALL_METRIC_NAMES: frozenset[str] = frozenset(spec.name for spec in ALL_SPECS)
HISTOGRAM_NAMES: frozenset[str] = frozenset(s.name for s in ALL_SPECS if s.kind == "histogram")

__all__ = [
    "ALL_METRIC_NAMES",
    "ALL_SPECS",
    "DECISION_BUCKETS",
    "E2E_BUCKETS",
    "GATEWAY_SPECS",
    "HISTOGRAM_NAMES",
    "ITL_BUCKETS",
    "ROUTER_SPECS",
    "STEP_BUCKETS",
    "TTFT_BUCKETS",
    "WORKER_SPECS",
    "GatewayMetrics",
    "MetricSpec",
    "MetricsHttpServer",
    "RouterMetrics",
    "StatsLike",
    "WorkerMetrics",
    "exposition_registry",
    "multiproc_dir",
    "render",
]
