"""Start worker groups on Ray and serve each one's Worker gRPC service."""

from __future__ import annotations

from typing import Any


def connect_ray(address: str | None, num_cpus: int) -> None:
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


def start_groups(options: dict[str, Any], count: int, port: int = 0) -> list[Any]:
    """`count` serving worker groups (the first on `port`, 0: free ports); their Worker
    addresses are `group.address`."""
    from hybridserve.workers.engine.engine_config import EngineConfig
    from hybridserve.workers.group import WorkerGroup

    groups = []
    for i in range(count):
        group = WorkerGroup(EngineConfig(**options))
        group.serve(port if i == 0 else 0)
        groups.append(group)
    return groups
