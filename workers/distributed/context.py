"""The parallel layout of one rank of a worker group, and the group's collectives.

Passed explicitly to every sharded layer; nothing here is process-global. At tp_size 1 every
collective is a no-op, so the single-GPU path needs no process group.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from hybridserve.errors import ConfigError


@dataclass(frozen=True)
class ParallelContext:
    """Rank `tp_rank` of a `tp_size` group. MoE experts are split over `ep_size` ranks (a divisor
    of tp_size); the `tp_size // ep_size` ranks that share an expert block split the experts'
    intermediate dim. Activations are replicated, so one all-reduce combines everything."""

    tp_rank: int = 0
    tp_size: int = 1
    ep_rank: int = 0
    ep_size: int = 1
    group: dist.ProcessGroup | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.tp_rank < self.tp_size:
            raise ConfigError(f"tp_rank: expected 0 <= tp_rank < tp={self.tp_size}")
        if self.ep_size < 1 or self.tp_size % self.ep_size:
            raise ConfigError(f"ep: {self.ep_size} must divide tp={self.tp_size}")
        if self.ep_rank != self.tp_rank // self.expert_tp_size:
            raise ConfigError(f"ep_rank: {self.ep_rank} does not match tp_rank {self.tp_rank}")

    @classmethod
    def for_rank(
        cls,
        tp_rank: int,
        tp_size: int,
        ep_size: int | None = None,
        group: dist.ProcessGroup | None = None,
    ) -> ParallelContext:
        """The context of `tp_rank`; `ep_size` defaults to tp_size (whole experts per rank)."""
        ep = tp_size if ep_size is None else ep_size
        if ep < 1 or tp_size % ep:
            raise ConfigError(f"ep: {ep} must divide tp={tp_size}")
        return cls(tp_rank, tp_size, tp_rank // (tp_size // ep), ep, group)

    @property
    def expert_tp_size(self) -> int:
        return self.tp_size // self.ep_size

    @property
    def expert_tp_rank(self) -> int:
        return self.tp_rank % self.expert_tp_size

    # Collectives over the group (no-ops at tp_size 1) ----------------------------------------
    # A context without a group still describes a rank's shard (e.g. to build it on the meta
    # device or to load it); only its collectives need the group.
    def _group(self) -> dist.ProcessGroup | None:
        if self.tp_size == 1:
            return None
        if self.group is None:
            raise RuntimeError(f"tp={self.tp_size}: this ParallelContext has no process group")
        return self.group

    def all_reduce(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum over the group, in place; returns `tensor`."""
        group = self._group()
        if group is not None:
            group.allreduce([tensor]).wait()
        return tensor

    def all_gather(self, tensor: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """Concatenate every rank's `tensor` (equal shapes) along `dim`, in rank order."""
        group = self._group()
        if group is None:
            return tensor
        tensor = tensor.contiguous()
        parts = [torch.empty_like(tensor) for _ in range(self.tp_size)]
        group.allgather([parts], [tensor]).wait()
        return torch.cat(parts, dim=dim)

    def broadcast_object(self, obj: Any, src: int = 0) -> Any:
        """`obj` of rank `src` (group rank), pickled, on every rank."""
        group = self._group()
        if group is None:
            return obj
        data = pickle.dumps(obj) if self.tp_rank == src else b""
        size = torch.tensor([len(data)], dtype=torch.int64)
        group.broadcast(size, src).wait()
        buf = (
            torch.frombuffer(bytearray(data), dtype=torch.uint8)
            if self.tp_rank == src
            else torch.empty(int(size), dtype=torch.uint8)
        )
        group.broadcast(buf, src).wait()
        return obj if self.tp_rank == src else pickle.loads(buf.numpy().tobytes())
