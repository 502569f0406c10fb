"""Online serving benchmark (like SGLang's bench_serving) against a running cluster.

    python -m bench.serving --backend openai --base-url http://127.0.0.1:8000 \
        --dataset random --input-len 128 --output-len 32 --num-prompts 64 --max-concurrency 8
    python -m bench.serving --backend grpc --router-address 127.0.0.1:PORT ...

Prompts are token ids (exact input lengths); requests are greedy with `ignore_eos`, so each writes
exactly its output length. `--backend openai` streams the gateway's `/v1/completions`;
`--backend grpc` calls the router's `Router.Generate` (token ids out, no text). ITL is the gap
between stream chunks that carry output; TPOT is (E2E - TTFT) / (output tokens - 1).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
from dataclasses import asdict
from pathlib import Path

from bench.serving_backends import create_backend
from bench.serving_datasets import BenchRequest, random_requests, shared_prefix_requests
from bench.serving_metrics import Stats, Summary
from bench.serving_runner import run_benchmark, warm_up
from bench.serving_server_stats import ServerSampler, ServerStats


def build_requests(args: argparse.Namespace) -> list[BenchRequest]:
    if args.dataset == "random":
        return random_requests(
            args.num_prompts, args.input_len, args.output_len, args.random_range_ratio,
            args.vocab_size, args.seed,
        )  # fmt: skip
    return shared_prefix_requests(
        args.gsp_groups, args.gsp_prompts_per_group, args.gsp_system_prompt_len,
        args.gsp_question_len, args.output_len, args.seed,
    )  # fmt: skip


def format_summary(summary: Summary, backend: str, model: str) -> str:
    rows: list[tuple[str, object]] = [
        ("Backend", backend),
        ("Model", model),
        ("Successful requests", summary.completed),
        ("Failed requests", summary.failed),
        ("Max concurrency seen", summary.max_concurrency_seen),
        ("Benchmark duration (s)", f"{summary.duration_s:.2f}"),
        ("Total input tokens", summary.total_input_tokens),
        ("Total output tokens", summary.total_output_tokens),
        ("Request throughput (req/s)", f"{summary.request_throughput:.2f}"),
        ("Input token throughput (tok/s)", f"{summary.input_throughput:.2f}"),
        ("Output token throughput (tok/s)", f"{summary.output_throughput:.2f}"),
        ("Total token throughput (tok/s)", f"{summary.total_throughput:.2f}"),
    ]
    if summary.cached_tokens_ratio is not None:
        rows.append(("Cached prompt tokens ratio", f"{summary.cached_tokens_ratio:.3f}"))
    latencies: list[tuple[str, Stats, tuple[str, ...]]] = [
        ("TTFT", summary.ttft_ms, ("mean", "p50", "p90", "p99")),
        ("ITL", summary.itl_ms, ("mean", "p50", "p90", "p99")),
        ("TPOT", summary.tpot_ms, ("mean", "p50", "p99")),
        ("E2E latency", summary.e2e_latency_ms, ("mean", "p50", "p99")),
    ]
    for name, stats, keys in latencies:
        rows += [(f"{name} {key} (ms)", f"{getattr(stats, key):.2f}") for key in keys]
    lines = [f"{' Serving Benchmark Result ':=^50}"]
    lines += [f"{label + ':':<40}{value:>10}" for label, value in rows]
    return "\n".join(lines + ["=" * 50])


def format_server_stats(stats: ServerStats) -> str:
    rows = [
        ("Running requests max / mean", f"{stats.running_max:.0f} / {stats.running_mean:.1f}"),
        ("Waiting requests max", f"{stats.waiting_max:.0f}"),
        (
            "KV pool / state pool usage max",
            f"{stats.kv_usage_max:.2f} / {stats.state_usage_max:.2f}",
        ),
        ("Preemptions", f"{stats.preemptions:.0f}"),
        ("Engine steps", f"{stats.steps:.0f}"),
        ("Step mean, all / decode (ms)", f"{stats.mean_step_ms:.2f} / {stats.decode_step_ms:.2f}"),
        ("Step time waiting for the device", f"{100 * stats.device_wait_share:.1f}%"),
        (
            "Engine busy / sampled (s)",
            f"{stats.engine_busy_s:.1f} / {stats.sampled_s:.1f}",
        ),
    ]
    lines = [f"{' Server (worker /metrics) ':=^50}"]
    lines += [f"{label + ':':<34}{value:>16}" for label, value in rows]
    return "\n".join(lines + ["=" * 50])


async def run(args: argparse.Namespace) -> tuple[Summary, str, ServerStats | None]:
    """The whole benchmark from parsed flags: the summary, the model it ran against, and what the
    worker group's metrics saw (with --worker-metrics)."""
    requests = build_requests(args)
    backend = create_backend(args.backend, args.base_url, args.router_address, args.api_key)
    try:
        model = args.model or await backend.default_model()
        if args.warmup:
            warmup = random_requests(
                args.warmup, args.input_len, args.output_len, 1.0, args.vocab_size, args.seed + 1
            )
            await warm_up(backend, warmup, model)
        bench = (backend, requests, model, args.request_rate, args.max_concurrency, args.seed)
        if not args.worker_metrics:
            return (await run_benchmark(*bench))[0], model, None
        async with ServerSampler(args.worker_metrics) as sampler:
            summary, _ = await run_benchmark(*bench)
        return summary, model, sampler.stats()
    finally:
        await backend.close()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--backend", choices=("openai", "grpc"), default="openai")
    p.add_argument("--base-url", default="http://127.0.0.1:8000", help="the gateway (openai)")
    p.add_argument(
        "--router-address", default=None,
        help="the router, HOST:PORT (grpc; `hybridserve up` prints it, or pass --router-port)",
    )  # fmt: skip
    p.add_argument("--api-key", default=None, help="gateway API key (Bearer), if it needs one")
    p.add_argument("--model", default=None, help="default: the first model the server lists")
    p.add_argument("--dataset", choices=("random", "generated-shared-prefix"), default="random")
    p.add_argument("--num-prompts", type=int, default=64, help="random: number of requests")
    p.add_argument("--input-len", type=int, default=128, help="random: prompt tokens")
    p.add_argument("--output-len", type=int, default=32, help="output tokens per request")
    p.add_argument(
        "--random-range-ratio", type=float, default=1.0,
        help="random: lengths uniform in [ratio * len, len]",
    )  # fmt: skip
    p.add_argument(
        "--vocab-size", type=int, default=1000,
        help="random: token ids drawn from [1, V); 1000 fits the tiny model (vocab 1024)",
    )  # fmt: skip
    p.add_argument("--gsp-groups", type=int, default=8, help="shared prefix: system prompts")
    p.add_argument("--gsp-prompts-per-group", type=int, default=8)
    p.add_argument("--gsp-system-prompt-len", type=int, default=512)
    p.add_argument("--gsp-question-len", type=int, default=64)
    p.add_argument("--request-rate", type=float, default=float("inf"), help="req/s, Poisson")
    p.add_argument("--max-concurrency", type=int, default=None, help="requests in flight, max")
    p.add_argument("--warmup", type=int, default=1, help="untimed random requests sent first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--output-json", type=Path, default=None, help="write flags + results here")
    p.add_argument(
        "--worker-metrics",
        default=None,
        help="a worker group's /metrics URL: report what the engine ran while the bench ran",
    )
    return p


def _jsonable(value: object) -> object:
    """Paths and an infinite rate as strings, so that the file is strict JSON."""
    if isinstance(value, Path) or (isinstance(value, float) and math.isinf(value)):
        return str(value)
    return value


def main(argv: list[str] | None = None) -> Summary:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.backend == "grpc" and not args.router_address:
        parser.error("--backend grpc needs --router-address")
    summary, model, server = asyncio.run(run(args))
    print(format_summary(summary, args.backend, model))
    if server is not None:
        print(format_server_stats(server))
    if args.output_json is not None:
        config = {k: _jsonable(v) for k, v in vars(args).items() if k != "api_key"}
        report = {"config": {**config, "model": model}, "summary": asdict(summary)}
        if server is not None:
            report["server"] = asdict(server)
        args.output_json.write_text(json.dumps(report, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
