"""round_robin: each request goes to the next healthy group in turn."""

from __future__ import annotations

from collections.abc import Sequence

from hybridserve.router.policies.base import BasePolicy, Candidate


class RoundRobinPolicy(BasePolicy):
    name = "round_robin"

    def __init__(self, seed: int | None = None) -> None:
        super().__init__(seed)
        self._next = 0

    def select(self, prompt_len: int, candidates: Sequence[Candidate]) -> Candidate:
        ordered = sorted(candidates, key=lambda c: c.group_id)
        choice = ordered[self._next % len(ordered)]
        self._next += 1
        return choice
