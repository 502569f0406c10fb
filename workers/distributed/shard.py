"""`Shard`: which part of a full checkpoint tensor one parameter of this rank holds.

Modules list the shards of their parameters in a `shards` dict (parameter leaf name -> Shard);
the weight loader reads only those ranges (from a lazy safetensors slice or a full tensor).
A parameter without an entry holds the whole tensor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

Ranges = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class Shard:
    """Ranges `ranges` along `dim`, concatenated (None: the whole dim), restricted to single
    ranges `fixed` = ((dim, start, end), ...) on other dims. A read shorter than the parameter
    (the last rank of a padded vocab) fills its head and zeroes the rest."""

    full_shape: tuple[int, ...]
    dim: int = 0
    ranges: Ranges | None = None
    fixed: tuple[tuple[int, int, int], ...] = ()

    def read(self, src: Any) -> torch.Tensor:
        """`src` is a torch tensor or a safetensors slice (indexing it reads only that part)."""
        index: list[slice] = [slice(None)] * len(self.full_shape)
        for d, a, b in self.fixed:
            index[d] = slice(a, b)
        if self.ranges is None:
            return src[tuple(index)]
        parts = []
        for a, b in self.ranges:
            index[self.dim] = slice(a, b)
            parts.append(src[tuple(index)])
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=self.dim)

    def load_into(self, dst: torch.Tensor, src: Any) -> None:
        data = self.read(src)
        if data.dim() and data.shape[self.dim] < dst.shape[self.dim]:
            dst.zero_()
            dst = dst.narrow(self.dim, 0, data.shape[self.dim])
        dst.copy_(data)


def local_size(full: int, ranges: Ranges | None) -> int:
    return full if ranges is None else sum(b - a for a, b in ranges)
