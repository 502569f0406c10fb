"""Mixture of experts: sigmoid gate with score-correction bias, relu^2 experts, shared expert.

Parallel: the gate is replicated; each rank holds n_routed_experts/ep whole experts, their
intermediate dim split over the tp/ep ranks that share them; the shared expert is split on its
intermediate dim. Every part is a partial sum of the output: one all-reduce combines them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch import nn

from hybridserve import kernels
from hybridserve.errors import ConfigError
from hybridserve.workers.distributed import ParallelContext, split_range
from hybridserve.workers.distributed.shard import Shard
from hybridserve.workers.layers.mlp import ReLU2MLP
from hybridserve.workers.models.cache_buffers import HybridCacheBuffers
from hybridserve.workers.models.config import ModelConfig
from hybridserve.workers.models.forward_batch import ForwardBatch


class Gate(nn.Module):
    """The MoE gate (checkpoint name `mixer.gate`). Weight and correction bias are kept in fp32,
    the precision the router logits are computed in (as transformers does), so no cast runs per
    step."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.weight = nn.Parameter(
            torch.zeros(config.n_routed_experts, config.hidden_size, dtype=torch.float32)
        )
        self.e_score_correction_bias = nn.Parameter(
            torch.zeros(config.n_routed_experts, dtype=torch.float32), requires_grad=False
        )


class Experts(nn.Module):
    """Stacked local experts: up [E, I, hidden], down [E, hidden, I] (E = experts of this rank,
    global ids first_expert.., I = this rank's part of the intermediate dim).

    `shards` describe the stacked checkpoint form; `expert_shards` one expert's tensors
    (`experts.{e}.up_proj.weight` [I_full, hidden], `down_proj` [hidden, I_full])."""

    def __init__(self, config: ModelConfig, parallel: ParallelContext) -> None:
        super().__init__()
        c, p = config, parallel
        if c.n_routed_experts % p.ep_size:
            raise ConfigError(
                f"ep: n_routed_experts ({c.n_routed_experts}) is not divisible by ep={p.ep_size}"
            )
        self.num_experts = c.n_routed_experts
        local = c.n_routed_experts // p.ep_size
        self.first_expert = p.ep_rank * local
        full_i, hidden = c.moe_intermediate_size, c.hidden_size
        part = (split_range(full_i, p.expert_tp_rank, p.expert_tp_size),)
        n_i = part[0][1] - part[0][0]
        self.up_proj = nn.Parameter(torch.empty(local, n_i, hidden))
        self.down_proj = nn.Parameter(torch.empty(local, hidden, n_i))
        mine = (0, self.first_expert, self.first_expert + local)
        self.shards = {
            "up_proj": Shard((self.num_experts, full_i, hidden), 1, part, (mine,)),
            "down_proj": Shard((self.num_experts, hidden, full_i), 2, part, (mine,)),
        }
        self.expert_shards = {
            "up_proj": Shard((full_i, hidden), 0, part),
            "down_proj": Shard((hidden, full_i), 1, part),
        }


class MoE(nn.Module):
    def __init__(self, config: ModelConfig, layer_id: int, parallel: ParallelContext) -> None:
        super().__init__()
        c = config
        self.config, self.parallel = c, parallel
        self.gate = Gate(c)
        self.experts = Experts(c, parallel)
        has_shared = c.n_shared_experts > 0 and c.moe_shared_expert_intermediate_size > 0
        self.shared_experts = (
            ReLU2MLP(
                c.hidden_size, c.moe_shared_expert_intermediate_size, c.mlp_bias, parallel, False
            )
            if has_shared
            else None
        )
        self.shared_fusable = has_shared and not c.mlp_bias  # the fused kernels take no bias

    def forward(
        self, x: torch.Tensor, batch: ForwardBatch, caches: HybridCacheBuffers
    ) -> torch.Tensor:
        c, e, s = self.config, self.experts, self.shared_experts
        # At a few tokens the expert kernels take the shared expert into their launches; else
        # it runs beside the gate and the up projection, and the routed experts add onto its
        # fp32 output in place (no add, no cast). The down projection waits for it (the join).
        fused = self.shared_fusable and kernels.fuses_shared_expert(
            x.shape[0], c.num_experts_per_tok
        )
        shared, shared_ready = None, None
        if s is not None and not fused:
            shared, shared_ready = beside(x, lambda: s(x, fp32_out=True))
        weights, ids = kernels.gate_topk(
            x,
            self.gate.weight,
            self.gate.e_score_correction_bias,
            c.num_experts_per_tok,
            c.n_group,
            c.topk_group,
            c.norm_topk_prob,
            c.routed_scaling_factor,
        )
        out = kernels.moe_experts(
            x,
            e.up_proj,
            e.down_proj,
            weights,
            ids,
            e.first_expert,
            shared,
            shared_ready,
            (s.up_proj.weight, s.down_proj.weight) if fused else None,
        )
        if self.parallel.tp_size == 1:  # the next block's add_rms_norm rounds it to x's dtype
            return out
        return self.parallel.all_reduce(out.to(x.dtype))


# Up to this many tokens (decode) the shared expert, where not fused, runs beside the gate and
# the routed up projection: there each is a few short kernels.
SIDE_STREAM_MAX_TOKENS = 64


def beside(
    x: torch.Tensor, fn: Callable[[], torch.Tensor]
) -> tuple[torch.Tensor, torch.cuda.Event | None]:
    """`fn()` on the CUDA stream beside the current one for a few tokens `x` on a GPU, with the
    event to join on; else here, with None. The side stream only allocates after waiting on the
    current one and is joined before its output is used, so the caching allocator never hands a
    block to one stream while the other uses it; CUDA graph capture records the fork and the
    join."""
    if not x.is_cuda or x.shape[0] > SIDE_STREAM_MAX_TOKENS:
        return fn(), None
    side = _streams(x.device)
    side.wait_stream(torch.cuda.current_stream(x.device))
    with torch.cuda.stream(side):
        return fn(), side.record_event()


@functools.cache
def _streams(device: torch.device) -> torch.cuda.Stream:
    return torch.cuda.Stream(device)
