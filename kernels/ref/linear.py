"""A linear layer with an fp32 result (reference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def linear_fp32(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """`x @ weight.T` computed and returned in fp32."""
    return F.linear(x.float(), weight.float())
