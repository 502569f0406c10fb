"""MoE gate (sigmoid + correction bias, group-limited top-k) and relu^2 experts (reference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hybridserve.kernels.ref.linear import linear


def gate_topk(
    x: torch.Tensor,  # [T, hidden]
    gate_weight: torch.Tensor,  # [E, hidden]
    correction_bias: torch.Tensor,  # [E] fp32
    top_k: int,
    n_group: int,
    topk_group: int,
    norm_topk_prob: bool,
    routed_scaling_factor: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Select experts *with* the bias, weight them *without* it; returns (weights fp32, ids)."""
    scores = F.linear(x.float(), gate_weight.float()).sigmoid()  # [T, E]
    choice = scores + correction_bias.float()
    if n_group > 1:
        T, E = choice.shape
        grouped = choice.view(T, n_group, E // n_group)
        group_scores = grouped.topk(2, dim=-1).values.sum(-1)  # [T, n_group]
        keep = torch.zeros_like(group_scores, dtype=torch.bool)
        keep.scatter_(1, group_scores.topk(topk_group, dim=-1).indices, True)
        choice = choice.masked_fill(~keep.repeat_interleave(E // n_group, dim=1), float("-inf"))
    ids = choice.topk(top_k, dim=-1).indices
    weights = scores.gather(1, ids)
    if norm_topk_prob:
        weights = weights / (weights.sum(-1, keepdim=True) + 1e-20)
    return weights * routed_scaling_factor, ids


def moe_experts(
    x: torch.Tensor,  # [T, hidden]
    w_up: torch.Tensor,  # [E_local, I, hidden]
    w_down: torch.Tensor,  # [E_local, hidden, I]
    topk_weights: torch.Tensor,  # [T, k] fp32
    topk_ids: torch.Tensor,  # [T, k] global expert ids
    first_expert: int = 0,
    acc: torch.Tensor | None = None,
) -> torch.Tensor:
    """The sum over the chosen local experts of `w * down(relu(up(x))^2)` added in place onto
    `acc` (fp32 [T, hidden], e.g. the shared expert's output) or onto zeros; returns that fp32
    tensor.

    Experts outside [first_expert, first_expert + E_local) contribute nothing here: with expert
    parallelism another rank adds them in the group's all-reduce.
    """
    out = torch.zeros(x.shape, dtype=torch.float32, device=x.device) if acc is None else acc
    local = topk_ids - first_expert
    for e in torch.unique(local).tolist():
        if not 0 <= e < w_up.shape[0]:
            continue
        token, slot = torch.where(local == e)
        h = F.relu(F.linear(x[token], w_up[e])).square()
        h = F.linear(h, w_down[e]) * topk_weights[token, slot, None]
        out.index_add_(0, token, h.float())
    return out


def shared_expert(x: torch.Tensor, up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    """The shared expert's relu^2 MLP (up [I_s, hidden], down [hidden, I_s]) with its output in
    fp32: the `acc` the routed experts add onto."""
    return linear(linear(x, up, relu2=True), down, fp32_out=True)
