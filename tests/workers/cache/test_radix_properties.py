"""Property and stateful tests of HybridRadixCache against simple reference models."""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from hybridserve.block_hash import block_hashes, hash_block
from hybridserve.workers.cache import (
    AllCleared,
    BlockRemoved,
    BlockStored,
    HybridRadixCache,
    KVEvent,
    KVPagePool,
    MambaStatePool,
    RadixNode,
    StateRemoved,
    StateStored,
)

Key = tuple[int, ...]
TOKENS = st.lists(st.integers(0, 2), max_size=12)


def _aligned(tokens: list[int] | Key, ps: int) -> Key:
    return tuple(tokens[: len(tokens) - len(tokens) % ps])


def _lcp(a: Key, b: Key) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


@settings(max_examples=60, deadline=None)
@given(
    ps=st.sampled_from([1, 2, 3]),
    blocks_per_event=st.integers(1, 3),
    inserts=st.lists(st.tuples(TOKENS, st.integers(0, 12)), max_size=8),
    queries=st.lists(TOKENS, max_size=6),
)
def test_match_equals_reference_without_eviction(
    ps: int, blocks_per_event: int, inserts: list[tuple[list[int], int]], queries: list[list[int]]
) -> None:
    """kv_len = longest page-aligned common prefix with any inserted sequence; usable_len = the
    deepest snapshot that is a prefix of the query; the stored blocks are those of the inserted
    sequences."""
    bs = ps * blocks_per_event
    cache = HybridRadixCache(ps, KVPagePool(200, ps), MambaStatePool(20), bs)
    inserted: list[Key] = []
    for tokens, cut in inserts:
        seq = _aligned(tokens[:cut], ps)
        pages = cache.kv_pool.alloc(len(seq) // ps)
        slot = cache.state_pool.alloc()
        assert pages is not None and slot is not None
        res = cache.insert(seq, cache.kv_pool.slots_of(pages, len(seq)), slot)
        best = max((_lcp(seq, s) for s in inserted), default=0)
        assert res.existing_len == best - best % ps
        assert res.state_taken == (len(seq) > 0 and seq not in inserted)
        if res.state_taken:
            cache.kv_pool.free(pages[: res.existing_len // ps])
        else:
            cache.kv_pool.free(pages)
            cache.state_pool.free(slot)
        inserted.append(seq)
        cache.check_invariants()
    events = cache.events.drain()
    stored = {h for ev in events if isinstance(ev, BlockStored) for h in ev.block_hashes}
    assert stored == {h for seq in inserted for h in block_hashes(seq, bs)}
    assert len(stored) == sum(len(ev.block_hashes) for ev in events if isinstance(ev, BlockStored))
    snaps = {(ev.block_hash, ev.prefix_len) for ev in events if isinstance(ev, StateStored)}
    assert snaps == {((block_hashes(s, bs) or [None])[-1], len(s)) for s in inserted if s}
    for query in queries + [list(s) for s in inserted]:
        m = cache.match_prefix(query)
        kv = max((_lcp(tuple(query), s) for s in inserted), default=0)
        usable = max((len(s) for s in inserted if tuple(query[: len(s)]) == s), default=0)
        assert (m.kv_len, m.usable_len) == (kv - kv % ps, usable)
        assert m.node.end == usable and len(m.kv_indices) == usable
        assert (m.state_slot is None) == (usable == 0)


class CacheMachine(RuleBasedStateMachine):
    """Random insert/match/lock/unlock/evict/reset against a reference of cached prefixes.

    With event_block_size == page_size, every page-aligned prefix has its own block hash, so
    the reference learns exactly what the cache evicted from its events, and checks that.
    """

    @initialize(ps=st.sampled_from([1, 2, 3]))
    def setup(self, ps: int) -> None:
        self.ps = ps
        self.kv = KVPagePool(20, ps)
        self.sp = MambaStatePool(6)
        self.cache = HybridRadixCache(ps, self.kv, self.sp, ps)
        self.present: dict[Key, int] = {(): 0}  # cached page-aligned prefix -> its last page
        self.snaps: set[Key] = set()  # prefixes with a snapshot
        self.by_hash: dict[int | None, Key] = {None: ()}
        self.locks: list[tuple[RadixNode, Key, bool]] = []  # node, its prefix, lock_state?

    # ---- reference --------------------------------------------------------------------------

    def ref_match(self, key: Key) -> tuple[int, int]:
        kv = usable = 0
        for n in range(self.ps, len(key) + 1, self.ps):
            if key[:n] not in self.present:
                break
            kv = n
            usable = n if key[:n] in self.snaps else usable
        return kv, usable

    def read_events(
        self, events: list[KVEvent] | None = None
    ) -> tuple[set[Key], set[Key], set[Key], set[Key]]:
        """Stored blocks, removed blocks, stored snapshots, removed snapshots (as prefixes)."""
        stored: set[Key] = set()
        removed: set[Key] = set()
        st_stored: set[Key] = set()
        st_removed: set[Key] = set()
        for ev in self.cache.events.drain() if events is None else events:
            if isinstance(ev, BlockStored):
                prefix, parent = self.by_hash[ev.parent_hash], ev.parent_hash
                for h, block in zip(ev.block_hashes, ev.token_ids, strict=True):
                    assert ev.block_size == self.ps and h == hash_block(block, parent)
                    prefix, parent = prefix + block, h
                    self.by_hash[h] = prefix
                    stored.add(prefix)
            elif isinstance(ev, BlockRemoved):
                removed.update(self.by_hash[h] for h in ev.block_hashes)
            else:
                assert isinstance(ev, StateStored | StateRemoved), f"unexpected {ev}"
                prefix = self.by_hash[ev.block_hash]
                assert len(prefix) == ev.prefix_len
                (st_stored if isinstance(ev, StateStored) else st_removed).add(prefix)
        return stored, removed, st_stored, st_removed

    def apply_removals(self, removed: set[Key], st_removed: set[Key]) -> None:
        assert removed <= self.present.keys() and st_removed <= self.snaps
        for _, prefix, pinned in self.locks:  # no KV on a locked path went, nor a pinned state
            assert not (pinned and prefix in st_removed)
            assert not any(prefix[:n] in removed for n in range(1, len(prefix) + 1))
        for k in removed:
            del self.present[k]
        self.snaps -= st_removed
        assert self.snaps <= self.present.keys(), "a snapshot outlived its KV"
        assert all(k[: -self.ps] in self.present for k in self.present if k), "not prefix-closed"

    # ---- rules ------------------------------------------------------------------------------

    @rule(tokens=TOKENS, with_state=st.booleans())
    def insert(self, tokens: list[int], with_state: bool) -> None:
        ps, cache = self.ps, self.cache
        key = _aligned(tokens, ps) if with_state else tuple(tokens)
        m = cache.match_prefix(key)
        cache.lock(m.node)  # keep the borrowed prefix while making room
        need = -(-(len(key) - m.usable_len) // ps)
        if self.kv.num_free < need:
            cache.evict_kv(need - self.kv.num_free)
        if with_state and self.sp.num_free == 0:
            cache.evict_states(1)
        _, removed, _, st_removed = self.read_events()
        self.apply_removals(removed, st_removed)
        pages = self.kv.alloc(need)
        slot = self.sp.alloc() if with_state else None
        if pages is None or (with_state and slot is None):
            self.kv.free(pages or [])
            cache.unlock(m.node)
            return
        expected_kv, _ = self.ref_match(key)
        was_snap = _aligned(key, ps) in self.snaps
        slots = torch.cat([m.kv_indices, self.kv.slots_of(pages, len(key) - m.usable_len)])
        res = cache.insert(key, slots, slot)
        assert res.existing_len == expected_kv
        assert res.state_taken == (with_state and len(key) > 0 and not was_snap)
        if res.state_taken:
            self.kv.free(pages[: (res.existing_len - m.usable_len) // ps])
        else:
            self.kv.free(pages)
            if slot is not None:
                self.sp.free(slot)
        cache.unlock(m.node)
        new = {key[:n] for n in range(res.existing_len + ps, len(key) + 1, ps)}
        stored, removed, st_stored, st_removed = self.read_events()
        assert not removed and not st_removed
        assert stored == (new if res.state_taken else set())
        assert st_stored == ({key} if res.state_taken else set())
        for n in range(res.existing_len + ps, len(key) + 1, ps) if res.state_taken else ():
            self.present[key[:n]] = int(slots[n - 1]) // ps
        if res.state_taken:
            self.snaps.add(key)

    @rule(tokens=TOKENS)
    def match(self, tokens: list[int]) -> None:
        m = self.cache.match_prefix(tokens)
        key = _aligned(tokens, self.ps)
        assert (m.kv_len, m.usable_len) == self.ref_match(key)
        pages = [self.present[key[:n]] for n in range(self.ps, m.usable_len + 1, self.ps)]
        assert torch.equal(m.kv_indices, self.kv.slots_of(pages, m.usable_len))
        assert m.node.end == m.usable_len and (m.state_slot is None) == (m.usable_len == 0)

    @rule(tokens=TOKENS, pin_state=st.booleans())
    def lock(self, tokens: list[int], pin_state: bool) -> None:
        m = self.cache.match_prefix(tokens)
        if m.node is self.cache.root:
            return
        (self.cache.lock_state if pin_state else self.cache.lock)(m.node)
        self.locks.append((m.node, _aligned(tokens, self.ps)[: m.usable_len], pin_state))

    @precondition(lambda self: self.locks)
    @rule(i=st.integers(0, 99))
    def unlock(self, i: int) -> None:
        node, _, pinned = self.locks.pop(i % len(self.locks))
        (self.cache.unlock_state if pinned else self.cache.unlock)(node)
        stored, removed, st_stored, st_removed = self.read_events()  # a stateless leaf goes
        assert not stored and not st_stored and not st_removed
        self.apply_removals(removed, st_removed)

    @rule(n=st.integers(0, 25))
    def evict_kv(self, n: int) -> None:
        free, evictable = self.kv.num_free, self.cache.evictable_pages
        freed = self.cache.evict_kv(n)
        assert freed == self.kv.num_free - free and freed >= min(n, evictable)
        stored, removed, st_stored, st_removed = self.read_events()
        assert not stored and not st_stored and len(removed) == freed
        assert st_removed <= removed, "evict_kv drops snapshots only with their leaves"
        self.apply_removals(removed, st_removed)

    @rule(n=st.integers(0, 4))
    def evict_states(self, n: int) -> None:
        free, kv_free, evictable = self.sp.num_free, self.kv.num_free, self.cache.evictable_states
        freed = self.cache.evict_states(n)
        assert freed == self.sp.num_free - free and freed >= min(n, evictable)
        stored, removed, st_stored, st_removed = self.read_events()
        assert not stored and not st_stored
        assert len(st_removed) == freed and len(removed) == self.kv.num_free - kv_free
        self.apply_removals(removed, st_removed)

    @rule()
    def reset(self) -> None:
        self.cache.reset()
        events = self.cache.events.drain()
        assert events[:1] == [AllCleared()]  # then the survivors, re-announced
        stored, removed, st_stored, st_removed = self.read_events(events[1:])
        assert not removed and not st_removed
        locked = {p[:n] for _, p, _ in self.locks for n in range(self.ps, len(p) + 1, self.ps)}
        assert stored == locked and st_stored == {p for _, p, pinned in self.locks if pinned}
        self.present = {k: v for k, v in self.present.items() if k in stored or not k}
        self.snaps = st_stored

    # ---- invariants -------------------------------------------------------------------------

    @invariant()
    def consistent(self) -> None:
        if not hasattr(self, "cache"):
            return
        cache = self.cache
        cache.check_invariants()
        assert self.kv.num_free + cache.total_cached_pages == self.kv.num_total, "pages leaked"
        assert self.sp.num_free + cache.num_state_snapshots == self.sp.num_total, "states leaked"
        assert cache.total_cached_pages == len(self.present) - 1
        assert cache.num_state_snapshots == len(self.snaps)
        for node, prefix, pinned in self.locks:  # a lock keeps the KV; lock_state the snapshot
            m = cache.match_prefix(prefix)
            assert m.kv_len == len(prefix) and node.kv_lock >= node.state_lock >= 0
            if pinned or node.state_slot is not None:
                assert (m.usable_len, m.node) == (len(prefix), node)
            else:
                assert m.usable_len < len(prefix)


CacheMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_cache_machine = CacheMachine.TestCase
