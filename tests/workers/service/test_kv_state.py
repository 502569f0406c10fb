"""Wire events from a real radix cache keep the router's prefix index exact (usable prefixes)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from hybridserve.router.prefix_index import PrefixIndex
from hybridserve.v1 import kv_wire
from hybridserve.workers.cache import HybridRadixCache, KVPagePool, MambaStatePool
from hybridserve.workers.service import WireEventBuilder

TOKENS = st.lists(st.integers(0, 2), min_size=1, max_size=14)
OPS = st.one_of(
    st.tuples(st.just("insert"), TOKENS, st.integers(0, 14)),
    st.tuples(st.just("evict_kv"), st.integers(1, 4)),
    st.tuples(st.just("evict_states"), st.integers(1, 3)),
    st.tuples(st.just("drain")),
    st.tuples(st.just("reset")),
)


def _insert(cache: HybridRadixCache, tokens: list[int], cut: int) -> None:
    ps = cache.page_size
    seq = tokens[:cut][: len(tokens[:cut]) // ps * ps]
    if not seq:
        return
    pages = cache.kv_pool.alloc(len(seq) // ps)
    if pages is None:
        cache.evict_kv(len(seq) // ps)
        pages = cache.kv_pool.alloc(len(seq) // ps)
    slot = cache.state_pool.alloc()
    if slot is None:
        cache.evict_states(1)
        slot = cache.state_pool.alloc()
    if pages is None or slot is None:
        cache.kv_pool.free(pages or [])
        if slot is not None:
            cache.state_pool.free(slot)
        return
    res = cache.insert(seq, cache.kv_pool.slots_of(pages, len(seq)), slot)
    if res.state_taken:
        cache.kv_pool.free(pages[: res.existing_len // ps])
    else:
        cache.kv_pool.free(pages)
        cache.state_pool.free(slot)


@settings(max_examples=80, deadline=None)
@given(
    ps=st.sampled_from([1, 2]),
    blocks=st.integers(1, 3),
    ops=st.lists(OPS, max_size=25),
    queries=st.lists(TOKENS, min_size=1, max_size=8),
)
def test_index_predicts_the_caches_usable_prefix(ps, blocks, ops, queries):
    cache = HybridRadixCache(ps, KVPagePool(24, ps), MambaStatePool(5), ps * blocks)
    builder = WireEventBuilder(cache)
    index = PrefixIndex(ps * blocks)
    for op in ops:
        if op[0] == "insert":
            _insert(cache, op[1], op[2])
        elif op[0] == "evict_kv":
            cache.evict_kv(op[1])
        elif op[0] == "evict_states":
            cache.evict_states(op[1])
        elif op[0] == "reset":
            cache.reset()
        else:
            index.apply("g", builder.convert(cache.events.drain()))
    index.apply("g", builder.convert(cache.events.drain()))
    resynced = PrefixIndex(ps * blocks)
    resynced.apply("g", kv_wire.unpack_events(kv_wire.pack_events(builder.snapshot())))
    for query in queries:
        expected = cache.match_prefix(query[:-1]).usable_len
        assert index.usable_prefix(query).get("g", 0) == expected
        assert resynced.usable_prefix(query).get("g", 0) == expected
    assert index.num_states("g") == cache.num_state_snapshots == resynced.num_states("g")
