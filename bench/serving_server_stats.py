"""What the server did during a serving benchmark, from a worker group's Prometheus /metrics,
sampled every second: how many requests the engine ran together (the client's concurrency is
only an upper bound), how many waited, preemptions, the engine steps, and the mean length of the
steps the worker sampled (its step-duration histogram takes the last step of each snapshot), and
until when the engine had requests running (against how long the client took to read them)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

PREFIX = "hybridserve_worker_"


@dataclass(frozen=True)
class ServerStats:
    running_max: float
    running_mean: float
    waiting_max: float
    kv_usage_max: float
    state_usage_max: float
    preemptions: float
    steps: float
    mean_step_ms: float  # every step of the run: schedule, inputs, forward, sample, bookkeeping
    decode_step_ms: float  # the steps of decode rows only
    device_wait_share: float  # of the step time, blocked reading tokens back from the device
    # seconds from the first sample to the last one with requests in the engine, and to the end:
    # a gap means the engine was done while the client still read tokens (streaming lagged)
    engine_busy_s: float
    sampled_s: float


def scrape(url: str) -> dict[str, float]:
    """Every sample of the page, summed over its labels, by name without the worker prefix."""
    with urllib.request.urlopen(url, timeout=5) as page:
        text = page.read().decode()
    values: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[sample.name.removeprefix(PREFIX)] += sample.value
    return values


class ServerSampler:
    """`async with ServerSampler(url) as s:` around the benchmark; then `s.stats()`."""

    def __init__(self, url: str, interval_s: float = 1.0) -> None:
        self.url, self.interval_s = url, interval_s
        self.samples: list[dict[str, float]] = []
        self.times: list[float] = []  # when each sample arrived
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        values = await asyncio.to_thread(scrape, self.url)
        self.samples.append(values)
        self.times.append(time.monotonic())

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self._sample()

    async def __aenter__(self) -> ServerSampler:
        await self._sample()
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        await self._sample()

    def stats(self) -> ServerStats:
        first, last, during = self.samples[0], self.samples[-1], self.samples[1:]

        def delta(name: str) -> float:
            return last.get(name, 0.0) - first.get(name, 0.0)

        def peak(name: str) -> float:
            return max(s.get(name, 0.0) for s in during)

        def per_step_ms(seconds: str, steps: str) -> float:
            return 1e3 * delta(seconds) / delta(steps) if delta(steps) else float("nan")

        step_s = delta("step_seconds_total")
        busy = [t for t, s in zip(self.times, self.samples) if s.get("running_requests", 0.0) > 0]
        return ServerStats(
            running_max=peak("running_requests"),
            running_mean=statistics.fmean(s.get("running_requests", 0.0) for s in during),
            waiting_max=peak("waiting_requests"),
            kv_usage_max=peak("kv_pool_usage_ratio"),
            state_usage_max=peak("mamba_state_pool_usage_ratio"),
            preemptions=delta("preemptions_total"),
            steps=delta("steps_total"),
            mean_step_ms=per_step_ms("step_seconds_total", "steps_total"),
            decode_step_ms=per_step_ms("decode_step_seconds_total", "decode_steps_total"),
            device_wait_share=delta("device_wait_seconds_total") / step_s if step_s else 0.0,
            engine_busy_s=(busy[-1] - self.times[0]) if busy else 0.0,
            sampled_s=self.times[-1] - self.times[0],
        )
