"""Compute kernels: Triton on GPU, pure-torch references (`ref`) on CPU and as test oracles."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from hybridserve.kernels import ref
from hybridserve.kernels.moe_config import fuses_shared_expert

__all__ = [
    "add_rms_norm",
    "attention_varlen",
    "causal_conv1d_varlen",
    "conv1d_update",
    "conv1d_update_slots",
    "fuses_shared_expert",
    "gate_topk",
    "gated_rms_norm",
    "in_proj_conv",
    "linear",
    "moe_experts",
    "paged_decode_attention",
    "qkv_to_cache",
    "ref",
    "rms_norm",
    "selective_state_update_slots",
    "ssd_scan",
    "ssd_scan_varlen",
]

# Each entry point has the signature of its reference and picks Triton for CUDA tensors; the
# Triton modules (and triton itself) are imported on first use, so CPU machines never need them.


def linear(
    x: torch.Tensor, weight: torch.Tensor, relu2: bool = False, fp32_out: bool = False
) -> torch.Tensor:
    """`x @ weight.T` [.., out]; `relu2`: relu(.)^2 of it; `fp32_out`: in fp32, the accumulator
    as it is (no rounding to x's dtype, no cast kernel after). On CUDA a Triton GEMV where it
    beats cuBLAS (one row, see kernels/gemv.py), cuBLAS otherwise; the reference on CPU."""
    if not x.is_cuda or (fp32_out and x.dtype == torch.float32):
        return ref.linear(x, weight, relu2, fp32_out)
    assert not (relu2 and fp32_out)
    from hybridserve.kernels import activation, gemv

    x2 = x.reshape(-1, x.shape[-1])
    if x2.stride(-1) == 1 and gemv.use_gemv(x2, weight):
        out = gemv.gemv(x2, weight, relu2, torch.float32 if fp32_out else None)
    elif fp32_out:
        out = torch.mm(x2, weight.t(), out_dtype=torch.float32)
    else:
        out = F.linear(x2, weight)
        out = activation.relu_square_(out) if relu2 else out
    return out.view(*x.shape[:-1], weight.shape[0])


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    if not x.is_cuda:
        return ref.rms_norm(x, weight, eps)
    from hybridserve.kernels import norm

    return norm.rms_norm(x, weight, eps)


def add_rms_norm(
    residual: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    if not residual.is_cuda:
        return ref.add_rms_norm(residual, delta, weight, eps)
    from hybridserve.kernels import norm

    return norm.add_rms_norm(residual, delta, weight, eps)


def gated_rms_norm(
    y: torch.Tensor,  # [T, d_inner]
    z: torch.Tensor,  # [T, d_inner]
    weight: torch.Tensor,  # [d_inner]
    group_size: int,
    eps: float,
) -> torch.Tensor:
    if not y.is_cuda:
        return ref.gated_rms_norm(y, z, weight, group_size, eps)
    from hybridserve.kernels import norm

    return norm.gated_rms_norm(y, z, weight, group_size, eps)


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
    """(weights [T, k] fp32, ids [T, k]); Triton logits and top-k for ungrouped routing of
    bf16/fp16 activations on CUDA, the reference otherwise."""
    if not x.is_cuda or n_group > 1 or x.dtype == torch.float32:
        return ref.gate_topk(
            x, gate_weight, correction_bias, top_k, n_group, topk_group, norm_topk_prob,
            routed_scaling_factor,
        )  # fmt: skip
    from hybridserve.kernels import gate

    x2, w, bias = x.reshape(-1, x.shape[-1]), gate_weight.float(), correction_bias.float()
    if gate.use_decode_gate(x2):
        return gate.decode_gate_topk(x2, w, bias, top_k, norm_topk_prob, routed_scaling_factor)
    logits = gate.router_logits(x2, w)
    return gate.topk_from_logits(logits, bias, top_k, norm_topk_prob, routed_scaling_factor)


def in_proj_conv(
    x: torch.Tensor,  # [1, K]
    weight: torch.Tensor,  # [N, K]
    conv_weight: torch.Tensor,  # [hi - lo, KW + 1]
    conv_bias: torch.Tensor | None,
    conv_cache: torch.Tensor,  # [num_slots, hi - lo, KW], advanced in place at `slots`
    slots: torch.Tensor,  # [1]
    lo: int,
) -> torch.Tensor:
    """A Mamba in_proj at batch 1 with the conv update on its xBC columns [lo, hi): one Triton
    GEMV on CUDA (kernels/mamba_gemv.py), the reference otherwise."""
    args = (x, weight, conv_weight, conv_bias, conv_cache, slots, lo)
    if not x.is_cuda:
        return ref.in_proj_conv(*args)
    from hybridserve.kernels import mamba_gemv

    return mamba_gemv.in_proj_conv(*args)


def selective_state_update_slots(
    cache: torch.Tensor,  # [num_slots, H, P, N], advanced in place at `slots`
    slots: torch.Tensor,  # [B] distinct state slots
    x: torch.Tensor,  # [B, H, P]
    dt: torch.Tensor,  # [B, H] before bias and softplus (in_proj's dt channels)
    dt_bias: torch.Tensor,  # [H] fp32
    dt_limit: tuple[float, float],
    A: torch.Tensor,  # [H]
    B: torch.Tensor,  # [B, G, N]
    C: torch.Tensor,  # [B, G, N]
    D: torch.Tensor,  # [H]
) -> torch.Tensor:
    """`selective_state_update` with dt = `softplus_dt(dt, dt_bias, dt_limit)` on
    `cache[slots]`, writing the new states back; y [B, H, P]."""
    if not x.is_cuda:
        return ref.selective_state_update_slots(cache, slots, x, dt, dt_bias, dt_limit, A, B, C, D)
    from hybridserve.kernels import ssu

    return ssu.selective_state_update_slots(cache, slots, x, dt, dt_bias, dt_limit, A, B, C, D)


def moe_experts(
    x: torch.Tensor,  # [T, hidden]
    w_up: torch.Tensor,  # [E_local, I, hidden]
    w_down: torch.Tensor,  # [E_local, hidden, I]
    topk_weights: torch.Tensor,  # [T, k] fp32
    topk_ids: torch.Tensor,  # [T, k] global expert ids
    first_expert: int = 0,
    acc: torch.Tensor | None = None,  # fp32 [T, hidden] added onto in place (the shared expert)
    acc_ready: torch.cuda.Event | None = None,  # recorded where `acc` is written (a side stream)
    shared: tuple[torch.Tensor, torch.Tensor] | None = None,  # up [I_s, hidden], down [hidden, I_s]
) -> torch.Tensor:
    """The routed experts' sum added onto `acc` (or zeros), fp32. With `acc_ready` the current
    stream waits for that event after the up projection, before anything reads `acc`, and
    before returning. `shared`: the shared expert's weights, its relu^2 MLP computed here and
    added too (only where `fuses_shared_expert`; `acc` is then None)."""
    if not x.is_cuda:
        if shared is not None:
            assert acc is None and fuses_shared_expert(*topk_ids.shape)
            acc = ref.shared_expert(x, *shared)
        return ref.moe_experts(x, w_up, w_down, topk_weights, topk_ids, first_expert, acc)
    from hybridserve.kernels import moe

    args = (x, w_up, w_down, topk_weights, topk_ids, first_expert)
    return moe.moe_experts(*args, acc=acc, acc_ready=acc_ready, shared=shared)


def conv1d_update(
    x: torch.Tensor,  # [Bt, C]
    conv_state: torch.Tensor,  # [Bt, C, K-1]
    weight: torch.Tensor,  # [C, K]
    bias: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    if not x.is_cuda:
        return ref.conv1d_update(x, conv_state, weight, bias)
    from hybridserve.kernels import conv1d

    return conv1d.conv1d_update(x, conv_state, weight, bias)


def conv1d_update_slots(
    x: torch.Tensor,  # [Bt, C]
    conv_cache: torch.Tensor,  # [num_slots, C, K-1], advanced in place
    weight: torch.Tensor,  # [C, K]
    bias: torch.Tensor | None,
    slots: torch.Tensor,  # [Bt] distinct state slots
) -> torch.Tensor:
    """`conv1d_update` on `conv_cache[slots]`, writing the new states back; returns [Bt, C]."""
    if not x.is_cuda:
        return ref.conv1d_update_slots(x, conv_cache, weight, bias, slots)
    from hybridserve.kernels import conv1d

    return conv1d.conv1d_update_slots(x, conv_cache, weight, bias, slots)


def qkv_to_cache(
    x: torch.Tensor,  # [1, K]
    wq: torch.Tensor,  # [NQ, K]
    wk: torch.Tensor,  # [NKV, K]
    wv: torch.Tensor,  # [NKV, K]
    k_cache: torch.Tensor,  # [num_slots, kv_heads, head_dim] in x's dtype; row `loc` written
    v_cache: torch.Tensor,  # [num_slots, kv_heads, head_dim] in x's dtype; row `loc` written
    loc: torch.Tensor,  # [1]
) -> torch.Tensor:
    """An attention's projections at batch 1, K and V into the cache: one Triton GEMV launch on
    CUDA (kernels/qkv_gemv.py), the reference otherwise; returns q [1, NQ]."""
    args = (x, wq, wk, wv, k_cache, v_cache, loc)
    if not x.is_cuda:
        return ref.qkv_to_cache(*args)
    from hybridserve.kernels import qkv_gemv

    return qkv_gemv.qkv_to_cache(*args)


def paged_decode_attention(
    q: torch.Tensor,  # [B, Hq, D]
    k_cache: torch.Tensor,  # [num_slots, Hkv, D]
    v_cache: torch.Tensor,  # [num_slots, Hkv, D]
    kv_indices: torch.Tensor,  # [sum kv_len]
    kv_indptr: torch.Tensor,  # [B+1] int, on q's device
    scale: float,
) -> torch.Tensor:
    """One query a sequence (its last position) over its whole context; [B, Hq, D]."""
    if not q.is_cuda:
        cu_q = list(range(q.shape[0] + 1))
        indptr = kv_indptr.tolist()
        return ref.attention_varlen(q, k_cache, v_cache, cu_q, kv_indices, indptr, scale)
    from hybridserve.kernels import attention

    return attention.paged_decode_attention(q, k_cache, v_cache, kv_indices, kv_indptr, scale)


def attention_varlen(
    q: torch.Tensor,  # [T, Hq, D]
    k_cache: torch.Tensor,  # [num_slots, Hkv, D]
    v_cache: torch.Tensor,  # [num_slots, Hkv, D]
    cu_q: list[int],  # B+1
    kv_indices: torch.Tensor,  # [sum kv_len]
    kv_indptr: list[int],  # B+1
    scale: float,
) -> torch.Tensor:
    """Prefill (and mixed) attention over a cached prefix: torch SDPA (FlashAttention) on CUDA,
    the reference on CPU; decode batches take `paged_decode_attention`."""
    if not q.is_cuda:
        return ref.attention_varlen(q, k_cache, v_cache, cu_q, kv_indices, kv_indptr, scale)
    from hybridserve.kernels import prefill_attention

    return prefill_attention.attention_varlen(
        q, k_cache, v_cache, cu_q, kv_indices, kv_indptr, scale
    )


def causal_conv1d_varlen(
    x: torch.Tensor,  # [T, C]
    weight: torch.Tensor,  # [C, K]
    bias: torch.Tensor | None,  # [C]
    cu_seqlens: list[int],  # B+1
    initial_states: torch.Tensor,  # [B, C, K-1]; zeros where a sequence has no history
) -> torch.Tensor:
    if not x.is_cuda:
        return ref.causal_conv1d_varlen(x, weight, bias, cu_seqlens, initial_states)
    from hybridserve.kernels import conv1d

    return conv1d.causal_conv1d_varlen(x, weight, bias, cu_seqlens, initial_states)


def ssd_scan(
    x: torch.Tensor,  # [L, H, P]
    dt: torch.Tensor,  # [L, H] fp32, after softplus
    A: torch.Tensor,  # [H] fp32
    B: torch.Tensor,  # [L, G, N]
    C: torch.Tensor,  # [L, G, N]
    D: torch.Tensor,  # [H]
    chunk_size: int,
    initial_state: torch.Tensor | None = None,  # [H, P, N]
) -> tuple[torch.Tensor, torch.Tensor]:
    """One sequence's chunked scan: mamba-ssm's Triton kernels on CUDA (the `gpu` extra), the
    reference on CPU."""
    if not x.is_cuda:
        return ref.ssd_scan(x, dt, A, B, C, D, chunk_size, initial_state)
    from hybridserve.kernels import ssd

    return ssd.ssd_scan(x, dt, A, B, C, D, chunk_size, initial_state)


def ssd_scan_varlen(
    x: torch.Tensor,  # [L, H, P] the sequences packed
    dt: torch.Tensor,  # [L, H] fp32, after softplus
    A: torch.Tensor,  # [H] fp32
    B: torch.Tensor,  # [L, G, N]
    C: torch.Tensor,  # [L, G, N]
    D: torch.Tensor,  # [H]
    chunk_size: int,
    cu_seqlens: list[int],
    initial_states: list[torch.Tensor | None],  # [H, P, N] a sequence, None: zeros
    points: list[tuple[int, int]],  # (sequence, tokens into it, >= 1)
) -> tuple[torch.Tensor, torch.Tensor]:
    """Packed sequences' chunked scan: (y [L, H, P], the fp32 state after each point). On CUDA
    one packed pass of mamba-ssm's kernels (kernels/ssd.py); the reference on CPU."""
    args = (x, dt, A, B, C, D, chunk_size, cu_seqlens, initial_states, points)
    if not x.is_cuda:
        return ref.ssd_scan_varlen(*args)
    from hybridserve.kernels import ssd

    return ssd.ssd_scan_varlen(*args)
