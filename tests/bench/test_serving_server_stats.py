"""bench.serving's --worker-metrics sampler against a real worker metrics registry served over
HTTP: what it reports is what the engine snapshots said while the benchmark ran."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, start_http_server

from bench.serving_server_stats import ServerSampler, ServerStats
from hybridserve.metrics.worker import WorkerMetrics

IDLE = dict(
    running=0, waiting=0, kv_pages_used=0, kv_pages_total=100, state_slots_used=0,
    state_slots_total=10, cached_pages=0, cached_snapshots=0, prompt_tokens=0,
    cached_prompt_tokens=0, computed_tokens=0, generated_tokens=0, preemptions=2, steps=10,
    last_step_seconds=0.5, step_seconds=5.0, device_wait_seconds=4.0, decode_steps=5,
    decode_step_seconds=1.0,
)  # fmt: skip


def test_sampler_reports_what_the_worker_saw_during_the_run() -> None:
    registry = CollectorRegistry()
    metrics = WorkerMetrics(registry, "g0")
    metrics.observe_stats(SimpleNamespace(**IDLE))  # before the benchmark: not counted
    server, thread = start_http_server(0, addr="127.0.0.1", registry=registry)
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    # 30 steps in 0.9 s, 0.45 s of it waiting for the device; 20 of them decode-only, 0.4 s
    busy = [
        dict(running=5, waiting=3, kv_pages_used=40, state_slots_used=6, steps=20),
        dict(running=9, waiting=0, kv_pages_used=70, state_slots_used=10, steps=30),
        dict(running=7, waiting=1, kv_pages_used=50, state_slots_used=8, steps=40, preemptions=3),
    ]
    for i, change in enumerate(busy, start=1):
        change.update(
            step_seconds=5.0 + 0.3 * i,
            device_wait_seconds=4.0 + 0.15 * i,
            decode_steps=5 + 20 * i // 3,
            decode_step_seconds=1.0 + 0.4 * i / 3,
        )

    async def bench() -> ServerStats:
        async with ServerSampler(url, interval_s=0.05) as sampler:
            for change in busy:
                metrics.observe_stats(
                    SimpleNamespace(**{**IDLE, "last_step_seconds": 0.02, **change})
                )
                await asyncio.sleep(0.3)
            final = {**busy[-1], "running": 0, "waiting": 0}  # the engine is done, the client
            metrics.observe_stats(SimpleNamespace(**{**IDLE, **final}))  # still reads 0.3 s
            await asyncio.sleep(0.3)
        return sampler.stats()

    try:
        stats = asyncio.run(bench())
    finally:
        server.shutdown()
        thread.join()
    assert (stats.running_max, stats.waiting_max) == (9, 3)
    assert 3 <= stats.running_mean <= 8  # three quarters of the samples at 5..9
    assert stats.engine_busy_s == pytest.approx(0.9, abs=0.1)
    assert stats.sampled_s == pytest.approx(1.2, abs=0.1)
    assert stats.kv_usage_max == pytest.approx(0.7) and stats.state_usage_max == 1.0
    assert (stats.preemptions, stats.steps) == (1, 30)
    assert stats.mean_step_ms == pytest.approx(30.0)  # the idle snapshot's steps do not count
    assert stats.decode_step_ms == pytest.approx(20.0)
    assert stats.device_wait_share == pytest.approx(0.5)
