"""Nemotron 3 Nano's kernel shapes and random inputs at them, shared by the kernel benches
(bench/kernels.py, bench/prefill_kernels.py, bench/gemv_kernels.py)."""

from __future__ import annotations

import torch

HIDDEN, D_INNER, GROUP, CONV_DIM, CONV_K = 2688, 4096, 512, 6144, 4
HQ, HKV, HEAD_DIM = 32, 2, 128
EXPERTS, INTER, TOP_K = 128, 1856, 6
SHARED_INTER = 3712
BF16 = torch.bfloat16

MAMBA_HEADS, MAMBA_P, SSM_N, N_GROUPS = 64, 64, 128, 8
IN_PROJ = 2 * D_INNER + 2 * N_GROUPS * SSM_N + MAMBA_HEADS  # Mamba in_proj's rows: z, xBC, dt


def mamba_inputs(rows: int, dt_scale: float) -> tuple[torch.Tensor, ...]:
    """(x, dt, A, B, C, D) of `rows` tokens, x/B/C as strided views of one conv output like the
    layer's."""
    gn = N_GROUPS * SSM_N
    act = torch.randn(rows, D_INNER + 2 * gn, device="cuda", dtype=BF16)
    x = act[:, :D_INNER].view(rows, MAMBA_HEADS, MAMBA_P)
    B = act[:, D_INNER : D_INNER + gn].view(rows, N_GROUPS, SSM_N)
    C = act[:, D_INNER + gn :].view(rows, N_GROUPS, SSM_N)
    dt = torch.rand(rows, MAMBA_HEADS, device="cuda") * dt_scale
    A, D = -torch.rand(MAMBA_HEADS, device="cuda") * 4, torch.randn(MAMBA_HEADS, device="cuda")
    return x, dt, A, B, C, D
