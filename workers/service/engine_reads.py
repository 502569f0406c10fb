"""What the Worker service reads from an engine (its info, load, stats, KV events), as functions
to run on the engine's own thread so they see a consistent cache. Both engine clients, in-process
and across the process split, run these."""

from __future__ import annotations

from hybridserve.v1 import kv_wire as wire
from hybridserve.workers.engine import Engine, EngineStats
from hybridserve.workers.service.engine_client import EngineInfo
from hybridserve.workers.service.kv_state import WireEventBuilder


class EngineReads:
    """Reads of one engine; every method but the constructor runs on the engine thread."""

    def __init__(self, engine: Engine, model: str | None = None) -> None:
        self.engine = engine
        self._events = WireEventBuilder(engine.tree)
        self.info = EngineInfo(
            model=model or engine.cfg.model,
            max_model_len=engine.max_model_len,
            vocab_size=engine.model_config.vocab_size,
            page_size=engine.cfg.page_size,
            block_size=engine.tree.event_block_size,
        )

    def ping(self) -> bool:
        return True

    def stats(self) -> EngineStats:
        return self.engine.stats()

    def drain_kv_events(self) -> list[wire.WireEvent]:
        """The wire events since the last drain."""
        return self._events.convert(self.engine.tree.events.drain())

    def kv_snapshot(self) -> tuple[list[wire.WireEvent], list[wire.WireEvent]]:
        """(pending events, then a full snapshot), taken at one instant."""
        return self.drain_kv_events(), self._events.snapshot()

    def load(self) -> wire.LoadReport:
        stats, sched = self.engine.stats(), self.engine.scheduler
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
