"""One sequence being served: its tokens, sampling parameters, cache holdings and counters."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import numpy as np

from hybridserve.workers.engine.sampling_params import SamplingParams


class FinishReason(str, Enum):
    STOP = "stop"  # EOS, a stop token id, or a stop string
    LENGTH = "length"  # max_tokens or the context limit
    ABORT = "abort"


@dataclass(eq=False)
class Request:
    """A sequence of the engine. The tokens `all_ids[:num_processed]` have their KV in
    `kv_slots` and their Mamba state in `state_slot`; the rest are processed by later steps.

    Cache ownership: `kv_slots[:tree_len]` belong to the radix cache (the path to `node` is
    locked by this request); the slots after it live in `own_pages`, which this request owns.
    """

    rid: str
    prompt_ids: list[int]
    params: SamplingParams
    index: int = 0  # sample index within its request (n > 1)
    arrival: int = 0  # admission order (FCFS; the newest is retracted first)
    output_ids: list[int] = field(default_factory=list)
    output_logprobs: list[float] = field(default_factory=list)
    output_top_logprobs: list[list[tuple[int, float]]] = field(default_factory=list)
    finish_reason: FinishReason | None = None
    # cache holdings
    num_processed: int = 0
    kv_slots: list[int] = field(default_factory=list)
    own_pages: list[int] = field(default_factory=list)
    tree_len: int = 0
    node: Any = None
    state_slot: int | None = None
    snapshot_at: int | None = None  # a grid point where this prefill must save a state
    kv_array: np.ndarray | None = None  # kv_slots[:kv_array_len], room to grow (kv_indices)
    kv_array_len: int = 0
    # overlap scheduling: sampled tokens still on the device (not in output_ids yet), and the row
    # of the last one in its step's token tensor (the next step feeds it from there)
    pending: int = 0
    pending_row: int = -1
    # n > 1: the other samples wait here until this one's prompt is processed, then fork from it
    siblings: list[Request] = field(default_factory=list)
    # counters
    counted: bool = False  # its prompt is in the engine's prompt / cached-token totals
    cached_tokens: int = 0
    computed_tokens: int = 0

    def kv_indices(self, end: int) -> np.ndarray:
        """`kv_slots[:end]` as an int64 array, mirrored from step to step in a buffer that doubles
        when full: a decode step writes one slot instead of converting or copying a whole context.
        `kv_slots` only grows by appends; any other change goes through `set_kv_slots`."""
        buf, have = self.kv_array, self.kv_array_len
        if buf is None:
            buf, have = np.empty(max(64, 2 * end), dtype=np.int64), 0
        if have < end:
            if end > len(buf):
                grown = np.empty(max(end, 2 * len(buf)), dtype=np.int64)
                grown[:have] = buf[:have]
                buf = grown
            buf[have:end] = self.kv_slots[have:end]
            have = end
        self.kv_array, self.kv_array_len = buf, have
        return buf[:end]

    def set_kv_slots(self, slots: list[int]) -> None:
        """Replace `kv_slots` (not an append): the array mirror is rebuilt on next use."""
        self.kv_slots, self.kv_array, self.kv_array_len = slots, None, 0

    def token_ids(self, start: int, end: int) -> list[int]:
        """`all_ids[start:end]` without building all_ids (a decode step reads one token)."""
        n = len(self.prompt_ids)
        if start >= n:
            return self.output_ids[start - n : end - n]
        if end <= n:
            return self.prompt_ids[start:end]
        return self.prompt_ids[start:] + self.output_ids[: end - n]

    @property
    def all_ids(self) -> list[int]:
        return self.prompt_ids + self.output_ids

    @property
    def num_tokens(self) -> int:
        """Tokens of the sequence, counting the sampled ones not read back yet."""
        return len(self.prompt_ids) + len(self.output_ids) + self.pending

    @property
    def remaining(self) -> int:
        """Tokens still to feed through the model before the next sample."""
        return self.num_tokens - self.num_processed

    def reaches_length(self, n_out: int, max_model_len: int) -> bool:
        """Whether `n_out` output tokens take it to max_tokens or to the model's length."""
        limit = self.params.max_tokens
        at_limit = limit is not None and n_out >= limit
        return at_limit or len(self.prompt_ids) + n_out >= max_model_len

    def ends_on_pending(self, max_model_len: int) -> bool:
        """Its pending tokens take it to its length limit: it finishes when they are read back,
        so overlap scheduling need not give it another row."""
        n_out = len(self.output_ids) + self.pending
        return self.pending > 0 and self.reaches_length(n_out, max_model_len)

    @property
    def in_prefill(self) -> bool:
        return self.num_processed < len(self.prompt_ids)

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None
