"""One rank of a worker group, run as a Ray actor: its process groups, engine shard and loop.

Ray only starts, pings and kills it; per-step traffic is the leader's command broadcast over a
gloo control group and the model's own collectives (NCCL on GPU, gloo on CPU). Rank 0 takes the
requests: from the offline API (`submit` / `poll`) and, once `serve()` ran, from gRPC clients
through the Worker service, which runs in a front-end process of its own (`EngineBridge`)."""

from __future__ import annotations

import gc
import socket
import threading
from collections import deque

import torch

from hybridserve.workers.distributed import ParallelContext, init_process_group
from hybridserve.workers.engine.engine import Engine
from hybridserve.workers.engine.engine_config import EngineConfig
from hybridserve.workers.engine.engine_loop import Command, EngineLoop
from hybridserve.workers.engine.outputs import TokenDelta
from hybridserve.workers.engine.sampling_params import SamplingParams
from hybridserve.workers.engine.stats import EngineStats
from hybridserve.workers.service.engine_bridge import EngineBridge
from hybridserve.workers.service.frontend import FrontendProcess

COLLECTIVE_TIMEOUT_S = 30.0  # a hung or dead peer fails the step after this long


class RankWorker:
    def __init__(self, cfg: EngineConfig, rank: int, world: int, cpu_threads: int = 1) -> None:
        self.cfg, self.rank, self.world = cfg, rank, world
        if cfg.resolved_device().type == "cpu":
            torch.set_num_threads(cpu_threads)
        self._outbox: deque[TokenDelta] = deque()
        self._ready = threading.Condition()
        self.loop: EngineLoop | None = None
        self.bridge: EngineBridge | None = None  # rank 0
        self.frontend: FrontendProcess | None = None  # rank 0's Worker service, once served

    def rendezvous(self) -> tuple[str, str]:
        """(control, model) init methods hosted by this rank (call on rank 0)."""
        host = _node_ip()
        return f"tcp://{host}:{_free_port()}", f"tcp://{host}:{_free_port()}"

    def setup(self, control_init: str, model_init: str) -> None:
        device = self.cfg.resolved_device()
        if device.type == "cuda":
            torch.cuda.set_device(0)  # Ray shows each actor only its own GPU
        control = init_process_group(
            "gloo", control_init, self.rank, self.world, COLLECTIVE_TIMEOUT_S, name="control"
        )
        model = control
        if device.type == "cuda":
            model = init_process_group(
                "nccl", model_init, self.rank, self.world, COLLECTIVE_TIMEOUT_S, name="model"
            )
        parallel = ParallelContext.for_rank(self.rank, self.world, self.cfg.ep, model)
        broadcaster = ParallelContext.for_rank(self.rank, self.world, group=control)

        def sync(commands: list[Command] | None) -> list[Command]:
            return broadcaster.broadcast_object(commands, src=0)

        engine = Engine(self.cfg, parallel)
        # What exists now (modules, the engine, imported libraries: ~200k objects) lives as long
        # as the process: out of the collector's sight, a full collection no longer walks it
        # (bench/host_overhead.py, batch 1024: worst decode step 173 -> 46 ms of host time).
        gc.collect()
        gc.freeze()
        if self.rank == 0:
            self.bridge = EngineBridge(engine, self.cfg.model, sync, unclaimed=self._collect)
            self.loop = self.bridge.loop
        else:
            self.loop = EngineLoop(engine, lambda deltas: None, sync, leader=False)

    def run(self) -> None:
        """The rank's step loop; returns on shutdown, raises if the group failed."""
        assert self.loop is not None
        if self.bridge is not None:
            self.loop.join()
        else:
            self.loop.run()
        if self.loop.failed is not None:
            raise RuntimeError(f"rank {self.rank} failed: {self.loop.failed}")

    def ping(self) -> bool:
        return self.loop is not None and self.loop.failed is None

    # -- rank 0 (the group's leader) -----------------------------------------------------------
    def serve(
        self, port: int = 0, kv_port: int = 0, metrics_port: int | None = None
    ) -> tuple[str, str]:
        """Start the Worker gRPC service (its KV-event publisher and, with `metrics_port`, its
        Prometheus /metrics; 0: a free port) in the front-end process; returns (host:port, the
        /metrics URL or "")."""
        if self.frontend is None:
            host = _node_ip()
            metrics = f"{host}:{metrics_port}" if metrics_port is not None else None
            bridge = self._bridge()
            kv_bind = f"tcp://{host}:{kv_port or '*'}"
            address = f"{host}:{port}"
            info, interval = bridge.reads.info, self.cfg.stream_interval
            self.frontend = FrontendProcess(
                bridge.endpoint, info, address, kv_bind, metrics, interval
            )
        return self.frontend.address, self.frontend.metrics_url

    def address(self) -> str:
        """The Worker gRPC host:port once `serve()` ran, else "" (asked by Ray discovery)."""
        return self.frontend.address if self.frontend is not None else ""

    def submit(self, prompt_ids: list[int], params: SamplingParams, rid: str) -> str:
        return self._bridge().loop.command("add_request", prompt_ids, params, rid).result()

    def abort(self, rid: str) -> bool:
        return self._bridge().loop.command("abort", rid).result()

    def stop(self, rid: str, index: int) -> int:
        return self._bridge().loop.command("stop", rid, index).result()

    def stats(self) -> EngineStats:
        bridge = self._bridge()
        return bridge.call(bridge.engine.stats).result()

    def poll(self, timeout_s: float = 1.0) -> list[TokenDelta]:
        """Deltas of `submit`ted requests since the last poll (waits up to `timeout_s`)."""
        with self._ready:
            self._ready.wait_for(lambda: bool(self._outbox), timeout_s)
            out = list(self._outbox)
            self._outbox.clear()
        return out

    def stop_serving(self) -> None:
        """Stop the front-end process (its ports are free once this returns)."""
        if self.frontend is not None:
            self.frontend.stop()
            self.frontend = None

    def shutdown(self) -> None:
        self.stop_serving()
        if self.bridge is not None:
            self.bridge.shutdown()
        elif self.loop is not None:
            self.loop.shutdown()

    def _bridge(self) -> EngineBridge:
        if self.bridge is None:
            raise RuntimeError("requests go to rank 0 of a set-up group")
        return self.bridge

    def _collect(self, deltas: list[TokenDelta]) -> None:
        with self._ready:
            self._outbox.extend(deltas)
            self._ready.notify_all()


def _node_ip() -> str:
    import ray

    return ray.util.get_node_ip_address() if ray.is_initialized() else "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]
