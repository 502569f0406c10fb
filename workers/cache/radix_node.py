"""The hybrid radix tree's node, the results of its lookups, and key-comparison helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch

Key = tuple[int, ...]


class RadixNode:
    """One edge of the hybrid radix tree.

    Holds a page-aligned run of token ids (`key`), their KV token slots (`value`, int64, same
    length), and optionally `state_slot`: a Mamba state snapshot valid right after the node's last
    token, i.e. after the first `end` tokens of the path. A non-root node without a state is a
    tombstone; a tombstone is always interior (no leaf is stateless).

    Lock counts (maintained by HybridRadixCache): `own_lock` counts lock()/lock_state() calls on
    this node, `kv_lock` = own_lock + the children's kv_lock (a lock covers the whole path), and
    `state_lock` counts lock_state() calls. Always kv_lock >= own_lock >= state_lock >= 0.
    `block_hashes` are the event hashes of the blocks that end inside (end - len(key), end].
    The engine may read `end` and `state_slot`; everything else belongs to the cache.
    """

    __slots__ = (
        "id",
        "parent",
        "children",
        "key",
        "value",
        "end",
        "state_slot",
        "kv_lock",
        "own_lock",
        "state_lock",
        "kv_access",
        "state_access",
        "block_hashes",
        "detached",
    )

    def __init__(
        self,
        node_id: int,
        parent: RadixNode | None,
        key: Key,
        value: torch.Tensor,  # [len(key)] int64 token slots
        end: int,
        block_hashes: list[int],
    ) -> None:
        self.id = node_id
        self.parent = parent
        self.children: dict[Key, RadixNode] = {}  # keyed by the child's first page of tokens
        self.key = key
        self.value = value
        self.end = end
        self.state_slot: int | None = None
        self.kv_lock = 0
        self.own_lock = 0
        self.state_lock = 0
        self.kv_access = 0
        self.state_access = 0
        self.block_hashes = block_hashes
        self.detached = False  # set once the node is evicted; a detached node cannot be locked

    @property
    def start(self) -> int:
        return self.end - len(self.key)

    @property
    def is_leaf(self) -> bool:
        return not self.children

    def pages(self, page_size: int) -> list[int]:
        return (self.value[::page_size] // page_size).tolist()

    def path_slots(self) -> torch.Tensor:
        """KV token slots of the whole path from the root to this node's end."""  # [end]
        parts, node = [], self
        while node.parent is not None:
            parts.append(node.value)
            node = node.parent
        if not parts:
            return torch.empty(0, dtype=torch.int64)
        return torch.cat(parts[::-1])

    def last_block_hash(self) -> int | None:
        """Hash of the last full event block ending at or before this node's end."""
        node: RadixNode | None = self
        while node is not None:
            if node.block_hashes:
                return node.block_hashes[-1]
            node = node.parent
        return None

    def split(self, n: int, page_size: int, block_size: int, node_id: int) -> RadixNode:
        """Move the first n tokens of this node into a new stateless parent and return it.

        This node keeps its identity, end, snapshot and own locks; the new parent copies its
        kv_lock (every lock through it goes through this node) and LRU clocks.
        """
        parent = self.parent
        assert parent is not None and 0 < n < len(self.key) and n % page_size == 0
        n_blocks = (self.start + n) // block_size - self.start // block_size
        upper = RadixNode(
            node_id,
            parent,
            self.key[:n],
            self.value[:n],
            self.start + n,
            self.block_hashes[:n_blocks],
        )
        upper.kv_lock = self.kv_lock
        upper.kv_access, upper.state_access = self.kv_access, self.state_access
        parent.children[self.key[:page_size]] = upper
        self.key, self.value = self.key[n:], self.value[n:]
        self.block_hashes = self.block_hashes[n_blocks:]
        self.parent = upper
        upper.children[self.key[:page_size]] = self
        return upper

    def add_path_lock(self, delta: int) -> int:
        """Add delta (+1 or -1) to kv_lock on the path root..self; return the tokens that became
        locked (> 0) or unlocked (< 0)."""
        changed, node = 0, self
        while node.parent is not None:
            was_locked = node.kv_lock > 0
            node.kv_lock += delta
            changed += len(node.key) * ((node.kv_lock > 0) - was_locked)
            node = node.parent
        return changed

    def subtree(self) -> Iterator[RadixNode]:
        """This node and all its descendants, parents before children."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(node.children.values())

    def __repr__(self) -> str:
        return (
            f"RadixNode(id={self.id}, tokens=[{self.start}, {self.end}), state={self.state_slot},"
            f" kv_lock={self.kv_lock}, state_lock={self.state_lock})"
        )


class MatchResult(NamedTuple):
    """What the cache holds for a token sequence (see HybridRadixCache.match_prefix)."""

    kv_len: int  # longest page-aligned KV match (may end inside an edge)
    usable_len: int  # end of the deepest node on that path with a state snapshot; 0 if none
    kv_indices: torch.Tensor  # [usable_len] int64 token slots of the first usable_len tokens
    node: RadixNode  # the node ending at usable_len (the root when usable_len == 0)
    state_slot: int | None  # node's snapshot slot (None for the root)


class InsertResult(NamedTuple):
    """The outcome of HybridRadixCache.insert."""

    existing_len: int  # leading tokens that were already cached before the insert
    node: RadixNode  # the node ending at the inserted length
    state_taken: bool  # the tree took the caller's state slot (and its new KV slots)


def as_key(tokens: object) -> Key:
    """Token ids as a tuple of Python ints (accepts any sequence or a 1-D tensor)."""
    if isinstance(tokens, torch.Tensor):
        return tuple(tokens.tolist())
    return tuple(tokens)  # type: ignore[arg-type]


def common_len(edge: Key, key: Key, pos: int, page_size: int) -> int:
    """Length of the common page-aligned prefix of `edge` and `key[pos:]`."""
    n = min(len(edge), len(key) - pos)
    n -= n % page_size
    if edge[:n] == key[pos : pos + n]:
        return n
    i = 0
    while edge[i] == key[pos + i]:
        i += 1
    return i - i % page_size
