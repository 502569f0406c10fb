"""Routing simulator (skeleton): replays a request stream against N simulated groups.

Built from the real pieces: the router's policies and PrefixIndex, fed by the wire events that
each simulated group's real HybridRadixCache emits (through the worker's WireEventBuilder). Only
the engine is replaced: a group serves its requests FIFO, costing `prefill_s` per uncached prompt
token and `decode_s` per output token, and caches each finished sequence with a state at its end
and one at the grid point where it branched off the cached KV (as the engine does).
Not yet: the real scheduler and cache manager per group, multi-turn and Mooncake-trace
workloads (issue 6, item 6b).

    python bench/routing_sim.py --groups 8 --policies round_robin,cache_aware
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

from hybridserve.router.policies import Candidate, create_policy
from hybridserve.router.prefix_index import PrefixIndex
from hybridserve.workers.cache import HybridRadixCache, KVPagePool, MambaStatePool
from hybridserve.workers.service import WireEventBuilder


@dataclass(frozen=True)
class SimConfig:
    groups: int = 4
    kv_pages: int = 20_000  # per group, page size 1
    state_slots: int = 256
    block_size: int = 16
    grid: int = 16
    prefill_s: float = 2e-5
    decode_s: float = 2e-3
    rate: float = 64.0  # requests per second (Poisson)
    output_tokens: int = 16


class SimGroup:
    def __init__(self, gid: str, cfg: SimConfig) -> None:
        self.id, self.cfg = gid, cfg
        self.cache = HybridRadixCache(
            1, KVPagePool(cfg.kv_pages, 1), MambaStatePool(cfg.state_slots), cfg.block_size
        )
        self.events = WireEventBuilder(self.cache)
        self.finishes: list[float] = []
        self.busy_until = 0.0

    def in_flight(self, now: float) -> int:
        self.finishes = [t for t in self.finishes if t > now]
        return len(self.finishes)

    def serve(self, prompt: list[int], now: float) -> int:
        """Run one request to completion in simulated time; returns its cached prompt tokens."""
        match = self.cache.match_prefix(prompt[:-1])
        cached = match.usable_len
        cfg = self.cfg
        start = max(now, self.busy_until)
        self.busy_until = start + (len(prompt) - cached) * cfg.prefill_s
        self.finishes.append(self.busy_until + cfg.output_tokens * cfg.decode_s)
        sequence = prompt + [0] * (cfg.output_tokens - 1)
        grid_point = match.kv_len // cfg.grid * cfg.grid  # the engine's branch-point snapshot
        for length in sorted({grid_point, len(sequence)} - {0}):
            self._insert(sequence[:length])
        return cached

    def _insert(self, tokens: list[int]) -> None:
        pool, states = self.cache.kv_pool, self.cache.state_pool
        if pool.num_free < len(tokens):
            self.cache.evict_kv(len(tokens) - pool.num_free)
        if states.num_free == 0:
            self.cache.evict_states(1)
        pages, slot = pool.alloc(len(tokens)), states.alloc()
        if pages is None or slot is None:
            pool.free(pages or [])
            if slot is not None:
                states.free(slot)
            return
        result = self.cache.insert(tokens, pool.slots_of(pages, len(tokens)), slot)
        pool.free(pages[: result.existing_len] if result.state_taken else pages)
        if not result.state_taken:
            states.free(slot)


def shared_prefix_workload(
    num_groups: int, prompts_per_group: int, system_len: int, question_len: int, seed: int
) -> list[list[int]]:
    """SGLang's generated-shared-prefix: G system prompts of S tokens, P questions of Q each."""
    rng = random.Random(seed)
    systems = [[rng.randrange(1, 50_000) for _ in range(system_len)] for _ in range(num_groups)]
    prompts = [
        s + [rng.randrange(1, 50_000) for _ in range(question_len)]
        for s in systems
        for _ in range(prompts_per_group)
    ]
    rng.shuffle(prompts)
    return prompts


def simulate(prompts: list[list[int]], policy_name: str, cfg: SimConfig, seed: int = 0) -> dict:
    rng = random.Random(seed)
    groups = {f"g{i}": SimGroup(f"g{i}", cfg) for i in range(cfg.groups)}
    index = PrefixIndex(cfg.block_size)
    policy = create_policy(policy_name, seed=seed)
    now, prompt_tokens, cached_tokens, imbalance = 0.0, 0, 0, []
    for prompt in prompts:
        now += rng.expovariate(cfg.rate)
        predicted = index.usable_prefix(prompt)
        loads = {g.id: g.in_flight(now) for g in groups.values()}
        candidates = [Candidate(gid, n, 0, 0, predicted.get(gid, 0)) for gid, n in loads.items()]
        group = groups[policy.select(len(prompt), candidates).group_id]
        cached_tokens += group.serve(prompt, now)
        prompt_tokens += len(prompt)
        index.apply(group.id, group.events.convert(group.cache.events.drain()))
        running = [g.in_flight(now) for g in groups.values()]
        if sum(running):
            imbalance.append(max(running) / (sum(running) / len(running)))
    return {
        "policy": policy_name,
        "hit_ratio": cached_tokens / prompt_tokens,
        "imbalance_mean": sum(imbalance) / max(len(imbalance), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=4)
    parser.add_argument("--policies", default="round_robin,least_load,cache_aware")
    parser.add_argument("--gsp-groups", type=int, default=16)
    parser.add_argument("--gsp-prompts", type=int, default=32)
    parser.add_argument("--system-len", type=int, default=1024)
    parser.add_argument("--question-len", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cfg = SimConfig(groups=args.groups)
    prompts = shared_prefix_workload(
        args.gsp_groups, args.gsp_prompts, args.system_len, args.question_len, args.seed
    )
    oracle = simulate(prompts, "round_robin", SimConfig(groups=1, kv_pages=10**7))
    print(f"oracle (one infinite cache): hit ratio {oracle['hit_ratio']:.3f}")
    for name in args.policies.split(","):
        r = simulate(prompts, name, cfg, args.seed)
        print(f"{name:>14}: hit ratio {r['hit_ratio']:.3f}  imbalance {r['imbalance_mean']:.2f}")


if __name__ == "__main__":
    main()
