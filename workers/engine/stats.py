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
    last_step_seconds: float

    @property
    def prefix_hit_ratio(self) -> float:
        return self.cached_prompt_tokens / self.prompt_tokens if self.prompt_tokens else 0.0
