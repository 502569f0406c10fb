"""One GPU call that checks and times everything: each Triton kernel against its torch reference
(random inputs, outputs poisoned first, relative-error bound per kernel; bench/kernels.py), then
the engine end to end on the full `nemotron-3-nano-30b-a3b` preset with dummy weights: decode
with CUDA graphs at several batch sizes against the memory roofline, and prefills of 1024 and 8192
tokens against the matmul rate (bench/engine.py, bench/roofline.py).

    python3 bench/gpu_check.py [--batch 1,8,64] [--input-len 1024] [--output-len 32]

Exits 1 when a kernel misses its error bound. Fits one device call (about 3 minutes on an H200).
"""

from __future__ import annotations

import argparse
import sys

import torch

from bench import engine as engine_bench
from bench import kernels as kernel_bench
from bench import roofline
from bench.engine_profile import graph_gpu_ms
from bench.kernel_timing import print_table
from hybridserve.workers.engine import LLM
from hybridserve.workers.models.loader import resolve_config


def engine_table(args: argparse.Namespace, bandwidth: float) -> None:
    config = resolve_config(args.model)
    llm = LLM(
        model=args.model,
        load_format="dummy",
        dtype="bfloat16",
        max_running_requests=max(args.batches),
        chunked_prefill_size=8192,
    )
    flop_rate = roofline.matmul_rate(llm.engine.device, torch.bfloat16)
    gen = torch.Generator().manual_seed(0)
    prefill_s = engine_bench.time_prefills(llm, args.prefill_lens, gen)
    ctx = args.input_len + args.output_len // 2
    print(
        "\n| batch | step ms | GPU wait | overlapped step ms | graph replay ms | tok/s "
        "(overlapped) | roofline ms | % roofline | % roofline (overlapped) |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for b in args.batches:
        prompts = engine_bench.random_prompts(b, args.input_len, config.vocab_size, gen)
        r = engine_bench.run_decode(llm, prompts, args.output_len, skip=3)
        o = engine_bench.run_decode(llm, prompts, args.output_len, skip=3, overlap=True)
        replay = graph_gpu_ms(llm, b, config.vocab_size)
        floor = roofline.step_cost(config, b, ctx, b, 2).seconds(bandwidth, flop_rate)
        print(
            f"| {b} | {r.step_s * 1e3:.2f} | {100 * r.wait_share:.0f}% | {o.step_s * 1e3:.2f} | "
            f"{replay:.2f} | {b / o.step_s:.1f} | {floor * 1e3:.2f} | "
            f"{100 * floor / r.step_s:.1f}% | {100 * floor / o.step_s:.1f}% |",
            flush=True,
        )
    print()
    engine_bench.print_prefill_table(config, prefill_s, bandwidth, flop_rate, 2, {})
    llm.shutdown()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nemotron-3-nano-30b-a3b")
    ap.add_argument("--batch", default="1,8,64")
    ap.add_argument("--input-len", type=int, default=1024)
    ap.add_argument("--output-len", type=int, default=32)
    ap.add_argument("--prefill-len", default="1024,8192")
    ap.add_argument("--reps", type=int, default=30)
    args = ap.parse_args()
    args.batches = [int(b) for b in args.batch.split(",")]
    args.prefill_lens = [int(n) for n in args.prefill_len.split(",")]
    rows, bandwidth = kernel_bench.collect(args.reps)
    print_table(rows, bandwidth)
    engine_table(args, bandwidth)
    failed = [f"{r.kernel} {r.shape}" for r in rows if not r.rel < r.bound]
    if failed:
        print(f"\nFAILED error bounds: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
