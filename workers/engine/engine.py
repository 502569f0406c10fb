"""The engine of one rank: `step()` = schedule -> run the model -> sample and update requests."""

from __future__ import annotations

import dataclasses
import itertools
import time

from hybridserve.errors import (
    ConfigError,
    ContextLengthExceededError,
    InvalidRequestError,
    QueueFullError,
)
from hybridserve.kernels.host_copy import select_rows
from hybridserve.workers.cache import HybridRadixCache, KVPagePool, MambaStatePool
from hybridserve.workers.cache.events import DiscardingOutbox
from hybridserve.workers.distributed import ParallelContext
from hybridserve.workers.engine.cache_manager import CacheManager
from hybridserve.workers.engine.decode_graphs import DecodeGraphs
from hybridserve.workers.engine.engine_config import EngineConfig
from hybridserve.workers.engine.memory import cache_budget_bytes, plan_pools
from hybridserve.workers.engine.model_runner import ModelRunner
from hybridserve.workers.engine.outputs import TokenDelta
from hybridserve.workers.engine.overlap import InFlight, overlappable
from hybridserve.workers.engine.request import FinishReason, Request
from hybridserve.workers.engine.sampler import SampleOutput, Sampler
from hybridserve.workers.engine.sampling_params import SamplingParams, derive_seed
from hybridserve.workers.engine.scheduler import ScheduledBatch, Scheduler
from hybridserve.workers.engine.stats import EngineStats
from hybridserve.workers.engine.warmup import warm_up
from hybridserve.workers.models import HybridCacheBuffers, load_model, resolve_config

EVENT_BLOCK_TOKENS = 16  # KV events report blocks of at least this many tokens


class Engine:
    def __init__(self, cfg: EngineConfig, parallel: ParallelContext | None = None) -> None:
        """`parallel` is this rank's place in its worker group (required when cfg.tp > 1)."""
        parallel = parallel or ParallelContext()
        if (parallel.tp_size, parallel.ep_size) != (cfg.tp, cfg.resolved_ep()):
            raise ConfigError(
                f"tp: the engine is configured for tp={cfg.tp}, ep={cfg.resolved_ep()} but runs "
                f"as a rank of tp={parallel.tp_size}, ep={parallel.ep_size} (tp > 1 needs a "
                "worker group that gives each rank its ParallelContext)"
            )
        self.cfg = cfg
        config = resolve_config(cfg.model)
        self.model_config = config
        self.device = cfg.resolved_device()
        dtype = cfg.resolved_dtype(config.torch_dtype)
        self.model = load_model(cfg.model, cfg.load_format, dtype, self.device, cfg.seed, parallel)
        self.max_model_len = cfg.max_model_len or config.max_position_embeddings
        ssm_dtype = cfg.resolved_ssm_dtype(config.mamba_ssm_cache_dtype)
        shapes = self.model.cache_shapes()
        budget = cache_budget_bytes(cfg, self.device)
        pages, states = plan_pools(cfg, shapes, dtype, ssm_dtype, budget, self.max_model_len)
        self.buffers = HybridCacheBuffers(
            shapes, (pages + 1) * cfg.page_size, states + 1, dtype, ssm_dtype, self.device
        )
        self.kv_pool = KVPagePool(pages, cfg.page_size)
        self.state_pool = MambaStatePool(states)
        block = max(cfg.page_size, EVENT_BLOCK_TOKENS // cfg.page_size * cfg.page_size)
        self.tree = HybridRadixCache(cfg.page_size, self.kv_pool, self.state_pool, block)
        if parallel.tp_rank != 0:  # only rank 0 publishes KV events
            self.tree.events = DiscardingOutbox()
        self.grid = cfg.resolved_snapshot_interval(config.chunk_size)
        self.cache = CacheManager(self.buffers, self.kv_pool, self.state_pool, self.tree, self.grid)
        self.scheduler = Scheduler(
            self.cache,
            self.grid,
            cfg.resolved_chunked_prefill_size(),
            cfg.max_running_requests,
            self.max_model_len,
            cfg.resolved_checkpoint_interval(
                self.grid,
                shapes.state_bytes_per_slot(dtype, ssm_dtype)
                / max(1, shapes.kv_bytes_per_slot(dtype)),
            ),
        )
        self.sampler = Sampler(config.eos_token_ids, seed=cfg.seed)
        graphs = None
        if self.device.type == "cuda" and parallel.tp_size == 1 and cfg.cuda_graph_max_bs > 0:
            max_bs = min(cfg.cuda_graph_max_bs, cfg.max_running_requests)
            kv_slots = (pages + 1) * cfg.page_size
            graphs = DecodeGraphs(self.model, self.buffers, self.device, max_bs, kv_slots)
        self.runner = ModelRunner(self.model, self.buffers, self.device, graphs)
        self.requests: dict[str, list[Request]] = {}
        self._ids = itertools.count()
        self._arrivals = itertools.count()
        self.reset_counters()
        self._inflight: InFlight | None = None  # overlap scheduling: the step not read back
        if cfg.warmup and self.device.type == "cuda":  # no JIT on the CPU path
            warm_up(self)

    def reset_counters(self) -> None:
        self._counters = dict(prompt=0, cached=0, computed=0, generated=0, steps=0, decode_steps=0)
        self._seconds = dict(step=0.0, device_wait=0.0, decode_step=0.0)
        self._last_step = 0.0
        self.scheduler.preemptions = 0

    # -- requests ------------------------------------------------------------------------------
    def add_request(
        self, prompt_ids: list[int], params: SamplingParams, rid: str | None = None
    ) -> str:
        """Queue a request (its `n` samples); raises a typed error for bad input."""
        rid = rid if rid is not None else f"req-{next(self._ids)}"
        self._validate(rid, prompt_ids, params)
        samples = [
            Request(rid, list(prompt_ids), _sample_params(params, i), index=i)
            for i in range(params.n)
        ]
        leader = samples[0]
        leader.arrival = next(self._arrivals)
        leader.siblings = samples[1:]
        self.requests[rid] = samples
        self.scheduler.add(leader)
        return rid

    def abort(self, rid: str) -> bool:
        """Abort every sample of `rid`, releasing all it holds; False if it is unknown/done."""
        samples = self.requests.pop(rid, None)
        if samples is None:
            return False
        for req in samples:
            if not req.finished:
                self.scheduler.abort(req)
        return True

    def stop(self, rid: str, index: int) -> int:
        """Finish one sample early (a stop string matched on text), keeping its cache; returns
        the tokens it ran through the model."""
        computed = 0
        for req in self.requests.get(rid, []):
            if req.index == index and not req.finished:
                req.finish_reason = FinishReason.STOP
                if req in self.scheduler.running:
                    self.scheduler.finish(req)
                else:
                    self.scheduler.abort(req)
                    req.finish_reason = FinishReason.STOP
                computed = req.computed_tokens
        self._forget_if_done(rid)
        return computed

    def has_work(self) -> bool:
        return bool(self.scheduler.waiting or self.scheduler.running or self._inflight)

    # -- one step ------------------------------------------------------------------------------
    def step(self) -> list[TokenDelta]:
        """Schedule, run and sample one step; returns the tokens it produced, or with overlap
        scheduling (`EngineConfig.overlap_schedule`) those of the step before (overlap.py)."""
        began = time.perf_counter()
        batch = self.scheduler.schedule()
        if batch is None:
            return self._read_back()
        overlap = self.cfg.overlap_schedule and overlappable(batch)
        deltas = [] if overlap else self._read_back()
        if deltas:  # requests that finished just now were scheduled again: drop them
            assert not any(c.snapshots for c in batch.chunks if c.req.finished)
            batch = ScheduledBatch([c for c in batch.chunks if not c.req.finished])
            if not batch.chunks:
                return deltas
        previous = self._inflight.tokens if self._inflight is not None else None
        logits = self.runner.forward(batch, previous)
        rows, row_logits = self._advance(batch)
        args = (
            select_rows(logits, row_logits),
            [r.params for r in rows],
            [r.prompt_ids for r in rows],
            [r.output_ids for r in rows],
            [len(r.output_ids) + r.pending for r in rows],
        )
        if overlap:
            launched = InFlight.launch(rows, self.sampler.sample_tokens(*args))
            deltas = self._read_back()  # the previous step's tokens, while this one runs
            self._inflight = launched
        else:
            waited = time.perf_counter()
            out = self.sampler.sample(*args)  # reads the tokens back: waits for the device
            self._seconds["device_wait"] += time.perf_counter() - waited
            deltas += [self._append(req, i, out) for i, req in enumerate(rows)]
            self._forget_finished(deltas)
        self._count_step(time.perf_counter() - began, batch.is_decode)
        return deltas

    def _count_step(self, seconds: float, decode: bool) -> None:
        self._counters["steps"] += 1
        self._seconds["step"] += seconds
        if decode:
            self._counters["decode_steps"] += 1
            self._seconds["decode_step"] += seconds
        self._last_step = seconds

    def _advance(self, batch: ScheduledBatch) -> tuple[list[Request], list[int]]:
        """Move the batch's requests past their chunks; returns the rows to sample (a request
        and the siblings it forks) and each one's row of the logits."""
        rows: list[Request] = []
        row_logits: list[int] = []
        logits_row = -1  # the forward returns one row per chunk that wants logits, in order
        for chunk in batch.chunks:
            req = chunk.req
            req.num_processed = chunk.end
            req.computed_tokens += len(chunk.slots)
            self._counters["computed"] += len(chunk.slots)
            if not req.counted and req.index == 0:
                req.counted = True
                self._counters["prompt"] += len(req.prompt_ids)
                self._counters["cached"] += req.cached_tokens
            for pos, slot in chunk.snapshots:
                self.cache.cache_prefix(req, pos, slot)
            if chunk.wants_logits:
                logits_row += 1
                for r in (req, *self._fork_siblings(req)):
                    rows.append(r)
                    row_logits.append(logits_row)
        return rows, row_logits

    def _read_back(self) -> list[TokenDelta]:
        """Append the in-flight step's tokens to its requests (none: nothing to do); rows of
        requests that finished or were aborted meanwhile are dropped."""
        launched, self._inflight = self._inflight, None
        if launched is None:
            return []
        waited = time.perf_counter()
        token_ids = launched.token_ids()  # waits for the step that sampled them, if still running
        self._seconds["device_wait"] += time.perf_counter() - waited
        out = SampleOutput(token_ids, None, None)
        deltas = [
            self._append(req, i, out) for i, req in enumerate(launched.rows) if not req.finished
        ]
        self._forget_finished(deltas)
        return deltas

    def _forget_finished(self, deltas: list[TokenDelta]) -> None:
        for rid in {d.rid for d in deltas if d.finish_reason is not None}:
            self._forget_if_done(rid)

    def _fork_siblings(self, leader: Request) -> list[Request]:
        forked = []
        for sib in leader.siblings:
            sib.arrival = next(self._arrivals)
            if self.cache.fork(leader, sib):
                self.scheduler.running.append(sib)
                forked.append(sib)
            else:  # memory is short: it will be admitted normally (prefix-cache hit)
                self.scheduler.add(sib)
        leader.siblings = []
        return forked

    def _append(self, req: Request, row: int, out: SampleOutput) -> TokenDelta:
        token = out.token_ids[row]
        req.output_ids.append(token)
        self._counters["generated"] += 1
        delta = TokenDelta(
            req.rid,
            req.index,
            [token],
            prompt_tokens=len(req.prompt_ids),
            cached_tokens=req.cached_tokens,
        )
        if out.logprobs is not None and req.params.logprobs:
            req.output_logprobs.append(out.logprobs[row])
            req.output_top_logprobs.append(out.top_logprobs[row])
            delta.logprobs, delta.top_logprobs = [out.logprobs[row]], [out.top_logprobs[row]]
        reason = self._stop_reason(req, token)
        if reason is not None:
            req.finish_reason = delta.finish_reason = reason
            delta.computed_tokens = req.computed_tokens
            self.scheduler.finish(req)
        return delta

    def _stop_reason(self, req: Request, token: int) -> FinishReason | None:
        p = req.params
        n_out = len(req.output_ids)
        if n_out >= p.min_tokens and (
            (not p.ignore_eos and token in self.model_config.eos_token_ids)
            or token in p.stop_token_ids
        ):
            return FinishReason.STOP
        if req.reaches_length(n_out, self.max_model_len):
            return FinishReason.LENGTH
        return None

    def _forget_if_done(self, rid: str) -> None:
        samples = self.requests.get(rid)
        if samples is not None and all(r.finished for r in samples):
            del self.requests[rid]

    def _validate(self, rid: str, prompt_ids: list[int], params: SamplingParams) -> None:
        vocab = self.model_config.vocab_size
        if rid in self.requests:
            raise InvalidRequestError(f"request id {rid!r} is already in use")
        if not prompt_ids:
            raise InvalidRequestError("prompt: must contain at least one token")
        bad = [t for t in prompt_ids if not 0 <= t < vocab]
        if bad:
            raise InvalidRequestError(f"prompt: token id {bad[0]} is outside [0, {vocab})")
        params.validate(vocab)
        limit = self.max_model_len
        if len(prompt_ids) >= limit:
            raise ContextLengthExceededError(
                f"prompt has {len(prompt_ids)} tokens; this model's context is {limit} tokens"
            )
        if params.max_tokens is not None and len(prompt_ids) + params.max_tokens > limit:
            raise ContextLengthExceededError(
                f"prompt ({len(prompt_ids)} tokens) + max_tokens ({params.max_tokens}) exceeds "
                f"this model's context of {limit} tokens"
            )
        capacity = self.kv_pool.num_total * self.cfg.page_size
        if len(prompt_ids) + (params.max_tokens or 0) > capacity:
            raise ContextLengthExceededError(
                f"prompt + max_tokens ({len(prompt_ids)} + {params.max_tokens}) exceeds the KV "
                f"cache of this worker ({capacity} tokens)"
            )
        if len(self.scheduler.waiting) >= self.cfg.max_waiting_requests:
            raise QueueFullError(f"{len(self.scheduler.waiting)} requests are already waiting")

    # -- counters ------------------------------------------------------------------------------
    def stats(self) -> EngineStats:
        c = self._counters
        return EngineStats(
            running=len(self.scheduler.running),
            waiting=len(self.scheduler.waiting),
            kv_pages_used=self.kv_pool.num_total - self.kv_pool.num_free,
            kv_pages_total=self.kv_pool.num_total,
            state_slots_used=self.state_pool.num_total - self.state_pool.num_free,
            state_slots_total=self.state_pool.num_total,
            cached_pages=self.tree.total_cached_pages,
            cached_snapshots=self.tree.num_state_snapshots,
            prompt_tokens=c["prompt"],
            cached_prompt_tokens=c["cached"],
            computed_tokens=c["computed"],
            generated_tokens=c["generated"],
            preemptions=self.scheduler.preemptions,
            steps=c["steps"],
            last_step_seconds=self._last_step,
            step_seconds=self._seconds["step"],
            device_wait_seconds=self._seconds["device_wait"],
            decode_steps=c["decode_steps"],
            decode_step_seconds=self._seconds["decode_step"],
        )


def _sample_params(params: SamplingParams, index: int) -> SamplingParams:
    if index == 0 or params.seed is None:
        return params
    return dataclasses.replace(params, seed=derive_seed(params.seed, index))
