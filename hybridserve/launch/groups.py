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


def start_groups(
    options: dict[str, Any], ports: list[int], metrics_ports: list[int | None]
) -> list[Any]:
    """One serving worker group per entry of `ports` (0: a free port), each with Prometheus
    metrics on its `metrics_ports` entry (None: not served)."""
    from hybridserve.workers.engine.engine_config import EngineConfig
    from hybridserve.workers.group import WorkerGroup

    groups = []
    for port, metrics_port in zip(ports, metrics_ports):
        group = WorkerGroup(EngineConfig(**options))
        group.serve(port, metrics_port)
        groups.append(group)
    return groups


def capacity_line(index: int, stats: Any, options: dict[str, Any]) -> str:
    """What group `index` can hold (from its EngineStats): the first thing to read when
    requests queue or get preempted."""
    tokens = stats.kv_pages_total * options["page_size"]
    slots, running = stats.state_slots_total, options["max_running_requests"]
    line = (
        f"hybridserve: group {index}: KV cache {tokens} tokens, {slots} Mamba state slots, "
        f"up to {running} running requests"
    )
    if slots < running:  # each running request holds one slot
        line += f" (at most {slots} at once: raise --max-mamba-cache-size)"
    return line
