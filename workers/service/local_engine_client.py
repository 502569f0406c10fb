"""The Worker service's engine client for an engine in the same process (tests, benches)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

from hybridserve.v1 import kv_wire as wire
from hybridserve.workers.engine import AsyncEngine, EngineStats, SamplingParams, TokenDelta
from hybridserve.workers.service.engine_reads import EngineReads


class LocalEngineClient:
    """EngineClient over an in-process AsyncEngine (tests, single-process workers)."""

    def __init__(self, engine: AsyncEngine, model: str | None = None) -> None:
        self.engine = engine
        self.reads = EngineReads(engine.engine, model)
        self.info = self.reads.info

    def generate(
        self, prompt_ids: list[int], params: SamplingParams, rid: str
    ) -> AsyncIterator[TokenDelta]:
        return self.engine.generate(prompt_ids, params, rid)

    async def abort(self, rid: str) -> bool:
        return bool(await asyncio.wrap_future(self.engine.abort(rid)))

    @property
    def healthy(self) -> bool:
        return self.engine.healthy

    async def load(self) -> wire.LoadReport:
        return await self._on_engine(self.reads.load)

    async def stats(self) -> EngineStats:
        return await self._on_engine(self.reads.stats)

    async def drain_kv_events(self) -> list[wire.WireEvent]:
        return await self._on_engine(self.reads.drain_kv_events)

    async def kv_snapshot(self) -> tuple[list[wire.WireEvent], list[wire.WireEvent]]:
        return await self._on_engine(self.reads.kv_snapshot)

    async def _on_engine(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.wrap_future(self.engine.call(fn))
