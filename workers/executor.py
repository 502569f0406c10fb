"""The seam between the offline API and where the engine runs: in this process (tp=1), or as a
Ray worker group (any tp). Both speak submit / poll / abort / stop / stats."""

from __future__ import annotations

from typing import Protocol

from hybridserve.workers.engine.engine import Engine
from hybridserve.workers.engine.engine_config import EngineConfig
from hybridserve.workers.engine.outputs import TokenDelta
from hybridserve.workers.engine.sampling_params import SamplingParams
from hybridserve.workers.engine.stats import EngineStats


class Executor(Protocol):
    def submit(self, prompt_ids: list[int], params: SamplingParams, rid: str) -> str: ...
    def poll(self, timeout_s: float = 1.0) -> list[TokenDelta]: ...
    def abort(self, rid: str) -> bool: ...
    def stop(self, rid: str, index: int) -> int: ...
    def stats(self) -> EngineStats: ...
    def shutdown(self) -> None: ...


class InProcessExecutor:
    """Runs the engine on the caller's thread: `poll` is one engine step."""

    def __init__(self, cfg: EngineConfig) -> None:
        self.engine = Engine(cfg)

    def submit(self, prompt_ids: list[int], params: SamplingParams, rid: str) -> str:
        return self.engine.add_request(prompt_ids, params, rid)

    def poll(self, timeout_s: float = 1.0) -> list[TokenDelta]:
        return self.engine.step()

    def abort(self, rid: str) -> bool:
        return self.engine.abort(rid)

    def stop(self, rid: str, index: int) -> int:
        return self.engine.stop(rid, index)

    def stats(self) -> EngineStats:
        return self.engine.stats()

    def shutdown(self) -> None:
        pass


def create_executor(
    cfg: EngineConfig, use_ray: bool | None = None, ray_address: str | None = None
) -> Executor:
    """In-process for tp=1 unless `use_ray` or `ray_address`; a Ray worker group otherwise, on
    the cluster at `ray_address` (e.g. KubeRay's head) or on a local Ray started here."""
    if not (use_ray or ray_address or cfg.tp > 1):
        return InProcessExecutor(cfg)
    import ray

    from hybridserve.workers.group import WorkerGroup

    if not ray.is_initialized():
        if ray_address:
            ray.init(address=ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=max(cfg.tp, 2), include_dashboard=False, log_to_driver=False)
    return WorkerGroup(cfg)
