"""Triton RMSNorm (alone and after the residual add) and grouped gated RMSNorm (oracles:
kernels/ref/norm.py). With programmatic dependent launch (kernels/pdl.py) each loads its weight
before waiting for the kernel that wrote its input."""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from hybridserve.kernels.pdl import launch_args, wait_prior


@triton.jit
def _normalized(x, w, n, eps):
    """`w * x / rms(x)` of one fp32 row (zeros past `n`)."""
    rstd = tl.rsqrt(tl.sum(x * x, axis=0) / n + eps)
    return w * (x * rstd)


@triton.jit
def _rms_norm_kernel(
    x_ptr, w_ptr, out_ptr, stride_x, stride_out, n, eps, BLOCK: tl.constexpr, PDL: tl.constexpr
):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    wait_prior(PDL)
    x = tl.load(x_ptr + row * stride_x + cols, mask=mask, other=0.0).to(tl.float32)
    y = _normalized(x, w, n, eps)
    tl.store(out_ptr + row * stride_out + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _add_rms_norm_kernel(
    r_ptr,
    d_ptr,
    w_ptr,
    sum_ptr,
    out_ptr,
    stride_r,
    stride_d,
    stride_sum,
    stride_out,
    n,
    eps,
    BLOCK: tl.constexpr,
    PDL: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    cols = tl.arange(0, BLOCK)
    mask = cols < n
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    wait_prior(PDL)
    r = tl.load(r_ptr + row * stride_r + cols, mask=mask, other=0.0).to(tl.float32)
    d = tl.load(d_ptr + row * stride_d + cols, mask=mask, other=0.0)
    d = d.to(out_ptr.dtype.element_ty).to(tl.float32)  # a wider delta: rounded to model dtype
    total = (r + d).to(sum_ptr.dtype.element_ty)
    tl.store(sum_ptr + row * stride_sum + cols, total, mask=mask)
    x = total.to(out_ptr.dtype.element_ty).to(tl.float32)  # the norm reads the sum cast down
    y = _normalized(x, w, n, eps)
    tl.store(out_ptr + row * stride_out + cols, y.to(out_ptr.dtype.element_ty), mask=mask)


def _rows(x: torch.Tensor) -> torch.Tensor:
    """`x` as [rows, last dim] with unit stride along a row (what the kernels index)."""
    x2 = x.reshape(-1, x.shape[-1])
    return x2 if x2.stride(-1) == 1 else x2.contiguous()


def _row_warps(block: int) -> int:
    return 4 if block <= 2048 else 8


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """`weight * x / rms(x)` over the last dim, fp32 inside, out in x's dtype."""
    n = x.shape[-1]
    x2 = _rows(x)
    out = torch.empty((x2.shape[0], n), dtype=x.dtype, device=x.device)
    if x2.shape[0] == 0:
        return out.view(x.shape)
    block = triton.next_power_of_2(n)
    warps = _row_warps(block)
    _rms_norm_kernel[(x2.shape[0],)](
        x2, weight, out, x2.stride(0), out.stride(0), n, eps, BLOCK=block, num_warps=warps,
        **launch_args(x),
    )  # fmt: skip
    return out.view(x.shape)


def add_rms_norm(
    residual: torch.Tensor, delta: torch.Tensor, weight: torch.Tensor, eps: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """(`residual + delta` in residual's dtype, the RMSNorm of that sum cast to weight's dtype)
    in one pass: a block boundary of the residual stream (the add and the norm were two
    kernels, three with a cast from an fp32 stream). A `delta` wider than weight's (the model's)
    dtype, the MoE's fp32 sum, is rounded to it first in the same pass."""
    n = residual.shape[-1]
    r2, d2 = _rows(residual), _rows(delta)
    total = torch.empty((r2.shape[0], n), dtype=residual.dtype, device=residual.device)
    out = torch.empty((r2.shape[0], n), dtype=weight.dtype, device=residual.device)
    if r2.shape[0]:
        block = triton.next_power_of_2(n)
        _add_rms_norm_kernel[(r2.shape[0],)](
            r2,
            d2,
            weight,
            total,
            out,
            r2.stride(0),
            d2.stride(0),
            total.stride(0),
            out.stride(0),
            n,
            eps,
            BLOCK=block,
            num_warps=_row_warps(block),
            **launch_args(residual),
        )
    return total.view(residual.shape), out.view(residual.shape)


@triton.jit
def _gated_rms_norm_kernel(
    y_ptr,
    z_ptr,
    w_ptr,
    out_ptr,
    stride_y,
    stride_z,
    stride_out,
    group_size,
    eps,
    BLOCK: tl.constexpr,
    PDL: tl.constexpr,
):
    row = tl.program_id(0).to(tl.int64)
    group = tl.program_id(1)
    cols = group * group_size + tl.arange(0, BLOCK)
    mask = tl.arange(0, BLOCK) < group_size
    w = tl.load(w_ptr + cols, mask=mask, other=0.0).to(tl.float32)
    wait_prior(PDL)
    y = tl.load(y_ptr + row * stride_y + cols, mask=mask, other=0.0).to(tl.float32)
    z = tl.load(z_ptr + row * stride_z + cols, mask=mask, other=0.0).to(tl.float32)
    h = y * (z * tl.sigmoid(z))
    rstd = tl.rsqrt(tl.sum(h * h, axis=0) / group_size + eps)
    # The reference casts the normalised value to y's dtype before the weight multiplies.
    hn = (h * rstd).to(y_ptr.dtype.element_ty).to(tl.float32)
    tl.store(out_ptr + row * stride_out + cols, (w * hn).to(out_ptr.dtype.element_ty), mask=mask)


def gated_rms_norm(
    y: torch.Tensor,  # [T, d_inner]
    z: torch.Tensor,  # [T, d_inner]
    weight: torch.Tensor,  # [d_inner]
    group_size: int,
    eps: float,
) -> torch.Tensor:
    """`weight * norm_per_group(y * silu(z))`; one program per (token, group)."""
    d = y.shape[-1]
    y2, z2 = _rows(y), _rows(z)
    out_dtype = torch.promote_types(weight.dtype, y.dtype)
    out = torch.empty((y2.shape[0], d), dtype=out_dtype, device=y.device)
    if y2.shape[0] == 0:
        return out.view(y.shape)
    block = triton.next_power_of_2(group_size)
    warps = 2 if block <= 512 else 4
    grid = (y2.shape[0], d // group_size)
    _gated_rms_norm_kernel[grid](
        y2,
        z2,
        weight,
        out,
        y2.stride(0),
        z2.stride(0),
        out.stride(0),
        group_size,
        eps,
        BLOCK=block,
        num_warps=warps,
        **launch_args(y),
    )
    return out.view(y.shape)
