"""The Worker gRPC service over an engine: servicer, engine seam, KV-event publisher."""

from __future__ import annotations

from hybridserve.workers.service.engine_client import EngineClient, LocalEngineClient
from hybridserve.workers.service.engine_reads import EngineInfo, EngineReads
from hybridserve.workers.service.kv_publisher import KVEventPublisher
from hybridserve.workers.service.kv_state import WireEventBuilder
from hybridserve.workers.service.servicer import WorkerServicer

__all__ = [
    "EngineClient",
    "EngineInfo",
    "EngineReads",
    "KVEventPublisher",
    "LocalEngineClient",
    "WireEventBuilder",
    "WorkerServicer",
]
