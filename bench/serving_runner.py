"""Drives a serving benchmark: Poisson (or all-at-once) arrivals, a cap on requests in flight."""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass

from bench.serving_backends import BaseBackend
from bench.serving_datasets import BenchRequest
from bench.serving_metrics import RequestResult, Summary, summarize


@dataclass
class _InFlight:
    now: int = 0
    peak: int = 0


async def _send(
    backend: BaseBackend,
    request: BenchRequest,
    model: str,
    limit: asyncio.Semaphore,
    flight: _InFlight,
) -> RequestResult:
    async with limit:
        flight.now += 1
        flight.peak = max(flight.peak, flight.now)
        try:
            return await backend.send(request, model)
        except Exception as exc:  # noqa: BLE001 - a failed request is a result, not a crash
            return RequestResult(ok=False, error=repr(exc))
        finally:
            flight.now -= 1


async def warm_up(backend: BaseBackend, requests: list[BenchRequest], model: str) -> None:
    """Send `requests` together, untimed; raise if any fails (the target is not serving)."""
    results = await asyncio.gather(*(backend.send(r, model) for r in requests))
    for result in results:
        if not result.ok:
            raise RuntimeError(f"warm-up request failed: {result.error}")


async def run_benchmark(
    backend: BaseBackend,
    requests: list[BenchRequest],
    model: str,
    request_rate: float = math.inf,
    max_concurrency: int | None = None,
    seed: int = 0,
) -> tuple[Summary, list[RequestResult]]:
    """Issue `requests` in order: exponential gaps of mean 1/request_rate (none when infinite),
    at most `max_concurrency` in flight (a request waits for a slot after it arrives)."""
    rng = random.Random(seed)
    limit = asyncio.Semaphore(max_concurrency or len(requests))
    flight = _InFlight()
    tasks = []
    start = time.perf_counter()
    for request in requests:
        tasks.append(asyncio.create_task(_send(backend, request, model, limit, flight)))
        if math.isfinite(request_rate):
            await asyncio.sleep(rng.expovariate(request_rate))
    results = list(await asyncio.gather(*tasks))
    duration = time.perf_counter() - start
    return summarize(results, duration, flight.peak), results
