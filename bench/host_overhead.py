"""Host time of one engine decode step with the model forward stubbed out: scheduling, building
the batch's inputs, sampling and request bookkeeping, i.e. what the GPU waits for between steps
when nothing overlaps them. Runs on CPU (the tiny preset; the stub returns random logits).

    python3 bench/host_overhead.py --batch 64 --context 1024
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bench.engine_profile import decoding, stub_forward
from hybridserve.workers.engine import LLM


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--context", type=int, default=1024, help="prompt tokens per request")
    ap.add_argument("--steps", type=int, default=50)
    args = ap.parse_args()
    llm = LLM(
        "tiny",
        max_running_requests=args.batch,
        chunked_prefill_size=8192,
        cache_bytes=max(256 << 20, args.batch * args.context * 2048),
    )
    engine = llm.engine
    gen = torch.Generator().manual_seed(0)
    prompts = torch.randint(3, 1000, (args.batch, args.context), generator=gen).tolist()
    times, scheduling = [], []
    schedule = engine.scheduler.schedule

    def timed_schedule():  # the scheduler's part of each step, timed on its own
        started = time.perf_counter()
        batch = schedule()
        scheduling.append(time.perf_counter() - started)
        return batch

    with decoding(engine, prompts):
        stub_forward(engine)
        engine.scheduler.schedule = timed_schedule
        for _ in range(args.steps + 5):
            started = time.perf_counter()
            engine.step()
            times.append(time.perf_counter() - started)
        running = len(engine.scheduler.running)
    ms, sched_ms = (statistics.median(t[5:]) * 1e3 for t in (times, scheduling))
    print(
        f"batch {args.batch} ({running} still running at the end), context {args.context}: "
        f"{ms:.2f} ms of host time per decode step, {sched_ms:.2f} ms of it scheduling"
    )
    llm.shutdown()


if __name__ == "__main__":
    main()
