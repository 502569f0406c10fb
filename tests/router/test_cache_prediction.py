"""The router's predicted cached tokens equal the groups' reported ones, state evictions too."""

from __future__ import annotations

import asyncio
import random

from hybridserve.v1 import common_pb2, router_pb2
from tests.router.cluster import Cluster, local_cluster


async def _run(c: Cluster, prompt: list[int], max_tokens: int = 4) -> tuple[str, list[int], int]:
    """Send one greedy request; return (group, output ids, cached tokens) after checking that the
    prediction matched, and wait for the KV events it caused to reach the router."""
    sampling = common_pb2.SamplingParams(max_tokens=max_tokens, temperature=0, ignore_eos=True)
    request = router_pb2.GenerateRequest(
        model="tiny", token_ids=router_pb2.TokenIds(ids=prompt), sampling=sampling
    )
    replies = [r async for r in c.stub.Generate(request)]
    usage = replies[-1].usage
    assert usage.cached_tokens == usage.predicted_cached_tokens, (len(prompt), usage)
    await c.sync_kv()
    return (
        replies[0].group,
        [t for r in replies for d in r.deltas for t in d.token_ids],
        usage.cached_tokens,
    )


def _states(c: Cluster, i: int) -> list[int]:
    tree = c.engines[i].engine.tree
    future = c.engines[i].call(
        lambda: sorted(n.end for n in tree.root.subtree() if n.parent and n.state_slot is not None)
    )
    return future.result(timeout=5)


def test_prediction_matches_on_a_mixed_workload():
    rng = random.Random(0)
    system = [rng.randrange(1, 1000) for _ in range(40)]

    async def main():
        async with local_cluster(policy="cache_aware") as c:
            hits = 0
            history: list[list[int]] = []
            for step in range(24):
                kind = step % 4
                if kind == 0 or not history:  # shared system prompt + a question
                    prompt = system + [rng.randrange(1, 1000) for _ in range(rng.randrange(3, 30))]
                elif kind == 1:  # a repeated prompt
                    prompt = rng.choice(history)
                elif kind == 2:  # the next turn of an earlier conversation
                    prompt = rng.choice(history) + [rng.randrange(1, 1000) for _ in range(7)]
                else:  # an unrelated prompt
                    prompt = [rng.randrange(1, 1000) for _ in range(rng.randrange(2, 60))]
                _, out, cached = await _run(c, prompt)
                history.append(prompt + out)
                hits += cached > 0
            assert hits >= 8

    asyncio.run(main())


def test_prediction_drops_to_the_deepest_surviving_state_after_a_state_eviction():
    rng = random.Random(1)
    base = [rng.randrange(1, 1000) for _ in range(39)]

    async def main():
        async with local_cluster(policy="cache_aware") as c:
            group, out, _ = await _run(c, base)
            i = c.group_index(group)
            index = c.router.registry.indexes["tiny"]
            end = len(base) + len(out) - 1  # the last output token was never run
            assert _states(c, i) == [32, end]  # a snapshot on the grid, the finished sequence

            branch = base[:35] + [rng.randrange(1, 1000) for _ in range(15)]  # shares 35 tokens
            turn = base + out + [5, 6, 7]  # extends the finished sequence
            assert index.usable_prefix(branch)[group] == 32
            assert index.usable_prefix(turn)[group] == end

            # state-only eviction: the interior snapshot at 32 goes, its KV stays (a tombstone)
            pages = (await c.stats(i)).cached_pages
            freed = await asyncio.wrap_future(
                c.engines[i].call(lambda: c.engines[i].engine.tree.evict_states(1))
            )
            assert freed == 1 and _states(c, i) == [end]
            assert (await c.stats(i)).cached_pages == pages
            await c.sync_kv()
            kv = index.affinity(index.hashes(branch), now=0.0)
            assert kv[group] == 32  # the KV is still there ...
            assert group not in index.usable_prefix(branch)  # ... but no usable state on it
            assert index.usable_prefix(turn)[group] == end

            _, _, cached = await _run(c, branch)
            assert cached == 0
            group2, _, cached = await _run(c, turn)
            assert (group2, cached) == (group, end)

    asyncio.run(main())
