"""Continuous batching: each step mixes decode tokens and prefill chunks under a token budget.

Running requests go first (oldest first; a decode token is always scheduled, prefill chunks
spend the budget), then waiting requests are admitted FCFS while budget, memory and
`max_running_requests` allow; the batch lists its decode rows first, so the layers run them
through the decode kernels together. A prefill chunk that stops before the end of its input ends
on the snapshot grid, so a Mamba state can be saved wherever a later request may branch; prefills
also save a state every `checkpoint_interval` tokens (a grid multiple, 0: off). A request whose
tokens still on the device (overlap scheduling) reach its length limit gets no row. When memory
runs out the newest running request is retracted (it keeps nothing but what the radix cache
holds) and resumes later.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass, field

from hybridserve.workers.engine.cache_manager import CacheManager
from hybridserve.workers.engine.request import FinishReason, Request


@dataclass
class ScheduledChunk:
    req: Request
    start: int  # first token position of the chunk
    slots: list[int]  # KV slots of the chunk's tokens
    snapshots: list[tuple[int, int]] = field(default_factory=list)  # (position, state slot)
    end: int = field(init=False)
    wants_logits: bool = field(init=False)  # it ends the input (as scheduled: the request grows)

    def __post_init__(self) -> None:
        self.end = self.start + len(self.slots)
        self.wants_logits = self.end == self.req.num_tokens

    @property
    def is_decode(self) -> bool:
        """One token over a cached context, ending the input, saving no snapshot."""
        return len(self.slots) == 1 and self.start > 0 and self.wants_logits and not self.snapshots


@dataclass
class ScheduledBatch:
    chunks: list[ScheduledChunk]

    @functools.cached_property
    def is_decode(self) -> bool:
        """Every chunk is a decode row (read by the runner and the step counters)."""
        return all(c.is_decode for c in self.chunks)


class Scheduler:
    def __init__(
        self,
        cache: CacheManager,
        grid: int,
        chunked_prefill_size: int,
        max_running_requests: int,
        max_model_len: int,
        checkpoint_interval: int = 0,
    ) -> None:
        self.cache = cache
        self.max_model_len = max_model_len
        self.grid = grid
        self.checkpoint_interval = checkpoint_interval
        self.budget = max(grid, chunked_prefill_size // grid * grid)
        self.max_running = max_running_requests
        self.waiting: deque[Request] = deque()
        self.running: list[Request] = []
        self.preemptions = 0
        self._retracted: set[int] = set()  # ids of the requests retracted by this schedule()

    def add(self, req: Request) -> None:
        self.waiting.append(req)

    def abort(self, req: Request) -> None:
        """Remove `req` wherever it is and release every slot it holds."""
        if req in self.waiting:
            self.waiting.remove(req)
        if req in self.running:
            self.running.remove(req)
        self.cache.release(req)
        req.finish_reason = FinishReason.ABORT

    def finish(self, req: Request) -> None:
        if req in self.running:
            self.running.remove(req)
            self.cache.finish(req)
        else:  # retracted while its last token was on the device (overlap): it holds nothing
            self.waiting.remove(req)

    # -- building a step -----------------------------------------------------------------------
    def schedule(self) -> ScheduledBatch | None:
        chunks: list[ScheduledChunk] = []
        budget = self.budget
        self._retracted.clear()
        for req in sorted(self.running, key=lambda r: r.arrival):
            if id(req) in self._retracted or req.ends_on_pending(self.max_model_len):
                continue
            n = 1 if req.remaining == 1 else self._chunk_len(req, budget)
            if n == 0:
                continue
            if not self._reserve_or_retract(req, n, chunks):
                continue
            budget -= n if n > 1 else 0
            chunks.append(self._chunk(req, n))
        while self.waiting and budget > 0 and len(self.running) < self.max_running:
            req = self.waiting[0]
            if req.pending:  # retracted with a token still on the device: next step
                break
            if not self.cache.admit(req):
                break
            n = self._chunk_len(req, budget)
            if n == 0 or not self.cache.reserve(req, n):
                self.cache.release(req)
                break
            self.waiting.popleft()
            self.running.append(req)
            budget -= n
            chunks.append(self._chunk(req, n))
        chunks.sort(key=lambda c: not c.is_decode)  # decode rows first (ForwardBatch.num_decode)
        return ScheduledBatch(chunks) if chunks else None

    def _chunk_len(self, req: Request, budget: int) -> int:
        take = min(req.remaining, budget)
        if take < req.remaining:  # a cut chunk ends on the snapshot grid
            take = (req.num_processed + take) // self.grid * self.grid - req.num_processed
        return max(take, 0)

    def _reserve_or_retract(self, req: Request, n: int, chunks: list[ScheduledChunk]) -> bool:
        if self.cache.reserve(req, n):
            return True
        scheduled = {id(c.req) for c in chunks}
        while not self.cache.reserve(req, n):
            victims = [r for r in self.running if id(r) not in scheduled and r is not req]
            victim = max(victims, key=lambda r: r.arrival) if victims else req
            self._retract(victim)
            if victim is req:
                return False
        return True

    def _retract(self, req: Request) -> None:
        self._retracted.add(id(req))
        self.running.remove(req)
        self.cache.release(req)
        self.waiting.appendleft(req)
        self.preemptions += 1

    def _chunk(self, req: Request, n: int) -> ScheduledChunk:
        start, end = req.num_processed, req.num_processed + n
        if n == 1 and req.snapshot_at is None and not req.in_prefill and end == req.num_tokens:
            return ScheduledChunk(req, start, self.cache.assign_slots(req, 1))  # decode: no points
        positions = set()
        if end < req.num_tokens:
            positions.add(end)
        elif req.in_prefill and (end - 1) // self.grid * self.grid > start:
            # the last grid point a repeat of this prompt can use (its last token always runs)
            positions.add((end - 1) // self.grid * self.grid)
        if req.snapshot_at is not None and start < req.snapshot_at <= end:
            positions.add(req.snapshot_at)
        every = self.checkpoint_interval
        if every and req.in_prefill:
            positions.update(range((start // every + 1) * every, end + 1, every))
        chunk = ScheduledChunk(req, start, self.cache.assign_slots(req, n))
        for pos in sorted(positions):
            if pos % self.cache.page_size == 0 and pos > req.tree_len:
                slot = self.cache.alloc_snapshot()
                if slot is not None:
                    chunk.snapshots.append((pos, slot))
        return chunk
