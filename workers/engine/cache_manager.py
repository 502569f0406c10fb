"""Moves requests' cache holdings between the pools, the radix cache and the cache buffers.

Rules: a request owns its working Mamba slot and the pages of `kv_slots[tree_len:]`; it holds a
KV lock on the radix path `kv_slots[:tree_len]`, not on the snapshots there: admission copies
the matched snapshot into the request's own slot (copy-on-write; a cached snapshot is never
written), so a running request holds one state slot and cached snapshots stay evictable.
Allocation evicts from the radix cache (LRU, unlocked KV only) before it gives up.
"""

from __future__ import annotations

import torch

from hybridserve.workers.cache import HybridRadixCache, KVPagePool, MambaStatePool, RadixNode
from hybridserve.workers.engine.request import Request
from hybridserve.workers.models.cache_buffers import HybridCacheBuffers


class CacheManager:
    def __init__(
        self,
        buffers: HybridCacheBuffers,
        kv_pool: KVPagePool,
        state_pool: MambaStatePool,
        tree: HybridRadixCache,
        grid: int,
    ) -> None:
        self.buffers = buffers
        self.kv_pool = kv_pool
        self.state_pool = state_pool
        self.tree = tree
        self.page_size = kv_pool.page_size
        self.grid = grid

    # -- admission and release ---------------------------------------------------------------
    def admit(self, req: Request) -> bool:
        """Match the longest usable cached prefix, take a working state slot, lock the path."""
        tokens = req.all_ids
        match = self.tree.match_prefix(tokens[: len(tokens) - 1])  # the last token must run
        self._lock_match(match.node)  # before allocating: eviction must not take the match
        slot = self._alloc_state()
        if slot is None:  # only the matched snapshot is left to evict: give up the hit
            self._unlock_match(match.node)
            slot = self._alloc_state()
            if slot is None:
                return False
            match = self.tree.match_prefix(tokens[: len(tokens) - 1])
            self._lock_match(match.node)
        if match.usable_len:
            self.buffers.copy_state(match.state_slot, slot)
        self.tree.lock(match.node)  # from here on only the KV: the snapshot is copied
        self._unlock_match(match.node)
        req.state_slot, req.node = slot, match.node
        req.set_kv_slots(match.kv_indices.tolist())
        req.tree_len = req.num_processed = match.usable_len
        if req.computed_tokens == 0:  # a resumed request keeps its first admission's figure
            req.cached_tokens = match.usable_len
        grid_point = match.kv_len // self.grid * self.grid
        req.snapshot_at = grid_point if grid_point > match.usable_len else None
        return True

    def release(self, req: Request) -> None:
        """Give back everything the request holds (abort, preemption, end)."""
        self.kv_pool.free(req.own_pages)
        if req.state_slot is not None:
            self.state_pool.free(req.state_slot)
        if req.node is not None:
            self.tree.unlock(req.node)
        req.own_pages, req.state_slot, req.node = [], None, None
        req.set_kv_slots([])
        req.tree_len = req.num_processed = 0
        req.snapshot_at = None

    def finish(self, req: Request) -> None:
        """Cache the finished sequence with its final state (donated), then release."""
        length = req.num_processed
        if req.state_slot is not None and length > req.tree_len and length % self.page_size == 0:
            slot, req.state_slot = req.state_slot, None
            self.cache_prefix(req, length, slot)
        self.release(req)

    # -- KV slots for the next chunk -----------------------------------------------------------
    def reserve(self, req: Request, num_tokens: int) -> bool:
        """Make sure pages exist for the next `num_tokens` tokens of `req`."""
        own_tokens = req.num_processed + num_tokens - req.tree_len
        need = -(-own_tokens // self.page_size) - len(req.own_pages)
        if need <= 0:
            return True
        pages = self._alloc_pages(need)
        if pages is None:
            return False
        req.own_pages += pages
        return True

    def assign_slots(self, req: Request, num_tokens: int) -> list[int]:
        """KV slots of tokens [num_processed, num_processed + num_tokens), appended to kv_slots."""
        start = req.num_processed - req.tree_len
        own = self.kv_pool.slot_span(req.own_pages, start, num_tokens)
        if len(req.kv_slots) > req.num_processed:
            req.set_kv_slots(req.kv_slots[: req.num_processed])
        req.kv_slots += own  # appends keep the request's array mirror valid (kv_indices)
        return own

    # -- snapshots and the radix cache ---------------------------------------------------------
    def alloc_snapshot(self) -> int | None:
        return self._alloc_state()

    def cache_prefix(self, req: Request, length: int, state_slot: int) -> None:
        """Insert `all_ids[:length]` with the snapshot `state_slot` valid at its end; the pages
        of that span pass to the tree (duplicates of what it already holds are freed)."""
        assert length % self.page_size == 0 and length >= req.tree_len
        tokens = req.all_ids[:length]
        result = self.tree.insert(tokens, torch.tensor(req.kv_slots[:length]), state_slot)
        handed = (length - req.tree_len) // self.page_size
        existing = min(max(result.existing_len - req.tree_len, 0), length - req.tree_len)
        self.kv_pool.free(req.own_pages[: existing // self.page_size])
        req.own_pages = req.own_pages[handed:]
        if existing:
            tree_slots = self.tree.match_prefix(tokens).kv_indices.tolist()
            req.set_kv_slots(tree_slots + req.kv_slots[length:])
        if not result.state_taken:
            self.state_pool.free(state_slot)
        self.tree.lock(result.node)
        if req.node is not None:
            self.tree.unlock(req.node)
        req.node, req.tree_len = result.node, length

    def fork(self, leader: Request, sibling: Request) -> bool:
        """Start `sibling` from `leader`'s processed prompt: share the cached prefix, copy the
        uncached tail's KV and the state. False (holding nothing) if memory is short."""
        slot = self._alloc_state()
        if slot is None:
            return False
        tail = leader.num_processed - leader.tree_len
        pages = self._alloc_pages(-(-tail // self.page_size)) if tail else []
        if pages is None:
            self.state_pool.free(slot)
            return False
        dst = self.kv_pool.slots_of(pages, tail).tolist() if tail else []
        self.buffers.copy_kv(leader.kv_slots[leader.tree_len :], dst)
        self.buffers.copy_state(leader.state_slot, slot)
        self.tree.lock(leader.node)
        sibling.node, sibling.tree_len, sibling.own_pages = leader.node, leader.tree_len, pages
        sibling.set_kv_slots(leader.kv_slots[: leader.tree_len] + dst)
        sibling.state_slot, sibling.num_processed = slot, leader.num_processed
        sibling.cached_tokens = leader.num_processed
        return True

    def _lock_match(self, node: RadixNode) -> None:
        """Pin a match's KV path and snapshot (the root, an empty match, has neither)."""
        if node is not self.tree.root:
            self.tree.lock_state(node)

    def _unlock_match(self, node: RadixNode) -> None:
        if node is not self.tree.root:
            self.tree.unlock_state(node)

    # -- allocation with eviction --------------------------------------------------------------
    def _alloc_pages(self, n: int) -> list[int] | None:
        pages = self.kv_pool.alloc(n)
        if pages is None:
            self.tree.evict_kv(n - self.kv_pool.num_free)
            pages = self.kv_pool.alloc(n)
        return pages

    def _alloc_state(self) -> int | None:
        slot = self.state_pool.alloc()
        if slot is None:
            self.tree.evict_states(1)
            slot = self.state_pool.alloc()
        return slot
