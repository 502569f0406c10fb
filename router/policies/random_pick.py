"""random: a uniformly random healthy group."""

from __future__ import annotations

from collections.abc import Sequence

from hybridserve.router.policies.base import BasePolicy, Candidate


class RandomPolicy(BasePolicy):
    name = "random"

    def select(self, prompt_len: int, candidates: Sequence[Candidate]) -> Candidate:
        return self.rng.choice(list(candidates))
