"""A linear layer, optionally squared-ReLU'd or with an fp32 result (reference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def linear(
    x: torch.Tensor, weight: torch.Tensor, relu2: bool = False, fp32_out: bool = False
) -> torch.Tensor:
    """`x @ weight.T`; `relu2`: relu(.)^2 of it, in x's dtype; `fp32_out`: computed and returned
    in fp32."""
    assert not (relu2 and fp32_out)
    if fp32_out:
        return F.linear(x.float(), weight.float())
    y = F.linear(x, weight)
    return F.relu(y).square() if relu2 else y
