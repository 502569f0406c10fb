"""What the server did during a serving benchmark, from a worker group's Prometheus /metrics,
sampled every second: how many requests the engine ran together (the client's concurrency is
only an upper bound), how many waited, preemptions, the engine steps, and the mean length of the
steps the worker sampled (its step-duration histogram takes the last step of each snapshot)."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
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
    mean_step_ms: float  # of the steps the worker sampled into its step-duration histogram


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
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        self.samples.append(await asyncio.to_thread(scrape, self.url))

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

        sampled = delta("step_duration_seconds_count")
        step_s = delta("step_duration_seconds_sum")
        return ServerStats(
            running_max=peak("running_requests"),
            running_mean=statistics.fmean(s.get("running_requests", 0.0) for s in during),
            waiting_max=peak("waiting_requests"),
            kv_usage_max=peak("kv_pool_usage_ratio"),
            state_usage_max=peak("mamba_state_pool_usage_ratio"),
            preemptions=delta("preemptions_total"),
            steps=delta("steps_total"),
            mean_step_ms=1e3 * step_s / sampled if sampled else float("nan"),
        )
