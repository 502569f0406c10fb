"""One simulated worker group: the real scheduler, cache manager and radix cache, timed by a model.

`SimGroup.step()` is `Engine.step()` with the forward and the sampler replaced: the step costs
`step_s + prefill_s * prefill tokens + decode_s * decode tokens` of virtual time, and a chunk that
ends its input "samples" the request's next scripted output token. Everything else is the
engine's: admission and prefix match (CacheManager.admit), chunked prefill on the snapshot grid,
Mamba-state snapshots, LRU eviction of KV pages and states, retraction under memory pressure, and
the radix cache's KV events, converted to wire events by the worker's WireEventBuilder.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from hybridserve.v1 import kv_wire as wire
from hybridserve.workers.cache import HybridRadixCache, KVPagePool, MambaStatePool
from hybridserve.workers.engine.cache_manager import CacheManager
from hybridserve.workers.engine.request import FinishReason, Request
from hybridserve.workers.engine.sampling_params import SamplingParams
from hybridserve.workers.engine.scheduler import Scheduler
from hybridserve.workers.service import WireEventBuilder


@dataclass(frozen=True)
class SimGroupConfig:
    kv_pages: int = 12_000  # page size 1 (the engine's default): tokens of KV per group
    state_slots: int = 256
    block_size: int = 16  # KV event block (the engine's EVENT_BLOCK_TOKENS)
    grid: int = 64  # snapshot grid / scan chunk
    checkpoint_interval: int = 256  # tokens; no model here to size the engine's auto interval
    chunked_prefill_size: int = 512
    max_running: int = 64
    step_s: float = 2e-3  # fixed cost of one forward
    prefill_s: float = 2e-5  # per prefill token
    decode_s: float = 1e-4  # per decode token (batched)


class _NoBuffers:
    """The time model holds no tensors: copying a KV span or a Mamba state is free."""

    def copy_state(self, src: int, dst: int) -> None:
        pass

    def copy_kv(self, src: list[int], dst: list[int]) -> None:
        pass


@dataclass
class Finished:
    """What the router learns from a group's stream: first token and end of a request."""

    rid: str
    first_token: bool = False
    done: bool = False
    generated: int = 0


@dataclass
class SimGroup:
    gid: str
    cfg: SimGroupConfig
    clock: float = 0.0
    prompt_tokens: int = 0
    cached_tokens: int = 0
    _scripts: dict[str, list[int]] = field(default_factory=dict)
    _arrivals: itertools.count = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        cfg = self.cfg
        self.kv_pool = KVPagePool(cfg.kv_pages, 1)
        self.state_pool = MambaStatePool(cfg.state_slots)
        self.tree = HybridRadixCache(1, self.kv_pool, self.state_pool, cfg.block_size)
        self.cache = CacheManager(
            _NoBuffers(),  # type: ignore[arg-type]
            self.kv_pool,
            self.state_pool,
            self.tree,
            cfg.grid,
        )
        self.scheduler = Scheduler(
            self.cache,
            cfg.grid,
            cfg.chunked_prefill_size,
            cfg.max_running,
            cfg.checkpoint_interval,
        )
        self.events = WireEventBuilder(self.tree)

    @property
    def num_requests(self) -> int:
        return len(self.scheduler.running) + len(self.scheduler.waiting)

    def add(self, rid: str, prompt: list[int], output: list[int], now: float) -> None:
        params = SamplingParams(max_tokens=len(output), ignore_eos=True)
        req = Request(rid, list(prompt), params)
        req.arrival = next(self._arrivals)
        self._scripts[rid] = output
        if not self.scheduler.running and not self.scheduler.waiting:
            self.clock = max(self.clock, now)  # an idle group starts when the request arrives
        self.scheduler.add(req)

    def has_work(self) -> bool:
        return self.num_requests > 0

    def step(self) -> list[Finished]:
        """One engine step in virtual time; returns the stream events it produced."""
        batch = self.scheduler.schedule()
        if batch is None:
            return []
        cfg, out = self.cfg, []
        prefill = sum(len(c.slots) for c in batch.chunks if c.start < len(c.req.prompt_ids))
        decode = sum(len(c.slots) for c in batch.chunks) - prefill
        self.clock += cfg.step_s + cfg.prefill_s * prefill + cfg.decode_s * decode
        for chunk in batch.chunks:
            req = chunk.req
            req.num_processed = chunk.end
            req.computed_tokens += len(chunk.slots)
            if not req.counted:
                req.counted = True
                self.prompt_tokens += len(req.prompt_ids)
                self.cached_tokens += req.cached_tokens
            for pos, slot in chunk.snapshots:
                self.cache.cache_prefix(req, pos, slot)
            if not chunk.wants_logits:
                continue
            script = self._scripts[req.rid]
            req.output_ids.append(script[len(req.output_ids)])
            event = Finished(req.rid, first_token=len(req.output_ids) == 1, generated=1)
            if len(req.output_ids) >= len(script):
                req.finish_reason = FinishReason.LENGTH
                self.scheduler.finish(req)
                del self._scripts[req.rid]
                event.done = True
            out.append(event)
        return out

    def drain_events(self) -> list[wire.WireEvent]:
        return self.events.convert(self.tree.events.drain())
