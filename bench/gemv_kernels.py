"""The batch-1 projections (bench/kernels.py's table): `kernels.linear` against cuBLAS, and the
GEMVs with their neighbours fused against the kernels they replace. Weights are read from HBM
(copies in turn, bench/kernel_timing.py `rotating`), as in a decode step."""

from __future__ import annotations

from functools import partial

import torch

from bench.kernel_shapes import (
    BF16,
    CONV_DIM,
    CONV_K,
    D_INNER,
    HEAD_DIM,
    HIDDEN,
    HKV,
    HQ,
    IN_PROJ,
    SHARED_INTER,
)  # fmt: skip
from bench.kernel_timing import Row, copies_beyond_l2, poison, rotating, row
from hybridserve.kernels import ref


def bench_gemv(reps: int) -> list[Row]:
    """The decode projections at batch 1 (kernels.linear: Triton GEMV where it wins, see
    kernels/gemv.py) against cuBLAS' F.linear with the relu^2 or the fp32 cast the layer
    needs after it (in_proj stays with cuBLAS)."""
    from hybridserve import kernels

    rows = []
    cases = [
        ("mamba in_proj", IN_PROJ, HIDDEN, {}),
        ("mamba out_proj", HIDDEN, D_INNER, {}),
        ("shared up + relu^2", SHARED_INTER, HIDDEN, {"relu2": True}),
        ("shared down, fp32 out", HIDDEN, SHARED_INTER, {"fp32_out": True}),
    ]
    for name, n, k, opts in cases:
        x = torch.randn(1, k, device="cuda", dtype=BF16)
        ws = [torch.randn(n, k, device="cuda", dtype=BF16) * k**-0.5
              for _ in range(copies_beyond_l2(n * k * 2))]  # fmt: skip

        def cublas(w: torch.Tensor, x=x, opts=opts) -> torch.Tensor:
            y = torch.nn.functional.linear(x, w)
            y = y.relu().square() if opts.get("relu2") else y
            return y.float() if opts.get("fp32_out") else y

        want = cublas(ws[0])
        poison()
        out = kernels.linear(x, ws[0], **opts)
        ref_fn = rotating([partial(cublas, w) for w in ws])  # weights from HBM, as in a step
        fn = rotating([partial(kernels.linear, x, w, **opts) for w in ws])
        nbytes = (n * k + k + n) * 2
        rows.append(row(f"linear ({name})", f"M=1 N={n} K={k}", out, want, 1e-2, ref_fn, fn,
                        nbytes, reps))  # fmt: skip
    return rows


def bench_fused_gemv(reps: int) -> list[Row]:
    """The batch-1 GEMVs with their neighbours fused against the kernels they replace: Mamba's
    in_proj with the conv update (kernels/mamba_gemv.py; unfused: cuBLAS' in_proj and the conv
    kernel), attention's Q, K, V with the KV-cache writes (kernels/qkv_gemv.py; unfused: three
    GEMVs and two index writes). Errors are against the torch reference."""
    from hybridserve import kernels
    from hybridserve.kernels import conv1d, mamba_gemv, qkv_gemv

    x = torch.randn(1, HIDDEN, device="cuda", dtype=BF16)
    ws = [torch.randn(IN_PROJ, HIDDEN, device="cuda", dtype=BF16) * HIDDEN**-0.5
          for _ in range(copies_beyond_l2(IN_PROJ * HIDDEN * 2))]  # fmt: skip
    cw = torch.randn(CONV_DIM, CONV_K, device="cuda", dtype=BF16)
    cache = torch.randn(64, CONV_DIM, CONV_K - 1, device="cuda", dtype=BF16)
    slot = torch.tensor([7], device="cuda", dtype=torch.int32)
    want = ref.in_proj_conv(x, ws[0], cw, None, cache.clone(), slot, D_INNER)
    poison()
    out = mamba_gemv.in_proj_conv(x, ws[0], cw, None, cache.clone(), slot, D_INNER)

    def unfused_in(w: torch.Tensor) -> torch.Tensor:
        y = torch.nn.functional.linear(x, w)
        conv1d.conv1d_update_slots(y[:, D_INNER : D_INNER + CONV_DIM], cache, cw, None, slot)
        return y

    fused = [partial(mamba_gemv.in_proj_conv, x, w, cw, None, cache, slot, D_INNER) for w in ws]
    nbytes = (IN_PROJ * HIDDEN + HIDDEN + IN_PROJ) * 2
    unfused = rotating([partial(unfused_in, w) for w in ws])
    shape = f"M=1 N={IN_PROJ} K={HIDDEN}"
    rows = [row("in_proj + conv update", shape, out, want, 1e-2, unfused, rotating(fused), nbytes,
                reps)]  # fmt: skip

    nq, nkv = HQ * HEAD_DIM, HKV * HEAD_DIM
    ws = [[torch.randn(n, HIDDEN, device="cuda", dtype=BF16) * HIDDEN**-0.5 for n in (nq, nkv, nkv)]
          for _ in range(copies_beyond_l2((nq + 2 * nkv) * HIDDEN * 2))]  # fmt: skip
    caches = torch.randn(2, 4096, HKV, HEAD_DIM, device="cuda", dtype=BF16)
    loc = torch.tensor([1234], device="cuda")
    want = ref.qkv_to_cache(x, *ws[0], *caches.clone(), loc)
    poison()
    out = qkv_gemv.qkv_to_cache(x, *ws[0], *caches, loc)

    def unfused_qkv(wq: torch.Tensor, wk: torch.Tensor, wv: torch.Tensor) -> torch.Tensor:
        caches[0][loc] = kernels.linear(x, wk).view(1, HKV, HEAD_DIM)
        caches[1][loc] = kernels.linear(x, wv).view(1, HKV, HEAD_DIM)
        return kernels.linear(x, wq)

    unfused = rotating([partial(unfused_qkv, *w) for w in ws])
    fused = rotating([partial(qkv_gemv.qkv_to_cache, x, *w, *caches, loc) for w in ws])
    nbytes = ((nq + 2 * nkv) * (HIDDEN + 1) + HIDDEN) * 2
    shape = f"M=1 N={nq}+2x{nkv} K={HIDDEN}"
    rows.append(row("q, k, v + KV writes", shape, out, want, 1e-2, unfused, fused, nbytes, reps))
    return rows
