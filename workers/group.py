"""A worker group: `tp` Ray actors (one per GPU, or per CPU slot) in one STRICT_PACK placement
group, running one tensor-parallel engine; rank 0 takes the requests.

The owner checks `healthy()` (a dead rank, or a collective that failed or hung past its
timeout, makes the group unhealthy and fails its in-flight requests with an error delta) and
may `restart()` it: new actors in the same placement group. Rank 0 is a named actor (its name
from hybridserve.launch.naming), so a router with Ray discovery finds the group once it serves."""

from __future__ import annotations

import contextlib
import itertools
from typing import Any

import ray
from ray.util.placement_group import placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from hybridserve.launch import naming
from hybridserve.workers.engine.engine_config import EngineConfig
from hybridserve.workers.engine.outputs import TokenDelta
from hybridserve.workers.engine.sampling_params import SamplingParams
from hybridserve.workers.engine.stats import EngineStats
from hybridserve.workers.rank_worker import RankWorker

PLACEMENT_TIMEOUT_S = 120.0
STOP_SERVING_TIMEOUT_S = 10.0
_names = itertools.count()


class WorkerGroup:
    def __init__(self, cfg: EngineConfig, cpus_per_rank: int = 1, name: str | None = None) -> None:
        self.cfg = cfg
        self.name = name or f"group-{next(_names)}"
        self.cpus_per_rank = cpus_per_rank
        self.gpu = cfg.device == "cuda" or (cfg.device == "auto" and _cluster_has_gpus())
        bundle = {"CPU": cpus_per_rank, **({"GPU": 1} if self.gpu else {})}
        self.placement = placement_group([bundle] * cfg.tp, strategy="STRICT_PACK", name=self.name)
        ray.get(self.placement.ready(), timeout=PLACEMENT_TIMEOUT_S)
        self.actors: list[Any] = []
        self.actor_name = ""  # rank 0's Ray name (new at each spawn)
        self._runs: list[Any] = []
        self.address = ""  # rank 0's Worker service, once `serve()` ran
        self.metrics_url = ""  # rank 0's Prometheus endpoint, when served
        self._ports: tuple[int, int | None] = (0, None)
        self._spawn()

    # -- lifecycle -----------------------------------------------------------------------------
    def _spawn(self) -> None:
        actor_cls = ray.remote(RankWorker)
        self.actor_name = naming.new_actor_name(self.name)
        self.actors = [
            actor_cls.options(
                num_cpus=self.cpus_per_rank,
                num_gpus=1 if self.gpu else 0,
                max_concurrency=8,  # run() holds one thread; calls and pings use the others
                scheduling_strategy=PlacementGroupSchedulingStrategy(self.placement, rank),
                **({"name": self.actor_name, "namespace": naming.NAMESPACE} if rank == 0 else {}),
            ).remote(self.cfg, rank, self.cfg.tp, self.cpus_per_rank)
            for rank in range(self.cfg.tp)
        ]
        control, model = ray.get(self.actors[0].rendezvous.remote())
        ray.get([a.setup.remote(control, model) for a in self.actors])
        self._runs = [a.run.remote() for a in self.actors]

    def serve(self, port: int = 0, metrics_port: int | None = None) -> str:
        """Start rank 0's Worker gRPC service (for the router) on `port` (0: a free one) and,
        with `metrics_port`, its Prometheus /metrics; returns the Worker host:port. A restart
        serves both again on the same ports."""
        self._ports = (port, metrics_port)
        serving = self.actors[0].serve.remote(port, metrics_port=metrics_port)
        self.address, self.metrics_url = ray.get(serving)
        return self.address

    def healthy(self, timeout_s: float = 5.0) -> bool:
        """Every rank answers a ping within `timeout_s` and no rank's loop has ended."""
        done, _ = ray.wait(self._runs, num_returns=len(self._runs), timeout=0)
        if done:
            return False
        try:
            return all(ray.get([a.ping.remote() for a in self.actors], timeout=timeout_s))
        except (ray.exceptions.RayError, TimeoutError):
            return False

    def restart(self) -> None:
        """Kill every rank and start new ones in the same placement (fresh caches); a serving
        group serves again, on a new address."""
        serving = bool(self.address)
        self._kill()
        self._spawn()
        if serving:
            self.serve(*self._ports)

    def shutdown(self) -> None:
        try:
            ray.get(self.actors[0].shutdown.remote(), timeout=10)
            ray.wait(self._runs, num_returns=len(self._runs), timeout=10)
        except ray.exceptions.RayError:
            pass
        self._kill()
        remove_placement_group(self.placement)

    def _kill(self) -> None:
        """Kill the ranks; a live rank 0 first stops its front-end process, so a restart can
        serve on the same port (an orphaned front-end exits by itself, within a second)."""
        if self.actors:
            with contextlib.suppress(ray.exceptions.RayError, TimeoutError):
                ray.get(self.actors[0].stop_serving.remote(), timeout=STOP_SERVING_TIMEOUT_S)
        for actor in self.actors:
            ray.kill(actor)
        self.actors, self._runs = [], []

    # -- requests (rank 0) ---------------------------------------------------------------------
    def submit(self, prompt_ids: list[int], params: SamplingParams, rid: str) -> str:
        return ray.get(self.actors[0].submit.remote(prompt_ids, params, rid))

    def poll(self, timeout_s: float = 1.0) -> list[TokenDelta]:
        return ray.get(self.actors[0].poll.remote(timeout_s))

    def abort(self, rid: str) -> bool:
        return ray.get(self.actors[0].abort.remote(rid))

    def stop(self, rid: str, index: int) -> int:
        return ray.get(self.actors[0].stop.remote(rid, index))

    def stats(self) -> EngineStats:
        return ray.get(self.actors[0].stats.remote())


def _cluster_has_gpus() -> bool:
    return ray.cluster_resources().get("GPU", 0) > 0
