"""HybridRadixCache: matching, splitting, snapshots, locks, eviction and KV events."""

from __future__ import annotations

import pytest
import torch

from hybridserve.block_hash import block_hashes
from hybridserve.workers.cache import (
    AllCleared,
    BlockRemoved,
    BlockStored,
    HybridRadixCache,
    InsertResult,
    KVPagePool,
    MambaStatePool,
    StateRemoved,
    StateStored,
)


def make(ps: int = 4, pages: int = 64, states: int = 16, bs: int | None = None) -> HybridRadixCache:
    return HybridRadixCache(ps, KVPagePool(pages, ps), MambaStatePool(states), bs or ps)


def put(cache: HybridRadixCache, tokens: list[int], state: bool = True) -> InsertResult:
    """What the engine does when a request finishes: reuse the usable prefix, compute the rest
    into its own pages, insert, and free whatever the tree did not take."""
    ps, kv = cache.page_size, cache.kv_pool
    m = cache.match_prefix(tokens)
    cache.lock(m.node)
    own = len(tokens) - m.usable_len
    pages = kv.alloc(-(-own // ps))
    assert pages is not None
    slots = torch.cat([m.kv_indices, kv.slots_of(pages, own)])
    slot = cache.state_pool.alloc() if state else None
    res = cache.insert(tokens, slots, slot)
    if res.state_taken:
        kv.free(pages[: (res.existing_len - m.usable_len) // ps])  # duplicates of tree pages
    else:
        kv.free(pages)
        if slot is not None:
            cache.state_pool.free(slot)
    cache.unlock(m.node)
    cache.check_invariants()
    return res


def num_nodes(cache: HybridRadixCache) -> int:
    return sum(1 for _ in cache.root.subtree()) - 1


def test_identical_prompt_hits_fully() -> None:
    cache = make(ps=4)
    tokens = list(range(16))
    res = put(cache, tokens)
    assert res.existing_len == 0 and res.state_taken and res.node.end == 16
    m = cache.match_prefix(tokens)
    assert (m.kv_len, m.usable_len, m.node, m.state_slot) == (16, 16, res.node, res.node.state_slot)
    assert torch.equal(m.kv_indices, res.node.value)
    again = put(cache, tokens)
    assert again.existing_len == 16 and not again.state_taken and again.node is res.node
    assert cache.kv_pool.num_free == 64 - 4 and cache.state_pool.num_free == 15


def test_page_size_one_identical_prompt() -> None:
    cache = make(ps=1, bs=3)
    tokens = [5, 6, 7, 8, 9]
    put(cache, tokens)
    m = cache.match_prefix(tokens)
    assert (m.kv_len, m.usable_len, len(m.kv_indices)) == (5, 5, 5)
    assert cache.match_prefix([5, 6, 0]).kv_len == 2


def test_match_inside_an_edge_does_not_split() -> None:
    cache = make(ps=4)
    tokens = list(range(16))
    put(cache, tokens)
    before = num_nodes(cache)
    m = cache.match_prefix(tokens[:10] + [99] * 6)
    assert (m.kv_len, m.usable_len, m.node, m.state_slot) == (8, 0, cache.root, None)
    assert m.kv_indices.numel() == 0
    assert cache.match_prefix(tokens[:14]).kv_len == 12  # the unaligned tail is ignored
    assert num_nodes(cache) == before


def test_split_leaves_a_tombstone_and_usable_stops_at_deepest_snapshot() -> None:
    cache = make(ps=2)
    a = [1, 2, 3, 4, 5, 6, 7, 8]
    b = a[:4] + [9, 9, 9, 9]
    ra = put(cache, a)
    rb = put(cache, b)
    assert rb.existing_len == 4 and rb.state_taken
    fork = rb.node.parent
    assert fork is ra.node.parent and fork.end == 4 and fork.state_slot is None
    m = cache.match_prefix(a[:6] + [0, 0])
    assert (m.kv_len, m.usable_len) == (6, 0)
    assert cache.match_prefix(a).usable_len == 8
    # Filling the tombstone makes the fork point usable.
    rf = put(cache, a[:4])
    assert rf.node is fork and rf.state_taken and rf.existing_len == 4
    m = cache.match_prefix(a[:6] + [0, 0])
    assert (m.kv_len, m.usable_len, m.node) == (6, 4, fork)
    assert torch.equal(m.kv_indices, ra.node.path_slots()[:4])


def test_deeper_snapshots_on_one_path() -> None:
    cache = make(ps=2)
    t = list(range(12))
    for n in (4, 8, 12):
        put(cache, t[:n])
    m = cache.match_prefix(t[:10] + [50, 50])
    assert (m.kv_len, m.usable_len) == (10, 8)
    assert cache.num_state_snapshots == 3


def test_insert_without_state_takes_nothing() -> None:
    cache = make(ps=2)
    put(cache, [1, 2, 3, 4])
    kv = cache.kv_pool
    pages = kv.alloc(4)
    assert pages is not None
    res = cache.insert([1, 2, 3, 9, 9, 9, 9], kv.slots_of(pages, 7), None)
    assert res.existing_len == 2 and not res.state_taken and res.node is cache.root
    assert num_nodes(cache) == 1 and cache.total_cached_pages == 2
    res = cache.insert([1, 2, 3, 4, 5], kv.slots_of(pages, 5), None)
    assert res.existing_len == 4 and res.node.end == 4
    kv.free(pages)
    cache.check_invariants()


def test_insert_validates_its_arguments() -> None:
    cache = make(ps=2)
    kv, sp = cache.kv_pool, cache.state_pool
    pages, slot = kv.alloc(2), sp.alloc()
    assert pages is not None and slot is not None
    with pytest.raises(ValueError, match="page-aligned"):
        cache.insert([1, 2, 3], kv.slots_of(pages, 3), slot)
    with pytest.raises(ValueError, match="kv_slots"):
        cache.insert([1, 2], kv.slots_of(pages, 3), slot)
    with pytest.raises(ValueError, match="whole pages"):
        cache.insert([1, 2], torch.tensor([2 * pages[0] + 1, 2 * pages[0]]), slot)
    with pytest.raises(ValueError, match="not allocated"):
        cache.insert([1, 2], kv.slots_of(pages, 2), slot + 1)
    assert num_nodes(cache) == 0
    with pytest.raises(ValueError, match="multiple"):
        HybridRadixCache(2, KVPagePool(4, 2), MambaStatePool(1), 3)


def test_evict_states_removes_stateless_leaves_and_returns_everything() -> None:
    cache = make(ps=2, pages=32, states=8)
    a = [1, 2, 3, 4, 5, 6]
    put(cache, a)
    put(cache, a[:2] + [7, 7, 7, 7])
    assert num_nodes(cache) == 3 and cache.num_state_snapshots == 2
    assert cache.evict_states(1) == 1
    assert num_nodes(cache) == 2  # the leaf went with its KV; the tombstone fork still has a child
    cache.check_invariants()
    assert cache.evict_states(5) == 1
    assert num_nodes(cache) == 0 and cache.total_cached_pages == 0
    assert cache.kv_pool.num_free == 32 and cache.state_pool.num_free == 8


def test_evict_state_of_interior_node_keeps_its_kv() -> None:
    cache = make(ps=2)
    t = list(range(8))
    inner = put(cache, t[:4]).node
    put(cache, t)
    cache.match_prefix(t)  # the leaf's snapshot is now more recent than the interior one
    assert cache.evict_states(1) == 1
    assert inner.state_slot is None and not inner.detached
    m = cache.match_prefix(t)
    assert (m.kv_len, m.usable_len) == (8, 8)
    assert cache.total_cached_pages == 4


def test_match_refreshes_the_state_lru_of_the_used_node_only() -> None:
    cache = make(ps=2)
    a, b = [1, 1], [2, 2]
    put(cache, a)
    put(cache, b)
    cache.match_prefix(a)
    assert cache.evict_states(1) == 1
    assert cache.match_prefix(b).usable_len == 0 and cache.match_prefix(a).usable_len == 2
    cache = make(ps=2)
    t = [3, 3, 3, 3]
    leaf = put(cache, t).node
    inner = put(cache, t[:2]).node  # its snapshot is newer than the leaf's
    cache.match_prefix(t)  # refreshes the leaf's snapshot, not the inner one's
    assert cache.evict_states(1) == 1
    assert inner.state_slot is None and leaf.state_slot is not None


def test_split_of_a_node_starting_inside_an_event_block() -> None:
    cache = make(ps=2, bs=4)
    t = list(range(12))
    ht = block_hashes(t, 4)
    put(cache, t[:2])
    put(cache, t)  # one node [2, 12) holding the blocks ending at 4, 8 and 12
    fork = put(cache, t[:4] + [50, 50]).node.parent
    assert fork is not None and (fork.start, fork.end, fork.block_hashes) == (2, 4, [ht[0]])
    assert cache.events.drain()[-1] == StateStored(ht[0], 6)
    cache.match_prefix(t[:4] + [50, 50])
    assert cache.evict_kv(4) == 4  # t's leaf [4, 12)
    assert cache.events.drain() == [StateRemoved(ht[2], 12), BlockRemoved((ht[1], ht[2]))]


def test_evict_kv_is_lru_and_frees_everything_unlocked() -> None:
    cache = make(ps=2, pages=32, states=8)
    seqs = [[1, 2, 3, 4], [1, 2, 5, 6], [7, 8], [7, 8, 9, 9, 9, 9]]
    for s in seqs:
        put(cache, s)
    cache.match_prefix(seqs[0])  # seqs[0] is now the most recently used leaf
    assert cache.evict_kv(1) == 1
    assert cache.match_prefix(seqs[1]).kv_len == 2
    assert cache.match_prefix(seqs[0]).usable_len == 4
    assert cache.evictable_pages == cache.total_cached_pages
    cached = cache.total_cached_pages
    assert cache.evict_kv(10**6) == cached
    assert cache.total_cached_pages == 0 and num_nodes(cache) == 0
    assert cache.kv_pool.num_free == 32 and cache.state_pool.num_free == 8
    cache.check_invariants()


def test_a_lock_pins_the_kv_path_not_the_snapshot() -> None:
    """A running request reads its prefix's KV; the snapshot it copied may go."""
    cache = make(ps=2, pages=32, states=8)
    a, b = [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 8, 8]
    na = put(cache, a).node
    put(cache, b)
    cache.lock(na)
    assert cache.evictable_pages == 1 and cache.evictable_states == 2
    assert cache.evict_kv(100) == 1  # b's leaf, with its snapshot
    assert cache.evict_states(100) == 1  # na's: the leaf stays, stateless, for its KV
    assert na.state_slot is None and not na.detached
    m = cache.match_prefix(a)
    assert (m.kv_len, m.usable_len) == (6, 0)
    assert cache.evict_kv(100) == 0
    cache.check_invariants()
    cache.unlock(na)  # a stateless leaf nobody reads goes with its KV
    assert na.detached and cache.total_cached_pages == 0
    assert cache.kv_pool.num_free == 32 and cache.state_pool.num_free == 8
    cache.check_invariants()


def test_reset_keeps_a_locked_path_but_only_pinned_snapshots() -> None:
    cache = make(ps=2, bs=2)
    a = [1, 2, 3, 4]
    na = put(cache, a).node
    cache.lock(na)
    cache.events.drain()
    cache.reset()
    ha = block_hashes(a, 2)
    assert cache.events.drain() == [
        AllCleared(),
        BlockStored(tuple(ha), None, (tuple(a[:2]), tuple(a[2:])), 2),
    ]
    assert na.state_slot is None and cache.total_cached_pages == 2
    cache.unlock(na)
    assert cache.events.drain() == [BlockRemoved(tuple(ha))] and cache.total_cached_pages == 0
    cache.check_invariants()


def test_lock_state_pins_the_snapshot_and_the_path() -> None:
    cache = make(ps=2)
    t = list(range(8))
    inner = put(cache, t[:4]).node
    leaf = put(cache, t).node
    cache.lock_state(inner)
    assert (inner.kv_lock, inner.state_lock, leaf.kv_lock) == (1, 1, 0)
    assert cache.evict_states(10) == 1 and inner.state_slot is not None
    assert cache.match_prefix(t).kv_len == 4
    with pytest.raises(ValueError):
        cache.unlock(inner)  # the lock belongs to lock_state
    cache.unlock_state(inner)
    assert inner.kv_lock == inner.state_lock == 0


def test_lock_rules() -> None:
    cache = make(ps=2)
    a = put(cache, [1, 2, 3, 4]).node
    put(cache, [1, 2, 5, 6])
    fork = a.parent
    assert fork is not None and fork.state_slot is None
    cache.lock(cache.root)  # no-op
    cache.unlock(cache.root)
    cache.lock(fork)  # a stateless node's KV can be locked, not its (absent) snapshot
    cache.unlock(fork)
    with pytest.raises(ValueError, match="no snapshot"):
        cache.lock_state(fork)
    with pytest.raises(ValueError):
        cache.lock_state(cache.root)
    with pytest.raises(ValueError, match="matching lock"):
        cache.unlock(a)
    with pytest.raises(ValueError, match="matching lock_state"):
        cache.unlock_state(a)
    cache.evict_kv(100)
    with pytest.raises(ValueError, match="evicted"):
        cache.lock(a)
    cache.check_invariants()


def test_locked_node_survives_a_split() -> None:
    cache = make(ps=2)
    t = list(range(8))
    leaf = put(cache, t).node
    cache.lock(leaf)
    put(cache, t[:4] + [9, 9])
    assert leaf.end == 8 and leaf.parent is not None and leaf.parent.kv_lock == 1
    assert cache.evictable_pages == 1
    cache.unlock(leaf)
    cache.check_invariants()


def test_events_and_block_hashes() -> None:
    cache = make(ps=2, bs=4)
    a = list(range(12))
    put(cache, a)
    ha = block_hashes(a, 4)
    assert cache.events.drain() == [
        BlockStored(tuple(ha), None, (tuple(a[:4]), tuple(a[4:8]), tuple(a[8:])), 4),
        StateStored(ha[2], 12),
    ]
    b = a[:6] + [50] * 6  # forks inside the second block
    put(cache, b)
    hb = block_hashes(b, 4)
    assert hb[0] == ha[0]
    assert cache.events.drain() == [
        BlockStored(tuple(hb[1:]), ha[0], (tuple(b[4:8]), tuple(b[8:])), 4),
        StateStored(hb[2], 12),
    ]
    put(cache, a[:6])  # a snapshot inside a block names the last full block before it
    assert cache.events.drain() == [StateStored(ha[0], 6)]
    put(cache, [7, 7])
    assert cache.events.drain() == [StateStored(None, 2)]
    cache.lock_state(cache.match_prefix(b).node)
    cache.match_prefix(a[:6])
    assert cache.evict_kv(3) == 3  # a's leaf [6, 12) is the least recently used
    assert cache.events.drain() == [StateRemoved(ha[2], 12), BlockRemoved(tuple(ha[1:]))]
    assert cache.evict_kv(1) == 1  # then [7, 7]; b's leaf is locked
    assert cache.events.drain() == [StateRemoved(None, 2)]
    assert cache.evict_states(1) == 1  # the snapshot at 6: interior, becomes a tombstone
    assert cache.events.drain() == [StateRemoved(ha[0], 6)]
    assert cache.evict_kv(100) == 0 and cache.evict_states(100) == 0


def test_reset_clears_unlocked_and_reannounces_survivors() -> None:
    cache = make(ps=2, bs=4)
    a, b = list(range(8)), [1, 1, 1, 1]
    na = put(cache, a).node
    put(cache, a[:4])
    put(cache, b)
    cache.lock_state(na)
    cache.events.drain()
    cache.reset()
    ha = block_hashes(a, 4)
    assert (
        cache.events.drain()
        == [
            AllCleared(),
            BlockStored((ha[0],), None, (tuple(a[:4]),), 4),  # the tombstone node [0, 4)
            BlockStored((ha[1],), ha[0], (tuple(a[4:]),), 4),
            StateStored(ha[1], 8),
        ]
    )
    assert cache.num_state_snapshots == 1 and cache.total_cached_pages == 4
    cache.unlock_state(na)
    cache.reset()
    assert cache.events.drain() == [AllCleared()]
    assert cache.kv_pool.num_free == 64 and cache.state_pool.num_free == 16
    cache.check_invariants()
