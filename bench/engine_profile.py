"""Where an engine step's time goes (bench/engine.py's --profile, --timeline and
--host-profile, and the graph replay time bench/engine.py and bench/gpu_check.py report)."""

from __future__ import annotations

import collections
import contextlib
import cProfile
import io
import json
import pstats
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import torch

from hybridserve.workers.engine import LLM, Engine, SamplingParams
from hybridserve.workers.engine.decode_graphs import SCRATCH


@contextlib.contextmanager
def decoding(engine: Engine, prompts: list[list[int]], warm_steps: int = 0) -> Iterator[None]:
    """Within: `prompts` past their prefill and `warm_steps` decode steps in; aborted at exit.

    They may generate up to the model's length (a large batch's prefill takes many steps, and
    the first prompts decode meanwhile)."""
    limit = engine.max_model_len - max(map(len, prompts))
    params = SamplingParams(temperature=0.0, max_tokens=limit, ignore_eos=True)
    rids = [engine.add_request(p, params) for p in prompts]
    try:
        while engine.scheduler.waiting or any(r.in_prefill for r in engine.scheduler.running):
            engine.step()
        for _ in range(warm_steps):
            engine.step()
        yield
    finally:
        for rid in rids:
            engine.abort(rid)


def stub_forward(engine: Engine) -> None:
    """Random logits instead of the model: one row a sequence that wants them."""
    logits = torch.randn(engine.cfg.max_running_requests, engine.model_config.vocab_size)

    def forward(batch, buffers):
        rows = batch.num_seqs if batch.logits_indices is None else len(batch.logits_indices)
        return logits[:rows]

    engine.runner.model = forward


def graph_gpu_ms(llm: LLM, batch: int, vocab: int, reps: int = 20) -> float:
    """GPU time of one replay of the decode graph serving `batch`: random tokens (the MoE routes
    as in a real step), each row on a state slot and KV page of its own borrowed from the pools
    (rows sharing one slot contend on its memory), a context of one token."""
    engine = llm.engine
    graphs = engine.runner.graphs
    size = graphs.padded_size(batch)
    states: list[int] = []
    while len(states) < size and (slot := engine.state_pool.alloc()) is not None:
        states.append(slot)
    pages = engine.kv_pool.alloc(min(size, engine.kv_pool.num_free)) or []
    try:
        rows = min(len(states), len(pages))
        state_slots = states[:rows] + [SCRATCH] * (size - rows)
        kv_slots = [p * engine.cfg.page_size for p in pages[:rows]] + [SCRATCH] * (size - rows)
        ids = torch.randint(3, vocab, (size,)).tolist()
        kv = torch.tensor(kv_slots, dtype=torch.long)
        graphs.fill(ids, kv_slots, kv, list(range(size + 1)), state_slots, size)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        times = []
        for _ in range(reps):
            start.record()
            graphs.graphs[size].replay()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    finally:
        for slot in states:
            engine.state_pool.free(slot)
        engine.kv_pool.free(pages)
    return statistics.median(times)


def profile_step(llm: LLM, prompts: list[list[int]], top: int = 30) -> str:
    """Kernel time breakdown of one eager decode step (the same kernels the graph replays),
    ending with the number of kernels (and copies) the step ran."""
    engine, graphs = llm.engine, llm.engine.runner.graphs
    engine.runner.graphs = None
    activities = [torch.profiler.ProfilerActivity.CUDA]
    with decoding(engine, prompts, 1), torch.profiler.profile(activities=activities) as prof:
        engine.step()
        torch.cuda.synchronize()
    engine.runner.graphs = graphs
    events = prof.key_averages()
    cpu = torch.autograd.DeviceType.CPU  # the CUDA runtime calls that launched them
    kernels = sum(e.count for e in events if e.device_type != cpu)
    return events.table(sort_by="self_cuda_time_total", row_limit=top) + f"{kernels} kernels\n"


class KernelShare(NamedTuple):
    name: str
    count: int
    duration_us: float  # summed over its launches
    added_us: float  # what its ends added to the span


def span_shares(kernels: list[dict]) -> tuple[list[KernelShare], float, float]:
    """Per kernel name in `kernels` (chrome-trace events: name, ts and dur in us): its launches,
    summed duration and the time it added to the span, each launch's end past every earlier
    launch's end (with programmatic dependent launch a kernel starts before the one it waits
    for ends, so durations over-count); most added first. Also the span and its idle time."""
    kernels = sorted(kernels, key=lambda e: e["ts"])
    count: collections.Counter[str] = collections.Counter()
    duration: collections.Counter[str] = collections.Counter()
    added: collections.Counter[str] = collections.Counter()
    start = end = kernels[0]["ts"] if kernels else 0.0
    idle = 0.0
    for e in kernels:
        name, ts, stop = e["name"], e["ts"], e["ts"] + e["dur"]
        idle += max(0.0, ts - end)
        count[name] += 1
        duration[name] += e["dur"]
        added[name] += max(0.0, stop - max(end, ts))
        end = max(end, stop)
    shares = [KernelShare(n, count[n], duration[n], a) for n, a in added.most_common()]
    return shares, end - start, idle


def graph_timeline(llm: LLM, prompts: list[list[int]], steps: int = 5, top: int = 25) -> str:
    """The GPU work of `steps` decode steps of `prompts` (graphs as configured), per step: what
    each kernel added to the span (`span_shares`), from a torch.profiler trace (CUPTI records
    the kernels inside CUDA graphs)."""
    engine = llm.engine
    with decoding(engine, prompts, warm_steps=3):
        torch.cuda.synchronize()
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
            for _ in range(steps):
                engine.step()
            torch.cuda.synchronize()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        prof.export_chrome_trace(str(path))
        events = json.loads(path.read_text())["traceEvents"]
    gpu = [e for e in events if e.get("cat") in ("kernel", "gpu_memcpy", "gpu_memset")]
    shares, span, idle = span_shares(gpu)
    lines = [f"{'kernel':<60} {'launches':>8} {'us':>8} {'added us':>9} {'added/launch':>12}"]
    for s in shares[:top]:
        lines.append(
            f"{s.name[:60]:<60} {s.count / steps:8.1f} {s.duration_us / steps:8.1f} "
            f"{s.added_us / steps:9.1f} {s.added_us / s.count:12.2f}"
        )
    lines.append(f"a step: span {span / steps:.1f} us, idle {idle / steps:.1f} us\n")
    return "\n".join(lines)


def profile_prefill(llm: LLM, prompt: list[int], top: int = 15) -> str:
    """Kernel time breakdown of the prefill of `prompt` (first token included), then the host
    operators by their own CPU time, and the wall time (the tables end with their totals)."""
    params = SamplingParams(temperature=0.0, max_tokens=1, ignore_eos=True)
    activities = [torch.profiler.ProfilerActivity.CPU, torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        start = time.perf_counter()
        llm.generate([prompt], params)
        torch.cuda.synchronize()
        wall_ms = (time.perf_counter() - start) * 1e3
    events = prof.key_averages()
    return (
        events.table(sort_by="self_cuda_time_total", row_limit=top)
        + events.table(sort_by="self_cpu_time_total", row_limit=top)
        + f"wall {wall_ms:.1f} ms (profiled)\n"
    )


def host_profile(llm: LLM, prompts: list[list[int]], steps: int = 10, top: int = 20) -> str:
    """Python time of `steps` decode steps (graphs as configured), by function."""
    profiler = cProfile.Profile()
    with decoding(llm.engine, prompts, warm_steps=1):
        profiler.enable()
        for _ in range(steps):
            llm.engine.step()
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()
