"""Per-request sampling parameters (vLLM / OpenAI semantics) and their validation."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hybridserve.errors import InvalidRequestError

GREEDY_TEMPERATURE = 1e-5  # a temperature below this samples greedily (argmax), as in vLLM
MAX_N = 128
MAX_TOP_LOGPROBS = 20
MAX_PENALTY = 2.0  # frequency and presence penalties lie in [-MAX_PENALTY, MAX_PENALTY]


@dataclass(frozen=True)
class SamplingParams:
    """How one request picks each next token, and when it stops.

    Field meanings follow vLLM and the OpenAI API. Everything that does not depend on the model is
    checked at construction; `validate(vocab_size)` adds the vocabulary checks once the engine
    knows the model. Every failure is an `InvalidRequestError` whose message starts with the field.
    `n > 1` asks for n samples of one prompt: the engine runs them as n rows, giving sample i the
    seed `derive_seed(seed, i)` so seeded samples differ from each other.
    """

    temperature: float = 1.0  # 0 (below GREEDY_TEMPERATURE) = greedy
    top_p: float = 1.0  # in (0, 1]; 1 = disabled
    top_k: int = -1  # -1 = disabled, else >= 1
    min_p: float = 0.0  # in [0, 1]; 0 = disabled
    repetition_penalty: float = 1.0  # > 0; on prompt and output tokens; 1 = disabled
    frequency_penalty: float = 0.0  # in [-2, 2]; on output tokens
    presence_penalty: float = 0.0  # in [-2, 2]; on output tokens
    seed: int | None = None
    stop_token_ids: tuple[int, ...] = ()
    stop: tuple[str, ...] = ()  # stop strings, matched on text by the detokenizer
    max_tokens: int | None = 16  # None = until the context is full
    min_tokens: int = 0  # EOS and stop_token_ids are masked until this many tokens exist
    ignore_eos: bool = False
    n: int = 1
    logprobs: bool = False
    top_logprobs: int = 0  # in [0, 20]; > 0 needs logprobs
    skip_special_tokens: bool = True

    def __post_init__(self) -> None:
        # The only write to a frozen instance: JSON lists (or one bare string) become tuples.
        object.__setattr__(self, "stop_token_ids", _as_tuple("stop_token_ids", self.stop_token_ids))
        object.__setattr__(self, "stop", _as_tuple("stop", self.stop))
        self.validate()

    @property
    def is_greedy(self) -> bool:
        return self.temperature < GREEDY_TEMPERATURE

    @property
    def has_penalties(self) -> bool:
        """Any of the penalties that read the tokens generated so far."""
        return (
            self.repetition_penalty != 1.0
            or self.frequency_penalty != 0.0
            or self.presence_penalty != 0.0
        )

    def validate(self, vocab_size: int | None = None) -> None:
        """Raise `InvalidRequestError` naming the first bad field; `vocab_size` adds id checks."""
        _real("temperature", self.temperature)
        _need(self.temperature >= 0, f"temperature must be >= 0, got {self.temperature}")
        _real("top_p", self.top_p)
        _need(0 < self.top_p <= 1, f"top_p must be in (0, 1], got {self.top_p}")
        _int("top_k", self.top_k)
        _need(
            self.top_k == -1 or self.top_k >= 1,
            f"top_k must be -1 (disabled) or >= 1, got {self.top_k}; use -1 to disable top-k",
        )
        _real("min_p", self.min_p)
        _need(0 <= self.min_p <= 1, f"min_p must be in [0, 1], got {self.min_p}")
        _real("repetition_penalty", self.repetition_penalty)
        _need(
            self.repetition_penalty > 0,
            f"repetition_penalty must be > 0, got {self.repetition_penalty}",
        )
        for name in ("frequency_penalty", "presence_penalty"):
            value = getattr(self, name)
            _real(name, value)
            _need(
                -MAX_PENALTY <= value <= MAX_PENALTY,
                f"{name} must be in [-{MAX_PENALTY}, {MAX_PENALTY}], got {value}",
            )
        if self.seed is not None:
            _int("seed", self.seed)
        self._validate_stops(vocab_size)
        self._validate_lengths()
        for name in ("ignore_eos", "logprobs", "skip_special_tokens"):
            _need(isinstance(getattr(self, name), bool), f"{name} must be a bool")
        _int("n", self.n)
        _need(1 <= self.n <= MAX_N, f"n must be in [1, {MAX_N}], got {self.n}")
        _int("top_logprobs", self.top_logprobs)
        _need(
            0 <= self.top_logprobs <= MAX_TOP_LOGPROBS,
            f"top_logprobs must be in [0, {MAX_TOP_LOGPROBS}], got {self.top_logprobs}",
        )
        _need(
            self.top_logprobs == 0 or self.logprobs,
            f"top_logprobs={self.top_logprobs} needs logprobs=True",
        )

    def _validate_stops(self, vocab_size: int | None) -> None:
        for token_id in self.stop_token_ids:
            _int("stop_token_ids", token_id)
            _need(token_id >= 0, f"stop_token_ids must be >= 0, got {token_id}")
            _need(
                vocab_size is None or token_id < vocab_size,
                f"stop_token_ids must be < vocab size {vocab_size}, got {token_id}",
            )
        for text in self.stop:
            _need(isinstance(text, str), f"stop must hold strings, got {text!r}")
            _need(text != "", "stop must not contain an empty string")

    def _validate_lengths(self) -> None:
        if self.max_tokens is not None:
            _int("max_tokens", self.max_tokens)
            _need(self.max_tokens >= 1, f"max_tokens must be >= 1 or None, got {self.max_tokens}")
        _int("min_tokens", self.min_tokens)
        _need(self.min_tokens >= 0, f"min_tokens must be >= 0, got {self.min_tokens}")
        _need(
            self.max_tokens is None or self.min_tokens <= self.max_tokens,
            f"min_tokens must be <= max_tokens ({self.max_tokens}), got {self.min_tokens}",
        )


def derive_seed(seed: int, sample_index: int) -> int:
    """The seed of sample `sample_index` of an `n > 1` request seeded with `seed` (vLLM-like).

    Sample 0 keeps the request's seed, so `n=1` and the first of `n` samples agree.
    """
    return seed + sample_index


def _as_tuple(name: str, value: Any) -> tuple[Any, ...]:
    if isinstance(value, tuple):
        return value
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence):
        return tuple(value)
    raise InvalidRequestError(f"{name} must be a list, got {type(value).__name__}")


def _need(ok: bool, message: str) -> None:
    if not ok:
        raise InvalidRequestError(message)


def _real(name: str, value: Any) -> None:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    _need(ok and math.isfinite(value), f"{name} must be a finite number, got {value!r}")


def _int(name: str, value: Any) -> None:
    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    _need(ok, f"{name} must be an integer, got {value!r}")
