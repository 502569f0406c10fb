"""Triton Mamba-2 decode step on the state cache in place (selective state update with slots);
oracle: kernels/ref/ssd.py `selective_state_update` on `cache[slots]`.

One program per (sequence, head, block of head_dim rows): it reads its rows of the fp32 state
[P, N] once, decays them by exp(dt * A), adds dt * x * B, writes them back and reduces them
against C, so the step is one pass over the state instead of the reference's ~15 kernels. dt
arrives as in_proj wrote it: the kernel adds dt_bias, applies softplus and the clamp
(`ref.softplus_dt`), three kernels a layer fewer in every decode step. With programmatic
dependent launch (kernels/pdl.py) the state streams in before the wait for in_proj's x, dt, B
and C: the slots are inputs of the step, the state was last written by the step before.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hybridserve.kernels.pdl import launch_args, wait_prior


@triton.jit
def _ssu_kernel(
    state_ptr,  # [num_slots, H, P, N]
    slots_ptr,  # [B]
    x_ptr,  # [B, H, P]
    dt_ptr,  # [B, H] before bias and softplus
    dt_bias_ptr,  # [H] fp32
    a_ptr,  # [H]
    b_ptr,  # [B, G, N]
    c_ptr,  # [B, G, N]
    d_ptr,  # [H]
    y_ptr,  # [B, H, P]
    stride_s_slot,
    stride_s_h,
    stride_s_p,
    stride_x_b,
    stride_x_h,
    stride_dt_b,
    stride_b_b,
    stride_b_g,
    stride_c_b,
    stride_c_g,
    stride_y_b,
    stride_y_h,
    P,
    N,
    heads_per_group,
    dt_min,
    dt_max,
    BLOCK_P: tl.constexpr,
    BLOCK_N: tl.constexpr,
    PDL: tl.constexpr,
):
    b = tl.program_id(0)
    h = tl.program_id(1)
    offs_p = tl.program_id(2) * BLOCK_P + tl.arange(0, BLOCK_P)
    offs_n = tl.arange(0, BLOCK_N)
    pmask = offs_p < P
    nmask = offs_n < N
    g = h // heads_per_group
    slot = tl.load(slots_ptr + b).to(tl.int64)
    s_ptrs = (
        state_ptr
        + slot * stride_s_slot
        + h * stride_s_h
        + offs_p[:, None] * stride_s_p
        + offs_n[None, :]
    )
    smask = pmask[:, None] & nmask[None, :]
    s = tl.load(s_ptrs, mask=smask, other=0.0).to(tl.float32)
    wait_prior(PDL)
    x = tl.load(x_ptr + b * stride_x_b + h * stride_x_h + offs_p, mask=pmask, other=0.0)
    x = x.to(tl.float32)
    dt = tl.load(dt_ptr + b * stride_dt_b + h).to(tl.float32) + tl.load(dt_bias_ptr + h)
    dt = tl.where(dt <= 20.0, tl.log(tl.exp(dt) + 1.0), dt)  # softplus, torch's threshold
    dt = tl.minimum(tl.maximum(dt, dt_min), dt_max)
    a = tl.load(a_ptr + h).to(tl.float32)
    d = tl.load(d_ptr + h).to(tl.float32)
    bv = tl.load(b_ptr + b * stride_b_b + g * stride_b_g + offs_n, mask=nmask, other=0.0)
    cv = tl.load(c_ptr + b * stride_c_b + g * stride_c_g + offs_n, mask=nmask, other=0.0)
    s = s * tl.exp(dt * a) + (dt * x)[:, None] * bv.to(tl.float32)[None, :]
    tl.store(s_ptrs, s.to(state_ptr.dtype.element_ty), mask=smask)
    y = tl.sum(s * cv.to(tl.float32)[None, :], axis=1) + d * x
    y_ptrs = y_ptr + b * stride_y_b + h * stride_y_h + offs_p
    tl.store(y_ptrs, y.to(y_ptr.dtype.element_ty), mask=pmask)


def selective_state_update_slots(
    cache: torch.Tensor,  # [num_slots, H, P, N], advanced in place at `slots`
    slots: torch.Tensor,  # [B] distinct state slots
    x: torch.Tensor,  # [B, H, P]
    dt: torch.Tensor,  # [B, H] before bias and softplus
    dt_bias: torch.Tensor,  # [H] fp32
    dt_limit: tuple[float, float],
    A: torch.Tensor,  # [H]
    B: torch.Tensor,  # [B, G, N]
    C: torch.Tensor,  # [B, G, N]
    D: torch.Tensor,  # [H]
) -> torch.Tensor:
    """y [B, H, P] in x's dtype."""
    batch, heads, p = x.shape
    n, groups = cache.shape[-1], B.shape[1]
    assert cache.stride(-1) == x.stride(-1) == B.stride(-1) == C.stride(-1) == dt.stride(-1) == 1
    y = torch.empty((batch, heads, p), dtype=x.dtype, device=x.device)
    if batch == 0:
        return y
    block_p = min(16, triton.next_power_of_2(p))
    grid = (batch, heads, triton.cdiv(p, block_p))
    _ssu_kernel[grid](
        cache,
        slots,
        x,
        dt,
        dt_bias,
        A,
        B,
        C,
        D,
        y,
        cache.stride(0),
        cache.stride(1),
        cache.stride(2),
        x.stride(0),
        x.stride(1),
        dt.stride(0),
        B.stride(0),
        B.stride(1),
        C.stride(0),
        C.stride(1),
        y.stride(0),
        y.stride(1),
        p,
        n,
        heads // groups,
        float(dt_limit[0]),
        float(dt_limit[1]),
        BLOCK_P=block_p,
        BLOCK_N=triton.next_power_of_2(n),
        num_warps=4,
        **launch_args(x),
    )
    return y
