"""Prefix caching for hybrid models: page and state pools, the hybrid radix tree, KV events."""

from __future__ import annotations

from hybridserve.workers.cache.events import (
    AllCleared,
    BlockRemoved,
    BlockStored,
    EventOutbox,
    KVEvent,
    StateRemoved,
    StateStored,
)
from hybridserve.workers.cache.pools import KVPagePool, MambaStatePool
from hybridserve.workers.cache.radix import HybridRadixCache
from hybridserve.workers.cache.radix_node import InsertResult, MatchResult, RadixNode

__all__ = [
    "AllCleared",
    "BlockRemoved",
    "BlockStored",
    "EventOutbox",
    "HybridRadixCache",
    "InsertResult",
    "KVEvent",
    "KVPagePool",
    "MambaStatePool",
    "MatchResult",
    "RadixNode",
    "StateRemoved",
    "StateStored",
]
