"""Overlap scheduling: while the GPU runs step k, the host reads back step k-1's tokens and
updates its requests, then schedules and launches step k+1. A step's sampled tokens stay on the
device: the next step feeds them from there (`Request.pending`), so the host never waits for
the GPU except to read back a step that has had a whole step's time to finish. The cost: a
request that stops at step k (on a stop token) has already been scheduled into step k+1 (one
wasted row, dropped at read-back), as in SGLang's overlap scheduler; one that reaches its length
limit at step k is known to, and gets no row in step k+1.

A step overlaps only when its sampling needs nothing from the host that a pending token would
change: no penalties (they count the output tokens), no logprobs (read back with the token),
no `n > 1` siblings to fork; otherwise the engine reads the previous step back first.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from hybridserve.workers.engine.request import Request
from hybridserve.workers.engine.scheduler import ScheduledBatch


@dataclass
class InFlight:
    """A launched step whose tokens the host has not read yet."""

    rows: list[Request]  # the sampled rows, in the order of `tokens`
    tokens: torch.Tensor  # [rows] int64 on the device: the next step's inputs
    host: torch.Tensor  # their copy on the host, arriving (pinned memory on a GPU)
    ready: torch.cuda.Event | None  # recorded after the copy (None on CPU: already there)

    @classmethod
    def launch(cls, rows: list[Request], tokens: torch.Tensor) -> InFlight:
        """Start the tokens' copy to the host and mark them pending in their requests."""
        if tokens.is_cuda:
            host = torch.empty(tokens.shape, dtype=tokens.dtype, pin_memory=True)
            host.copy_(tokens, non_blocking=True)
            ready: torch.cuda.Event | None = torch.cuda.Event()
            ready.record()
        else:
            host, ready = tokens, None
        for row, req in enumerate(rows):
            req.pending += 1
            req.pending_row = row
        return cls(rows, tokens, host, ready)

    def token_ids(self) -> list[int]:
        """The tokens on the host (waits for the copy) and no longer pending."""
        if self.ready is not None:
            self.ready.synchronize()
        for req in self.rows:
            req.pending -= 1
        return self.host.tolist()


def overlappable(batch: ScheduledBatch) -> bool:
    """Whether the step's sampling can run with tokens still pending (see the module doc)."""
    for chunk in batch.chunks:
        p = chunk.req.params
        if p.logprobs or p.has_penalties or chunk.req.siblings:
            return False
    return True
