"""Host cost of streaming tokens out of a worker: the engine (tiny preset, forward stubbed with
random logits, so only host work remains) steps `--concurrency` decoding requests, once alone and
behind the worker's gRPC server with a client process reading every stream, as the router does:
with the server in the engine's process (sharing its GIL), and in its own front-end process fed
over ZMQ (the worker group's layout). The gap to the step alone is what streaming costs each
step. Runs on CPU.

    python3 bench/worker_streaming.py --concurrency 512 --output-len 64
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import time

import torch

from bench.engine_profile import decoding, stub_forward
from hybridserve.workers.engine import AsyncEngine, Engine, EngineConfig


def make_engine(args: argparse.Namespace) -> Engine:
    cfg = EngineConfig(
        model="tiny",
        max_running_requests=args.concurrency,
        chunked_prefill_size=8192,
        cache_bytes=max(256 << 20, args.concurrency * (args.input_len + args.output_len) * 4096),
        overlap_schedule=args.overlap,
    )
    engine = Engine(cfg)
    stub_forward(engine)
    return engine


def prompts(args: argparse.Namespace) -> list[list[int]]:
    gen = torch.Generator().manual_seed(0)
    return torch.randint(3, 1000, (args.concurrency, args.input_len), generator=gen).tolist()


def alone(args: argparse.Namespace) -> float:
    """Median step (ms) of the engine decoding every request, nobody reading the tokens."""
    engine = make_engine(args)
    times = []
    with decoding(engine, prompts(args)):
        for _ in range(args.output_len):
            start = time.perf_counter()
            engine.step()
            times.append(time.perf_counter() - start)
    return statistics.median(times[3:]) * 1e3


def read_streams(address: str, args: argparse.Namespace, done: multiprocessing.Queue) -> None:
    """The client process: `concurrency` Generate streams at once; reports tokens and seconds."""
    import grpc

    from hybridserve.v1 import common_pb2, worker_pb2, worker_pb2_grpc

    async def main() -> tuple[int, float]:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = worker_pb2_grpc.WorkerStub(channel)
            sampling = common_pb2.SamplingParams(
                max_tokens=args.output_len, temperature=0.0, ignore_eos=True
            )

            async def one(prompt: list[int]) -> int:
                request = worker_pb2.WorkerGenerateRequest(
                    prompt_token_ids=prompt, sampling=sampling
                )
                count = 0
                async for reply in stub.Generate(request):
                    count += sum(len(d.token_ids) for d in reply.deltas)
                return count

            start = time.perf_counter()
            counts = await asyncio.gather(*(one(p) for p in prompts(args)))
            return sum(counts), time.perf_counter() - start

    done.put(asyncio.run(main()))


def served(args: argparse.Namespace, split: bool) -> tuple[float, float]:
    """(engine ms a step, tokens/s) with every token streamed to a client process, the gRPC
    server in this process or (`split`) in a front-end process."""
    from hybridserve.workers.server import WorkerServer
    from hybridserve.workers.service import LocalEngineClient
    from hybridserve.workers.service.engine_bridge import EngineBridge
    from hybridserve.workers.service.frontend import FrontendProcess

    async def main() -> tuple[float, float]:
        if split:
            engine = EngineBridge(make_engine(args))
            local = "127.0.0.1:0"
            server = FrontendProcess(engine.endpoint, engine.reads.info, local, "tcp://127.0.0.1:*")
        else:
            engine = AsyncEngine(make_engine(args))
            server = await WorkerServer(LocalEngineClient(engine)).start()
        done: multiprocessing.Queue = multiprocessing.get_context("spawn").Queue()
        client = multiprocessing.get_context("spawn").Process(
            target=read_streams, args=(server.address, args, done)
        )
        client.start()
        steps_before = None
        while client.is_alive() and done.empty():
            stats = engine.engine.stats()
            if steps_before is None and stats.running == args.concurrency:
                steps_before, started = stats.steps, time.perf_counter()
            await asyncio.sleep(0.01)
        tokens, seconds = await asyncio.to_thread(done.get)
        steps = engine.engine.stats().steps - (steps_before or 0)
        elapsed = time.perf_counter() - started if steps_before is not None else seconds
        client.join()
        await (asyncio.to_thread(server.stop) if split else server.stop())
        engine.shutdown()
        return elapsed / max(1, steps) * 1e3, tokens / seconds

    return asyncio.run(main())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--concurrency", type=int, default=512)
    ap.add_argument("--input-len", type=int, default=32)
    ap.add_argument("--output-len", type=int, default=64)
    ap.add_argument("--overlap", action="store_true", help="overlap scheduling in the engine")
    args = ap.parse_args()
    print(f"concurrency {args.concurrency}: engine step {alone(args):.2f} ms alone")
    for split in (False, True):
        step, tokens_s = served(args, split)
        where = "in its own process" if split else "in the engine's process"
        print(
            f"  gRPC server {where}: engine step {step:.2f} ms while streaming "
            f"({tokens_s:.0f} tokens/s to the client)"
        )


if __name__ == "__main__":
    main()
