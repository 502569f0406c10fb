"""The metric factories: names follow the scheme, and each component records what it is given."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, replace

import pytest
from prometheus_client import CollectorRegistry

from hybridserve.metrics import (
    ALL_METRIC_NAMES,
    ALL_SPECS,
    HISTOGRAM_NAMES,
    GatewayMetrics,
    RouterMetrics,
    WorkerMetrics,
    render,
)

NAME = re.compile(r"^hybridserve_(gateway|router|worker)_[a-z0-9_]+$")
UNITS = ("_total", "_seconds", "_ratio", "_pages", "_slots", "_requests", "_groups", "_snapshots")


@dataclass(frozen=True)
class FakeStats:
    """EngineStats-shaped, without importing the engine (duck typing is the contract)."""

    running: int = 3
    waiting: int = 2
    kv_pages_used: int = 25
    kv_pages_total: int = 100
    state_slots_used: int = 4
    state_slots_total: int = 16
    cached_pages: int = 10
    cached_snapshots: int = 2
    prompt_tokens: int = 1000
    cached_prompt_tokens: int = 250
    computed_tokens: int = 900
    generated_tokens: int = 50
    preemptions: int = 1
    steps: int = 10
    last_step_seconds: float = 0.02
    step_seconds: float = 0.25
    device_wait_seconds: float = 0.125
    decode_steps: int = 8
    decode_step_seconds: float = 0.15


def value(registry: CollectorRegistry, name: str, **labels: str) -> float | None:
    return registry.get_sample_value(name, labels)


def test_names_follow_the_scheme() -> None:
    assert len(ALL_METRIC_NAMES) == len(ALL_SPECS)
    for spec in ALL_SPECS:
        assert NAME.match(spec.name), spec.name
        assert spec.name.endswith(UNITS), spec.name
        assert spec.name.endswith("_total") == (spec.kind == "counter"), spec.name
        if spec.kind == "histogram":
            assert spec.name.endswith("_seconds") and list(spec.buckets) == sorted(spec.buckets)


def test_every_name_is_exported_once_built() -> None:
    registry = CollectorRegistry()
    GatewayMetrics(registry)
    RouterMetrics(registry)
    WorkerMetrics(registry, group="0")
    exported = set()
    for family in registry.collect():
        exported.add(family.name + ("_total" if family.type == "counter" else ""))
    assert exported == set(ALL_METRIC_NAMES)
    assert {s.name for s in ALL_SPECS if s.kind == "histogram"} == HISTOGRAM_NAMES


def test_gateway_records_requests() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    metrics.observe_request("/v1/chat/completions", 200, 1.5)
    metrics.observe_request("/v1/chat/completions", 200, 0.5)
    labels = {"route": "/v1/chat/completions"}
    assert value(registry, "hybridserve_gateway_requests_total", status="200", **labels) == 2
    assert value(registry, "hybridserve_gateway_request_duration_seconds_sum", **labels) == 2.0


def test_router_records_decisions_and_failures() -> None:
    registry = CollectorRegistry()
    metrics = RouterMetrics(registry)
    metrics.observe_decision("cache_aware", "1", 0.0002, predicted_hit_tokens=64)
    metrics.observe_reported_hit("1", 48)
    metrics.observe_retry("0")
    metrics.observe_upstream_error("0", "UNAVAILABLE")
    metrics.set_healthy_groups(2)
    prefix = "hybridserve_router_"
    assert value(registry, prefix + "requests_total", policy="cache_aware", group="1") == 1
    assert value(registry, prefix + "decision_duration_seconds_count", policy="cache_aware") == 1
    assert value(registry, prefix + "predicted_cache_hit_tokens_total", group="1") == 64
    assert value(registry, prefix + "reported_cache_hit_tokens_total", group="1") == 48
    assert value(registry, prefix + "retries_total", group="0") == 1
    assert value(registry, prefix + "upstream_errors_total", group="0", code="UNAVAILABLE") == 1
    assert value(registry, prefix + "healthy_groups") == 2


def test_worker_maps_engine_stats() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry, group="g0")
    metrics.observe_stats(FakeStats())
    w = "hybridserve_worker_"
    assert value(registry, w + "running_requests", group="g0") == 3
    assert value(registry, w + "waiting_requests", group="g0") == 2
    assert value(registry, w + "kv_pool_usage_ratio", group="g0") == 0.25
    assert value(registry, w + "mamba_state_pool_usage_ratio", group="g0") == 0.25
    assert value(registry, w + "prefix_cache_hit_ratio", group="g0") == 0.25
    assert value(registry, w + "prompt_tokens_total", group="g0") == 1000
    assert value(registry, w + "step_duration_seconds_count", group="g0") == 1
    assert value(registry, w + "step_seconds_total", group="g0") == 0.25
    assert value(registry, w + "device_wait_seconds_total", group="g0") == 0.125
    assert value(registry, w + "decode_steps_total", group="g0") == 8
    # cumulative fields advance counters by their growth; an unchanged step count adds no sample
    metrics.observe_stats(replace(FakeStats(), prompt_tokens=1500, generated_tokens=80))
    assert value(registry, w + "prompt_tokens_total", group="g0") == 1500
    assert value(registry, w + "generation_tokens_total", group="g0") == 80
    assert value(registry, w + "step_duration_seconds_count", group="g0") == 1
    # an engine restart (counters went down) counts the new values whole
    metrics.observe_stats(replace(FakeStats(), prompt_tokens=100, steps=1))
    assert value(registry, w + "prompt_tokens_total", group="g0") == 1600
    assert value(registry, w + "step_duration_seconds_count", group="g0") == 2


def test_worker_latencies_and_empty_pools() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry, group="0")
    metrics.observe_stats(replace(FakeStats(), kv_pages_total=0, state_slots_total=0, steps=0))
    metrics.observe_first_token(0.3)
    metrics.observe_inter_token(0.01)
    metrics.observe_finished(4.0)
    w = "hybridserve_worker_"
    assert value(registry, w + "kv_pool_usage_ratio", group="0") == 0.0
    assert value(registry, w + "step_duration_seconds_count", group="0") == 0
    assert value(registry, w + "time_to_first_token_seconds_bucket", group="0", le="0.5") == 1
    assert value(registry, w + "inter_token_latency_seconds_count", group="0") == 1
    assert value(registry, w + "e2e_request_latency_seconds_sum", group="0") == 4.0


def test_worker_metrics_stay_torch_free() -> None:
    code = "import sys, hybridserve.metrics; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_render_single_process() -> None:
    registry = CollectorRegistry()
    GatewayMetrics(registry).observe_request("/health", 200, 0.001)
    body, content_type = render(registry)
    assert content_type.startswith("text/plain")
    assert b'hybridserve_gateway_requests_total{route="/health",status="200"} 1.0' in body


MULTIPROCESS_SCRIPT = """
import os, sys
from prometheus_client import CollectorRegistry
from hybridserve.metrics import WorkerMetrics, render
metrics = WorkerMetrics(CollectorRegistry(), group="0")
metrics.observe_first_token(0.2)
if os.fork() == 0:  # a forked child records into the same folder
    metrics.observe_first_token(0.4)
    os._exit(0)
os.wait()
body, _ = render(CollectorRegistry(), os.environ["PROMETHEUS_MULTIPROC_DIR"])
sys.stdout.write(body.decode())
"""


@pytest.mark.skipif(sys.platform == "win32", reason="os.fork is POSIX-only")
def test_render_aggregates_forked_processes(tmp_path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", MULTIPROCESS_SCRIPT],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert 'hybridserve_worker_time_to_first_token_seconds_count{group="0"} 2.0' in out
