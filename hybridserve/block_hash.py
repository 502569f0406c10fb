"""Chained 64-bit hashes of full token blocks, computed alike by workers (KV events) and router."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

# Kept free of torch and of Python's hash(): the router imports this module, and a hash must be
# the same in every process and on every run.


def hash_block(token_ids: Sequence[int], parent: int | None = None) -> int:
    """blake2b-64 over the parent hash (8 bytes, little-endian; none for the first block) followed
    by the block's token ids as little-endian int32; returned as an unsigned 64-bit int."""
    h = hashlib.blake2b(digest_size=8)
    if parent is not None:
        h.update(parent.to_bytes(8, "little"))
    h.update(struct.pack(f"<{len(token_ids)}i", *token_ids))
    return int.from_bytes(h.digest(), "little")


def block_hashes(token_ids: Sequence[int], block_size: int, parent: int | None = None) -> list[int]:
    """Hashes of the full blocks of token_ids (a trailing partial block is ignored), each chained
    to the one before it; `parent` is the hash of the block preceding token_ids[0], if any."""
    if block_size < 1:
        raise ValueError(f"block_size must be >= 1, got {block_size}")
    out: list[int] = []
    for k in range(len(token_ids) // block_size):
        parent = hash_block(token_ids[k * block_size : (k + 1) * block_size], parent)
        out.append(parent)
    return out
