"""MetricSpec: a metric's name, help, kind, labels and buckets, built into a registry on demand."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

MetricKind = Literal["counter", "gauge", "histogram"]


@dataclass(frozen=True)
class MetricSpec:
    """One metric. `name` is what PromQL queries: counters end in `_total`; histograms are the
    base name. `gauge_mode` is the prometheus_client multiprocess aggregation of a gauge."""

    name: str
    help: str
    kind: MetricKind
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    gauge_mode: str = "livesum"

    def counter(self, registry: CollectorRegistry) -> Counter:
        assert self.kind == "counter", self.name
        return Counter(self.name, self.help, self.labels, registry=registry)

    def gauge(self, registry: CollectorRegistry) -> Gauge:
        assert self.kind == "gauge", self.name
        mode = self.gauge_mode
        return Gauge(self.name, self.help, self.labels, registry=registry, multiprocess_mode=mode)

    def histogram(self, registry: CollectorRegistry) -> Histogram:
        assert self.kind == "histogram", self.name
        return Histogram(self.name, self.help, self.labels, registry=registry, buckets=self.buckets)
