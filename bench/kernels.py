"""Every kernel against its torch reference at Nemotron 3 Nano shapes: error and time (the
prefill kernels' cases are in bench/prefill_kernels.py, the batch-1 GEMVs' in
bench/gemv_kernels.py).

    python3 bench/kernels.py [--reps 50]

Errors: max abs and relative Frobenius error of the Triton output against the reference on
random bf16 data (bounds: 1e-2, MoE 2e-2). Times: CUDA events, after warm-up, median of --reps:
eager (one call, host launch overhead included) and graph (10 calls captured in a CUDA graph,
replayed; GPU time per call). GB/s counts the fewest bytes a call must move, over the graph time;
% is of the device copy rate measured in the same run.
"""

from __future__ import annotations

import argparse
from functools import partial

import torch

from bench import roofline
from bench.gemv_kernels import bench_fused_gemv, bench_gemv
from bench.kernel_shapes import (
    BF16,
    CONV_DIM,
    CONV_K,
    D_INNER,
    EXPERTS,
    GROUP,
    HEAD_DIM,
    HIDDEN,
    HKV,
    HQ,
    INTER,
    MAMBA_HEADS,
    MAMBA_P,
    SHARED_INTER,
    SSM_N,
    TOP_K,
    mamba_inputs,
)  # fmt: skip
from bench.kernel_timing import (
    Row,
    graph_us,
    poison,
    print_table,
    row,
)
from bench.prefill_kernels import bench_conv_prefill, bench_prefill_attention, bench_ssd_prefill
from hybridserve.kernels import ref


def _flat(tensors: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """Several outputs as one fp32 vector, so one error measure covers them all."""
    return torch.cat([t.float().flatten() for t in tensors])


def bench_norms(reps: int) -> list[Row]:
    from hybridserve.kernels import norm

    rows = []
    w = torch.randn(HIDDEN, device="cuda", dtype=BF16)
    wg = torch.randn(D_INNER, device="cuda", dtype=BF16)
    for t in (1, 64, 512, 8192):
        x = torch.randn(t, HIDDEN, device="cuda", dtype=BF16)
        want = ref.rms_norm(x, w, 1e-5)
        poison()
        out = norm.rms_norm(x, w, 1e-5)
        nbytes = 2 * x.numel() * 2
        rows.append(
            row(
                "rms_norm",
                f"T={t} h={HIDDEN}",
                out,
                want,
                1e-2,
                partial(ref.rms_norm, x, w, 1e-5),
                partial(norm.rms_norm, x, w, 1e-5),
                nbytes,
                reps,
            )
        )
        delta = torch.randn(t, HIDDEN, device="cuda", dtype=BF16)
        want = _flat(ref.add_rms_norm(x, delta, w, 1e-5))
        poison()
        out = _flat(norm.add_rms_norm(x, delta, w, 1e-5))
        rows.append(
            row(
                "add_rms_norm (residual + norm)",
                f"T={t} h={HIDDEN}",
                out,
                want,
                1e-2,
                partial(ref.add_rms_norm, x, delta, w, 1e-5),
                partial(norm.add_rms_norm, x, delta, w, 1e-5),
                4 * x.numel() * 2,
                reps,
            )
        )
        y, z = torch.randn(2, t, D_INNER, device="cuda", dtype=BF16)
        want = ref.gated_rms_norm(y, z, wg, GROUP, 1e-5)
        poison()
        out = norm.gated_rms_norm(y, z, wg, GROUP, 1e-5)
        rows.append(
            row(
                "gated_rms_norm",
                f"T={t} d={D_INNER} g={GROUP}",
                out,
                want,
                1e-2,
                partial(ref.gated_rms_norm, y, z, wg, GROUP, 1e-5),
                partial(norm.gated_rms_norm, y, z, wg, GROUP, 1e-5),
                3 * y.numel() * 2,
                reps,
            )
        )
    return rows


def bench_conv(reps: int) -> list[Row]:
    from hybridserve.kernels import conv1d

    rows = []
    w = torch.randn(CONV_DIM, CONV_K, device="cuda", dtype=BF16)
    b = torch.randn(CONV_DIM, device="cuda", dtype=BF16)
    for bsz in (1, 64, 512):
        cache = torch.randn(1024, CONV_DIM, CONV_K - 1, device="cuda", dtype=BF16)
        slots = torch.randperm(1024, device="cuda")[:bsz]
        x = torch.randn(bsz, CONV_DIM, device="cuda", dtype=BF16)
        want, _ = ref.conv1d_update(x, cache[slots], w, b)
        poison()
        out = conv1d.conv1d_update_slots(x, cache.clone(), w, b, slots)

        ref_fn = partial(ref.conv1d_update_slots, x, cache, w, b, slots)
        nbytes = bsz * CONV_DIM * (2 + 2 * (CONV_K - 1)) * 2
        rows.append(
            row(
                "conv1d_update_slots",
                f"B={bsz} C={CONV_DIM} K={CONV_K}",
                out,
                want,
                1e-2,
                ref_fn,
                partial(conv1d.conv1d_update_slots, x, cache, w, b, slots),
                nbytes,
                reps,
            )
        )
    return rows


def bench_attention(reps: int) -> list[Row]:
    from hybridserve.kernels import attention

    rows = []
    for bsz, ctx in ((1, 1024), (1, 8192), (64, 1024), (256, 2048)):
        slots = bsz * ctx
        k_cache, v_cache = torch.randn(2, slots, HKV, HEAD_DIM, device="cuda", dtype=BF16)
        kv_indices = torch.randperm(slots, device="cuda")
        indptr = [i * ctx for i in range(bsz + 1)]
        indptr_t = torch.tensor(indptr, dtype=torch.int32, device="cuda")
        q = torch.randn(bsz, HQ, HEAD_DIM, device="cuda", dtype=BF16)
        cu_q, scale = list(range(bsz + 1)), HEAD_DIM**-0.5

        ref_fn = partial(ref.attention_varlen, q, k_cache, v_cache, cu_q, kv_indices, indptr, scale)
        tri_fn = partial(
            attention.paged_decode_attention, q, k_cache, v_cache, kv_indices, indptr_t, scale
        )
        nbytes = 2 * slots * HKV * HEAD_DIM * 2 + slots * 8
        want = ref_fn()
        poison()
        rows.append(
            row(
                "paged_decode_attention",
                f"B={bsz} ctx={ctx} {HQ}/{HKV}x{HEAD_DIM}",
                tri_fn(),
                want,
                1e-2,
                ref_fn,
                tri_fn,
                nbytes,
                reps,
                ref_graph=False,
            )
        )
    return rows


def bench_mamba_decode(reps: int) -> list[Row]:
    from hybridserve.kernels import ssu

    rows = []
    for bsz in (1, 64, 512):
        cache = torch.randn(1024, MAMBA_HEADS, MAMBA_P, SSM_N, device="cuda")
        slots = torch.randperm(1024, device="cuda")[:bsz]
        x, dt, A, B, C, D = mamba_inputs(bsz, dt_scale=0.5)
        dt_bias = torch.randn(MAMBA_HEADS, device="cuda") * 0.1 - 1  # dt: before softplus
        args = (x, dt, dt_bias, (0.0, float("inf")), A, B, C, D)
        want = ref.selective_state_update_slots(cache.clone(), slots, *args)
        poison()
        out = ssu.selective_state_update_slots(cache.clone(), slots, *args)
        rows.append(
            row(
                "selective_state_update",
                f"B={bsz} H={MAMBA_HEADS} P={MAMBA_P} N={SSM_N}",
                out,
                want,
                1e-2,
                partial(ref.selective_state_update_slots, cache, slots, *args),
                partial(ssu.selective_state_update_slots, cache, slots, *args),
                bsz * MAMBA_HEADS * MAMBA_P * SSM_N * 4 * 2,
                reps,
            )
        )
    return rows


def bench_gate(reps: int) -> list[Row]:
    from hybridserve import kernels

    rows = []
    w = torch.randn(EXPERTS, HIDDEN, device="cuda") * HIDDEN**-0.5
    bias = torch.randn(EXPERTS, device="cuda") * 0.1
    for t in (1, 8, 64, 512, 8192):  # up to 16 tokens one launch (gate.decode_gate_topk)
        x = torch.randn(t, HIDDEN, device="cuda", dtype=BF16)
        args = (x, w, bias, TOP_K, 1, 1, True, 2.5)
        want = ref.gate_topk(*args)[0].sort(-1).values
        poison()
        out = kernels.gate_topk(*args)[0].sort(-1).values
        rows.append(
            row(
                "gate_topk (logits + topk)",
                f"T={t} E={EXPERTS} k={TOP_K}",
                out,
                want,
                1e-2,
                partial(ref.gate_topk, *args),
                partial(kernels.gate_topk, *args),
                EXPERTS * HIDDEN * 4 + t * HIDDEN * 2,
                reps,
            )
        )
    return rows


def moe_case(t: int) -> tuple[torch.Tensor, ...]:
    x = torch.randn(t, HIDDEN, device="cuda", dtype=BF16)
    ids = torch.rand(t, EXPERTS, device="cuda").topk(TOP_K, dim=-1).indices
    weights = torch.rand(t, TOP_K, device="cuda")
    return x, weights, ids


def moe_weights() -> tuple[torch.Tensor, torch.Tensor]:
    """One MoE layer's stacked expert weights (up, down), scaled to keep outputs ~1."""
    w_up = torch.randn(EXPERTS, INTER, HIDDEN, device="cuda", dtype=BF16) * HIDDEN**-0.5
    w_down = torch.randn(EXPERTS, HIDDEN, INTER, device="cuda", dtype=BF16) * INTER**-0.5
    return w_up, w_down


def shared_expert_weights() -> tuple[torch.Tensor, torch.Tensor]:
    """The shared expert's up and down weights, scaled to keep outputs ~1."""
    up = torch.randn(SHARED_INTER, HIDDEN, device="cuda", dtype=BF16) * HIDDEN**-0.5
    down = torch.randn(HIDDEN, SHARED_INTER, device="cuda", dtype=BF16) * SHARED_INTER**-0.5
    return up, down


def bench_moe(reps: int) -> list[Row]:
    from hybridserve.kernels import moe

    rows = []
    w_up, w_down = moe_weights()
    for t in (1, 8, 64, 512, 2048, 8192):
        x, weights, ids = moe_case(t)
        touched = torch.unique(ids).numel()
        nbytes = touched * 2 * INTER * HIDDEN * 2 + t * HIDDEN * (2 + 4)
        want = ref.moe_experts(x, w_up, w_down, weights, ids)
        poison()
        out = moe.moe_experts(x, w_up, w_down, weights, ids)
        rows.append(
            row(
                "moe_experts",
                f"T={t} E={EXPERTS} k={TOP_K} ({touched} used)",
                out,
                want,
                2e-2,
                partial(ref.moe_experts, x, w_up, w_down, weights, ids),
                partial(moe.moe_experts, x, w_up, w_down, weights, ids),
                nbytes,
                reps,
                ref_graph=False,
            )
        )
        flops = 2 * t * TOP_K * 2 * INTER * HIDDEN
        print(f"  moe_experts T={t}: {flops / rows[-1].triton_graph_us / 1e6:.0f} TFLOP/s")
        block_m = moe.moe_block_config(t, TOP_K, EXPERTS).block_m
        us = graph_us(partial(moe.align_by_expert, ids, EXPERTS, 0, block_m), reps)
        print(f"  align_by_expert T={t}: {us:.1f} us (graph; part of moe_experts)", flush=True)
    shared = shared_expert_weights()
    for t in (1, 2):  # decode at batch 1-2: the shared expert in the experts' launches
        x, weights, ids = moe_case(t)
        touched = torch.unique(ids).numel()
        nbytes = (touched * INTER + SHARED_INTER) * 2 * HIDDEN * 2 + t * HIDDEN * (2 + 4)
        args = (x, w_up, w_down, weights, ids)

        def reference(args=args) -> torch.Tensor:
            return ref.moe_experts(*args, acc=ref.shared_expert(args[0], *shared))

        want = reference()
        poison()
        out = moe.moe_experts(*args, shared=shared)
        rows.append(
            row(
                "moe_experts + shared",
                f"T={t} k={TOP_K} ({touched} used), shared {SHARED_INTER}",
                out,
                want,
                2e-2,
                reference,
                partial(moe.moe_experts, *args, shared=shared),
                nbytes,
                reps,
                ref_graph=False,
            )
        )
    return rows


def collect(reps: int) -> tuple[list[Row], float]:
    """Check and time every kernel; returns the rows and the device copy rate (bytes/s)."""
    torch.manual_seed(0)
    props = torch.cuda.get_device_properties(0)
    bw = roofline.copy_bandwidth(torch.device("cuda"))
    print(
        f"device: {props.name}, {props.multi_processor_count} SMs; torch {torch.__version__}; "
        f"copy {bw / 1e12:.2f} TB/s (read + write)",
        flush=True,
    )
    rows = bench_norms(reps) + bench_conv(reps) + bench_attention(reps)
    rows += bench_mamba_decode(reps) + bench_gemv(reps) + bench_fused_gemv(reps)
    rows += bench_gate(reps)
    rows += bench_conv_prefill(reps) + bench_ssd_prefill(reps) + bench_prefill_attention(reps)
    rows += bench_moe(reps)
    return rows, bw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    print_table(*collect(args.reps))


if __name__ == "__main__":
    main()
