"""Routing benchmark on a real in-process cluster: router + tiny-model worker servers over loopback.

Per policy: prefix-cache hit ratio (the groups' reported usage.cached_tokens / prompt tokens),
load imbalance two ways from the router's in-flight counts sampled every 10 ms: "imbal" = max/mean
over groups of each group's mean running requests over the run (time-averaged load), "inst" =
the mean of max/mean at the samples where at least one request per group is in flight (nan if
never; noisy at light load, where a burst on one prefix dominates the few samples); requests
served per group (max/mean); TTFT p50/p99. Then router overhead: small requests sent one at a
time through the router and directly to a worker group, alternating.

    python -m bench.routing_cluster --groups 4 --policies round_robin,cache_aware
    python -m bench.routing_cluster --groups 4 --workload multi_turn --convs 16 --turns 4
    python -m bench.routing_cluster --trace TRACE.jsonl --trace-limit 50 --kv-pages 200000
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

import grpc

from bench.routing_args import (
    add_policy_arguments,
    add_workload_arguments,
    build_workload,
    policy_options,
)
from bench.routing_workloads import WorkloadRequest, oracle_hit_ratio
from hybridserve.v1 import common_pb2, router_pb2, worker_pb2, worker_pb2_grpc
from tests.router.cluster import Cluster, local_cluster

GREEDY = dict(temperature=0.0, ignore_eos=True)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _sampling(max_tokens: int) -> common_pb2.SamplingParams:
    return common_pb2.SamplingParams(max_tokens=max_tokens, **GREEDY)


async def _one(c: Cluster, req: WorkloadRequest, t0: float, out: list) -> None:
    await asyncio.sleep(max(0.0, t0 + req.arrival_s - time.perf_counter()))
    msg = router_pb2.GenerateRequest(
        model="tiny",
        token_ids=router_pb2.TokenIds(ids=req.prompt),
        sampling=_sampling(len(req.output)),
    )
    start, ttft, usage, group = time.perf_counter(), None, None, ""
    async for reply in c.stub.Generate(msg):
        if ttft is None:
            ttft, group = time.perf_counter() - start, reply.group
        if reply.HasField("usage"):
            usage = reply.usage
    out.append((ttft, usage.cached_tokens, usage.prompt_tokens, group))


async def run_policy(
    requests: list[WorkloadRequest],
    policy: str,
    groups: int,
    options: dict[str, float],
    **engine: int | None,
) -> dict[str, float]:
    async with local_cluster(groups, policy, options, **engine) as c:
        results: list = []
        samples: list[float] = []
        running = [0] * groups  # summed over samples
        t0 = time.perf_counter()
        tasks = [asyncio.create_task(_one(c, r, t0, results)) for r in requests]
        while not all(t.done() for t in tasks):
            held = [g.load.in_flight for g in c.router.registry.groups.values()]
            running = [a + b for a, b in zip(running, held)]
            if sum(held) >= len(held):
                samples.append(max(held) * len(held) / sum(held))
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        group_ids = list(c.router.registry.groups)
    ttfts = [r[0] for r in results]
    served = [sum(r[3] == g for r in results) for g in group_ids]
    return {
        "served": max(served) * len(served) / sum(served),
        "hit": sum(r[1] for r in results) / sum(r[2] for r in results),
        "imbalance": max(running) * len(running) / max(sum(running), 1),
        "instant": sum(samples) / len(samples) if samples else float("nan"),
        "ttft_p50": _pct(ttfts, 0.5),
        "ttft_p99": _pct(ttfts, 0.99),
        "wall": time.perf_counter() - t0,
    }


async def router_overhead(groups: int, num: int, prompt_len: int, seed: int) -> dict[str, float]:
    """Latency of one whole 1-token request, one request in flight at a time, router vs direct
    to the group the router picked (fresh random prompts, so neither path hits the cache)."""
    rng = random.Random(seed)
    via_router: list[float] = []
    direct: list[float] = []
    async with local_cluster(groups, "cache_aware") as c:
        channels = {w.address: grpc.aio.insecure_channel(w.address) for w in c.workers}
        stubs = {a: worker_pb2_grpc.WorkerStub(ch) for a, ch in channels.items()}
        for i in range(num):
            ids = [rng.randrange(1, 1000) for _ in range(prompt_len)]
            start = time.perf_counter()
            replies = [
                r
                async for r in c.stub.Generate(
                    router_pb2.GenerateRequest(
                        model="tiny", token_ids=router_pb2.TokenIds(ids=ids), sampling=_sampling(1)
                    )
                )
            ]
            via_router.append(time.perf_counter() - start)
            address = c.router.registry.groups[replies[0].group].address
            ids = [rng.randrange(1, 1000) for _ in range(prompt_len)]
            start = time.perf_counter()
            msg = worker_pb2.WorkerGenerateRequest(
                request_id=f"direct-{i}", prompt_token_ids=ids, sampling=_sampling(1)
            )
            _ = [r async for r in stubs[address].Generate(msg)]
            direct.append(time.perf_counter() - start)
        for channel in channels.values():
            await channel.close()
    return {
        "router_p50": _pct(via_router, 0.5),
        "router_p99": _pct(via_router, 0.99),
        "direct_p50": _pct(direct, 0.5),
        "direct_p99": _pct(direct, 0.99),
    }


async def main_async(args: argparse.Namespace) -> None:
    requests = build_workload(args)
    engine = dict(
        num_kv_pages=args.kv_pages,
        num_state_slots=args.state_slots,
        checkpoint_interval=args.checkpoint_interval,
    )
    print(
        f"{len(requests)} requests at {args.rate}/s, {args.groups} groups, "
        f"{args.kv_pages} KV pages, {args.state_slots or 'auto'} state slots each; "
        f"oracle hit ratio {oracle_hit_ratio(requests):.3f}"
    )
    print(
        f"{'policy':>13} {'hit':>6} {'imbal':>6} {'inst':>6} {'served':>6} "
        f"{'ttft p50':>9} {'p99':>8}"
    )
    for name in args.policies.split(","):
        r = await run_policy(requests, name, args.groups, policy_options(args, name), **engine)
        print(
            f"{name:>13} {r['hit']:6.3f} {r['imbalance']:6.2f} {r['instant']:6.2f} "
            f"{r['served']:6.2f} "
            f"{r['ttft_p50'] * 1e3:7.1f}ms {r['ttft_p99'] * 1e3:6.1f}ms"
        )
    o = await router_overhead(args.groups, args.overhead_requests, 16, args.seed)
    print(
        f"overhead ({args.overhead_requests} sequential 16-token, 1-output requests): "
        f"router p50 {o['router_p50'] * 1e3:.2f}ms p99 {o['router_p99'] * 1e3:.2f}ms, "
        f"direct p50 {o['direct_p50'] * 1e3:.2f}ms p99 {o['direct_p99'] * 1e3:.2f}ms, "
        f"added p50 {(o['router_p50'] - o['direct_p50']) * 1e3:.2f}ms "
        f"p99 {(o['router_p99'] - o['direct_p99']) * 1e3:.2f}ms"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--groups", type=int, default=4)
    p.add_argument("--policies", default="round_robin,least_load,cache_aware")
    p.add_argument("--kv-pages", type=int, default=1024, help="KV pages (tokens) per group")
    p.add_argument("--state-slots", type=int, default=None, help="Mamba states per group")
    p.add_argument(
        "--checkpoint-interval", type=int, default=None, help="engine, tokens (default: auto)"
    )
    p.add_argument("--overhead-requests", type=int, default=100)
    add_workload_arguments(p)
    add_policy_arguments(p)
    asyncio.run(main_async(p.parse_args()))


if __name__ == "__main__":
    main()
