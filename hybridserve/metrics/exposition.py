"""Serving /metrics: one process, or several forked ones in prometheus_client multiprocess mode.

Multiprocess mode: when a component forks (uvicorn/gunicorn workers), the launcher sets
PROMETHEUS_MULTIPROC_DIR to an empty writable folder *before* prometheus_client is imported; each
process then writes its samples to mmap files there, and /metrics must be rendered from
`exposition_registry(...)`, which aggregates all files. Gauges aggregate by their spec's
`gauge_mode` (live* modes drop processes that have exited). Call
`prometheus_client.multiprocess.mark_process_dead(pid)` when a child exits.
"""

from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiproc_dir(environ: Mapping[str, str]) -> str | None:
    """The multiprocess folder named by the environment, or None in single-process mode."""
    return environ.get(MULTIPROC_ENV) or None


def exposition_registry(registry: CollectorRegistry, multiproc: str | None) -> CollectorRegistry:
    """The registry to render: `registry` itself, or a fresh one aggregating every process."""
    if multiproc is None:
        return registry
    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=multiproc)
    return merged


def render(registry: CollectorRegistry, multiproc: str | None = None) -> tuple[bytes, str]:
    """(body, content type) of a /metrics response."""
    return generate_latest(exposition_registry(registry, multiproc)), CONTENT_TYPE_LATEST
