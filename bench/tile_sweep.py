"""Tiles of the tunable Triton kernels on a GPU. MoE: each projection (up, down) of the grouped
GEMM timed alone per tile at decode, serving and prefill token counts, and the expert alignment.
Varlen conv: an 8192-token prefill (one sequence and eight) on the strided in_proj slice the
Mamba layer passes. Gate: the router logits kernel per tile at decode, serving and prefill token
counts. GEMV: each batch-1 projection per tile beside cuBLAS' F.linear. MoE GEMV (the few-pairs
path): each projection per tile at 1-4 tokens beside the grouped GEMM's whole call (alignment
and both projections). GEMV and MoE GEMV read weights from HBM (copies in turn, see
bench/kernel_timing.py `rotating`), as a decode step does.

    python3 bench/tile_sweep.py [--kernel moe conv gate gemv moe_gemv] [--tokens 1 8 ... 8192]
        [--reps 20]

Times are CUDA-graph replay medians (GPU time a call)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

import torch

from bench.kernel_shapes import (
    BF16,
    CONV_DIM,
    CONV_K,
    D_INNER,
    EXPERTS,
    HIDDEN,
    IN_PROJ,
    INTER,
    SHARED_INTER,
    TOP_K,
)  # fmt: skip
from bench.kernel_timing import copies_beyond_l2, graph_us, rotating
from bench.kernels import moe_case, moe_weights, shared_expert_weights
from hybridserve.kernels import conv1d, gate, gemv, moe, moe_gemv, ref
from hybridserve.kernels.moe_config import MoEBlockConfig, moe_block_config

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
        (128, 256, 64, 8, 4, 8, True),  # through TMA
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
MOE_GEMV_TILES = [
    gemv.GemvTile(n, k, w) for n in (1, 2, 4) for k in (1024, 2048, 4096) for w in (1, 2, 4)
]
GEMV_TILES = [
    gemv.GemvTile(n, k, w) for n in (1, 2, 4, 8) for k in (512, 1024, 2048, 4096) for w in (2, 4, 8)
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
    shapes = [(HIDDEN, D_INNER), (SHARED_INTER, HIDDEN), (HIDDEN, SHARED_INTER), (IN_PROJ, HIDDEN)]
    shapes += [(256, HIDDEN)]  # an attention K or V projection
    for n, k in shapes:
        x = torch.randn(1, k, device="cuda", dtype=BF16)
        gb = n * k * 2 / 1e3
        copies = copies_beyond_l2(n * k * 2)
        ws = [torch.randn(n, k, device="cuda", dtype=BF16) for _ in range(copies)]
        fns = [partial(torch.nn.functional.linear, x, w) for w in ws]
        us = graph_us(rotating(fns), reps)
        print(f"gemv N={n} K={k}: cuBLAS {us:5.1f} us {gb / us:5.0f} GB/s", flush=True)
        for tile in GEMV_TILES:
            us = graph_us(rotating([partial(gemv.gemv, x, w, tile=tile) for w in ws]), reps)
            print(
                f"gemv N={n} K={k} {tuple(tile)}: {us:5.1f} us {gb / us:5.0f} GB/s"
                + ("  <- default" if tile == gemv.GEMV_TILE else ""),
                flush=True,
            )
        del ws


def sweep_moe_gemv(reps: int) -> None:
    """Three layers' experts in turn, each with its own routing: the weights come from HBM. The
    few-pairs path runs the shared expert in its launches (as the MoE layer does at 1-2 tokens);
    the grouped GEMM path's figure is the routed experts alone."""
    layers = [(*moe_weights(), shared_expert_weights()) for _ in range(3)]
    for t in (1, 2, 4):
        cases = [(moe_case(t), w_up, w_down, shared) for w_up, w_down, shared in layers]
        routed = sum(torch.unique(c[0][2]).numel() for c in cases) / 3 * INTER * HIDDEN * 2
        nbytes = 2 * (routed + SHARED_INTER * HIDDEN * 2)

        def timed(fn: Callable[..., object], cases=cases, **kw: object) -> float:
            calls = [partial(fn, x, w_up, w_down, weights, ids, **kw)
                     for (x, weights, ids), w_up, w_down, _ in cases]  # fmt: skip
            return graph_us(rotating(calls), reps)

        def fused(cases=cases, **tiles: gemv.GemvTile) -> float:
            calls = [partial(moe_gemv.moe_experts, x, w_up, w_down, weights, ids, shared=s, **tiles)
                     for (x, weights, ids), w_up, w_down, s in cases]  # fmt: skip
            return graph_us(rotating(calls), reps)

        grouped = timed(grouped_moe, cfg=moe_block_config(t, TOP_K, EXPERTS))
        print(f"moe T={t}: grouped GEMM path {grouped:6.1f} us (routed only)", flush=True)
        for tile in MOE_GEMV_TILES:
            up = fused(up_tile=tile)
            down = fused(down_tile=tile)
            both = fused()
            print(
                f"moe_gemv T={t} {tuple(tile)}: with it as up {up:6.1f} us, as down {down:6.1f} "
                f"us (defaults both {both:6.1f}; {nbytes / both / 1e3:5.0f} GB/s)",
                flush=True,
            )


def grouped_moe(
    x: torch.Tensor,
    w_up: torch.Tensor,
    w_down: torch.Tensor,
    weights: torch.Tensor,
    ids: torch.Tensor,
    cfg: MoEBlockConfig,
) -> None:
    """moe.moe_experts without its few-pairs dispatch: alignment and the two grouped GEMMs."""
    out = torch.zeros(x.shape[0], HIDDEN, device="cuda", dtype=torch.float32)
    moe.grouped_experts(x, w_up, w_down, weights, ids, 0, cfg, out)


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
    x, weights, ids = moe_case(t)
    weights = weights.reshape(-1)
    flops = 2 * t * TOP_K * INTER * HIDDEN  # one projection
    nbytes = torch.unique(ids).numel() * INTER * HIDDEN * 2  # one projection's touched weights
    out = torch.zeros(t, HIDDEN, device="cuda", dtype=torch.float32)
    default = moe_block_config(t, TOP_K, EXPERTS)
    best = (float("inf"), None)
    for cfg in TILES:
        align = moe.align_by_expert(ids, EXPERTS, 0, cfg.block_m)
        h = torch.randn(moe.up_rows(t * TOP_K, align, cfg), INTER, device="cuda", dtype=BF16)
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
    us = graph_us(partial(moe.align_by_expert, ids, EXPERTS, 0, default.block_m), reps)
    print(f"T={t} alignment: {us:.1f} us", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--tokens", type=int, nargs="+", default=[1, 8, 64, 256, 512, 1024, 2048, 8192]
    )
    kernels = ["moe", "conv", "gate", "gemv", "moe_gemv"]
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
    if "moe_gemv" in args.kernel:
        sweep_moe_gemv(args.reps)
    if "moe" not in args.kernel:
        return
    w_up, w_down = moe_weights()
    for t in args.tokens:
        sweep_moe(t, w_up, w_down, args.reps)


if __name__ == "__main__":
    main()
