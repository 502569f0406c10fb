"""SamplingParams: defaults, normalisation, and one InvalidRequestError per bad field."""

from __future__ import annotations

import math

import pytest

from hybridserve.errors import InvalidRequestError
from hybridserve.workers.engine.sampling_params import SamplingParams, derive_seed

BAD_VALUES = [
    ("temperature", {"temperature": -1.0}),
    ("temperature", {"temperature": math.nan}),
    ("temperature", {"temperature": math.inf}),
    ("top_p", {"top_p": 0.0}),
    ("top_p", {"top_p": 1.5}),
    ("top_p", {"top_p": math.nan}),
    ("top_k", {"top_k": 0}),
    ("top_k", {"top_k": -2}),
    ("top_k", {"top_k": 2.5}),
    ("min_p", {"min_p": -0.1}),
    ("min_p", {"min_p": 1.1}),
    ("repetition_penalty", {"repetition_penalty": 0.0}),
    ("repetition_penalty", {"repetition_penalty": -1.0}),
    ("frequency_penalty", {"frequency_penalty": 2.5}),
    ("frequency_penalty", {"frequency_penalty": -2.5}),
    ("presence_penalty", {"presence_penalty": 2.01}),
    ("presence_penalty", {"presence_penalty": -3.0}),
    ("seed", {"seed": "7"}),
    ("seed", {"seed": 1.5}),
    ("stop_token_ids", {"stop_token_ids": [-1]}),
    ("stop_token_ids", {"stop_token_ids": ["eos"]}),
    ("stop", {"stop": [""]}),
    ("stop", {"stop": ["ok", ""]}),
    ("stop", {"stop": [3]}),
    ("max_tokens", {"max_tokens": 0}),
    ("max_tokens", {"max_tokens": -5}),
    ("min_tokens", {"min_tokens": -1}),
    ("min_tokens", {"min_tokens": 20, "max_tokens": 10}),
    ("n", {"n": 0}),
    ("n", {"n": 129}),
    ("n", {"n": True}),
    ("top_logprobs", {"top_logprobs": 21, "logprobs": True}),
    ("top_logprobs", {"top_logprobs": -1, "logprobs": True}),
    ("top_logprobs", {"top_logprobs": 5}),
    ("logprobs", {"logprobs": 1}),
    ("ignore_eos", {"ignore_eos": "yes"}),
]


@pytest.mark.parametrize(("field", "kwargs"), BAD_VALUES)
def test_bad_value_raises_naming_the_field(field: str, kwargs: dict) -> None:
    with pytest.raises(InvalidRequestError, match=rf"^{field}\b"):
        SamplingParams(**kwargs)


def test_messages_are_specific() -> None:
    with pytest.raises(InvalidRequestError, match=r"top_p must be in \(0, 1\], got 0.0"):
        SamplingParams(top_p=0.0)
    with pytest.raises(InvalidRequestError, match="use -1 to disable"):
        SamplingParams(top_k=0)
    with pytest.raises(InvalidRequestError, match="needs logprobs=True"):
        SamplingParams(top_logprobs=3)


def test_defaults_are_valid() -> None:
    p = SamplingParams()
    assert (p.temperature, p.top_p, p.top_k, p.min_p) == (1.0, 1.0, -1, 0.0)
    assert (p.max_tokens, p.min_tokens, p.n, p.seed) == (16, 0, 1, None)
    assert p.stop == () and p.stop_token_ids == ()
    assert not p.is_greedy


def test_edge_values_are_valid() -> None:
    SamplingParams(temperature=0.0, top_p=1.0, top_k=1, min_p=1.0, n=128, max_tokens=None)
    SamplingParams(frequency_penalty=-2.0, presence_penalty=2.0, repetition_penalty=0.5)
    SamplingParams(logprobs=True, top_logprobs=20, seed=-3, min_tokens=16, max_tokens=16)


def test_lists_become_tuples_and_a_bare_stop_string_is_one_stop() -> None:
    p = SamplingParams(stop_token_ids=[5, 7], stop=["\n\n", "END"])
    assert p.stop_token_ids == (5, 7) and p.stop == ("\n\n", "END")
    assert SamplingParams(stop="END").stop == ("END",)
    assert hash(p) == hash(SamplingParams(stop_token_ids=(5, 7), stop=("\n\n", "END")))


def test_validate_with_vocab_size_checks_stop_token_ids() -> None:
    p = SamplingParams(stop_token_ids=[5, 99])
    p.validate(vocab_size=100)
    with pytest.raises(InvalidRequestError, match=r"^stop_token_ids must be < vocab size 50"):
        p.validate(vocab_size=50)


def test_is_greedy_and_frozen() -> None:
    assert SamplingParams(temperature=0.0).is_greedy
    assert not SamplingParams(temperature=0.1).is_greedy
    with pytest.raises(AttributeError):
        SamplingParams().temperature = 0.5  # type: ignore[misc]


def test_derive_seed() -> None:
    assert derive_seed(42, 0) == 42
    assert [derive_seed(42, i) for i in range(3)] == [42, 43, 44]
