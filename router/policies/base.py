"""The routing policy interface: pick one worker group for a request from the healthy candidates."""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    """A healthy group as a policy sees it. Loads are the router's own counts, taken from the
    moment of dispatch (not when the stream starts), so a burst cannot pile onto one group."""

    group_id: str
    in_flight: int  # requests dispatched and not finished
    pending_prefill_tokens: int  # uncached prompt tokens of in-flight requests before 1st token
    active_tokens: int  # prompt + generated tokens of in-flight requests
    cached_tokens: int = 0  # this request's predicted usable cached prefix on the group
    affinity_tokens: int = 0  # its prefix's KV held or being computed there (>= cached_tokens)

    @property
    def load_tokens(self) -> int:
        return self.pending_prefill_tokens + self.active_tokens


class BasePolicy(ABC):
    """Stateless between calls apart from counters and its random generator; called on the
    router's event loop only. `candidates` is never empty."""

    name: str = ""

    def __init__(self, seed: int | None = None) -> None:
        self.rng = random.Random(seed)

    @property
    def needs_prefix_match(self) -> bool:
        """Whether `cached_tokens` must be filled in (the router computes it anyway for usage)."""
        return False

    @abstractmethod
    def select(self, prompt_len: int, candidates: Sequence[Candidate]) -> Candidate: ...

    def least_loaded(self, candidates: Sequence[Candidate]) -> Candidate:
        """Lowest token load, then fewest requests, then a random one (never by index)."""
        return min(candidates, key=lambda c: (c.load_tokens, c.in_flight, self.rng.random()))
