"""Seeded sampling, n samples sharing one prefill, and bad input that leaves the engine serving."""

from __future__ import annotations

import pytest

from hybridserve import LLM, SamplingParams
from hybridserve.errors import ContextLengthExceededError, InvalidRequestError

PROMPT = [11, 200, 37, 512, 90, 7, 300]


@pytest.fixture(scope="module")
def llm():
    return LLM("tiny")


def test_seeded_sampling_is_reproducible_and_batch_independent(llm):
    seeded = SamplingParams(temperature=1.0, top_p=0.9, seed=42, max_tokens=20, ignore_eos=True)
    alone = llm.generate([PROMPT], seeded)[0].token_ids
    again = LLM("tiny").generate([PROMPT], seeded)[0].token_ids
    others = [[5] * 9, list(range(3, 40)), [900, 901]]
    noisy = SamplingParams(temperature=1.0, max_tokens=20, ignore_eos=True)
    batched = llm.generate([others[0], PROMPT, *others[1:]], [noisy, seeded, noisy, noisy])
    assert alone == again == batched[1].token_ids
    other_seed = SamplingParams(temperature=1.0, top_p=0.9, seed=43, max_tokens=20, ignore_eos=True)
    assert llm.generate([PROMPT], other_seed)[0].token_ids != alone


def test_n_samples_share_the_prompt_prefill(llm):
    params = SamplingParams(temperature=1.0, seed=5, n=4, max_tokens=12, ignore_eos=True)
    prompt = list(range(50, 90))
    out = llm.generate([prompt], params)[0]
    assert len(out.outputs) == 4 and all(len(o.token_ids) == 12 for o in out.outputs)
    assert len({tuple(o.token_ids) for o in out.outputs}) > 1  # different seeds per sample
    # the prompt ran through the model once; each sample then decoded its own 11 tokens (overlap
    # scheduling knows a sample's pending 12th token ends it, and gives it no further row)
    assert out.computed_tokens == len(prompt) + 4 * 11


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"temperature": -1}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"max_tokens": 0}, "max_tokens"),
    ],
)
def test_invalid_params_raise_naming_the_field(kwargs, field):
    with pytest.raises(InvalidRequestError, match=field):
        SamplingParams(**kwargs)


def test_bad_prompts_raise_and_the_engine_keeps_serving(llm):
    engine = llm.engine
    engine.add_request(PROMPT, SamplingParams(max_tokens=8, ignore_eos=True), rid="ok")
    with pytest.raises(InvalidRequestError, match="prompt"):
        engine.add_request([], SamplingParams())
    with pytest.raises(InvalidRequestError, match="outside"):
        engine.add_request([1, 5000], SamplingParams())
    with pytest.raises(ContextLengthExceededError, match="4096"):
        engine.add_request([5] * 5000, SamplingParams())
    with pytest.raises(ContextLengthExceededError, match="max_tokens"):
        engine.add_request([5] * 4000, SamplingParams(max_tokens=200))
    with pytest.raises(InvalidRequestError, match="stop_token_ids"):
        engine.add_request(PROMPT, SamplingParams(stop_token_ids=[99999]))
    tokens = []
    while engine.has_work():
        tokens += [t for d in engine.step() for t in d.token_ids]
    assert len(tokens) == 8


def test_text_prompts_and_stop_strings(llm):
    base = SamplingParams(temperature=0, max_tokens=30, ignore_eos=True)
    full = llm.generate("Hello there", base)[0]
    assert full.text is not None and len(full.token_ids) == 30
    stop = full.text[5:9]
    cut = llm.generate(
        "Hello there", SamplingParams(temperature=0, max_tokens=30, ignore_eos=True, stop=[stop])
    )[0]
    assert cut.finish_reason == "stop" and stop not in cut.text
    assert full.text.startswith(cut.text) and len(cut.token_ids) < 30
