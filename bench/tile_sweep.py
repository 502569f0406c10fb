"""Tiles of the tunable Triton kernels on a GPU. MoE: each projection (up, down) of the grouped
GEMM timed alone per tile at decode, serving and prefill token counts, and the expert alignment
with its one-program path for few pairs beside the three-kernel path. Varlen conv: an 8192-token
prefill (one sequence and eight) on the strided in_proj slice the Mamba layer passes. Gate: the
router logits kernel per tile at decode, serving and prefill token counts. GEMV: each batch-1
projection per tile beside cuBLAS' F.linear.

    python3 bench/tile_sweep.py [--kernel moe conv gate gemv] [--tokens 1 8 ... 8192] [--reps 20]

Times are CUDA-graph replay medians (GPU time a call)."""

from __future__ import annotations

import argparse
from functools import partial

import torch

from bench.kernel_shapes import (
    BF16,
    CONV_DIM,
    CONV_K,
    D_INNER,
    EXPERTS,
    HIDDEN,
    INTER,
    MAMBA_HEADS,
    N_GROUPS,
    SHARED_INTER,
    SSM_N,
    TOP_K,
)  # fmt: skip
from bench.kernel_timing import graph_us
from hybridserve.kernels import conv1d, gate, gemv, moe, ref
from hybridserve.kernels.moe_config import MoEBlockConfig, moe_block_config

FEW_PAIRS = moe.FEW_PAIRS  # the one-program alignment's limit, restored after timing without it
TILES = [
    MoEBlockConfig(*c)
    for c in (
        (16, 64, 128, 4, 4),
        (16, 128, 128, 4, 3),
        (32, 128, 64, 4, 4),
        (32, 256, 64, 8, 4),
        (64, 128, 64, 4, 4),
        (64, 128, 64, 8, 3),
        (64, 256, 64, 8, 3),
        (64, 256, 64, 8, 4),
        (128, 128, 64, 8, 4),
        (128, 256, 64, 8, 3),
        (128, 256, 64, 8, 4),
    )
]


CONV_TILES = [
    conv1d.ConvTile(t, c, w)
    for t, c, w in (
        (32, 128, 4),
        (64, 128, 4),
        (128, 64, 4),
        (64, 256, 8),
        (128, 128, 8),
        (16, 256, 4),
    )
]


GATE_TILES = [
    gate.GateTile(*t)
    for t in (
        (16, 16, 64, 4),
        (32, 128, 64, 4),
        (64, 64, 64, 4),
        (64, 128, 64, 4),
        (128, 64, 64, 8),
        (128, 128, 64, 8),
        (128, 128, 32, 8),
    )
]
GEMV_TILES = [
    gemv.GemvTile(n, k, w)
    for n in (1, 2, 4, 8, 16)
    for k in (256, 512, 1024, 2048)
    for w in (2, 4, 8)
]


def sweep_gate(tokens: list[int], reps: int) -> None:
    w = torch.randn(EXPERTS, HIDDEN, device="cuda") * HIDDEN**-0.5
    for t in tokens:
        x = torch.randn(t, HIDDEN, device="cuda", dtype=BF16)
        want = (x.double() @ w.double().t()).float()
        for tile in GATE_TILES:
            err = (gate.router_logits(x, w, tile).sum(0) - want).abs().max().item()
            us = graph_us(partial(gate.router_logits, x, w, tile), reps)
            print(f"gate T={t} {tuple(tile)}: {us:6.1f} us, max abs err {err:.1e}", flush=True)


def sweep_gemv(reps: int) -> None:
    in_proj = 2 * D_INNER + 2 * N_GROUPS * SSM_N + MAMBA_HEADS
    shapes = [(HIDDEN, D_INNER), (SHARED_INTER, HIDDEN), (HIDDEN, SHARED_INTER), (in_proj, HIDDEN)]
    for n, k in shapes:
        x = torch.randn(1, k, device="cuda", dtype=BF16)
        w = torch.randn(n, k, device="cuda", dtype=BF16)
        gb = n * k * 2 / 1e3
        us = graph_us(partial(torch.nn.functional.linear, x, w), reps)
        print(f"gemv N={n} K={k}: cuBLAS {us:5.1f} us {gb / us:5.0f} GB/s", flush=True)
        for tile in GEMV_TILES:
            us = graph_us(partial(gemv.gemv, x, w, tile=tile), reps)
            print(
                f"gemv N={n} K={k} {tuple(tile)}: {us:5.1f} us {gb / us:5.0f} GB/s"
                + ("  <- default" if tile == gemv.GEMV_TILE else ""),
                flush=True,
            )


def sweep_conv(reps: int) -> None:
    w = torch.randn(CONV_DIM, CONV_K, device="cuda", dtype=BF16)
    b = torch.randn(CONV_DIM, device="cuda", dtype=BF16)
    width = D_INNER + CONV_DIM + 64  # in_proj's z | xBC | dt; the conv reads the xBC slice
    x = torch.randn(8192, width, device="cuda", dtype=BF16)[:, D_INNER : D_INNER + CONV_DIM]
    for lengths in ([8192], [1024] * 8):
        cu = list(range(0, 8192 + 1, lengths[0]))
        init = torch.randn(len(lengths), CONV_DIM, CONV_K - 1, device="cuda", dtype=BF16)
        want = ref.causal_conv1d_varlen(x, w, b, cu, init)
        for tile in CONV_TILES:
            out = conv1d.causal_conv1d_varlen(x, w, b, cu, init, tile)
            rel = ((out.float() - want.float()).norm() / want.float().norm()).item()
            us = graph_us(partial(conv1d.causal_conv1d_varlen, x, w, b, cu, init, tile), reps)
            print(
                f"conv {len(lengths)}x{lengths[0]} {tuple(tile)}: {us:6.1f} us "
                f"{2 * x.numel() * 2 / us / 1e3:5.0f} GB/s, rel {rel:.1e}"
                + ("  <- default" if tile == conv1d.CONV_TILE else ""),
                flush=True,
            )


def sweep_moe(t: int, w_up: torch.Tensor, w_down: torch.Tensor, reps: int) -> None:
    x = torch.randn(t, HIDDEN, device="cuda", dtype=BF16)
    ids = torch.rand(t, EXPERTS, device="cuda").topk(TOP_K, dim=-1).indices
    weights = torch.rand(t, TOP_K, device="cuda").reshape(-1).contiguous()
    flops = 2 * t * TOP_K * INTER * HIDDEN  # one projection
    nbytes = torch.unique(ids).numel() * INTER * HIDDEN * 2  # one projection's touched weights
    h = torch.randn(t * TOP_K, INTER, device="cuda", dtype=BF16)
    out = torch.zeros(t, HIDDEN, device="cuda", dtype=torch.float32)
    default = moe_block_config(t, TOP_K, EXPERTS)
    best = (float("inf"), None)
    for cfg in TILES:
        align = moe.align_by_expert(ids, EXPERTS, 0, cfg.block_m)
        up = graph_us(
            partial(moe.grouped_gemm, x, w_up, h, weights, align, TOP_K, cfg, False), reps
        )
        down = graph_us(
            partial(moe.grouped_gemm, h, w_down, out, weights, align, TOP_K, cfg, True), reps
        )
        best = min(best, (up + down, cfg))
        print(
            f"T={t} {tuple(cfg)}: up {up:7.1f} us {flops / up / 1e6:4.0f} TFLOP/s "
            f"{nbytes / up / 1e3:5.0f} GB/s, down {down:7.1f} us {flops / down / 1e6:4.0f} TFLOP/s"
            + ("  <- default" if cfg == default else ""),
            flush=True,
        )
    print(f"T={t} best {tuple(best[1])}: {best[0]:.1f} us", flush=True)
    for few in (FEW_PAIRS, 0):
        moe.FEW_PAIRS = few
        us = graph_us(partial(moe.align_by_expert, ids, EXPERTS, 0, default.block_m, out), reps)
        path = "one program" if t * TOP_K <= few else "memset + three kernels"
        print(f"T={t} alignment with the output zeroed ({path}): {us:.1f} us", flush=True)
    moe.FEW_PAIRS = FEW_PAIRS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tokens", type=int, nargs="+", default=[1, 8, 64, 256, 512, 1024, 2048, 8192]
    )
    kernels = ["moe", "conv", "gate", "gemv"]
    parser.add_argument("--kernel", nargs="+", choices=kernels, default=kernels)
    parser.add_argument("--reps", type=int, default=20)
    args = parser.parse_args()
    torch.manual_seed(0)
    if "conv" in args.kernel:
        sweep_conv(args.reps)
    if "gate" in args.kernel:
        sweep_gate(args.tokens, args.reps)
    if "gemv" in args.kernel:
        sweep_gemv(args.reps)
    if "moe" not in args.kernel:
        return
    w_up = torch.randn(EXPERTS, INTER, HIDDEN, device="cuda", dtype=BF16) * HIDDEN**-0.5
    w_down = torch.randn(EXPERTS, HIDDEN, INTER, device="cuda", dtype=BF16) * INTER**-0.5
    for t in args.tokens:
        sweep_moe(t, w_up, w_down, args.reps)


if __name__ == "__main__":
    main()
