"""Mixture of experts: sigmoid gate with score-correction bias, relu^2 experts, shared expert."""

from __future__ import annotations

import torch
from torch import nn

from hybridserve.kernels import ref
from hybridserve.workers.layers.mlp import ReLU2MLP
from hybridserve.workers.models.cache_buffers import HybridCacheBuffers
from hybridserve.workers.models.config import ModelConfig
from hybridserve.workers.models.forward_batch import ForwardBatch


class Gate(nn.Module):
    """The MoE gate (checkpoint name `mixer.gate`); the correction bias stays fp32."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(config.n_routed_experts, config.hidden_size))
        self.e_score_correction_bias = nn.Parameter(
            torch.zeros(config.n_routed_experts, dtype=torch.float32), requires_grad=False
        )


class Experts(nn.Module):
    """Stacked expert weights: up [E, I, hidden], down [E, hidden, I] (E local experts)."""

    def __init__(self, num_experts: int, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.up_proj = nn.Parameter(torch.empty(num_experts, intermediate, hidden))
        self.down_proj = nn.Parameter(torch.empty(num_experts, hidden, intermediate))


class MoE(nn.Module):
    def __init__(self, config: ModelConfig, layer_id: int) -> None:
        super().__init__()
        c = config
        self.config = c
        self.gate = Gate(c)
        self.experts = Experts(c.n_routed_experts, c.hidden_size, c.moe_intermediate_size)
        self.first_expert = 0
        has_shared = c.n_shared_experts > 0 and c.moe_shared_expert_intermediate_size > 0
        self.shared_experts = (
            ReLU2MLP(c.hidden_size, c.moe_shared_expert_intermediate_size, c.mlp_bias)
            if has_shared
            else None
        )

    def forward(
        self, x: torch.Tensor, batch: ForwardBatch, caches: HybridCacheBuffers
    ) -> torch.Tensor:
        c = self.config
        weights, ids = ref.gate_topk(
            x,
            self.gate.weight,
            self.gate.e_score_correction_bias,
            c.num_experts_per_tok,
            c.n_group,
            c.topk_group,
            c.norm_topk_prob,
            c.routed_scaling_factor,
        )
        out = ref.moe_experts(
            x, self.experts.up_proj, self.experts.down_proj, weights, ids, self.first_expert
        ).to(x.dtype)
        if self.shared_experts is not None:
            out = out + self.shared_experts(x)
        return out
