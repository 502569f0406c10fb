"""`python -m bench.serving` against a live tiny-model stack (in-process worker, router, gateway),
through both backends: the gateway's streaming completions and the router's gRPC."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import serving
from bench.serving_metrics import Stats
from tests.router.gateway.live import ClusterThread, live_gateway

PROMPTS, INPUT_LEN, OUTPUT_LEN, CONCURRENCY = 8, 32, 8, 4
SHAPE = [
    f"--num-prompts={PROMPTS}",
    f"--input-len={INPUT_LEN}",
    f"--output-len={OUTPUT_LEN}",
    f"--max-concurrency={CONCURRENCY}",
]


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[str, str]]:
    """(gateway URL, router address)."""
    cluster = ClusterThread(num_groups=1)
    try:
        with live_gateway(cluster.cluster.router.address) as gateway:
            yield gateway.url, cluster.cluster.router.address
    finally:
        cluster.close()


def _ordered(stats: Stats) -> bool:
    return 0 < stats.p50 <= stats.p90 <= stats.p99


def _target(backend: str, stack: tuple[str, str]) -> list[str]:
    url, router = stack
    if backend == "openai":
        return ["--backend=openai", f"--base-url={url}"]
    return ["--backend=grpc", f"--router-address={router}"]


@pytest.mark.parametrize("backend", ["openai", "grpc"])
def test_every_request_completes_with_exact_lengths(
    backend: str, stack: tuple[str, str], tmp_path: Path
):
    out = tmp_path / "result.json"
    s = serving.main([*_target(backend, stack), *SHAPE, f"--output-json={out}"])
    assert (s.completed, s.failed) == (PROMPTS, 0)
    assert s.total_input_tokens == PROMPTS * INPUT_LEN
    assert s.total_output_tokens == PROMPTS * OUTPUT_LEN  # ignore_eos: exact output lengths
    assert 1 <= s.max_concurrency_seen <= CONCURRENCY
    assert s.output_throughput == pytest.approx(s.total_output_tokens / s.duration_s)
    assert s.cached_tokens_ratio is not None and 0 <= s.cached_tokens_ratio < 1
    assert _ordered(s.ttft_ms) and _ordered(s.itl_ms) and _ordered(s.e2e_latency_ms)
    assert 0 < s.tpot_ms.p50 <= s.tpot_ms.p99
    assert s.ttft_ms.mean <= s.e2e_latency_ms.mean and s.ttft_ms.p99 <= s.e2e_latency_ms.p99
    report = json.loads(out.read_text())
    assert report["config"]["model"] == "tiny" and report["config"]["request_rate"] == "inf"
    assert report["summary"]["completed"] == PROMPTS
    assert report["summary"]["ttft_ms"]["p99"] == s.ttft_ms.p99


def test_shared_prefix_hits_the_cache(stack: tuple[str, str]):
    s = serving.main(
        [
            *_target("grpc", stack),
            "--dataset=generated-shared-prefix",
            "--gsp-groups=1",
            "--gsp-prompts-per-group=4",
            "--gsp-system-prompt-len=64",
            "--gsp-question-len=8",
            "--output-len=2",
            "--max-concurrency=1",
            "--request-rate=50",
            "--warmup=0",
        ]
    )
    assert (s.completed, s.failed, s.max_concurrency_seen) == (4, 0, 1)
    assert s.cached_tokens_ratio is not None and s.cached_tokens_ratio > 0


def test_refused_requests_are_counted_as_failures(stack: tuple[str, str]):
    s = serving.main([*_target("openai", stack), *SHAPE, "--model=no-such-model", "--warmup=0"])
    assert (s.completed, s.failed, s.total_output_tokens) == (0, PROMPTS, 0)
