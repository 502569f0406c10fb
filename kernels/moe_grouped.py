"""The routed experts as two grouped GEMMs (`torch._grouped_mm`: CUTLASS on Hopper, a loop on
CPU), a candidate for large batches (prefill chunks), where the Triton kernel (kernels/moe.py)
reaches about half the bf16 matmul rate. `bench/kernels.py` times both side by side; the engine
uses the Triton kernel until this one measures faster.

Token-expert pairs are sorted by expert into groups padded to `ALIGN` rows (grouped GEMMs want
16-byte aligned group starts), all with static shapes: no host sync, so it can be graphed."""

from __future__ import annotations

import torch

ALIGN = 16  # rows a group is padded to


def moe_experts_grouped(
    x: torch.Tensor,  # [T, hidden]
    w_up: torch.Tensor,  # [E_local, I, hidden]
    w_down: torch.Tensor,  # [E_local, hidden, I]
    topk_weights: torch.Tensor,  # [T, k] fp32
    topk_ids: torch.Tensor,  # [T, k] global expert ids
    first_expert: int = 0,
) -> torch.Tensor:
    """Sum over the chosen local experts of `w * down(relu(up(x))^2)`; fp32 [T, hidden] (the
    reference's contract: pairs of other ranks' experts contribute nothing)."""
    T, hidden = x.shape
    E, k = w_up.shape[0], topk_ids.shape[1]
    pairs = T * k
    local = topk_ids.reshape(-1) - first_expert
    outside = (local < 0) | (local >= E)
    expert = torch.where(outside, E, local)  # other ranks' pairs sort last, into no group
    ones = torch.ones_like(expert)
    counts = torch.zeros(E + 1, dtype=expert.dtype, device=x.device).scatter_add_(0, expert, ones)
    counts = counts[:E]  # (not bincount: it reads the max back, a sync a CUDA graph cannot hold)
    padded = (counts + ALIGN - 1) // ALIGN * ALIGN
    ends = padded.cumsum(0)
    order = torch.argsort(expert, stable=True)  # pair ids, by expert
    sorted_expert = expert[order]
    by_expert = sorted_expert.clamp(max=E - 1)
    rank = torch.arange(pairs, device=x.device) - (counts.cumsum(0) - counts)[by_expert]
    scratch = pairs + ALIGN * E  # a row past every group, for the pairs of other ranks
    row = torch.where(sorted_expert < E, ends[by_expert] - padded[by_expert] + rank, scratch)
    pair_row = torch.empty_like(row)
    pair_row[order] = row  # each pair's row of the grouped layout
    rows = torch.zeros(scratch + 1, hidden, dtype=x.dtype, device=x.device)
    rows[pair_row] = x.repeat_interleave(k, dim=0)
    offs = ends.to(torch.int32)
    h = torch._grouped_mm(rows, w_up.transpose(1, 2), offs=offs)
    h = torch.relu(h).square()
    y = torch._grouped_mm(h, w_down.transpose(1, 2), offs=offs)[pair_row].float()
    weights = torch.where(outside, 0.0, topk_weights.reshape(-1).float())
    y = torch.where(outside[:, None], 0.0, y * weights[:, None])  # scratch rows hold garbage
    return y.view(T, k, hidden).sum(dim=1)
