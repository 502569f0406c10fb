"""Offline engine benchmark: decode step time and prefill time against the memory roofline.

    python3 bench/engine.py --model nemotron-3-nano-30b-a3b --load-format dummy --dtype bfloat16 \
        --batch 1,8,64 --input-len 1024 --output-len 32 [--baseline transformers]

Runs the real `LLM` / `Engine` in this process: decode replays CUDA graphs (up to
--cuda-graph-max-bs) and, for the side-by-side, each batch is run again eagerly (and with --overlap
again with overlap scheduling). Per batch size B it
prefills B random prompts of --input-len tokens (distinct, so no prefix-cache hits), then times
every engine step that decodes all B sequences (host clock around `Engine.step`, which ends in a
device-to-host copy of the sampled tokens); the median after --skip warm-up steps is the step time.
Prefill: one fresh prompt of each --prefill-len (default --input-len) tokens, first token
included, after one warm-up prompt of the same length; also reported as the share of the bf16
matmul rate that its FLOPs (2 per active parameter and token) would take.

Roofline: the bytes a step must read, from the config (every non-expert weight, the lm_head, the
expected number of distinct routed experts touched by B tokens drawn uniformly, KV of the context
and the Mamba state read + written), over the device copy rate measured in the same run; FLOPs
(2 per active parameter and token) over the measured bf16 matmul rate; the larger time is the
floor. `--baseline transformers` then runs transformers' NemotronHForCausalLM (random weights, the
same config and dtype) through `generate` on the same shapes, up to --baseline-max-batch.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import statistics
import time
from dataclasses import dataclass

import torch

from bench.engine_profile import (
    graph_gpu_ms,
    graph_timeline,
    host_profile,
    profile_prefill,
    profile_step,
)
from bench.roofline import copy_bandwidth, matmul_rate, step_cost, sync
from hybridserve.workers.engine import LLM, SamplingParams
from hybridserve.workers.models.config import ModelConfig
from hybridserve.workers.models.loader import resolve_config


def random_prompts(n: int, length: int, vocab: int, gen: torch.Generator) -> list[list[int]]:
    return torch.randint(3, vocab, (n, length), generator=gen).tolist()


@dataclass
class DecodeResult:
    batch: int
    mode: str  # "graph" (CUDA graphs) or "eager"
    step_s: float
    steps: int
    prefill_s: float  # wall time to get every request of the batch through prefill
    wait_share: float  # of the measured steps' time, blocked reading tokens back from the device


def run_decode(
    llm: LLM,
    prompts: list[list[int]],
    output_len: int,
    skip: int,
    eager: bool = False,
    overlap: bool = False,
) -> DecodeResult:
    """Median decode step of `prompts` run together; `eager` bypasses the CUDA graphs,
    `overlap` turns on overlap scheduling (a step then returns the previous step's tokens)."""
    engine = llm.engine
    graphs, cfg = engine.runner.graphs, engine.cfg
    if eager:
        engine.runner.graphs = None
    engine.cfg = dataclasses.replace(cfg, overlap_schedule=overlap)
    params = SamplingParams(temperature=0.0, max_tokens=output_len, ignore_eos=True)
    for p in prompts:
        engine.add_request(p, params)
    b, times, started = len(prompts), [], time.perf_counter()
    prefill_s = float("nan")
    waits: list[float] = []
    while engine.has_work():
        before = engine.stats()
        t0 = time.perf_counter()
        deltas = engine.step()
        dt = time.perf_counter() - t0
        after = engine.stats()
        if len(deltas) == b and after.computed_tokens - before.computed_tokens == b:
            if prefill_s != prefill_s:  # the first pure decode step: every prompt is in
                prefill_s = t0 - started
            times.append(dt)
            waits.append(after.device_wait_seconds - before.device_wait_seconds)
    engine.runner.graphs, engine.cfg = graphs, cfg
    if not times:
        raise SystemExit(
            f"batch {b}: no step decoded the whole batch (its first requests finished while the "
            f"last were still in prefill); raise --output-len above {output_len}"
        )
    kept, kept_waits = (times[skip:], waits[skip:]) if len(times) > skip else (times, waits)
    mode = "graph" if graphs is not None and not eager else "eager"
    mode += "+overlap" if overlap else ""
    share = sum(kept_waits) / sum(kept)
    return DecodeResult(b, mode, statistics.median(kept), len(kept), prefill_s, share)


def run_prefill(llm: LLM, prompt: list[int], device: torch.device) -> float:
    params = SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True)
    sync(device)
    start = time.perf_counter()
    llm.generate([prompt], params)
    sync(device)
    return time.perf_counter() - start


def time_prefills(llm: LLM, lengths: list[int], gen: torch.Generator) -> dict[int, float]:
    """Prefill seconds of one fresh random prompt per length, each after a warm-up prompt of the
    same length (Triton compiles and autotunes per shape)."""
    vocab, device = llm.engine.model_config.vocab_size, llm.engine.device
    times = {}
    for length in lengths:
        prompts = random_prompts(2, length, vocab, gen)
        run_prefill(llm, prompts[0], device)
        times[length] = run_prefill(llm, prompts[1], device)
        print(f"prefill {length} tokens: {times[length]:.3f} s", flush=True)
    return times


def transformers_baseline(args, batches: list[int], device: torch.device, dtype: torch.dtype):
    """Yields (batch, decode step s, prefill s) of transformers' generate on the same shapes."""
    from transformers import NemotronHConfig, NemotronHForCausalLM

    from hybridserve.workers.models.presets import PRESETS

    with torch.device(device):
        model = NemotronHForCausalLM._from_config(
            NemotronHConfig(**PRESETS[args.model]), dtype=dtype
        )
    model.eval()
    gen = torch.Generator().manual_seed(args.seed + 1)
    for b in batches:
        ids = torch.tensor(random_prompts(b, args.input_len, args.vocab, gen), device=device)

        def generate(n: int, ids: torch.Tensor = ids) -> float:
            sync(device)
            start = time.perf_counter()
            with torch.inference_mode():
                model.generate(ids, max_new_tokens=n, min_new_tokens=n, do_sample=False)
            sync(device)
            return time.perf_counter() - start

        generate(2)  # warm-up
        first = min(generate(1), generate(1))
        full = generate(args.output_len)
        print(f"  transformers batch {b}: prefill {first:.3f} s, total {full:.3f} s", flush=True)
        yield b, (full - first) / (args.output_len - 1), first


def print_tables(
    args: argparse.Namespace,
    config: ModelConfig,
    results: list[DecodeResult],
    prefill_s: dict[int, float],  # prompt length -> seconds
    bandwidth: float,
    flop_rate: float,
    wbytes: int,
    baseline: dict[int, tuple[float, float]],  # batch -> (decode step s, prefill s)
) -> None:
    dtype = args.dtype
    ctx = args.input_len + args.output_len // 2
    print(
        f"\n## decode ({args.model}, {dtype}, input {args.input_len}, "
        f"output {args.output_len}, median step after {args.skip} warm-up steps)"
    )
    print(
        "| batch | mode | step ms | tok/s | roofline GB | roofline ms | roofline tok/s "
        "| % roofline | transformers tok/s | speedup |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        cost = step_cost(config, r.batch, ctx, r.batch, wbytes)
        floor = cost.seconds(bandwidth, flop_rate)
        base = baseline.get(r.batch)
        base_tps = f"{r.batch / base[0]:.1f}" if base else "-"
        speedup = f"{base[0] / r.step_s:.1f}x" if base else "-"
        print(
            f"| {r.batch} | {r.mode} | {r.step_s * 1e3:.2f} | {r.batch / r.step_s:.1f} | "
            f"{cost.bytes / 1e9:.2f} | {floor * 1e3:.2f} | {r.batch / floor:.0f} | "
            f"{100 * floor / r.step_s:.1f}% | {base_tps} | {speedup} |"
        )
    print("\n## prefill (1 request, first token included)")
    base = {args.input_len: baseline[1][1]} if 1 in baseline else {}
    print_prefill_table(config, prefill_s, bandwidth, flop_rate, wbytes, base)


def print_prefill_table(
    config: ModelConfig,
    prefill_s: dict[int, float],  # prompt length -> seconds
    bandwidth: float,
    flop_rate: float,
    wbytes: int,
    baseline_s: dict[int, float],  # prompt length -> transformers' seconds, where run
) -> None:
    print("| tokens | s | tok/s | roofline s | % roofline | % of matmul rate | transformers s |")
    print("|---|---|---|---|---|---|---|")
    for length, secs in prefill_s.items():
        cost = step_cost(config, 1, length, length, wbytes)
        floor = cost.seconds(bandwidth, flop_rate)
        base = baseline_s.get(length)
        print(
            f"| {length} | {secs:.3f} | {length / secs:.0f} | {floor:.4f} | "
            f"{100 * floor / secs:.1f}% | {100 * cost.flops / flop_rate / secs:.1f}% | "
            f"{'-' if base is None else f'{base:.3f}'} |"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="nemotron-3-nano-30b-a3b")
    ap.add_argument("--load-format", default="dummy")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", default="1,8,64")
    ap.add_argument("--input-len", type=int, default=1024)
    ap.add_argument("--output-len", type=int, default=32)
    ap.add_argument("--skip", type=int, default=3, help="decode steps left out as warm-up")
    ap.add_argument("--prefill-len", default="", help="prefill lengths to time (default: input)")
    ap.add_argument("--chunked-prefill-size", type=int, default=8192)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline", choices=["none", "transformers"], default="none")
    ap.add_argument("--baseline-max-batch", type=int, default=8)
    ap.add_argument("--cuda-graph-max-bs", type=int, default=256, help="0: eager only")
    ap.add_argument("--mamba-ssm-dtype", default=None, help="state cache dtype (default: model's)")
    ap.add_argument("--no-eager", action="store_true", help="skip the eager run beside graphs")
    ap.add_argument("--overlap", action="store_true", help="run each batch again, overlapped")
    ap.add_argument("--profile", action="store_true", help="print kernel times of steps")
    ap.add_argument("--host-profile", action="store_true", help="print Python time by function")
    ap.add_argument(
        "--timeline", action="store_true", help="print what each kernel adds to a decode step"
    )
    args = ap.parse_args()
    batches = [int(b) for b in args.batch.split(",")]
    prefill_lens = [int(n) for n in (args.prefill_len or str(args.input_len)).split(",")]
    config = resolve_config(args.model)
    if args.mamba_ssm_dtype:  # the roofline's state bytes follow the cache's dtype
        config = dataclasses.replace(config, mamba_ssm_cache_dtype=args.mamba_ssm_dtype)
    args.vocab = config.vocab_size

    load_start = time.perf_counter()
    llm = LLM(
        model=args.model,
        load_format=args.load_format,
        dtype=args.dtype,
        device=args.device,
        seed=args.seed,
        max_running_requests=max(batches),
        chunked_prefill_size=args.chunked_prefill_size,
        cuda_graph_max_bs=args.cuda_graph_max_bs,
        mamba_ssm_dtype=args.mamba_ssm_dtype,
    )
    device = llm.engine.device
    dtype = next(llm.engine.model.parameters()).dtype
    wbytes = torch.empty((), dtype=dtype).element_size()
    print(
        f"loaded {args.model} ({args.load_format}, {dtype}) on {device} in "
        f"{time.perf_counter() - load_start:.1f} s",
        flush=True,
    )
    bandwidth, flop_rate = copy_bandwidth(device), matmul_rate(device, dtype)
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}", flush=True)
    print(f"copy {bandwidth / 1e12:.2f} TB/s, matmul {flop_rate / 1e12:.0f} TFLOP/s", flush=True)

    gen = torch.Generator().manual_seed(args.seed)
    prefill_s = time_prefills(llm, prefill_lens, gen)
    for length in prefill_lens:
        if args.profile and device.type == "cuda":
            prompt = random_prompts(1, length, config.vocab_size, gen)[0]
            print(f"kernels of one prefill of {length} tokens:\n{profile_prefill(llm, prompt)}")
    results = []
    modes = [(False, False)]  # (eager, overlap)
    modes += [(True, False)] if llm.engine.runner.graphs and not args.no_eager else []
    modes += [(False, True)] if args.overlap else []
    for b in batches:
        for eager, overlap in modes:
            prompts = random_prompts(b, args.input_len, config.vocab_size, gen)
            results.append(run_decode(llm, prompts, args.output_len, args.skip, eager, overlap))
            r = results[-1]
            gpu = ""
            if r.mode == "graph":
                gpu = f", graph replay alone {graph_gpu_ms(llm, b, config.vocab_size):.2f} ms"
            print(
                f"batch {b} ({r.mode}): step {r.step_s * 1e3:.2f} ms over {r.steps} steps "
                f"({100 * r.wait_share:.0f}% of it waiting for the device){gpu}, prefill of the "
                f"batch {r.prefill_s:.2f} s",
                flush=True,
            )
        if args.host_profile:
            prompts = random_prompts(b, args.input_len, config.vocab_size, gen)
            print(f"host time of 10 decode steps, batch {b}:\n{host_profile(llm, prompts)}")
        if args.profile and device.type == "cuda":
            prompts = random_prompts(b, args.input_len, config.vocab_size, gen)
            print(f"kernels of one eager decode step, batch {b}:\n{profile_step(llm, prompts)}")
        if args.timeline and device.type == "cuda":
            prompts = random_prompts(b, args.input_len, config.vocab_size, gen)
            print(f"kernel timeline of decode steps, batch {b}:\n{graph_timeline(llm, prompts)}")
    llm.shutdown()
    del llm
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()

    report = (args, config, results, prefill_s, bandwidth, flop_rate, wbytes)
    print_tables(*report, {})
    if args.baseline == "transformers":
        todo = [b for b in batches if b <= args.baseline_max_batch]
        print(f"\ntransformers baseline for batch {todo}", flush=True)
        baseline: dict[int, tuple[float, float]] = {}
        try:
            for b, step_s, first_s in transformers_baseline(args, todo, device, dtype):
                baseline[b] = (step_s, first_s)
        except Exception as exc:  # report and keep the engine's figures
            print(f"transformers baseline failed: {type(exc).__name__}: {exc}", flush=True)
        if baseline:
            print_tables(*report, baseline)
        skipped = [b for b in batches if b not in baseline]
        if skipped:
            print(f"transformers baseline not run for batch {skipped}")


if __name__ == "__main__":
    main()
