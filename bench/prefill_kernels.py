"""The prefill kernels against their references (bench/kernels.py's table): the varlen causal
conv1d, mamba-ssm's chunk scan (one sequence, and a packed chunk of several) and SDPA attention
over a cached prefix."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch

from bench.kernel_shapes import (
    BF16,
    CONV_DIM,
    CONV_K,
    D_INNER,
    HEAD_DIM,
    HKV,
    HQ,
    MAMBA_HEADS,
    MAMBA_P,
    N_GROUPS,
    SSM_N,
    mamba_inputs,
)  # fmt: skip
from bench.kernel_timing import Row, errors, poison, row
from hybridserve.kernels import ref


def bench_conv_prefill(reps: int) -> list[Row]:
    from hybridserve import kernels

    rows = []
    w = torch.randn(CONV_DIM, CONV_K, device="cuda", dtype=BF16)
    b = torch.randn(CONV_DIM, device="cuda", dtype=BF16)
    for lengths in ([8192], [1024] * 8, [1, 700, 3]):
        cu = [0]
        for n in lengths:
            cu.append(cu[-1] + n)
        x = torch.randn(cu[-1], CONV_DIM, device="cuda", dtype=BF16)
        init = torch.randn(len(lengths), CONV_DIM, CONV_K - 1, device="cuda", dtype=BF16)
        args = (x, w, b, cu, init)
        want = ref.causal_conv1d_varlen(*args)
        poison()
        rows.append(
            row(
                "causal_conv1d_varlen",
                f"lens={lengths[0]}x{len(lengths)} C={CONV_DIM}"
                if len(set(lengths)) == 1
                else f"lens={lengths} C={CONV_DIM}",
                kernels.causal_conv1d_varlen(*args),
                want,
                1e-2,
                partial(ref.causal_conv1d_varlen, *args),
                partial(kernels.causal_conv1d_varlen, *args),
                2 * x.numel() * 2,
                reps,
                ref_graph=False,
            )
        )
    return rows


def bench_ssd_prefill(reps: int) -> list[Row]:
    """mamba-ssm's chunk scan (one sequence, optional initial state) against the reference."""
    from hybridserve import kernels

    rows = []
    for length, with_state in ((8192, False), (1000, True)):
        x, dt, A, B, C, D = mamba_inputs(length, dt_scale=0.1)
        init = torch.randn(MAMBA_HEADS, MAMBA_P, SSM_N, device="cuda") if with_state else None
        args = (x, dt, A, B, C, D, 128, init)
        shape = f"L={length} H={MAMBA_HEADS} P={MAMBA_P} N={SSM_N}"
        shape += " +state" if init is not None else ""
        scan = _scan_row("ssd_scan (mamba-ssm)", shape, ref.ssd_scan, kernels.ssd_scan, args, reps)
        rows.append(scan)
    rows.append(bench_ssd_packed(reps))
    return rows


def bench_ssd_packed(reps: int, seqs: int = 8, length: int = 1024) -> Row:
    """The packed scan of a serving chunk: `seqs` prompts of `length` tokens in one pass, two of
    them resuming a cached state, each saving its end state and a snapshot at 768 tokens."""
    from hybridserve import kernels

    x, dt, A, B, C, D = mamba_inputs(seqs * length, dt_scale=0.1)
    cu = [i * length for i in range(seqs + 1)]
    inits = [
        torch.randn(MAMBA_HEADS, MAMBA_P, SSM_N, device="cuda") if i in (0, 5) else None
        for i in range(seqs)
    ]
    points = [(i, length) for i in range(seqs)] + [(i, 768) for i in range(seqs)]
    args = (x, dt, A, B, C, D, 128, cu, inits, points)
    shape = f"{seqs}x{length}, 2 resumed, {len(points)} states"
    return _scan_row(
        "ssd_scan_varlen (packed)", shape, ref.ssd_scan_varlen, kernels.ssd_scan_varlen, args, reps
    )


def _scan_row(name: str, shape: str, ref_fn: Callable, fn: Callable, args: tuple, reps: int) -> Row:
    """Check a scan's output and states against the reference (a state out of bound fails the
    row), then time both; bytes: the scan's inputs and its output."""
    x = args[0]
    want_y, want_states = ref_fn(*args)
    poison()
    y, states = fn(*args)
    _, state_rel = errors(states, want_states)
    print(f"  {name} {shape}: states rel err {state_rel:.1e}", flush=True)
    checked = y if state_rel < 1e-2 else torch.full_like(y, float("nan"))
    nbytes = x.shape[0] * (D_INNER + 2 * N_GROUPS * SSM_N) * 2 + x.numel() * 2
    ref_call, call = partial(ref_fn, *args), partial(fn, *args)
    return row(name, shape, checked, want_y, 1e-2, ref_call, call, nbytes, reps, ref_graph=False)


def bench_prefill_attention(reps: int) -> list[Row]:
    from hybridserve import kernels

    rows = []
    for lq, lk in ((8192, 8192), (1000, 4000)):
        k_cache, v_cache = torch.randn(2, lk + 64, HKV, HEAD_DIM, device="cuda", dtype=BF16)
        kv_indices = torch.randperm(lk + 64, device="cuda")[:lk]
        q = torch.randn(lq, HQ, HEAD_DIM, device="cuda", dtype=BF16)
        args = (q, k_cache, v_cache, [0, lq], kv_indices, [0, lk], HEAD_DIM**-0.5)
        want = ref.attention_varlen(*args)
        poison()
        tri_fn = partial(kernels.attention_varlen, *args)
        rows.append(
            row(
                "attention_varlen (SDPA)",
                f"q={lq} kv={lk} {HQ}/{HKV}x{HEAD_DIM}",
                tri_fn(),
                want,
                1e-2,
                partial(ref.attention_varlen, *args),
                tri_fn,
                (2 * q.numel() + 2 * lk * HKV * HEAD_DIM) * 2,
                reps,
                ref_graph=False,
            )
        )
        flops = 4 * HQ * HEAD_DIM * lq * (lk - lq / 2)
        us = rows[-1].triton_graph_us
        print(f"  attention_varlen q={lq} kv={lk}: {flops / us / 1e6:.0f} TFLOP/s", flush=True)
    return rows
