"""The tiny chat template against the Nemotron 3 Nano format (reference/nemotron_h.md §5.1)."""

from __future__ import annotations

import json
from importlib.resources import files

import pytest
import tokenizers

from hybridserve.errors import InvalidRequestError
from hybridserve.router.tokenization import Tokenizer, load_tokenizer

TINY_ASSETS = files("hybridserve") / "assets" / "tiny"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather. ",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City"},
                "days": {"type": "integer"},
            },
            "required": ["location"],
        },
    },
}
ARGUMENTS = '{"location": "Paris", "days": 3}'  # OpenAI sends arguments as a JSON string
CALL = {"id": "call_0", "function": {"name": "get_weather", "arguments": ARGUMENTS}}
SYSTEM_WITH_TOOLS = (
    "<|im_start|>system\nYou are helpful.\n\n"
    "# Tools\n\nYou have access to the following functions:\n\n<tools>\n"
    "<function>\n<name>get_weather</name>\n<description>Get the weather.</description>\n"
    "<parameters>\n"
    "<parameter>\n<name>location</name>\n<type>string</type>\n<description>City</description>\n"
    "</parameter>\n"
    "<parameter>\n<name>days</name>\n<type>integer</type>\n</parameter>\n"
    '<required>["location"]</required>\n'
    "</parameters>\n</function>\n</tools>"
    "\n\nIf you choose to call a function ONLY reply in the following format with NO suffix:"
)
TOOL_CALL = (
    "<tool_call>\n<function=get_weather>\n"
    "<parameter=location>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n"
    "</function>\n</tool_call>\n"
)


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return load_tokenizer("tiny")


def test_multi_turn_with_tools_tool_call_and_tool_response(tok):
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "Need the tool.",
            "tool_calls": [CALL],
        },
        {"role": "tool", "tool_call_id": "call_0", "content": '{"temp": 21}'},
    ]
    prompt = tok.apply_chat_template(messages, tools=[WEATHER_TOOL])
    head, instructions_and_rest = prompt[: len(SYSTEM_WITH_TOOLS)], prompt[len(SYSTEM_WITH_TOOLS) :]
    assert head == SYSTEM_WITH_TOOLS
    instructions, rest = instructions_and_rest.split("</IMPORTANT><|im_end|>\n")
    assert "<tool_call>\n<function=example_function_name>\n" in instructions
    assert "\n<IMPORTANT>\nReminder:\n" in instructions
    assert rest == (
        "<|im_start|>user\nWeather in Paris?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\nNeed the tool.\n</think>\n" + TOOL_CALL + "<|im_end|>\n"
        '<|im_start|>user\n<tool_response>\n{"temp": 21}\n</tool_response>\n<|im_end|>\n'
        "<|im_start|>assistant\n<think>\n"
    )


def test_generation_prompt_follows_enable_thinking(tok):
    messages = [{"role": "user", "content": "Hi"}]
    # Like NVIDIA's template, an (empty) system turn is always rendered.
    base = "<|im_start|>system\n<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
    assert tok.apply_chat_template(messages) == base + "<|im_start|>assistant\n<think>\n"
    off = tok.apply_chat_template(messages, enable_thinking=False)
    assert off == base + "<|im_start|>assistant\n<think></think>"
    assert tok.apply_chat_template(messages, add_generation_prompt=False) == base


def test_history_thinking_is_truncated_before_the_last_user_turn(tok):
    messages = [
        {"role": "user", "content": "A"},
        {"role": "assistant", "content": "a1", "reasoning_content": "r1"},
        {"role": "user", "content": "B"},
        {"role": "assistant", "content": "b1"},
    ]
    prompt = tok.apply_chat_template(messages, add_generation_prompt=False)
    # As in NVIDIA's template: the text after `</think>` is kept as is, its newline included.
    assert "<|im_start|>assistant\n<think></think>\na1<|im_end|>\n" in prompt
    assert "<|im_start|>assistant\n<think></think>b1<|im_end|>\n" in prompt
    kept = tok.apply_chat_template(messages, truncate_history_thinking=False)
    assert "<|im_start|>assistant\n<think>\nr1\n</think>\na1<|im_end|>\n" in kept
    # `reasoning` (the newer OpenAI-compatible name) is read too.
    messages[3] = {"role": "assistant", "content": "b1", "reasoning": "r2"}
    assert "<think>\nr2\n</think>\nb1<|im_end|>" in tok.apply_chat_template(messages)


def test_truncated_tool_call_turn_keeps_content_drops_reasoning(tok):
    messages = [
        {"role": "user", "content": "A"},
        {
            "role": "assistant",
            "content": "Checking.",
            "reasoning_content": "r",
            "tool_calls": [CALL],
        },
        {"role": "tool", "content": "sunny"},
        {"role": "user", "content": "B"},
    ]
    prompt = tok.apply_chat_template(messages)
    assistant = "<|im_start|>assistant\n<think></think>Checking.\n" + TOOL_CALL + "<|im_end|>\n"
    assert assistant in prompt


def test_consecutive_tool_results_share_one_user_turn(tok):
    messages = [
        {"role": "user", "content": "Q"},
        {"role": "assistant", "content": "", "tool_calls": [CALL, CALL]},
        {"role": "tool", "content": "one"},
        {"role": "tool", "content": "two"},
    ]
    prompt = tok.apply_chat_template(messages, enable_thinking=False)
    assert prompt.endswith(
        "<|im_start|>assistant\n<think></think>\n" + TOOL_CALL + TOOL_CALL + "<|im_end|>\n"
        "<|im_start|>user\n<tool_response>\none\n</tool_response>\n"
        "<tool_response>\ntwo\n</tool_response>\n<|im_end|>\n"
        "<|im_start|>assistant\n<think></think>"
    )


def test_argument_values_render_as_json_or_string(tok):
    args = {"place": "Zürich", "opts": {"a": [1, 2]}, "tags": ["é"], "n": 2.5, "flag": True}
    call = {"function": {"name": "f", "arguments": args}}
    as_string = {"function": {"name": "f", "arguments": json.dumps(args)}}
    render = lambda c: tok.apply_chat_template(  # noqa: E731
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "", "tool_calls": [c]}]
    )
    prompt = render(call)
    assert prompt == render(as_string)
    assert "<parameter=place>\nZürich\n</parameter>\n" in prompt
    assert '<parameter=opts>\n{"a": [1, 2]}\n</parameter>\n' in prompt
    assert '<parameter=tags>\n["é"]\n</parameter>\n' in prompt
    assert "<parameter=n>\n2.5\n</parameter>\n<parameter=flag>\nTrue\n</parameter>\n" in prompt


def test_bad_requests_raise_invalid_request(tok):
    bad_call = {"function": {"name": "f", "arguments": "{not json"}}
    with pytest.raises(InvalidRequestError, match="not valid JSON"):
        tok.apply_chat_template([{"role": "assistant", "content": "", "tool_calls": [bad_call]}])
    backend = tokenizers.Tokenizer.from_str((TINY_ASSETS / "tokenizer.json").read_text())
    strict = Tokenizer(backend, {}, "{{ raise_exception('roles must alternate') }}")
    with pytest.raises(InvalidRequestError, match="roles must alternate"):
        strict.apply_chat_template([{"role": "user", "content": "x"}])


def test_rendered_prompt_tokenizes_markup_as_single_ids(tok):
    ids = tok.encode(tok.apply_chat_template([{"role": "user", "content": "Hi"}]))
    assert ids[:1] == [3] and ids.count(3) == 3 and ids.count(4) == 2
    assert ids[-2:] == [5, tok.encode("\n")[0]]
