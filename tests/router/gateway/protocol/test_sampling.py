"""Requests become `SamplingParams` keyword arguments that the engine accepts as they are."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hybridserve.router.gateway.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    sampling_kwargs,
)

MSGS = [{"role": "user", "content": "hi"}]
FIELDS = {
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "stop",
    "stop_token_ids",
    "max_tokens",
    "min_tokens",
    "ignore_eos",
    "n",
    "logprobs",
    "top_logprobs",
    "skip_special_tokens",
}


def chat(**fields) -> ChatCompletionRequest:
    return ChatCompletionRequest.model_validate({"model": "tiny", "messages": MSGS, **fields})


def test_chat_defaults_are_openai_defaults():
    kwargs = sampling_kwargs(chat())
    assert set(kwargs) == FIELDS
    assert kwargs["temperature"] == 1.0 and kwargs["top_p"] == 1.0 and kwargs["top_k"] == -1
    assert kwargs["max_tokens"] is None and kwargs["stop"] == () and kwargs["n"] == 1
    assert kwargs["logprobs"] is False and kwargs["top_logprobs"] == 0


def test_chat_values_and_model_defaults():
    req = chat(
        temperature=0,
        top_k=0,
        stop=["x", "y"],
        stop_token_ids=[11],
        max_completion_tokens=32,
        max_tokens=8,
        logprobs=True,
        top_logprobs=3,
        seed=5,
        n=3,
        presence_penalty=1.0,
    )
    kwargs = sampling_kwargs(req, defaults={"temperature": 0.6, "top_p": 0.95, "bogus": 1})
    assert kwargs["temperature"] == 0 and kwargs["top_p"] == 0.95 and kwargs["top_k"] == -1
    assert kwargs["stop"] == ("x", "y") and kwargs["stop_token_ids"] == (11,)
    assert kwargs["max_tokens"] == 32 and kwargs["seed"] == 5 and kwargs["n"] == 3
    assert kwargs["logprobs"] and kwargs["top_logprobs"] == 3
    assert kwargs["presence_penalty"] == 1.0 and "bogus" not in kwargs


def test_completion_logprobs_and_default_length():
    req = CompletionRequest.model_validate({"model": "tiny", "prompt": "a", "logprobs": 2})
    kwargs = sampling_kwargs(req)
    assert kwargs["logprobs"] and kwargs["top_logprobs"] == 2 and kwargs["max_tokens"] == 16
    plain = sampling_kwargs(CompletionRequest(model="tiny", prompt="a", logprobs=0))
    assert plain["logprobs"] and plain["top_logprobs"] == 0
    assert not sampling_kwargs(CompletionRequest(model="tiny", prompt="a"))["logprobs"]


def test_engine_accepts_the_kwargs():
    sampling = pytest.importorskip("hybridserve.workers.engine.sampling_params")
    req = chat(temperature=0.6, top_p=0.9, top_k=20, min_p=0.1, stop="s", seed=1, n=2)
    params = sampling.SamplingParams(**sampling_kwargs(req, defaults={"repetition_penalty": 1.1}))
    assert params.stop == ("s",) and params.n == 2 and params.repetition_penalty == 1.1


def test_gateway_imports_no_torch():
    code = (
        "import sys, hybridserve.router.gateway.protocol, hybridserve.router.gateway.parsers, "
        "hybridserve.router.gateway.errors; assert 'torch' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
