"""Where an engine step's time goes (bench/engine.py's --profile and --host-profile, and
the graph replay time bench/engine.py and bench/gpu_check.py report)."""

from __future__ import annotations

import cProfile
import io
import pstats
import statistics
import time

import torch

from hybridserve.workers.engine import LLM, Engine, SamplingParams
from hybridserve.workers.engine.decode_graphs import SCRATCH


def start_decoding(engine: Engine, prompts: list[list[int]]) -> list[str]:
    """Add `prompts` and step until every one of them is past its prefill; returns their ids.

    They may generate up to the model's length (a large batch's prefill takes many steps, and
    the first prompts decode meanwhile): the caller ends them with `stop_all`."""
    limit = engine.max_model_len - max(map(len, prompts))
    params = SamplingParams(temperature=0.0, max_tokens=limit, ignore_eos=True)
    rids = [engine.add_request(p, params) for p in prompts]
    while engine.scheduler.waiting or any(r.in_prefill for r in engine.scheduler.running):
        engine.step()
    return rids


def stop_all(engine: Engine, rids: list[str]) -> None:
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
    rids = start_decoding(engine, prompts)
    engine.step()  # the first decode step
    activities = [torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=activities) as prof:
        engine.step()
        torch.cuda.synchronize()
    stop_all(engine, rids)
    engine.runner.graphs = graphs
    events = prof.key_averages()
    cpu = torch.autograd.DeviceType.CPU  # the CUDA runtime calls that launched them
    kernels = sum(e.count for e in events if e.device_type != cpu)
    return events.table(sort_by="self_cuda_time_total", row_limit=top) + f"{kernels} kernels\n"


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
    engine = llm.engine
    rids = start_decoding(engine, prompts)
    engine.step()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(steps):
        engine.step()
    profiler.disable()
    stop_all(engine, rids)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(top)
    return out.getvalue()
