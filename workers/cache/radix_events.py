"""Builds the hybrid radix cache's KV events from the tree's token keys and block hashes."""

from __future__ import annotations

from hybridserve.workers.cache.events import BlockStored, KVEvent, StateStored
from hybridserve.workers.cache.radix_node import Key, RadixNode


def block_stored(
    path: Key, first: int, hashes: list[int], parent_hash: int | None, block_size: int
) -> BlockStored:
    """BlockStored for len(hashes) blocks of `path` (the tokens from the root) from `first` on."""
    blocks = tuple(
        path[first + k * block_size : first + (k + 1) * block_size] for k in range(len(hashes))
    )
    return BlockStored(tuple(hashes), parent_hash, blocks, block_size)


def survivor_events(root: RadixNode, block_size: int) -> list[KVEvent]:
    """BlockStored / StateStored events announcing everything under root, parents first."""
    events: list[KVEvent] = []
    stack: list[tuple[RadixNode, Key]] = [(root, ())]
    while stack:
        node, prefix = stack.pop()
        for child in node.children.values():
            path = prefix + child.key
            if child.block_hashes:
                first = child.start - child.start % block_size
                hashes, parent_hash = child.block_hashes, node.last_block_hash()
                events.append(block_stored(path, first, hashes, parent_hash, block_size))
            if child.state_slot is not None:
                events.append(StateStored(child.last_block_hash(), child.end))
            stack.append((child, path))
    return events
