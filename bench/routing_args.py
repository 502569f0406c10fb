"""Flags shared by the routing benchmarks: the request stream and the policy weights."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.routing_workloads import (
    WorkloadRequest,
    mooncake_trace,
    multi_turn,
    random_prompts,
    shared_prefix,
)

POLICY_WEIGHTS = ("prefill_weight", "decode_weight", "affinity_weight")


def add_workload_arguments(p: argparse.ArgumentParser) -> None:
    """The request-stream flags shared by the simulator and the real-cluster benchmark."""
    workloads = ["shared_prefix", "random", "multi_turn"]
    p.add_argument("--workload", default="shared_prefix", choices=workloads)
    p.add_argument("--trace", type=Path, default=None, help="Mooncake FAST'25 JSONL trace")
    p.add_argument("--trace-limit", type=int, default=500, help="first N trace requests")
    p.add_argument("--time-scale", type=float, default=1.0, help="trace arrival time factor")
    p.add_argument("--gsp-groups", type=int, default=16, help="G: shared-prefix groups")
    p.add_argument("--gsp-prompts", type=int, default=32, help="P: prompts per prefix group")
    p.add_argument("--system-len", type=int, default=1024, help="S (multi-turn: first turn)")
    p.add_argument("--question-len", type=int, default=64, help="Q (multi-turn: later turns)")
    p.add_argument("--output-len", type=int, default=32, help="trace: cap on output tokens")
    p.add_argument("--convs", type=int, default=64)
    p.add_argument("--turns", type=int, default=6)
    p.add_argument("--turn-gap", type=float, default=2.0, help="seconds between turns")
    p.add_argument("--rate", type=float, default=100.0, help="requests (or chats) per second")
    p.add_argument("--seed", type=int, default=0)


def build_workload(args: argparse.Namespace) -> list[WorkloadRequest]:
    if args.trace is not None:
        return mooncake_trace(args.trace, args.trace_limit, args.time_scale, args.output_len)
    if args.workload == "random":
        n = args.gsp_groups * args.gsp_prompts
        return random_prompts(n, args.system_len + args.question_len, args.output_len, args.rate, 0)
    if args.workload == "multi_turn":
        return multi_turn(
            args.convs, args.turns, args.system_len, args.question_len, args.output_len,
            args.rate, args.turn_gap, args.seed,
        )  # fmt: skip
    return shared_prefix(
        args.gsp_groups, args.gsp_prompts, args.system_len, args.question_len,
        args.output_len, args.rate, args.seed,
    )  # fmt: skip


def add_policy_arguments(p: argparse.ArgumentParser) -> None:
    """cache_aware's weights; unset ones keep the policy's defaults."""
    for name in POLICY_WEIGHTS:
        p.add_argument(f"--{name.replace('_', '-')}", type=float, default=None)


def policy_options(args: argparse.Namespace, policy: str) -> dict[str, float]:
    if policy != "cache_aware":
        return {}
    return {k: getattr(args, k) for k in POLICY_WEIGHTS if getattr(args, k) is not None}
