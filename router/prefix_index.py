"""The router's prefix index: which groups cache which blocks, and where their Mamba states are.

Fed by the groups' KV events (hybridserve.v1.kv_wire). For a hybrid model a cached KV prefix is
usable only up to a Mamba state snapshot, so the index predicts, per group, the *usable* prefix:
the longest prompt prefix ending exactly where that group holds a state (the deepest block on the
path with a state, plus a partial tail when the state is not block aligned, checked by its tail
hash). A StateRemoved takes that state out, so a prediction drops to the deepest survivor. This
mirrors the worker's own match (HybridRadixCache.match_prefix over the prompt minus its last
token), so predicted cached tokens equal the group's reported ones while the index is in sync.

For routing only, the index also knows each group's *affinity* to a prompt: the leading blocks it
holds as KV (with or without a state) or will hold soon, because the router sent it a prompt
with those blocks less than `pending_ttl_s` ago (its KV events are not in yet). Sending a prompt
where its prefix's KV already is, even without a state there, makes the group save a state at
the branch point on the way (the engine snapshots where its KV match ends), so the next prompt
of that prefix hits it; without this, a prefix's second and third prompts scatter.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

from hybridserve.block_hash import block_hashes, hash_block
from hybridserve.v1 import kv_wire as wire

StateId = tuple[int | None, int, int | None]  # (block hash, prefix_len, tail hash)


class PrefixIndex:
    """Not thread-safe: one asyncio loop (the router's) applies events and answers queries."""

    def __init__(self, block_size: int, pending_ttl_s: float = 10.0) -> None:
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        self.block_size = block_size
        self.pending_ttl_s = pending_ttl_s
        self._pending: dict[int, dict[str, float]] = {}  # block hash -> group -> expiry
        self._expiries: deque[tuple[float, str, list[int]]] = deque()
        self._blocks: dict[int, set[str]] = {}
        self._states: dict[int | None, dict[tuple[int, int | None], set[str]]] = {}
        self._group_blocks: dict[str, set[int]] = {}
        self._group_states: dict[str, set[StateId]] = {}

    # -- updates ------------------------------------------------------------------------------
    def apply(self, group: str, events: Iterable[wire.WireEvent]) -> None:
        for event in events:
            if isinstance(event, wire.BlockStored):
                if event.block_size != self.block_size:
                    raise ValueError(
                        f"group {group} sends blocks of {event.block_size} tokens, "
                        f"the index uses {self.block_size}"
                    )
                for h in event.block_hashes:
                    self._blocks.setdefault(h, set()).add(group)
                    self._group_blocks.setdefault(group, set()).add(h)
            elif isinstance(event, wire.BlockRemoved):
                for h in event.block_hashes:
                    self._discard_block(group, h)
            elif isinstance(event, wire.AllCleared):
                self.clear_group(group)
            elif isinstance(event, wire.StateStored):
                key = (event.prefix_len, event.tail_hash)
                self._states.setdefault(event.block_hash, {}).setdefault(key, set()).add(group)
                self._group_states.setdefault(group, set()).add((event.block_hash, *key))
            elif isinstance(event, wire.StateRemoved):
                self._discard_state(group, (event.block_hash, event.prefix_len, event.tail_hash))

    def hashes(self, tokens: Sequence[int]) -> list[int]:
        """The chained hashes of the prompt's full blocks: compute once per request, pass on."""
        return block_hashes(tokens, self.block_size)

    def note_dispatch(self, group: str, hashes: Sequence[int], now: float) -> None:
        """`group` was just sent a prompt with these block hashes: count them as the group's
        until its events come (or `pending_ttl_s` passes). `now`: monotonic seconds."""
        self._expire(now)
        hashes = list(hashes)
        expiry = now + self.pending_ttl_s
        for h in hashes:
            self._pending.setdefault(h, {})[group] = expiry
        self._expiries.append((expiry, group, hashes))

    def clear_group(self, group: str) -> None:
        for h in list(self._group_blocks.pop(group, ())):
            self._discard_block(group, h)
        for state in list(self._group_states.pop(group, ())):
            self._discard_state(group, state)

    # -- queries ------------------------------------------------------------------------------
    def usable_prefix(
        self, tokens: Sequence[int], hashes: Sequence[int] | None = None
    ) -> dict[str, int]:
        """Per group, the prompt tokens it would serve from its cache (groups with 0 omitted).
        The last prompt token always runs, so at most len(tokens) - 1 count. `hashes`: the
        prompt's `self.hashes(tokens)` when the caller has them."""
        limit = len(tokens) - 1
        if limit <= 0:
            return {}
        bs = self.block_size
        hashes = self.hashes(tokens) if hashes is None else hashes
        hashes = hashes[: limit // bs]  # the full blocks of tokens[:limit]
        best: dict[str, int] = {}
        for k in range(len(hashes) + 1):
            parent = hashes[k - 1] if k else None
            for (length, tail), groups in self._states.get(parent, {}).items():
                if length > limit or length // bs != k:
                    continue
                if length % bs and hash_block(tokens[k * bs : length], parent) != tail:
                    continue
                for group in groups:
                    if length > best.get(group, 0):
                        best[group] = length
        return best

    def affinity(self, hashes: Sequence[int], now: float) -> dict[str, int]:
        """Per group, tokens of the prompt's leading full blocks (given by their hashes) that it
        holds as KV or was sent recently."""
        self._expire(now)
        depth: dict[str, int] = {}
        alive: set[str] | None = None
        for k, h in enumerate(hashes):
            holders = self._blocks.get(h, set()) | self._pending.get(h, {}).keys()
            alive = holders if alive is None else alive & holders
            if not alive:
                break
            for group in alive:
                depth[group] = (k + 1) * self.block_size
        return depth

    def num_blocks(self, group: str) -> int:
        return len(self._group_blocks.get(group, ()))

    def num_states(self, group: str) -> int:
        return len(self._group_states.get(group, ()))

    def _expire(self, now: float) -> None:
        while self._expiries and self._expiries[0][0] <= now:
            _, group, hashes = self._expiries.popleft()
            for h in hashes:
                by_group = self._pending.get(h)
                if by_group is not None and by_group.get(group, now + 1) <= now:
                    del by_group[group]
                    if not by_group:
                        del self._pending[h]

    def _discard_block(self, group: str, h: int) -> None:
        holders = self._blocks.get(h)
        if holders is not None:
            holders.discard(group)
            if not holders:
                del self._blocks[h]
        self._group_blocks.get(group, set()).discard(h)

    def _discard_state(self, group: str, state: StateId) -> None:
        block_hash, length, tail = state
        by_key = self._states.get(block_hash)
        if by_key is not None:
            holders = by_key.get((length, tail))
            if holders is not None:
                holders.discard(group)
                if not holders:
                    del by_key[(length, tail)]
            if not by_key:
                del self._states[block_hash]
        self._group_states.get(group, set()).discard(state)
