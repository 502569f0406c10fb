"""Full consistency check of a HybridRadixCache's tree, its counters and its pools (for tests)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hybridserve.block_hash import block_hashes

if TYPE_CHECKING:
    from hybridserve.workers.cache.radix import HybridRadixCache


def _require(ok: bool, what: str) -> None:
    if not ok:
        raise AssertionError(what)


def check_tree(cache: HybridRadixCache) -> None:
    """Raise AssertionError unless the tree, the counters and the pools agree.

    Checks: locks non-negative with kv_lock = own_lock + children's kv_lock >= own_lock >=
    state_lock; state-pinned nodes have snapshots; no unlocked stateless leaf; page-aligned keys
    of whole allocated pages; unique pages and snapshot slots; block hashes equal to a
    recomputation from the path's tokens; the size counters.
    """
    ps, bs, root = cache.page_size, cache.event_block_size, cache.root
    _require(not root.key and root.state_slot is None, "root holds tokens or a state")
    _require(root.kv_lock == root.own_lock == root.state_lock == 0, "root is locked")
    pages: set[int] = set()
    states: set[int] = set()
    protected = pinned = 0
    stack = [(root, ())]
    while stack:
        node, prefix = stack.pop()
        for first_page, child in node.children.items():
            what = repr(child)
            _require(child.parent is node and not child.detached, f"{what}: bad parent link")
            _require(first_page == child.key[:ps], f"{what}: filed under the wrong key")
            _require(len(child.key) > 0 and len(child.key) % ps == 0, f"{what}: not page aligned")
            _require(child.end == node.end + len(child.key), f"{what}: wrong end")
            _require(len(child.value) == len(child.key), f"{what}: value length != key length")
            child_locks = sum(c.kv_lock for c in child.children.values())
            _require(child.kv_lock == child.own_lock + child_locks, f"{what}: kv_lock mismatch")
            _require(child.own_lock >= child.state_lock >= 0, f"{what}: own_lock < state_lock")
            has_state = child.state_slot is not None
            _require(has_state or child.state_lock == 0, f"{what}: pinned without a snapshot")
            _require(has_state or not child.is_leaf or child.kv_lock > 0, f"{what}: stateless leaf")
            node_pages = cache.kv_pool.pages_of(child.value)  # raises unless whole, allocated
            _require(pages.isdisjoint(node_pages), f"{what}: page owned twice")
            pages.update(node_pages)
            if has_state:
                _require(cache.state_pool.is_allocated(child.state_slot), f"{what}: free state")
                _require(child.state_slot not in states, f"{what}: state slot owned twice")
                states.add(child.state_slot)
            path = prefix + child.key
            expected = block_hashes(path, bs)[child.start // bs :]
            _require(child.block_hashes == expected, f"{what}: wrong block hashes")
            protected += len(node_pages) * (child.kv_lock > 0)
            pinned += child.state_lock > 0
            stack.append((child, path))
    _require(cache.total_cached_pages == len(pages), "total_cached_pages is off")
    _require(cache.evictable_pages == len(pages) - protected, "evictable_pages is off")
    _require(cache.num_state_snapshots == len(states), "num_state_snapshots is off")
    _require(cache.evictable_states == len(states) - pinned, "evictable_states is off")
    kv_used = cache.kv_pool.num_total - cache.kv_pool.num_free
    _require(len(pages) <= kv_used, "the tree holds more pages than the pool handed out")
    state_used = cache.state_pool.num_total - cache.state_pool.num_free
    _require(len(states) <= state_used, "the tree holds more state slots than were handed out")
