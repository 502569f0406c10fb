"""Mamba-2 mixer: in_proj -> causal conv1d + SiLU -> SSD scan -> gated group RMSNorm -> out_proj.

Prefill chunks start from the state in the sequence's slot when it has a cached prefix, and may
save snapshots of the state at chunk-internal offsets (for the radix cache); decode advances the
state one token in place.
"""

from __future__ import annotations

import torch
from torch import nn

from hybridserve import kernels
from hybridserve.kernels import ref
from hybridserve.workers.distributed import ParallelContext, head_range
from hybridserve.workers.distributed.shard import Shard
from hybridserve.workers.layers.linear import ColumnParallelLinear, RowParallelLinear
from hybridserve.workers.layers.norm import GatedRMSNorm
from hybridserve.workers.models.cache_buffers import HybridCacheBuffers
from hybridserve.workers.models.config import MAMBA, ModelConfig
from hybridserve.workers.models.forward_batch import ForwardBatch


class Conv1dWeights(nn.Module):
    """Depthwise conv parameters under the checkpoint's names: weight [C, 1, K], bias [C]."""

    def __init__(self, channels: int, kernel: int, bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel))
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    @property
    def taps(self) -> torch.Tensor:
        """The weight as the conv kernels take it, [C, K] (a view)."""
        return self.weight[:, 0, :]


class Mamba2Mixer(nn.Module):
    """Tensor parallel: heads (x, z, dt, A, D, norm channels) split over ranks, B/C groups split
    with them or replicated when tp > n_groups (as KV heads); out_proj is row-parallel."""

    def __init__(self, config: ModelConfig, layer_id: int, parallel: ParallelContext) -> None:
        super().__init__()
        c, p = config, parallel
        self.cache_index = c.layers_of(MAMBA).index(layer_id)
        P, N, G, full_inner = c.mamba_head_dim, c.ssm_state_size, c.n_groups, c.mamba_d_inner
        h0, h1 = head_range(c.mamba_num_heads, p.tp_rank, p.tp_size, "mamba_num_heads", False)
        g0, g1 = head_range(G, p.tp_rank, p.tp_size, "n_groups", True)
        self.num_heads, self.head_dim = h1 - h0, P
        self.n_groups, self.state_size = g1 - g0, N
        self.d_inner = self.num_heads * P
        self.chunk_size = c.chunk_size
        self.dt_limit = c.time_step_limit
        # Full in_proj rows: [z | x | B | C | dt]; conv channels: [x | B | C].
        x_rows, b_rows = (h0 * P, h1 * P), (full_inner + g0 * N, full_inner + g1 * N)
        c_rows = (b_rows[0] + G * N, b_rows[1] + G * N)
        conv_ranges = (x_rows, b_rows, c_rows)
        in_ranges = (x_rows, *((a + full_inner, b + full_inner) for a, b in conv_ranges))
        dt0 = full_inner + c.mamba_conv_dim
        in_ranges += ((dt0 + h0, dt0 + h1),)
        bias = c.mamba_proj_bias
        self.in_proj = ColumnParallelLinear(c.hidden_size, c.mamba_in_proj_dim, in_ranges, bias)
        conv_dim = self.d_inner + 2 * self.n_groups * N
        self.conv1d = Conv1dWeights(conv_dim, c.conv_kernel, c.use_conv_bias)
        self.conv1d.shards = {
            "weight": Shard((c.mamba_conv_dim, 1, c.conv_kernel), 0, conv_ranges),
            "bias": Shard((c.mamba_conv_dim,), 0, conv_ranges),
        }
        self.dt_bias = nn.Parameter(torch.ones(self.num_heads))
        self.A_log = nn.Parameter(torch.zeros(self.num_heads))
        self.D = nn.Parameter(torch.ones(self.num_heads))
        heads = Shard((c.mamba_num_heads,), 0, ((h0, h1),))
        self.shards = {"dt_bias": heads, "A_log": heads, "D": heads}
        self.norm = GatedRMSNorm(self.d_inner, full_inner // G, c.layer_norm_epsilon, p, g0, G)
        self.norm.shards = {"weight": Shard((full_inner,), 0, (x_rows,))}
        self.out_proj = RowParallelLinear(full_inner, c.hidden_size, (x_rows,), bias, p)
        self._constants: tuple[tuple, tuple[torch.Tensor, torch.Tensor]] | None = None

    def forward(
        self, x: torch.Tensor, batch: ForwardBatch, caches: HybridCacheBuffers
    ) -> torch.Tensor:
        conv = caches.conv[self.cache_index]  # [slots, conv_dim, K-1]
        ssm = caches.ssm[self.cache_index]  # [slots, H, P, N]
        if x.shape[0] == 1 and batch.num_decode == 1 and self.in_proj.bias is None:
            return self._decode_one(x, batch.state_slots[:1], conv, ssm)
        gn = self.n_groups * self.state_size
        z, xbc, dt = self.in_proj(x).split(
            [self.d_inner, self.d_inner + 2 * gn, self.num_heads], -1
        )
        A, dt_bias = self._fp32_constants()
        nd, parts = batch.num_decode, []
        if nd:  # decode rows hold one token each, first in the batch
            slots = batch.state_slots[:nd]
            conv1d = self.conv1d
            act = kernels.conv1d_update_slots(xbc[:nd], conv, conv1d.taps, conv1d.bias, slots)
            parts.append(self._state_update(act, dt[:nd], ssm, slots))
        if nd < batch.num_seqs:
            dt = ref.softplus_dt(dt[nd:], dt_bias, self.dt_limit)
            parts.append(self._extend(xbc[nd:], dt, A, conv, ssm, batch))
        y = parts[0] if len(parts) == 1 else torch.cat(parts)
        y = self.norm(y.reshape(x.shape[0], self.d_inner), z)
        return self.out_proj(y)

    def _decode_one(
        self, x: torch.Tensor, slots: torch.Tensor, conv: torch.Tensor, ssm: torch.Tensor
    ) -> torch.Tensor:
        """One decode row: in_proj with the conv update on its xBC columns in one kernel
        (kernels/mamba_gemv.py), the state update, the gated norm, out_proj."""
        d, gn = self.d_inner, self.n_groups * self.state_size
        conv1d = self.conv1d
        out = kernels.in_proj_conv(x, self.in_proj.weight, conv1d.taps, conv1d.bias, conv, slots, d)
        z, act, dt = out.split([d, d + 2 * gn, self.num_heads], -1)
        y = self._state_update(act, dt, ssm, slots)
        return self.out_proj(self.norm(y.reshape(1, d), z))

    def _fp32_constants(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(A = -exp(A_log), dt_bias) in fp32, computed again only when those weights change
        (their version counters, device or dtype): recomputed each step they were four small
        kernels a layer in every decode graph. (A captured graph keeps the values it was
        captured with; nothing changes weights after capture.)"""
        key = tuple((p._version, p.device, p.dtype) for p in (self.A_log, self.dt_bias))
        if self._constants is None or self._constants[0] != key:
            with torch.inference_mode(False), torch.no_grad():  # plain tensors, usable anywhere
                values = (-torch.exp(self.A_log.float()), self.dt_bias.float().clone())
            self._constants = (key, values)
        return self._constants[1]

    def _split_xbc(self, xbc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        gn = self.n_groups * self.state_size
        xs, B, C = xbc.split([self.d_inner, gn, gn], -1)
        lead = xbc.shape[:-1]
        return (
            xs.reshape(*lead, self.num_heads, self.head_dim),
            B.reshape(*lead, self.n_groups, self.state_size),
            C.reshape(*lead, self.n_groups, self.state_size),
        )

    def _state_update(
        self,
        act: torch.Tensor,  # the conv's output for the decode rows
        dt: torch.Tensor,  # in_proj's dt channels (the state update applies bias and softplus)
        ssm: torch.Tensor,
        slots: torch.Tensor,
    ) -> torch.Tensor:
        A, dt_bias = self._fp32_constants()
        xs, B, C = self._split_xbc(act)
        return kernels.selective_state_update_slots(
            ssm, slots, xs, dt, dt_bias, self.dt_limit, A, B, C, self.D
        )

    def _extend(
        self,
        xbc: torch.Tensor,
        dt: torch.Tensor,
        A: torch.Tensor,
        conv: torch.Tensor,
        ssm: torch.Tensor,
        batch: ForwardBatch,
    ) -> torch.Tensor:
        """The sequences after the decode rows (their tokens are `xbc`): one packed chunked scan,
        saving the states at their ends and snapshot points."""
        first = batch.num_decode
        slots = batch.state_slots[first:]
        prefix_lens, cu = batch.prefix_lens[first:], batch.prefill_cu_q
        init_conv = conv[slots] * batch.prefill_has_prefix[:, None, None]
        act = kernels.causal_conv1d_varlen(xbc, self.conv1d.taps, self.conv1d.bias, cu, init_conv)
        xs, B, C = self._split_xbc(act)
        n = len(prefix_lens)
        init = [ssm[slots[i : i + 1]][0] if prefix_lens[i] > 0 else None for i in range(n)]
        points, targets = batch.prefill_state_points
        y, states = kernels.ssd_scan_varlen(
            xs, dt, A, B, C, self.D, self.chunk_size, cu, init, points
        )
        ssm[targets] = states.to(ssm.dtype)
        conv[targets] = ref.conv1d_states_at(xbc, init_conv, cu, points)
        return y
