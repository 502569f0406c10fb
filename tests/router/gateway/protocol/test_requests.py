"""Request validation mirrors OpenAI: good bodies parse, bad parameters fail with the field."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hybridserve.router.gateway.protocol import (
    AssistantMessage,
    ChatCompletionRequest,
    CompletionRequest,
    SystemMessage,
    ToolMessage,
)

MSGS = [{"role": "user", "content": "hi"}]
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}


def chat(**fields):
    return ChatCompletionRequest.model_validate({"model": "tiny", "messages": MSGS, **fields})


def completion(**fields):
    return CompletionRequest.model_validate({"model": "tiny", "prompt": "hi", **fields})


def test_full_chat_request():
    req = ChatCompletionRequest.model_validate(
        {
            "model": "tiny",
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "developer", "content": [{"type": "text", "text": "really"}]},
                {"role": "user", "content": [{"type": "text", "text": "weather?"}]},
                {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": "use the tool",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
            "n": 2,
            "stop": "END",
            "seed": 7,
            "max_completion_tokens": 64,
            "max_tokens": 10,
            "temperature": 0.6,
            "top_p": 0.95,
            "top_k": 20,
            "min_p": 0.05,
            "frequency_penalty": 0.5,
            "presence_penalty": -0.5,
            "repetition_penalty": 1.1,
            "logprobs": True,
            "top_logprobs": 5,
            "user": "u1",
            "stream": True,
            "stream_options": {"include_usage": True},
            "tools": [TOOL],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "chat_template_kwargs": {"enable_thinking": False},
            "logit_bias": {"1": 5},  # unknown fields are ignored
        }
    )
    assert [type(m) for m in req.messages][-2:] == [AssistantMessage, ToolMessage]
    assert isinstance(req.messages[1], SystemMessage)
    assert req.max_output_tokens == 64 and req.stop_list == ["END"] and req.include_usage
    assert not req.enable_thinking
    rendered = req.template_messages()
    assert rendered[3]["reasoning_content"] == "use the tool"
    assert rendered[3]["tool_calls"][0]["function"]["arguments"] == '{"city": "Paris"}'
    assert "name" not in rendered[0]


def test_defaults():
    req = chat()
    assert req.n == 1 and not req.stream and req.enable_thinking and req.tool_choice is None
    assert req.max_output_tokens is None and req.stop_list == [] and not req.include_usage


def test_output_limit_on_the_wire():
    """Chat without a limit runs to the context (wire 0) unless the gateway sets a default;
    completions default to 16 like OpenAI's."""
    from hybridserve.router.gateway.requests import chat_generate_request, text_generate_request

    assert chat_generate_request(chat()).sampling.max_tokens == 0
    assert chat_generate_request(chat(), default_max_tokens=100).sampling.max_tokens == 100
    assert chat_generate_request(chat(max_tokens=7)).sampling.max_tokens == 7
    assert text_generate_request(completion(), "hi").sampling.max_tokens == 16


def test_template_messages_render_with_tiny_template():
    from hybridserve.router.tokenization import load_tokenizer

    req = chat(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
    prompt = load_tokenizer("tiny").apply_chat_template(req.template_messages())
    assert prompt.endswith("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n")


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 2.5}, "temperature"),
        ({"temperature": -0.1}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"n": 0}, "n"),
        ({"n": 129}, "n"),
        ({"top_k": -2}, "top_k"),
        ({"min_p": 1.5}, "min_p"),
        ({"frequency_penalty": 2.5}, "frequency_penalty"),
        ({"presence_penalty": -3}, "presence_penalty"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": -1}, "max_completion_tokens"),
        ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
        ({"top_logprobs": 3}, None),  # needs logprobs
        ({"stop": ["a", ""]}, "stop"),
        ({"stop_token_ids": [-1]}, "stop_token_ids"),
        ({"stream_options": {"include_usage": True}}, None),  # needs stream
        ({"min_tokens": 10, "max_tokens": 5}, None),
        ({"seed": 2**64}, "seed"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages"),  # no tool_call_id
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages"),
        ({"tool_choice": "required"}, None),  # no tools
        ({"tool_choice": "sometimes", "tools": [TOOL]}, "tool_choice"),
        ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "x"}}}, None),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "tools"),
        ({"model": None}, "model"),
    ],
)
def test_bad_chat_params(fields, param):
    with pytest.raises(ValidationError) as info:
        chat(**fields)
    if param is not None:
        assert info.value.errors()[0]["loc"][0] == param


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("hi", ["hi"]),
        (["a", "b"], ["a", "b"]),
        ([1, 2, 3], [[1, 2, 3]]),
        ([[1], [2, 3]], [[1], [2, 3]]),
    ],
)
def test_completion_prompts(prompt, expected):
    assert completion(prompt=prompt).prompts() == expected


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": []},
        {"prompt": [[]]},
        {"prompt": [1, -2]},
        {"prompt": [[1], [-1]]},
        {"prompt": [1, "a"]},
        {"prompt": None},
        {"logprobs": 21},
        {"logprobs": -1},
        {"echo": True},
        {"temperature": 3},
    ],
)
def test_bad_completion_params(fields):
    with pytest.raises(ValidationError):
        completion(**fields)
