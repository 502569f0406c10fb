"""Worker-group metrics: queue depth, latencies, tokens, prefix-cache hits, pools, step time.

Torch-free: `observe_stats` reads any object shaped like `workers.engine.stats.EngineStats`
(duck typing, see `StatsLike`), so the engine never imports prometheus_client.
"""

from __future__ import annotations

from typing import Protocol

from prometheus_client import CollectorRegistry

from hybridserve.metrics.buckets import E2E_BUCKETS, ITL_BUCKETS, STEP_BUCKETS, TTFT_BUCKETS
from hybridserve.metrics.spec import MetricSpec


class StatsLike(Protocol):
    """The fields of EngineStats this module reads; cumulative ones only ever grow per engine."""

    running: int
    waiting: int
    kv_pages_used: int
    kv_pages_total: int
    state_slots_used: int
    state_slots_total: int
    cached_pages: int
    cached_snapshots: int
    prompt_tokens: int  # cumulative
    cached_prompt_tokens: int  # cumulative
    computed_tokens: int  # cumulative
    generated_tokens: int  # cumulative
    preemptions: int  # cumulative
    steps: int  # cumulative
    last_step_seconds: float
    step_seconds: float  # cumulative
    device_wait_seconds: float  # cumulative
    decode_steps: int  # cumulative
    decode_step_seconds: float  # cumulative


def _gauge(name: str, help: str, mode: str = "livesum") -> MetricSpec:
    return MetricSpec(f"hybridserve_worker_{name}", help, "gauge", ("group",), gauge_mode=mode)


def _counter(name: str, help: str) -> MetricSpec:
    return MetricSpec(f"hybridserve_worker_{name}_total", help, "counter", ("group",))


def _histogram(name: str, help: str, buckets: tuple[float, ...]) -> MetricSpec:
    return MetricSpec(f"hybridserve_worker_{name}", help, "histogram", ("group",), buckets)


RUNNING = _gauge("running_requests", "Requests in the running batch")
WAITING = _gauge("waiting_requests", "Requests queued, not yet admitted")
KV_USED = _gauge("kv_pool_used_pages", "KV-cache pages in use (requests and radix cache)")
KV_CAPACITY = _gauge("kv_pool_capacity_pages", "KV-cache pages in the pool")
KV_USAGE = _gauge("kv_pool_usage_ratio", "Fraction of KV-cache pages in use", "livemax")
STATE_USED = _gauge("mamba_state_pool_used_slots", "Mamba-state slots in use")
STATE_CAPACITY = _gauge("mamba_state_pool_capacity_slots", "Mamba-state slots in the pool")
STATE_USAGE = _gauge(
    "mamba_state_pool_usage_ratio", "Fraction of Mamba-state slots in use", "livemax"
)
RADIX_PAGES = _gauge("radix_cache_pages", "KV pages held by the radix (prefix) cache")
RADIX_SNAPSHOTS = _gauge("radix_cache_state_snapshots", "Mamba-state snapshots in the radix cache")
HIT_RATIO = _gauge(
    "prefix_cache_hit_ratio", "Cached / admitted prompt tokens since engine start", "livemax"
)
PROMPT_TOKENS = _counter("prompt_tokens", "Prompt tokens of admitted requests")
CACHED_PROMPT_TOKENS = _counter("cached_prompt_tokens", "Prompt tokens served by the prefix cache")
COMPUTED_TOKENS = _counter("computed_tokens", "Tokens run through the model (prefill + decode)")
GENERATION_TOKENS = _counter("generation_tokens", "Tokens generated")
PREEMPTIONS = _counter("preemptions", "Requests preempted for lack of KV pages or state slots")
STEPS = _counter("steps", "Engine steps run")
STEP_SECONDS = _counter("step_seconds", "Time in engine steps")
DEVICE_WAIT = _counter(
    "device_wait_seconds", "Time engine steps waited for the device (reading tokens back)"
)
DECODE_STEPS = _counter("decode_steps", "Engine steps of decode rows only")
DECODE_STEP_SECONDS = _counter("decode_step_seconds", "Time in engine steps of decode rows only")
TTFT = _histogram("time_to_first_token_seconds", "Arrival to first token", TTFT_BUCKETS)
ITL = _histogram("inter_token_latency_seconds", "Time between consecutive tokens", ITL_BUCKETS)
E2E = _histogram("e2e_request_latency_seconds", "Arrival to finish", E2E_BUCKETS)
STEP = _histogram("step_duration_seconds", "Duration of one engine step", STEP_BUCKETS)

WORKER_SPECS: tuple[MetricSpec, ...] = (
    RUNNING, WAITING, KV_USED, KV_CAPACITY, KV_USAGE, STATE_USED, STATE_CAPACITY, STATE_USAGE,
    RADIX_PAGES, RADIX_SNAPSHOTS, HIT_RATIO, PROMPT_TOKENS, CACHED_PROMPT_TOKENS, COMPUTED_TOKENS,
    GENERATION_TOKENS, PREEMPTIONS, STEPS, STEP_SECONDS, DEVICE_WAIT, DECODE_STEPS,
    DECODE_STEP_SECONDS, TTFT, ITL, E2E, STEP,
)  # fmt: skip

_CUMULATIVE = (
    ("prompt_tokens", PROMPT_TOKENS),
    ("cached_prompt_tokens", CACHED_PROMPT_TOKENS),
    ("computed_tokens", COMPUTED_TOKENS),
    ("generated_tokens", GENERATION_TOKENS),
    ("preemptions", PREEMPTIONS),
    ("steps", STEPS),
    ("step_seconds", STEP_SECONDS),
    ("device_wait_seconds", DEVICE_WAIT),
    ("decode_steps", DECODE_STEPS),
    ("decode_step_seconds", DECODE_STEP_SECONDS),
)


def _ratio(used: int, total: int) -> float:
    return used / total if total else 0.0


class WorkerMetrics:
    """One worker group's metrics (exported by its rank 0), every sample labelled `group`."""

    def __init__(self, registry: CollectorRegistry, group: str) -> None:
        self._gauges = {
            spec: spec.gauge(registry).labels(group)
            for spec in WORKER_SPECS
            if spec.kind == "gauge"
        }
        self._counters = {
            spec: spec.counter(registry).labels(group)
            for spec in WORKER_SPECS
            if spec.kind == "counter"
        }
        self.ttft = TTFT.histogram(registry).labels(group)
        self.itl = ITL.histogram(registry).labels(group)
        self.e2e = E2E.histogram(registry).labels(group)
        self.step = STEP.histogram(registry).labels(group)
        self._last: StatsLike | None = None

    def observe_first_token(self, seconds: float) -> None:
        self.ttft.observe(seconds)

    def observe_inter_token(self, seconds: float) -> None:
        self.itl.observe(seconds)

    def observe_finished(self, seconds: float) -> None:
        self.e2e.observe(seconds)

    def observe_stats(self, stats: StatsLike) -> None:
        """Map one engine snapshot: gauges are set; cumulative fields advance the counters by their
        growth since the previous snapshot (a smaller value means the engine restarted: the whole
        value counts). `last_step_seconds` is observed once when `steps` advanced."""
        g = self._gauges
        g[RUNNING].set(stats.running)
        g[WAITING].set(stats.waiting)
        g[KV_USED].set(stats.kv_pages_used)
        g[KV_CAPACITY].set(stats.kv_pages_total)
        g[KV_USAGE].set(_ratio(stats.kv_pages_used, stats.kv_pages_total))
        g[STATE_USED].set(stats.state_slots_used)
        g[STATE_CAPACITY].set(stats.state_slots_total)
        g[STATE_USAGE].set(_ratio(stats.state_slots_used, stats.state_slots_total))
        g[RADIX_PAGES].set(stats.cached_pages)
        g[RADIX_SNAPSHOTS].set(stats.cached_snapshots)
        g[HIT_RATIO].set(_ratio(stats.cached_prompt_tokens, stats.prompt_tokens))
        last = self._last
        for field, spec in _CUMULATIVE:
            now = getattr(stats, field)
            before = getattr(last, field) if last is not None else 0
            self._counters[spec].inc(now - before if now >= before else now)
        if stats.steps != (last.steps if last is not None else 0):
            self.step.observe(stats.last_step_seconds)
        self._last = stats
