"""Start N local processes (one per rank) for CPU gloo tests, and always clean them up."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port the OS reports free (bound to port 0, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_ranks(target: Callable[..., Any], world: int, *args: Any, timeout_s: float = 60) -> None:
    """Run `target(rank, world, port, *args)` in `world` spawned processes; raise if any rank
    fails or outlives `timeout_s`. `target` must be importable (a module-level function)."""
    ctx = mp.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=target, args=(r, world, port, *args)) for r in range(world)]
    try:
        for p in procs:
            p.start()
        for p in procs:
            p.join(timeout_s)
        hung = [r for r, p in enumerate(procs) if p.is_alive()]
        failed = [(r, p.exitcode) for r, p in enumerate(procs) if p.exitcode not in (0, None)]
        if hung or failed:
            raise AssertionError(f"ranks failed (rank, exit code): {failed}; hung: {hung}")
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
                p.join()
