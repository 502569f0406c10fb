"""The worker group's front-end process: the Worker gRPC server, its KV-event publisher and
metrics, over a RemoteEngineClient to the engine process's EngineBridge. `FrontendProcess`
starts it from the engine process; it exits when told to (SIGTERM/SIGINT) or when the engine
process is gone.

    python -m hybridserve.workers.service.frontend --endpoint E --info JSON --address H:P \\
        --kv-bind tcp://H:* [--metrics-address H:P]   # prints {"address", "metrics_url"}
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
from dataclasses import asdict

from hybridserve.workers.service.engine_client import EngineInfo

START_TIMEOUT_S = 60.0
PARENT_CHECK_S = 0.5


class FrontendProcess:
    """Starts the front-end for the bridge at `endpoint`; `address` and `metrics_url` are what
    it serves."""

    def __init__(
        self,
        endpoint: str,
        info: EngineInfo,
        address: str,
        kv_bind: str,
        metrics_address: str | None = None,
        stream_interval: int = 1,
    ) -> None:
        argv = [sys.executable, "-m", __spec__.name, "--endpoint", endpoint]
        argv += ["--info", json.dumps(asdict(info)), "--address", address, "--kv-bind", kv_bind]
        argv += ["--stream-interval", str(stream_interval)]
        if metrics_address is not None:
            argv += ["--metrics-address", metrics_address]
        self.process = subprocess.Popen(argv, stdout=subprocess.PIPE)
        ready = _read_line(self.process, START_TIMEOUT_S)
        self.address: str = ready["address"]
        self.metrics_url: str = ready["metrics_url"]

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _read_line(process: subprocess.Popen, timeout_s: float) -> dict:
    assert process.stdout is not None
    readable, _, _ = select.select([process.stdout], [], [], timeout_s)
    line = process.stdout.readline() if readable else b""
    if not line:
        process.kill()
        raise RuntimeError(f"the worker front-end did not start (exit code {process.wait()})")
    return json.loads(line)


async def _serve(args: argparse.Namespace) -> None:
    from hybridserve.workers.server import WorkerServer
    from hybridserve.workers.service.remote_engine_client import RemoteEngineClient

    client = RemoteEngineClient(args.endpoint, EngineInfo(**json.loads(args.info)))
    await client.connect()
    server = WorkerServer(
        client,
        args.address,
        args.kv_bind,
        metrics_address=args.metrics_address,
        stream_interval=args.stream_interval,
    )
    await server.start()
    print(json.dumps({"address": server.address, "metrics_url": server.metrics_url}), flush=True)
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nobody reads the pipe from now on
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    parent = os.getppid()
    while not stop.is_set() and os.getppid() == parent:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PARENT_CHECK_S)
    orphaned = not stop.is_set()  # the engine process died: nothing to finish
    await server.stop(grace=0 if orphaned else 1.0)
    client.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--endpoint", required=True)
    ap.add_argument("--info", required=True, help="EngineInfo as JSON")
    ap.add_argument("--address", required=True)
    ap.add_argument("--kv-bind", required=True)
    ap.add_argument("--metrics-address", default=None)
    ap.add_argument("--stream-interval", type=int, default=1)
    asyncio.run(_serve(ap.parse_args()))


if __name__ == "__main__":
    main()
