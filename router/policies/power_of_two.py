"""power_of_two: sample two healthy groups at random, take the less loaded one."""

from __future__ import annotations

from collections.abc import Sequence

from hybridserve.router.policies.base import BasePolicy, Candidate


class PowerOfTwoPolicy(BasePolicy):
    name = "power_of_two"

    def select(self, prompt_len: int, candidates: Sequence[Candidate]) -> Candidate:
        pool = list(candidates)
        if len(pool) <= 2:
            return self.least_loaded(pool)
        return self.least_loaded(self.rng.sample(pool, 2))
