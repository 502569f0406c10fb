"""Routing simulator: replays a request stream against N simulated worker groups.

Real: the router's policies (`create_policy`) and PrefixIndex, fed by the wire events of each
group's real HybridRadixCache (through the worker's WireEventBuilder); per group the engine's real
Scheduler and CacheManager with finite KV and state pools (bench/routing_sim_group.py); the
router's load counts, kept as router/dispatch.py keeps them (from dispatch; prefill pending until
the first token). Modelled: the forward (a step costs step_s + prefill_s * prefill tokens +
decode_s * decode tokens of virtual time), sampling (each request emits scripted output tokens),
the network (KV events reach the index at the end of the step that produced them).

    python bench/routing_sim.py --groups 8 --workload shared_prefix
    python bench/routing_sim.py --groups 16 --trace ../shared/data/mooncake_conversation_trace.jsonl
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path

from bench.routing_sim_group import SimGroup, SimGroupConfig
from bench.routing_workloads import (
    WorkloadRequest,
    mooncake_trace,
    multi_turn,
    oracle_hit_ratio,
    random_prompts,
    shared_prefix,
)
from hybridserve.router.policies import Candidate, create_policy
from hybridserve.router.prefix_index import PrefixIndex

POLICIES = "round_robin,random,least_load,power_of_two,cache_aware"


@dataclass
class _Load:
    """The router's per-group counts (router/groups.py GroupLoad), kept as dispatch does."""

    in_flight: int = 0
    pending_prefill_tokens: int = 0
    active_tokens: int = 0


@dataclass(frozen=True)
class SimResult:
    policy: str
    hit_ratio: float  # cached prompt tokens / prompt tokens, as the groups counted them
    predicted_ratio: float  # the router's predicted cached tokens / prompt tokens
    imbalance: float  # mean over arrivals of max/mean requests held (running + waiting)
    ttft_p50_s: float
    ttft_p99_s: float
    wall_s: float


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def simulate(
    requests: list[WorkloadRequest],
    policy_name: str,
    num_groups: int,
    cfg: SimGroupConfig,
    seed: int = 0,
    policy_options: dict | None = None,
) -> SimResult:
    started = time.perf_counter()
    groups = [SimGroup(f"g{i}", cfg) for i in range(num_groups)]
    loads = {g.gid: _Load() for g in groups}
    index = PrefixIndex(cfg.block_size)
    policy = create_policy(policy_name, seed=seed, **(policy_options or {}))
    routed: dict[str, tuple[str, int, int, float]] = {}  # rid -> group, uncached, tokens, t0
    ttfts: list[float] = []
    imbalance: list[float] = []
    predicted_total = 0

    def advance(group: SimGroup, until: float) -> None:
        while group.has_work() and group.clock < until:
            for ev in group.step():
                gid, uncached, total_len, t0 = routed[ev.rid]
                load = loads[gid]
                load.active_tokens += ev.generated
                if ev.first_token:
                    load.pending_prefill_tokens -= uncached
                    ttfts.append(group.clock - t0)
                if ev.done:
                    load.in_flight -= 1
                    load.active_tokens -= total_len
                    del routed[ev.rid]
            index.apply(group.gid, group.drain_events())

    for i, req in enumerate(requests):
        if len(req.prompt) + len(req.output) > cfg.kv_pages:
            continue  # the engine rejects it (ContextLengthExceededError): never routed
        for g in groups:
            advance(g, req.arrival_s)
        held = [g.num_requests for g in groups]
        if sum(held) >= len(held):  # below one request per group there is nothing to balance
            imbalance.append(max(held) * len(held) / sum(held))
        predicted = index.usable_prefix(req.prompt)
        candidates = [
            Candidate(
                g.gid,
                loads[g.gid].in_flight,
                loads[g.gid].pending_prefill_tokens,
                loads[g.gid].active_tokens,
                predicted.get(g.gid, 0),
            )
            for g in groups
        ]
        choice = policy.select(len(req.prompt), candidates)
        rid = f"r{i}"
        uncached = len(req.prompt) - choice.cached_tokens
        predicted_total += choice.cached_tokens
        load = loads[choice.group_id]
        load.in_flight += 1
        load.pending_prefill_tokens += uncached
        load.active_tokens += len(req.prompt)
        routed[rid] = (choice.group_id, uncached, len(req.prompt) + len(req.output), req.arrival_s)
        groups[int(choice.group_id[1:])].add(rid, req.prompt, req.output, req.arrival_s)
    for g in groups:
        advance(g, float("inf"))
    prompt_tokens = sum(g.prompt_tokens for g in groups)
    return SimResult(
        policy_name,
        sum(g.cached_tokens for g in groups) / max(prompt_tokens, 1),
        predicted_total / max(prompt_tokens, 1),
        sum(imbalance) / len(imbalance) if imbalance else float("nan"),
        _pct(ttfts, 0.5),
        _pct(ttfts, 0.99),
        time.perf_counter() - started,
    )


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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--groups", type=int, default=4, help="simulated worker groups (up to 64)")
    workloads = ["shared_prefix", "random", "multi_turn"]
    p.add_argument("--workload", default="shared_prefix", choices=workloads)
    p.add_argument("--trace", type=Path, default=None, help="Mooncake FAST'25 JSONL trace")
    p.add_argument("--trace-limit", type=int, default=500, help="first N trace requests")
    p.add_argument("--time-scale", type=float, default=1.0, help="trace arrival time factor")
    p.add_argument("--policies", default=POLICIES)
    p.add_argument("--gsp-groups", type=int, default=16, help="G: shared-prefix groups")
    p.add_argument("--gsp-prompts", type=int, default=32, help="P: prompts per prefix group")
    p.add_argument("--system-len", type=int, default=1024, help="S (multi-turn: first turn)")
    p.add_argument("--question-len", type=int, default=64, help="Q (multi-turn: later turns)")
    p.add_argument("--output-len", type=int, default=32, help="trace: cap on output tokens")
    p.add_argument("--convs", type=int, default=64)
    p.add_argument("--turns", type=int, default=6)
    p.add_argument("--turn-gap", type=float, default=2.0, help="seconds between turns")
    p.add_argument("--rate", type=float, default=100.0, help="requests (or chats) per second")
    p.add_argument("--kv-tokens", type=int, default=SimGroupConfig.kv_pages)
    p.add_argument("--state-slots", type=int, default=SimGroupConfig.state_slots)
    p.add_argument("--prefill-weight", type=float, default=None)
    p.add_argument("--decode-weight", type=float, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    cfg = SimGroupConfig(kv_pages=args.kv_tokens, state_slots=args.state_slots)
    requests = build_workload(args)
    options = {
        k: v
        for k, v in (("prefill_weight", args.prefill_weight), ("decode_weight", args.decode_weight))
        if v is not None
    }
    tokens = sum(len(r.prompt) for r in requests)
    print(f"{len(requests)} requests, {tokens} prompt tokens, {args.groups} groups, {cfg}")
    print(f"oracle hit ratio (infinite caches, perfect routing): {oracle_hit_ratio(requests):.3f}")
    print(
        f"{'policy':>13} {'hit':>6} {'pred':>6} {'imbal':>6} {'ttft p50':>9} {'p99':>8} {'wall':>6}"
    )
    for name in args.policies.split(","):
        opts = options if name == "cache_aware" else {}
        r = simulate(requests, name, args.groups, cfg, args.seed, opts)
        print(
            f"{name:>13} {r.hit_ratio:6.3f} {r.predicted_ratio:6.3f} {r.imbalance:6.2f} "
            f"{r.ttft_p50_s * 1e3:7.1f}ms {r.ttft_p99_s * 1e3:6.1f}ms {r.wall_s:5.1f}s"
        )


if __name__ == "__main__":
    main()
