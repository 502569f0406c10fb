"""The Worker gRPC service over an engine: servicer, engine clients, KV-event publisher.

Names are imported on first use: the front-end process needs none of the engine's torch code."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hybridserve.lazy import lazy_getattr

_HOMES = {
    "EngineClient": ".engine_client",
    "EngineInfo": ".engine_client",
    "EngineReads": ".engine_reads",
    "KVEventPublisher": ".kv_publisher",
    "LocalEngineClient": ".local_engine_client",
    "WireEventBuilder": ".kv_state",
    "WorkerServicer": ".servicer",
}
__all__ = [
    "EngineClient",
    "EngineInfo",
    "EngineReads",
    "KVEventPublisher",
    "LocalEngineClient",
    "WireEventBuilder",
    "WorkerServicer",
]

if TYPE_CHECKING:
    from hybridserve.workers.service.engine_client import EngineClient, EngineInfo
    from hybridserve.workers.service.engine_reads import EngineReads
    from hybridserve.workers.service.kv_publisher import KVEventPublisher
    from hybridserve.workers.service.kv_state import WireEventBuilder
    from hybridserve.workers.service.local_engine_client import LocalEngineClient
    from hybridserve.workers.service.servicer import WorkerServicer


__getattr__ = lazy_getattr(__name__, _HOMES)
