"""What one model forward consumes: a flat varlen batch plus where its caches live."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch

from hybridserve.kernels.host_copy import device_tensor


@dataclass(frozen=True)
class StateSnapshot:
    """Save sequence `seq`'s Mamba state after `offset` tokens of this chunk into `slot`."""

    seq: int
    offset: int
    slot: int


@dataclass
class ForwardBatch:
    """B sequences laid end to end (T tokens, no padding).

    Sequence i contributes tokens `input_ids[cu_q[i]:cu_q[i+1]]`, the positions
    `prefix_lens[i] ..` of its context. Its attention context (cached prefix + these tokens) lives
    in KV slots `kv_indices[kv_indptr[i]:kv_indptr[i+1]]`, whose tail is `out_cache_loc` of these
    tokens. Its Mamba state lives in `state_slots[i]`: read as the initial state when
    `prefix_lens[i] > 0` (the engine copied a cached snapshot there), and overwritten with the
    state after the chunk.

    The first `num_decode` sequences are decode rows (the scheduler puts them first): the layers
    run them through the decode kernels together, the rest through the prefill kernels.
    """

    input_ids: torch.Tensor  # [T] int64
    cu_q: list[int]  # B+1
    prefix_lens: list[int]  # B
    out_cache_loc: torch.Tensor  # [T] int64 KV slots of the new tokens
    kv_indices: torch.Tensor  # [sum(prefix_lens) + T] int64
    kv_indptr: list[int]  # B+1
    state_slots: torch.Tensor  # [B] int64
    snapshots: list[StateSnapshot]
    logits_indices: torch.Tensor | None = None  # [n] rows of T to compute logits for; None = all
    # [num_decode+1] int32 device copy of kv_indptr's head, built on first use unless given (the
    # CUDA graphs give a static buffer)
    kv_indptr_device: torch.Tensor | None = None

    @property
    def num_seqs(self) -> int:
        return len(self.prefix_lens)

    @property
    def q_lens(self) -> list[int]:
        return [b - a for a, b in zip(self.cu_q, self.cu_q[1:])]

    @cached_property
    def num_decode(self) -> int:
        """Leading sequences that add one token over a cached context and save no snapshot."""
        snapshot_seqs = {snap.seq for snap in self.snapshots}
        rows = zip(self.q_lens, self.prefix_lens)
        for i, (q_len, prefix) in enumerate(rows):
            if q_len != 1 or prefix == 0 or i in snapshot_seqs:
                return i
        return self.num_seqs

    @property
    def is_decode(self) -> bool:
        return self.num_decode == self.num_seqs

    @cached_property
    def prefill_cu_q(self) -> list[int]:
        """`cu_q` of the sequences after the decode rows, from 0 (a decode row is one token)."""
        return [c - self.num_decode for c in self.cu_q[self.num_decode :]]

    @cached_property
    def prefill_has_prefix(self) -> torch.Tensor:
        """[B - num_decode] bool on the device: which of those sequences resume a cached state."""
        prefix = self.prefix_lens[self.num_decode :]
        return device_tensor(prefix, torch.long, self.input_ids.device) > 0

    @cached_property
    def prefill_state_points(self) -> tuple[list[tuple[int, int]], torch.Tensor]:
        """The Mamba states the prefill part saves: points (sequence of that part, tokens into
        its chunk), each sequence's end and then each snapshot, and their slots on the device."""
        first = self.num_decode
        snaps = [snap for snap in self.snapshots if snap.seq >= first]
        lens = self.q_lens[first:]
        points = [(i, n) for i, n in enumerate(lens)] + [(s.seq - first, s.offset) for s in snaps]
        slots = self.state_slots[first:]
        if snaps:
            extra = device_tensor([snap.slot for snap in snaps], torch.long, slots.device)
            slots = torch.cat([slots, extra])
        return points, slots

    def decode_kv_indptr(self) -> torch.Tensor:
        """`kv_indptr` of the decode rows on the device, for the paged decode kernel."""
        if self.kv_indptr_device is None:
            head = self.kv_indptr[: self.num_decode + 1]
            self.kv_indptr_device = device_tensor(head, torch.int32, self.input_ids.device)
        return self.kv_indptr_device
