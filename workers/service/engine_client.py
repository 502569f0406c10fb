"""What the Worker gRPC service needs from an engine, and its in-process implementation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol

from hybridserve.v1 import kv_wire as wire
from hybridserve.workers.engine import AsyncEngine, EngineStats, SamplingParams, TokenDelta
from hybridserve.workers.service.kv_state import WireEventBuilder


@dataclass(frozen=True)
class EngineInfo:
    model: str
    max_model_len: int
    vocab_size: int
    page_size: int
    block_size: int  # tokens per KV-event block


class EngineClient(Protocol):
    """The engine seen by the Worker service (a worker group's rank 0 provides one).

    `generate` raises a typed error (hybridserve.errors) before its first delta for bad input;
    leaving its iteration early must abort the request and free its slots. A final delta may
    carry `error` (the group failed). The KV methods run on the engine's own thread so they see
    a consistent cache: `drain_kv_events` returns the wire events since the last drain;
    `kv_snapshot` returns (pending events, then a full snapshot) taken at one instant; `stats`
    returns the engine's counters (for the metrics layer).
    """

    info: EngineInfo

    def generate(
        self, prompt_ids: list[int], params: SamplingParams, rid: str
    ) -> AsyncIterator[TokenDelta]: ...

    def abort(self, rid: str) -> Any: ...

    @property
    def healthy(self) -> bool: ...

    async def load(self) -> wire.LoadReport: ...

    async def stats(self) -> EngineStats: ...

    async def drain_kv_events(self) -> list[wire.WireEvent]: ...

    async def kv_snapshot(self) -> tuple[list[wire.WireEvent], list[wire.WireEvent]]: ...


class LocalEngineClient:
    """EngineClient over an in-process AsyncEngine (tests, single-process workers)."""

    def __init__(self, engine: AsyncEngine, model: str | None = None) -> None:
        self.engine = engine
        inner = engine.engine
        self._events = WireEventBuilder(inner.tree)
        self.info = EngineInfo(
            model=model or inner.cfg.model,
            max_model_len=inner.max_model_len,
            vocab_size=inner.model_config.vocab_size,
            page_size=inner.cfg.page_size,
            block_size=inner.tree.event_block_size,
        )

    def generate(
        self, prompt_ids: list[int], params: SamplingParams, rid: str
    ) -> AsyncIterator[TokenDelta]:
        return self.engine.generate(prompt_ids, params, rid)

    def abort(self, rid: str) -> Any:
        return self.engine.abort(rid)

    @property
    def healthy(self) -> bool:
        return bool(getattr(self.engine, "healthy", True))

    async def load(self) -> wire.LoadReport:
        return await self._on_engine(self._load)

    async def stats(self) -> EngineStats:
        return await self._on_engine(self.engine.engine.stats)

    async def drain_kv_events(self) -> list[wire.WireEvent]:
        return await self._on_engine(self._drain)

    async def kv_snapshot(self) -> tuple[list[wire.WireEvent], list[wire.WireEvent]]:
        return await self._on_engine(lambda: (self._drain(), self._events.snapshot()))

    async def _on_engine(self, fn: Any) -> Any:
        return await asyncio.wrap_future(self.engine.call(fn))

    def _drain(self) -> list[wire.WireEvent]:
        return self._events.convert(self.engine.engine.tree.events.drain())

    def _load(self) -> wire.LoadReport:
        inner = self.engine.engine
        stats, sched = inner.stats(), inner.scheduler
        queued = sum(len(r.prompt_ids) - r.num_processed for r in sched.waiting)
        queued += sum(len(r.prompt_ids) - r.num_processed for r in sched.running if r.in_prefill)
        return wire.LoadReport(
            running=stats.running,
            waiting=stats.waiting,
            queued_prompt_tokens=queued,
            free_kv_pages=stats.kv_pages_total - stats.kv_pages_used,
            total_kv_pages=stats.kv_pages_total,
            free_state_slots=stats.state_slots_total - stats.state_slots_used,
            total_state_slots=stats.state_slots_total,
            cached_pages=stats.cached_pages,
            cached_snapshots=stats.cached_snapshots,
        )
