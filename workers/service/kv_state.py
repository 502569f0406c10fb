"""Turns the radix cache's KV events into wire events, naming each Mamba state by its exact prefix.

The cache's StateStored / StateRemoved carry (block_hash, prefix_len) only; when prefix_len is not
block aligned, two paths that share every full block but differ in the partial tail would look
alike. So on the engine thread, right after a drain, this module looks the live states up in the
tree (O(nodes) per drain that touched a state), diffs them against what it published before, and
publishes states with a tail hash (see hybridserve.v1.kv_wire). Runs on the engine thread only.
"""

from __future__ import annotations

from collections import Counter

from hybridserve.block_hash import hash_block
from hybridserve.v1 import kv_wire as wire
from hybridserve.workers.cache import (
    AllCleared,
    BlockRemoved,
    BlockStored,
    HybridRadixCache,
    KVEvent,
    RadixNode,
    StateRemoved,
    StateStored,
)
from hybridserve.workers.cache.radix_events import survivor_events

StateKey = tuple[int | None, int]  # (block hash, prefix_len)


class WireEventBuilder:
    def __init__(self, tree: HybridRadixCache) -> None:
        self.tree = tree
        self.block_size = tree.event_block_size
        self._published: dict[StateKey, Counter[int | None]] = {}

    def convert(self, events: list[KVEvent]) -> list[wire.WireEvent]:
        """Wire events for a drained batch: block events in order, then the state changes."""
        out: list[wire.WireEvent] = []
        touched: set[StateKey] = set()
        for event in events:
            if isinstance(event, BlockStored):
                e = event
                out.append(wire.BlockStored(e.block_hashes, e.parent_hash, e.block_size))
            elif isinstance(event, BlockRemoved):
                out.append(wire.BlockRemoved(event.block_hashes))
            elif isinstance(event, AllCleared):
                out.append(wire.AllCleared())
                self._published.clear()
            elif isinstance(event, (StateStored, StateRemoved)):
                touched.add((event.block_hash, event.prefix_len))
        if touched:
            live = self.live_states()
            for key in touched:
                out += self._diff(key, live.get(key, Counter()))
        return out

    def snapshot(self) -> list[wire.WireEvent]:
        """Everything the tree holds now, as events from an empty index; resets the diff base."""
        out: list[wire.WireEvent] = [
            wire.BlockStored(e.block_hashes, e.parent_hash, e.block_size)
            for e in survivor_events(self.tree.root, self.block_size)
            if isinstance(e, BlockStored)
        ]
        self._published = self.live_states()
        for (block_hash, prefix_len), tails in self._published.items():
            for tail, count in tails.items():
                out += [wire.StateStored(block_hash, prefix_len, tail)] * count
        return out

    def live_states(self) -> dict[StateKey, Counter[int | None]]:
        states: dict[StateKey, Counter[int | None]] = {}
        for node in self.tree.root.subtree():
            if node.state_slot is not None and node.parent is not None:
                key = (node.last_block_hash(), node.end)
                states.setdefault(key, Counter())[self._tail_hash(node, key[0])] += 1
        return states

    def _diff(self, key: StateKey, live: Counter[int | None]) -> list[wire.WireEvent]:
        published = self._published.get(key, Counter())
        out: list[wire.WireEvent] = []
        for tail, count in (published - live).items():
            out += [wire.StateRemoved(key[0], key[1], tail)] * count
        for tail, count in (live - published).items():
            out += [wire.StateStored(key[0], key[1], tail)] * count
        if live:
            self._published[key] = Counter(live)
        else:
            self._published.pop(key, None)
        return out

    def _tail_hash(self, node: RadixNode, block_hash: int | None) -> int | None:
        need = node.end % self.block_size
        if need == 0:
            return None
        parts: list[tuple[int, ...]] = []
        have, cur = 0, node
        while have < need and cur is not None and cur.parent is not None:
            parts.append(cur.key)
            have += len(cur.key)
            cur = cur.parent
        tokens = [t for part in reversed(parts) for t in part][-need:]
        return hash_block(tokens, block_hash)
