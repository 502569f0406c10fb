"""A validated request -> keyword arguments of the engine's `SamplingParams` (torch-free)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hybridserve.router.gateway.protocol.chat import ChatCompletionRequest
from hybridserve.router.gateway.protocol.completions import (
    DEFAULT_COMPLETION_MAX_TOKENS,
    CompletionRequest,
)

# Fields a model's generation defaults may fill when the request leaves them out.
DEFAULTABLE = ("temperature", "top_p", "top_k", "min_p", "repetition_penalty")
OPENAI_DEFAULTS: dict[str, Any] = {
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": -1,
    "min_p": 0.0,
    "repetition_penalty": 1.0,
}


def sampling_kwargs(
    request: ChatCompletionRequest | CompletionRequest,
    defaults: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every field of `hybridserve.workers.engine.sampling_params.SamplingParams`, as a plain
    dict: request values first, then `defaults` (e.g. the model's recommended sampling), then
    OpenAI's. `max_tokens` None means "until the context is full" (chat's default); the
    completions API defaults to 16 like OpenAI."""
    chosen = {**OPENAI_DEFAULTS, **{k: v for k, v in (defaults or {}).items() if k in DEFAULTABLE}}
    for name in DEFAULTABLE:
        value = getattr(request, name)
        if value is not None:
            chosen[name] = value
    if chosen["top_k"] == 0:
        chosen["top_k"] = -1  # vLLM and OpenAI-compatible clients send 0 for "disabled"
    max_tokens = request.max_output_tokens
    if isinstance(request, ChatCompletionRequest):
        logprobs, top_logprobs = request.logprobs, request.top_logprobs or 0
    else:
        logprobs, top_logprobs = request.logprobs is not None, request.logprobs or 0
        if max_tokens is None:
            max_tokens = DEFAULT_COMPLETION_MAX_TOKENS
    return {
        **chosen,
        "frequency_penalty": request.frequency_penalty or 0.0,
        "presence_penalty": request.presence_penalty or 0.0,
        "seed": request.seed,
        "stop": tuple(request.stop_list),
        "stop_token_ids": tuple(request.stop_token_ids or ()),
        "max_tokens": max_tokens,
        "min_tokens": request.min_tokens,
        "ignore_eos": request.ignore_eos,
        "n": request.n,
        "logprobs": logprobs,
        "top_logprobs": top_logprobs,
        "skip_special_tokens": request.skip_special_tokens,
    }
