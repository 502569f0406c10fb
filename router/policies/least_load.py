"""least_load: the group with the fewest queued + running tokens (counted from dispatch)."""

from __future__ import annotations

from collections.abc import Sequence

from hybridserve.router.policies.base import BasePolicy, Candidate


class LeastLoadPolicy(BasePolicy):
    name = "least_load"

    def select(self, prompt_len: int, candidates: Sequence[Candidate]) -> Candidate:
        return self.least_loaded(candidates)
