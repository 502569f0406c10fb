"""Chrome traces (chrome://tracing, Perfetto) of a prefill and of eager decode steps on the full
`nemotron-3-nano-30b-a3b` preset (--model) with dummy weights, and each one's table of GPU time
by kernel name. The traces hold each kernel in order, with the gaps where the GPU sits idle.

    python3 bench/trace_steps.py [--prefill-len 8192] [--batch 1024,1] [--out DIR]

Writes DIR/prefill<N>.json.gz and DIR/decode<B>.json.gz (DIR: $OUT, else /tmp).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil

import torch

from bench import engine as engine_bench
from bench import roofline
from bench.engine_profile import decoding
from hybridserve.workers.engine import LLM, SamplingParams


def traced(fn, path: str, device: torch.device) -> None:
    activities = [torch.profiler.ProfilerActivity.CPU]
    if device.type == "cuda":
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as prof:
        fn()
        roofline.sync(device)
    prof.export_chrome_trace(path[: -len(".gz")])
    with open(path[: -len(".gz")], "rb") as src, gzip.open(path, "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.remove(path[: -len(".gz")])
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=sort, row_limit=25), flush=True)
    print(f"trace: {path}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="nemotron-3-nano-30b-a3b")
    ap.add_argument("--prefill-len", type=int, default=8192, help="0: no prefill trace")
    ap.add_argument("--batch", default="1024,1", help="decode batches to trace ('': none)")
    ap.add_argument("--input-len", type=int, default=256, help="prompt length of decode batches")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp"))
    args = ap.parse_args()
    batches = [int(b) for b in args.batch.split(",") if b]
    llm = LLM(
        model=args.model,
        load_format="dummy",
        dtype="bfloat16",
        max_running_requests=max(batches, default=1),
        chunked_prefill_size=8192,
        cuda_graph_max_bs=0,
        mamba_ssm_dtype="bfloat16",
    )
    engine, device = llm.engine, llm.engine.device
    vocab = engine.model_config.vocab_size
    gen = torch.Generator().manual_seed(0)
    if args.prefill_len:
        prompts = engine_bench.random_prompts(3, args.prefill_len, vocab, gen)
        engine_bench.run_prefill(llm, prompts[0], device)  # compile and autotune
        secs = engine_bench.run_prefill(llm, prompts[1], device)
        print(f"prefill {args.prefill_len} tokens: {secs:.3f} s (untraced)", flush=True)
        params = SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True)
        path = f"{args.out}/prefill{args.prefill_len}.json.gz"
        traced(lambda: llm.generate([prompts[2]], params), path, device)
    for b in batches:
        with decoding(engine, engine_bench.random_prompts(b, args.input_len, vocab, gen), 3):
            traced(lambda: (engine.step(), engine.step()), f"{args.out}/decode{b}.json.gz", device)
        engine.step()
    llm.shutdown()


if __name__ == "__main__":
    main()
