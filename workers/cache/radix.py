"""HybridRadixCache: one radix tree over token ids holding KV pages and Mamba state snapshots."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Sequence

import torch

from hybridserve.block_hash import block_hashes
from hybridserve.workers.cache.events import (
    AllCleared,
    BlockRemoved,
    EventOutbox,
    KVEvent,
    StateRemoved,
    StateStored,
)
from hybridserve.workers.cache.pools import KVPagePool, MambaStatePool
from hybridserve.workers.cache.radix_check import check_tree
from hybridserve.workers.cache.radix_events import block_stored, survivor_events
from hybridserve.workers.cache.radix_node import (
    InsertResult,
    Key,
    MatchResult,
    RadixNode,
    as_key,
    common_len,
)


class HybridRadixCache:
    """Prefix cache for a hybrid Mamba/attention model.

    The tree stores whole pages only: keys are truncated to a multiple of `page_size`. A node may
    hold a Mamba state snapshot valid after its full prefix; a cached prefix is usable only up to
    the deepest such node, since a Mamba state cannot be truncated. A leaf is stateless only
    while locked (its snapshot went while a request still reads its KV); it goes when unlocked.

    Ownership: KV pages and state slots in the tree belong to it; it returns them to `kv_pool` /
    `state_pool` when it evicts them. It takes from a caller only what `insert` reports taken.

    Locks: `lock(node)` pins the KV of node's whole path; `lock_state(node)` also pins node's
    snapshot (hold it while copying the snapshot out; only a node with one can take it). A running
    request locks only the KV it reads: the snapshot it copied at admission, and the one its own
    prefill saved, stay evictable, so it holds one state slot (its working state), not two.
    Locking the root is a no-op. Nodes handed out stay valid across splits (a split inserts a new
    parent above them) until they are evicted.

    Every change the router can see is appended to `events`, with block hashes chained from the
    root over blocks of `event_block_size` tokens (a multiple of `page_size`).
    """

    def __init__(
        self,
        page_size: int,
        kv_pool: KVPagePool,
        state_pool: MambaStatePool,
        event_block_size: int,
    ) -> None:
        if page_size != kv_pool.page_size:
            raise ValueError(f"page_size {page_size} != kv_pool.page_size {kv_pool.page_size}")
        if event_block_size < page_size or event_block_size % page_size:
            raise ValueError(
                f"event_block_size {event_block_size} is not a multiple of {page_size}"
            )
        self.page_size = page_size
        self.kv_pool = kv_pool
        self.state_pool = state_pool
        self.event_block_size = event_block_size
        self.events = EventOutbox()
        self._ids = itertools.count()
        self.root = RadixNode(next(self._ids), None, (), torch.empty(0, dtype=torch.int64), 0, [])
        self._clock = 0  # logical LRU clock, shared by both LRU orders
        self._muted = False  # reset() reports its removals as one AllCleared
        self._total_pages = 0
        self._protected_pages = 0  # pages of nodes with kv_lock > 0
        self._num_states = 0
        self._pinned_states = 0  # snapshots of nodes with state_lock > 0

    def match_prefix(self, tokens: Sequence[int]) -> MatchResult:
        """Longest cached prefix of tokens, and the usable part of it (ending at a snapshot).

        Read-only apart from LRU clocks: refreshes the KV clock of every node on the matched path
        and the state clock of the returned node only. Never splits a node.
        """
        key, now = self._aligned(tokens), self._tick()
        node, best, pos = self.root, self.root, 0
        while pos < len(key):
            child = node.children.get(key[pos : pos + self.page_size])
            if child is None:
                break
            child.kv_access = now
            n = common_len(child.key, key, pos, self.page_size)
            pos += n
            if n < len(child.key):
                break
            node = child
            if node.state_slot is not None:
                best = node
        if best is not self.root:
            best.state_access = now
        return MatchResult(pos, best.end, best.path_slots(), best, best.state_slot)

    def insert(
        self, tokens: Sequence[int], kv_slots: torch.Tensor, state_slot: int | None = None
    ) -> InsertResult:
        """Cache the page-aligned prefix of tokens with the caller's KV slots and snapshot.

        kv_slots[i] is the token slot of tokens[i]; only the first floor(len / page_size) pages
        count. With a state_slot (then len(tokens) must be page aligned) it becomes the snapshot
        of the node ending at len(tokens), unless that node already has one.

        If state_taken, the tree now owns state_slot and the pages of kv_slots[existing_len:];
        otherwise it took nothing. The caller keeps kv_slots[:existing_len] (duplicates of the
        tree's pages unless borrowed from it through match_prefix) and any unaligned tail.
        Without a state_slot nothing is added, since a stateless leaf could never be used:
        existing_len is then the KV match length and `node` the deepest node ending at or
        before it.
        """
        ps = self.page_size
        if len(kv_slots) != len(tokens):
            raise ValueError(f"{len(kv_slots)} kv_slots for {len(tokens)} tokens")
        if state_slot is not None and len(tokens) % ps:
            raise ValueError(f"a snapshot needs a page-aligned length, got {len(tokens)}")
        if state_slot is not None and not self.state_pool.is_allocated(state_slot):
            raise ValueError(f"state slot {state_slot} is not allocated")
        key, now = self._aligned(tokens), self._tick()
        node, pos = self.root, 0
        while pos < len(key):
            child = node.children.get(key[pos : pos + ps])
            if child is None:
                break
            n = common_len(child.key, key, pos, ps)
            if n < len(child.key):
                if state_slot is None:
                    pos += n
                    break
                child = child.split(n, ps, self.event_block_size, next(self._ids))
            child.kv_access = now
            node, pos = child, pos + n
        existing_len = pos
        if state_slot is None or len(key) == 0:
            return InsertResult(existing_len, node, False)
        if pos < len(key):
            node = self._add_leaf(node, key, kv_slots, now)
        node.state_access = now
        if node.state_slot is not None:
            return InsertResult(existing_len, node, False)
        node.state_slot = state_slot
        self._num_states += 1
        self._emit(StateStored(node.last_block_hash(), node.end))
        return InsertResult(existing_len, node, True)

    def lock(self, node: RadixNode) -> None:
        """Pin node's KV path against eviction (no-op for the root)."""
        if node is self.root:
            return
        if node.detached:
            raise ValueError(f"{node} was evicted")
        node.own_lock += 1
        self._protected_pages += node.add_path_lock(+1) // self.page_size

    def unlock(self, node: RadixNode) -> None:
        """Undo one lock(node); a stateless leaf left unlocked goes, with its KV."""
        if node is self.root:
            return
        if node.own_lock <= node.state_lock:
            raise ValueError(f"unlock without a matching lock on {node}")
        node.own_lock -= 1
        self._protected_pages += node.add_path_lock(-1) // self.page_size
        self._prune(node)

    def lock_state(self, node: RadixNode) -> None:
        """lock(node) plus a pin of node's snapshot (the node must have one)."""
        if node is self.root:
            raise ValueError("the root has no state snapshot to lock")
        if node.state_slot is None:
            raise ValueError(f"cannot lock the state of {node}: it has no snapshot")
        self.lock(node)
        node.state_lock += 1
        self._pinned_states += node.state_lock == 1

    def unlock_state(self, node: RadixNode) -> None:
        """Undo one lock_state(node)."""
        if node.state_lock == 0:
            raise ValueError(f"unlock_state without a matching lock_state on {node}")
        node.state_lock -= 1
        self._pinned_states -= node.state_lock == 0
        self.unlock(node)

    def evict_kv(self, num_pages: int) -> int:
        """Free at least num_pages KV pages if possible: remove least recently used unlocked
        leaves (with their snapshots), then any parent left a stateless leaf. Returns the pages
        freed. O(nodes) per call."""
        if num_pages <= 0:
            return 0
        heap = [(n.kv_access, n.id, n) for n in self._evictable_leaves()]
        heapq.heapify(heap)
        freed = 0
        while freed < num_pages and heap:
            leaf = heapq.heappop(heap)[2]
            parent = leaf.parent
            assert parent is not None
            freed += self._remove_leaf(leaf)
            pages, survivor = self._prune(parent)
            freed += pages
            if survivor is not self.root and survivor.is_leaf and survivor.kv_lock == 0:
                heapq.heappush(heap, (survivor.kv_access, survivor.id, survivor))
        return freed

    def evict_states(self, num_slots: int) -> int:
        """Free at least num_slots state slots if possible: drop the least recently used
        snapshots not pinned by lock_state. An unlocked leaf losing its snapshot is removed with
        its KV, and so is any parent left a stateless leaf; a locked one keeps its KV until
        unlocked. Returns the slots freed. O(nodes) per call."""
        if num_slots <= 0:
            return 0
        nodes = self.root.subtree()
        heap = [
            (n.state_access, n.id, n)
            for n in nodes
            if n.state_slot is not None and n.state_lock == 0
        ]
        heapq.heapify(heap)
        freed = 0
        while freed < num_slots and heap:
            node = heapq.heappop(heap)[2]
            if node.is_leaf and node.kv_lock == 0:
                parent = node.parent
                assert parent is not None
                self._remove_leaf(node)
                self._prune(parent)
            else:
                self._drop_state(node)
            freed += 1
        return freed

    def reset(self) -> None:
        """Free everything not locked (e.g. on restart) and report it as AllCleared, followed by
        BlockStored / StateStored for what the locks keep alive (a plain lock keeps the KV of its
        path, lock_state also the node's snapshot)."""
        self._muted = True
        try:
            self.evict_kv(self._total_pages)
            self.evict_states(self._num_states)
        finally:
            self._muted = False
        self._emit(AllCleared())
        for event in survivor_events(self.root, self.event_block_size):
            self._emit(event)

    @property
    def total_cached_pages(self) -> int:
        return self._total_pages

    @property
    def evictable_pages(self) -> int:
        """Pages evict_kv could free now (those no lock covers)."""
        return self._total_pages - self._protected_pages

    @property
    def num_state_snapshots(self) -> int:
        return self._num_states

    @property
    def evictable_states(self) -> int:
        """Snapshots evict_states could free now (those lock_state does not pin)."""
        return self._num_states - self._pinned_states

    def check_invariants(self) -> None:
        """Walk the whole tree; raise AssertionError on any broken invariant (for tests)."""
        check_tree(self)

    def _tick(self) -> int:
        self._clock += 1
        return self._clock

    def _aligned(self, tokens: Sequence[int]) -> Key:
        key = as_key(tokens)
        return key[: len(key) - len(key) % self.page_size]

    def _emit(self, event: KVEvent) -> None:
        if not self._muted:
            self.events.append(event)

    def _evictable_leaves(self) -> list[RadixNode]:
        nodes = self.root.subtree()
        return [n for n in nodes if n.is_leaf and n.kv_lock == 0 and n is not self.root]

    def _add_leaf(self, parent: RadixNode, key: Key, kv_slots: torch.Tensor, now: int) -> RadixNode:
        ps, bs, pos = self.page_size, self.event_block_size, parent.end
        value = torch.as_tensor(kv_slots[pos : len(key)], dtype=torch.int64).clone()
        pages = self.kv_pool.pages_of(value)
        first = pos - pos % bs  # start of the first block that ends inside the new leaf
        prev = parent.last_block_hash()
        hashes = block_hashes(key[first:], bs, prev)
        leaf = RadixNode(next(self._ids), parent, key[pos:], value, len(key), hashes)
        leaf.kv_access = now
        parent.children[key[pos : pos + ps]] = leaf
        self._total_pages += len(pages)
        if hashes:
            self._emit(block_stored(key, first, hashes, prev, bs))
        return leaf

    def _remove_leaf(self, leaf: RadixNode) -> int:
        """Detach an unlocked leaf, giving its snapshot and pages back; returns pages freed."""
        parent = leaf.parent
        assert parent is not None and leaf.is_leaf and leaf.kv_lock == 0
        if leaf.state_slot is not None:
            self._drop_state(leaf)
        if leaf.block_hashes:
            self._emit(BlockRemoved(tuple(leaf.block_hashes)))
        pages = leaf.pages(self.page_size)
        self.kv_pool.free(pages)
        self._total_pages -= len(pages)
        del parent.children[leaf.key[: self.page_size]]
        leaf.parent, leaf.detached = None, True
        return len(pages)

    def _drop_state(self, node: RadixNode) -> None:
        assert node.state_slot is not None and node.state_lock == 0
        self._emit(StateRemoved(node.last_block_hash(), node.end))
        self.state_pool.free(node.state_slot)
        node.state_slot = None
        self._num_states -= 1

    def _prune(self, node: RadixNode) -> tuple[int, RadixNode]:
        """Remove unlocked stateless leaves from node upward; return pages freed and the first
        survivor."""
        freed = 0
        while (
            node is not self.root and node.is_leaf and node.state_slot is None and node.kv_lock == 0
        ):
            parent = node.parent
            assert parent is not None
            freed += self._remove_leaf(node)
            node = parent
        return freed, node
