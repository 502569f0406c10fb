"""Free lists for the two cache memories: KV pages (attention) and Mamba state slots."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch


class _IdFreeList:
    """Hands out ids 1..n (0 is reserved and never handed out); rejects double and foreign frees."""

    def __init__(self, n: int, what: str) -> None:
        if n < 0:
            raise ValueError(f"number of {what}s must be >= 0, got {n}")
        self._n = n
        self._what = what
        self._free = list(range(n, 0, -1))  # pop() from the end hands out low ids first
        self._is_free = bytearray(b"\x00") + bytearray(b"\x01") * n  # index 0: reserved

    def alloc(self, count: int) -> list[int] | None:
        if count < 0:
            raise ValueError(f"cannot allocate {count} {self._what}s")
        if count > len(self._free):
            return None
        ids = self._free[len(self._free) - count :][::-1]
        del self._free[len(self._free) - count :]
        for i in ids:
            self._is_free[i] = 0
        return ids

    def free(self, ids: Iterable[int]) -> None:
        ids = [int(i) for i in ids]
        seen: set[int] = set()
        for i in ids:  # validate everything before changing anything
            if not 1 <= i <= self._n:
                raise ValueError(f"{self._what} {i} is out of range 1..{self._n}")
            if self._is_free[i] or i in seen:
                raise ValueError(f"double free of {self._what} {i}")
            seen.add(i)
        for i in ids:
            self._is_free[i] = 1
        self._free.extend(ids)

    def is_allocated(self, i: int) -> bool:
        return 1 <= i <= self._n and not self._is_free[i]

    @property
    def num_free(self) -> int:
        return len(self._free)

    @property
    def num_total(self) -> int:
        return self._n


class _Pool:
    """What both pools report; the ids live in one `_IdFreeList`."""

    _ids: _IdFreeList

    def is_allocated(self, i: int) -> bool:
        return self._ids.is_allocated(i)

    @property
    def num_free(self) -> int:
        return self._ids.num_free

    @property
    def num_total(self) -> int:
        return self._ids.num_total


class KVPagePool(_Pool):
    """Pages of the attention KV cache, each holding `page_size` consecutive token slots.

    Pages are numbered 1..num_pages; page 0 is a scratch page for padding writes and is never
    handed out (the KV buffers therefore have num_pages + 1 pages). Token j of page p lives in
    token slot `p * page_size + j`. Page size 1 gives token granularity.

    Ownership: a page returned by `alloc` belongs to the caller until it gives it to the radix
    cache (`HybridRadixCache.insert`) or frees it. `free` raises on a double free or a page
    outside 1..num_pages and then frees nothing.
    """

    def __init__(self, num_pages: int, page_size: int) -> None:
        if page_size < 1:
            raise ValueError(f"page_size must be >= 1, got {page_size}")
        self.page_size = page_size
        self._ids = _IdFreeList(num_pages, "page")

    def alloc(self, n_pages: int) -> list[int] | None:
        """Allocate n_pages pages, or return None (allocating nothing) if too few are free."""
        return self._ids.alloc(n_pages)

    def free(self, pages: Iterable[int]) -> None:
        self._ids.free(pages)

    def slots_of(self, pages: Sequence[int], num_tokens: int) -> torch.Tensor:
        """Token slots of the first num_tokens tokens laid over `pages` in order."""
        return torch.tensor(self.slot_span(pages, 0, num_tokens), dtype=torch.int64)

    def slot_span(self, pages: Sequence[int], start: int, num_tokens: int) -> list[int]:
        """Token slots of tokens [start, start + num_tokens) laid over `pages` in order; only the
        pages the span touches are read (a decode step asks for one slot every step)."""
        ps = self.page_size
        if not 0 <= start <= start + num_tokens <= len(pages) * ps:
            raise ValueError(
                f"tokens [{start}, {start + num_tokens}) do not fit in {len(pages)} pages of {ps}"
            )
        return [pages[i // ps] * ps + i % ps for i in range(start, start + num_tokens)]

    def pages_of(self, slots: torch.Tensor) -> list[int]:
        """Inverse of slots_of for whole pages: the allocated pages that `slots` fill exactly.

        Raises ValueError unless len(slots) is a multiple of page_size, each run of page_size
        slots is one page's slots in order, and the pages are distinct and allocated.
        """
        ps = self.page_size
        if len(slots) % ps:
            raise ValueError(f"{len(slots)} slots are not whole pages of {ps}")
        rows = slots.reshape(-1, ps)  # [num_pages, page_size]
        offsets = torch.arange(ps, dtype=slots.dtype, device=slots.device)
        if not bool((rows == rows[:, :1] - rows[:, :1] % ps + offsets).all()):
            raise ValueError("slots are not whole pages (page * page_size + 0..page_size-1)")
        pages = (rows[:, 0] // ps).tolist()
        if len(set(pages)) != len(pages) or not all(map(self.is_allocated, pages)):
            raise ValueError(f"slots use repeated or unallocated pages: {pages}")
        return pages


class MambaStatePool(_Pool):
    """Slots of the Mamba state cache (conv + SSM state of every Mamba layer for one sequence).

    Slots are numbered 1..num_slots; slot 0 is a scratch slot and is never handed out. A slot
    belongs to the caller until given to the radix cache as a snapshot or freed; `free` raises on
    a double free or a slot outside 1..num_slots.
    """

    def __init__(self, num_slots: int) -> None:
        self._ids = _IdFreeList(num_slots, "state slot")

    def alloc(self) -> int | None:
        """Allocate one slot, or return None if none is free."""
        ids = self._ids.alloc(1)
        return None if ids is None else ids[0]

    def free(self, slot: int) -> None:
        self._ids.free([slot])
