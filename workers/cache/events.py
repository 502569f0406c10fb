"""KV cache events a worker publishes for the cache-aware router, and the outbox that holds them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BlockStored:
    """Full blocks that became cached, in order along one path from the root.

    block_hashes[k] is the hash (hybridserve.block_hash) of the block whose tokens are
    token_ids[k], chained to block_hashes[k - 1] and the first to parent_hash (None: the first
    block of a sequence).
    """

    block_hashes: tuple[int, ...]
    parent_hash: int | None
    token_ids: tuple[tuple[int, ...], ...]
    block_size: int


@dataclass(frozen=True, slots=True)
class BlockRemoved:
    """Blocks no longer fully cached (at least one of their tokens was evicted)."""

    block_hashes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AllCleared:
    """Forget everything this worker reported before; what survived is re-announced after it."""


@dataclass(frozen=True, slots=True)
class StateStored:
    """A Mamba state snapshot is cached after the first prefix_len tokens of a path.

    block_hash names the path: the hash of the last full block ending at or before prefix_len
    (None when prefix_len is shorter than one block).
    """

    block_hash: int | None
    prefix_len: int


@dataclass(frozen=True, slots=True)
class StateRemoved:
    """The snapshot reported by the StateStored with the same fields was evicted."""

    block_hash: int | None
    prefix_len: int


KVEvent = BlockStored | BlockRemoved | AllCleared | StateStored | StateRemoved


class EventOutbox:
    """Events in the order they happened, kept until the publisher drains them.

    Not thread-safe: the scheduler thread appends and drains (e.g. once per step).
    """

    def __init__(self) -> None:
        self._events: list[KVEvent] = []

    def append(self, event: KVEvent) -> None:
        self._events.append(event)

    def drain(self) -> list[KVEvent]:
        """Return all pending events, oldest first, and forget them."""
        events, self._events = self._events, []
        return events

    def __len__(self) -> int:
        return len(self._events)


class DiscardingOutbox(EventOutbox):
    """The outbox of a rank that publishes nothing (only rank 0 of a group talks to the router)."""

    def append(self, event: KVEvent) -> None:
        pass
