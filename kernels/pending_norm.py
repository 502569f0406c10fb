"""A block boundary (`add_rms_norm`: the residual add and the next block's RMSNorm) handed to
the next block's first kernel instead of run as a kernel of its own.

At one decode row a batch-1 step runs 52 such boundaries, each a ~1.4 us kernel on the critical
path between two GEMVs (H200). The kernels that take a `PendingNorm` (Mamba's in_proj with its
conv, attention's Q/K/V, the decode gate and the shared expert's up rows) load the residual and
the block's output in place of their input, add and normalise them as they go, and one of their
programs writes the sum, the next boundary's residual. Anything else calls `apply()` first.
"""

from __future__ import annotations

from typing import NamedTuple

import torch


class PendingNorm(NamedTuple):
    residual: torch.Tensor  # [T, hidden] the stream before the block's add
    delta: torch.Tensor  # [T, hidden] the block's output (fp32 from the MoE)
    weight: torch.Tensor  # [hidden] the next block's norm, in the model's dtype
    eps: float
    total: torch.Tensor  # [T, hidden] residual + delta: written by whichever kernel applies this
    normed: torch.Tensor  # [T, hidden] the norm: written by `apply()` and the decode gate only

    @classmethod
    def of(
        cls, residual: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor, eps: float
    ) -> PendingNorm:
        normed = torch.empty(residual.shape, dtype=weight.dtype, device=residual.device)
        return cls(residual, delta, weight, eps, torch.empty_like(residual), normed)

    @property
    def shape(self) -> torch.Size:
        return self.residual.shape

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the normalised input (the model's)."""
        return self.weight.dtype

    def apply(self) -> torch.Tensor:
        """Runs the boundary as its own kernel (into `total` and `normed`); returns `normed`."""
        from hybridserve import kernels

        r, d, w, eps = self.residual, self.delta, self.weight, self.eps
        kernels.add_rms_norm(r, d, w, eps, self.total, self.normed)
        return self.normed


def applied(x: torch.Tensor | PendingNorm) -> torch.Tensor:
    """`x`, or the norm of a pending boundary after running it."""
    return x.apply() if isinstance(x, PendingNorm) else x
