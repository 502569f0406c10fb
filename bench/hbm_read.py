"""What one kernel can read from HBM by size, against the batch-1 weight-streaming kernels on
the same bytes: the per-kernel ceiling of a decode step made of one kernel a projection.

Each figure is one call's GPU time in a CUDA graph, the buffers read in turn from copies
that together exceed the L2 (bench/kernel_timing.py `rotating`). The plain read is a kernel of
4096-element programs, each loading once and storing its sum. Run:
    python3 bench/hbm_read.py
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import torch
import triton
import triton.language as tl

from bench.kernel_shapes import BF16, D_INNER, EXPERTS, HIDDEN, IN_PROJ, INTER, TOP_K
from bench.kernel_timing import copies_beyond_l2, graph_us, rotating
from hybridserve.kernels import gemv, moe_gemv

READ_BLOCK = 4096
SIZES_MB = (2, 10, 22, 55, 120, 704)


@triton.jit
def _read_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    v = tl.load(x_ptr + offs, mask=offs < n, other=0.0).to(tl.float32)
    tl.store(out_ptr + tl.program_id(0), tl.sum(v, axis=0))


def plain_read(x: torch.Tensor, out: torch.Tensor) -> None:
    """Read `x` once (bf16), a sum per program into `out`."""
    grid = (triton.cdiv(x.numel(), READ_BLOCK),)
    _read_kernel[grid](x, out, x.numel(), BLOCK=READ_BLOCK, num_warps=4)


def report(name: str, nbytes: int, calls: Sequence[Callable[[], object]], reps: int) -> None:
    us = graph_us(rotating(calls), reps)
    print(f"{name:26s} {nbytes / 1e6:7.1f} MB {us:8.2f} us {nbytes / us / 1e6:6.2f} TB/s")


def main(reps: int = 30) -> None:
    for mb in SIZES_MB:
        n = mb * 1_000_000 // 2
        xs = [torch.randn(n, device="cuda", dtype=BF16) for _ in range(copies_beyond_l2(n * 2))]
        out = torch.empty(triton.cdiv(n, READ_BLOCK), device="cuda")
        report("plain read", n * 2, [partial(plain_read, x, out) for x in xs], reps)
        del xs
    for name, rows, cols in (("GEMV out_proj", HIDDEN, D_INNER), ("GEMV in_proj", IN_PROJ, HIDDEN)):
        copies = copies_beyond_l2(rows * cols * 2)
        ws = [torch.randn(rows, cols, device="cuda", dtype=BF16) for _ in range(copies)]
        x = torch.randn(1, cols, device="cuda", dtype=BF16)
        report(name, rows * cols * 2, [partial(gemv.gemv, x, w) for w in ws], reps)
        del ws
    x = torch.randn(1, HIDDEN, device="cuda", dtype=BF16)
    weights = torch.full((1, TOP_K), 1 / TOP_K, device="cuda")
    calls = []
    for _ in range(3):  # three layers' experts, each with its own routing
        up = torch.randn(EXPERTS, INTER, HIDDEN, device="cuda", dtype=BF16) * 0.02
        down = torch.randn(EXPERTS, HIDDEN, INTER, device="cuda", dtype=BF16) * 0.02
        ids = torch.randperm(EXPERTS, device="cuda")[:TOP_K].view(1, TOP_K)
        calls.append(partial(moe_gemv.moe_experts, x, up, down, weights, ids))
    report("MoE GEMVs up + down, T=1", 2 * TOP_K * INTER * HIDDEN * 2, calls, reps)


if __name__ == "__main__":
    main()
