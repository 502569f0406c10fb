"""What the Worker gRPC service needs from an engine (torch-free: the front-end process uses it)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from hybridserve.v1 import kv_wire as wire
from hybridserve.workers.engine.outputs import TokenDelta
from hybridserve.workers.engine.sampling_params import SamplingParams
from hybridserve.workers.engine.stats import EngineStats


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
    carry `error` (the group failed). The reads are `EngineReads`' methods, run on the engine's
    thread; `stats` returns the engine's counters (for the metrics layer).
    """

    info: EngineInfo

    def generate(
        self, prompt_ids: list[int], params: SamplingParams, rid: str
    ) -> AsyncIterator[TokenDelta]: ...

    async def abort(self, rid: str) -> bool: ...

    @property
    def healthy(self) -> bool: ...

    async def load(self) -> wire.LoadReport: ...

    async def stats(self) -> EngineStats: ...

    async def drain_kv_events(self) -> list[wire.WireEvent]: ...

    async def kv_snapshot(self) -> tuple[list[wire.WireEvent], list[wire.WireEvent]]: ...
