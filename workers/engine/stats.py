"""A plain snapshot of engine counters; only the metrics layer maps it to Prometheus."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineStats:
    running: int
    waiting: int
    kv_pages_used: int
    kv_pages_total: int
    state_slots_used: int
    state_slots_total: int
    cached_pages: int  # pages held by the radix cache
    cached_snapshots: int
    prompt_tokens: int  # cumulative, over admitted requests
    cached_prompt_tokens: int  # cumulative prefix-cache hits
    computed_tokens: int  # cumulative tokens run through the model
    generated_tokens: int
    preemptions: int
    steps: int
    last_step_seconds: float  # the whole step: schedule, inputs, forward, sample, bookkeeping
    step_seconds: float = 0.0  # cumulative, over all steps
    # cumulative: blocked reading sampled tokens back, i.e. waiting for the device (on a GPU
    # the forward's time not hidden behind host work; on CPU the forward runs on the host)
    device_wait_seconds: float = 0.0
    decode_steps: int = 0  # cumulative: steps of decode rows only
    decode_step_seconds: float = 0.0

    @property
    def prefix_hit_ratio(self) -> float:
        return self.cached_prompt_tokens / self.prompt_tokens if self.prompt_tokens else 0.0
