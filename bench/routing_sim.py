"""Routing simulator: replays a request stream against N simulated worker groups.

Real: the router's policies (`create_policy`) and PrefixIndex, fed by the wire events of each
group's real HybridRadixCache (through the worker's WireEventBuilder); per group the engine's real
Scheduler and CacheManager with finite KV and state pools (bench/routing_sim_group.py); the
router's load counts and choice (router/dispatch.py pick_group: from dispatch; prefill pending
until the first token). Modelled: the forward (a step costs step_s + prefill_s * prefill tokens +
decode_s * decode tokens of virtual time), sampling (each request emits scripted output tokens),
the network (KV events reach the index at the end of the step that produced them).

    python bench/routing_sim.py --groups 8 --workload shared_prefix
    python bench/routing_sim.py --groups 16 --trace ../shared/data/mooncake_conversation_trace.jsonl
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

from bench.routing_args import (
    add_policy_arguments,
    add_workload_arguments,
    build_workload,
    policy_options,
)
from bench.routing_sim_group import SimGroup, SimGroupConfig
from bench.routing_workloads import WorkloadRequest, oracle_hit_ratio
from hybridserve.router.dispatch import pick_group
from hybridserve.router.groups import GroupLoad
from hybridserve.router.policies import create_policy
from hybridserve.router.prefix_index import PrefixIndex

POLICIES = "round_robin,random,least_load,power_of_two,cache_aware"


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
    loads = {g.gid: GroupLoad() for g in groups}
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
        choice = pick_group(policy, index, req.prompt, loads, req.arrival_s)
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--groups", type=int, default=4, help="simulated worker groups (up to 64)")
    add_workload_arguments(p)
    p.add_argument("--policies", default=POLICIES)
    p.add_argument("--kv-tokens", type=int, default=SimGroupConfig.kv_pages)
    p.add_argument("--state-slots", type=int, default=SimGroupConfig.state_slots)
    add_policy_arguments(p)
    p.add_argument("--checkpoint-interval", type=int, default=SimGroupConfig.checkpoint_interval)
    args = p.parse_args()
    cfg = SimGroupConfig(
        kv_pages=args.kv_tokens,
        state_slots=args.state_slots,
        checkpoint_interval=args.checkpoint_interval,
    )
    requests = build_workload(args)
    tokens = sum(len(r.prompt) for r in requests)
    print(f"{len(requests)} requests, {tokens} prompt tokens, {args.groups} groups, {cfg}")
    print(f"oracle hit ratio (infinite caches, perfect routing): {oracle_hit_ratio(requests):.3f}")
    print(
        f"{'policy':>13} {'hit':>6} {'pred':>6} {'imbal':>6} {'ttft p50':>9} {'p99':>8} {'wall':>6}"
    )
    for name in args.policies.split(","):
        r = simulate(requests, name, args.groups, cfg, args.seed, policy_options(args, name))
        print(
            f"{name:>13} {r.hit_ratio:6.3f} {r.predicted_ratio:6.3f} {r.imbalance:6.2f} "
            f"{r.ttft_p50_s * 1e3:7.1f}ms {r.ttft_p99_s * 1e3:6.1f}ms {r.wall_s:5.1f}s"
        )


if __name__ == "__main__":
    main()
