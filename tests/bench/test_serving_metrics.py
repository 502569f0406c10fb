"""The serving benchmark's pure parts: metric math, SSE parsing and prompt generation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bench.serving_backends import sse_payloads
from bench.serving_datasets import random_requests, shared_prefix_requests
from bench.serving_metrics import RequestResult, percentile, summarize, timed_result, tpot_s


def test_percentile_interpolates_like_numpy():
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 0) == 1.0 and percentile(values, 100) == 4.0
    assert percentile(values, 50) == 2.5
    assert percentile(values, 90) == pytest.approx(3.7)
    assert percentile([5.0], 99) == 5.0 and percentile([], 50) == 0.0


def test_timed_result_from_clock_readings():
    r = timed_result(10.0, [11.0, 11.5, 12.5], 13.0, prompt_tokens=4, output_tokens=4)
    assert r.ok and r.ttft_s == 1.0 and r.latency_s == 3.0 and r.itls_s == (0.5, 1.0)
    assert tpot_s(r) == pytest.approx((3.0 - 1.0) / 3)
    assert tpot_s(timed_result(0.0, [1.0], 1.0, 4, 1)) is None
    assert not timed_result(0.0, [], 1.0, 4, 0).ok


def test_summarize_counts_only_completed_requests():
    a = RequestResult(True, 10, 3, ttft_s=0.1, latency_s=0.5, itls_s=(0.2, 0.2), cached_tokens=4)
    b = RequestResult(True, 30, 5, ttft_s=0.3, latency_s=1.1, itls_s=(0.1, 0.3), cached_tokens=0)
    s = summarize([a, b, RequestResult(False, error="boom")], duration_s=2.0, max_concurrency=2)
    assert (s.completed, s.failed, s.max_concurrency_seen) == (2, 1, 2)
    assert (s.total_input_tokens, s.total_output_tokens) == (40, 8)
    assert s.request_throughput == 1.0 and s.input_throughput == 20.0
    assert s.output_throughput == 4.0 and s.total_throughput == 24.0
    assert s.cached_tokens_ratio == pytest.approx(0.1)
    assert s.ttft_ms.mean == pytest.approx(200) and s.ttft_ms.p50 == pytest.approx(200)
    assert s.itl_ms.mean == pytest.approx(200) and s.itl_ms.p90 == pytest.approx(270)
    # TPOT: a = (0.5 - 0.1) / 2 = 0.2 s, b = (1.1 - 0.3) / 4 = 0.2 s
    assert s.tpot_ms.mean == pytest.approx(200) and s.tpot_ms.p99 == pytest.approx(200)
    assert s.e2e_latency_ms.p99 == pytest.approx(500 + 600 * 0.99)


def test_summarize_without_cache_reports_or_requests():
    s = summarize([RequestResult(True, 10, 1, ttft_s=0.1, latency_s=0.1)], 1.0, 1)
    assert s.cached_tokens_ratio is None and s.itl_ms.mean == 0.0 and s.tpot_ms.mean == 0.0
    empty = summarize([], 0.0, 0)
    assert empty.completed == 0 and empty.request_throughput == 0.0


def test_sse_payloads_stop_at_done():
    async def lines() -> AsyncIterator[str]:
        for line in [": ping", "", 'data: {"a": 1}', "", 'data:{"b": 2}', "data: [DONE]", "x"]:
            yield line

    async def collect() -> list[dict]:
        return [p async for p in sse_payloads(lines())]

    assert asyncio.run(collect()) == [{"a": 1}, {"b": 2}]


def test_random_lengths_and_ids_in_range():
    exact = random_requests(5, 32, 8, 1.0, vocab_size=50, seed=1)
    assert [len(r.prompt) for r in exact] == [32] * 5 and {r.output_len for r in exact} == {8}
    ranged = random_requests(200, 40, 10, 0.5, vocab_size=50, seed=1)
    assert {len(r.prompt) for r in ranged} <= set(range(20, 41))
    assert {r.output_len for r in ranged} <= set(range(5, 11))
    assert all(1 <= t < 50 for r in ranged for t in r.prompt)
    assert random_requests(5, 32, 8, 0.5, 50, seed=1) == random_requests(5, 32, 8, 0.5, 50, 1)


def test_shared_prefix_groups_share_their_system_prompt():
    requests = shared_prefix_requests(3, 4, 16, 8, 2, seed=0)
    assert len(requests) == 12 and all(len(r.prompt) == 24 for r in requests)
    assert len({tuple(r.prompt[:16]) for r in requests}) == 3
    assert {r.output_len for r in requests} == {2}
