"""The worker's front-end process, started for real from an engine's EngineBridge: it serves the
Worker gRPC service and /metrics over the bridge, stops on request, and exits by itself when the
engine process dies (SIGKILL, as Ray kills an actor). The bridge answers a message it cannot run
with an error and keeps serving."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request

import grpc
import pytest

from hybridserve.errors import WorkerUnavailableError
from hybridserve.v1 import common_pb2, worker_pb2, worker_pb2_grpc
from hybridserve.workers.engine import Engine, EngineConfig
from hybridserve.workers.service import ipc
from hybridserve.workers.service.engine_bridge import EngineBridge
from hybridserve.workers.service.frontend import FrontendProcess
from hybridserve.workers.service.remote_engine_client import RemoteEngineClient


def _generate(address: str, **sampling) -> list[worker_pb2.WorkerGenerateResponse]:
    async def main():
        async with grpc.aio.insecure_channel(address) as channel:
            stub = worker_pb2_grpc.WorkerStub(channel)
            params = common_pb2.SamplingParams(temperature=0.0, **sampling)
            request = worker_pb2.WorkerGenerateRequest(prompt_token_ids=[5, 6, 7], sampling=params)
            return [r async for r in stub.Generate(request)]

    return asyncio.run(main())


def test_frontend_serves_the_engine_and_stops():
    bridge = EngineBridge(Engine(EngineConfig(model="tiny", cache_bytes=32 << 20)))
    frontend = FrontendProcess(
        bridge.endpoint, bridge.reads.info, "127.0.0.1:0", "tcp://127.0.0.1:*", "127.0.0.1:0"
    )
    try:
        replies = _generate(frontend.address, max_tokens=5, ignore_eos=True)
        assert replies[-1].usage.completion_tokens == 5
        assert sum(len(d.token_ids) for r in replies for d in r.deltas) == 5
        with urllib.request.urlopen(frontend.metrics_url, timeout=10) as page:
            text = page.read().decode()
        assert "hybridserve_worker_time_to_first_token_seconds_count" in text
        try:
            _generate(frontend.address, max_tokens=5, top_k=0)
            raise AssertionError("top_k=0 was accepted")
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.INVALID_ARGUMENT
        stats = bridge.call(bridge.engine.stats).result(5)
        assert stats.running == stats.waiting == 0
    finally:
        frontend.stop()
        bridge.shutdown()
    assert frontend.process.returncode == 0


_ENGINE_PROCESS = textwrap.dedent(
    """
    import time
    from hybridserve.workers.engine import Engine, EngineConfig
    from hybridserve.workers.service.engine_bridge import EngineBridge
    from hybridserve.workers.service.frontend import FrontendProcess

    bridge = EngineBridge(Engine(EngineConfig(model="tiny", cache_bytes=32 << 20)))
    front = FrontendProcess(bridge.endpoint, bridge.reads.info, "127.0.0.1:0", "tcp://127.0.0.1:*")
    print(front.process.pid, front.address, flush=True)
    time.sleep(600)
    """
)


def test_frontend_exits_when_the_engine_process_is_killed():
    engine = subprocess.Popen([sys.executable, "-c", _ENGINE_PROCESS], stdout=subprocess.PIPE)
    try:
        pid, address = engine.stdout.readline().decode().split()
        assert _generate(address, max_tokens=2)[-1].usage.completion_tokens >= 1
        os.kill(engine.pid, signal.SIGKILL)
        engine.wait()
        deadline = time.monotonic() + 20
        while _alive(int(pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(int(pid))
    finally:
        engine.kill()


def _alive(pid: int) -> bool:
    """True while `pid` runs (a zombie counts as gone: its parent is the init process now)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_bridge_answers_a_read_it_does_not_have_and_keeps_serving():
    async def main(bridge: EngineBridge) -> None:
        client = await RemoteEngineClient(bridge.endpoint, bridge.reads.info).connect()
        try:
            with pytest.raises(WorkerUnavailableError, match="no_such_read"):
                await client._ask(ipc.READ, "no_such_read")
            assert (await client.stats()).running == 0
        finally:
            client.close()

    bridge = EngineBridge(Engine(EngineConfig(model="tiny", cache_bytes=32 << 20)))
    try:
        asyncio.run(main(bridge))
    finally:
        bridge.shutdown()
