"""What the kernel tests share: the GPU marker, the error measure, poisoned memory, offsets, the
routing in expert order, MoE inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

BF16_REL = 1e-2  # bf16 operands: bound on the relative Frobenius error


def gpu(test: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a test as needing CUDA; it skips with a reason elsewhere."""
    cuda = torch.cuda.is_available()
    return pytest.mark.gpu(pytest.mark.skipif(not cuda, reason="needs a CUDA device")(test))


def rel_err(out: torch.Tensor, want: torch.Tensor) -> float:
    assert out.shape == want.shape
    assert torch.isfinite(out).all(), "non-finite output (unwritten or NaN)"
    diff = (out.double() - want.double()).norm()
    return (diff / want.double().norm().clamp_min(1e-30)).item()


def poison() -> None:
    """Fill freed device memory with NaN, so an output the kernel leaves unwritten shows."""
    junk = torch.empty(64 << 20, dtype=torch.bfloat16, device="cuda")
    junk.fill_(float("nan"))
    del junk


def offsets(lengths: list[int]) -> list[int]:
    cu = [0]
    for n in lengths:
        cu.append(cu[-1] + n)
    return cu


def by_expert(weights: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A top-k routing ([T, k] weights and expert ids) in ascending expert order per token: the
    picks compared regardless of the order the kernel found them in."""
    return ids.sort(-1).values, weights.gather(1, ids.argsort(-1))


def moe_inputs(
    tokens: int,
    experts: int,
    hidden: int,
    inter: int,
    top_k: int,
    dev: str,
    dt: torch.dtype = torch.bfloat16,
) -> tuple[torch.Tensor, ...]:
    x = torch.randn(tokens, hidden, device=dev, dtype=dt)
    w_up = torch.randn(experts, inter, hidden, device=dev, dtype=dt) * hidden**-0.5
    w_down = torch.randn(experts, hidden, inter, device=dev, dtype=dt) * inter**-0.5
    ids = torch.rand(tokens, experts, device=dev).topk(top_k, dim=-1).indices
    weights = torch.rand(tokens, top_k, device=dev)
    return x, w_up, w_down, weights, ids
