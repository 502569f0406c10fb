"""Serving-benchmark metrics: per-request timings in, throughput and latency percentiles out."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RequestResult:
    """One request as the client saw it. `itls_s` are the gaps between consecutive stream chunks
    that carried output (after the first); `cached_tokens` is None when the server said nothing."""

    ok: bool
    prompt_tokens: int = 0
    output_tokens: int = 0
    ttft_s: float = 0.0
    latency_s: float = 0.0
    itls_s: tuple[float, ...] = ()
    cached_tokens: int | None = None
    error: str = ""


@dataclass(frozen=True)
class Stats:
    """Mean and percentiles of one latency, in milliseconds (all 0 when there is no sample)."""

    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p99: float = 0.0


@dataclass(frozen=True)
class Summary:
    completed: int
    failed: int
    duration_s: float
    total_input_tokens: int
    total_output_tokens: int
    request_throughput: float  # requests/s
    input_throughput: float  # tokens/s
    output_throughput: float
    total_throughput: float
    max_concurrency_seen: int
    cached_tokens_ratio: float | None  # cached / prompt tokens; None if never reported
    ttft_ms: Stats = field(default_factory=Stats)
    itl_ms: Stats = field(default_factory=Stats)
    tpot_ms: Stats = field(default_factory=Stats)
    e2e_latency_ms: Stats = field(default_factory=Stats)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (q in [0, 100]) with linear interpolation between closest ranks,
    as numpy's default; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def stats_ms(values_s: list[float]) -> Stats:
    ms = [v * 1e3 for v in values_s]
    if not ms:
        return Stats()
    return Stats(
        mean=sum(ms) / len(ms),
        p50=percentile(ms, 50),
        p90=percentile(ms, 90),
        p99=percentile(ms, 99),
    )


def tpot_s(result: RequestResult) -> float | None:
    """Time per output token after the first; None for a request of fewer than two tokens."""
    if result.output_tokens < 2:
        return None
    return (result.latency_s - result.ttft_s) / (result.output_tokens - 1)


def summarize(results: list[RequestResult], duration_s: float, max_concurrency: int) -> Summary:
    """Totals over the completed requests; failed ones count only in `failed`."""
    done = [r for r in results if r.ok]
    inputs = sum(r.prompt_tokens for r in done)
    outputs = sum(r.output_tokens for r in done)
    reported = [r for r in done if r.cached_tokens is not None]
    cached = sum(r.cached_tokens or 0 for r in reported)
    reported_prompt = sum(r.prompt_tokens for r in reported)
    tpots = [t for t in map(tpot_s, done) if t is not None]
    per_s = 1 / duration_s if duration_s > 0 else 0.0
    return Summary(
        completed=len(done),
        failed=len(results) - len(done),
        duration_s=duration_s,
        total_input_tokens=inputs,
        total_output_tokens=outputs,
        request_throughput=len(done) * per_s,
        input_throughput=inputs * per_s,
        output_throughput=outputs * per_s,
        total_throughput=(inputs + outputs) * per_s,
        max_concurrency_seen=max_concurrency,
        cached_tokens_ratio=cached / reported_prompt if reported_prompt else None,
        ttft_ms=stats_ms([r.ttft_s for r in done]),
        itl_ms=stats_ms([gap for r in done for gap in r.itls_s]),
        tpot_ms=stats_ms(tpots),
        e2e_latency_ms=stats_ms([r.latency_s for r in done]),
    )


def timed_result(
    start: float,
    chunk_times: list[float],
    end: float,
    prompt_tokens: int,
    output_tokens: int,
    cached_tokens: int | None = None,
) -> RequestResult:
    """A streamed request from its clock readings: TTFT is the first output chunk's arrival,
    ITLs the gaps between output chunks; a stream without output is a failure."""
    if not chunk_times:
        return RequestResult(ok=False, error="the stream carried no output")
    gaps = tuple(b - a for a, b in zip(chunk_times, chunk_times[1:]))
    return RequestResult(
        ok=True,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        ttft_s=chunk_times[0] - start,
        latency_s=end - start,
        itls_s=gaps,
        cached_tokens=cached_tokens,
    )
