"""Reasoning parser: Nemotron `<think>` outputs, whole and streamed at every split."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridserve.router.gateway.parsers import (
    ReasoningResult,
    ReasoningStreamParser,
    parse_reasoning,
    starts_in_reasoning,
)
from hybridserve.router.tokenization import IncrementalDetokenizer, load_tokenizer
from tests.router.gateway.parsers.streaming import split_at, stream_reasoning

CALL = "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>"

# (model output, prompt opened <think>, enable_thinking) -> (reasoning, content)
CASES = [
    ("The user greets.\n</think>\nHello!", True, True, ("The user greets.", "Hello!")),
    ("<think>\nplan\n</think>\n\nAnswer", True, True, ("plan", "Answer")),
    ("<think>\nplan\n</think>\nAnswer", False, True, ("plan", "Answer")),
    ("Just an answer.", False, True, (None, "Just an answer.")),
    ("  \n<think>x</think>y", False, True, ("x", "y")),
    ("out of budget, still thinking \n", True, True, ("out of budget, still thinking", None)),
    ("Hello </think> stays", True, False, (None, "Hello </think> stays")),
    ("<think></think>Hi", True, False, (None, "<think></think>Hi")),
    ("a</think>b</think><think>c", True, True, ("a", "b</think><think>c")),
    ("a<think>b</think>c", True, True, ("ab", "c")),
    ("</think>", True, True, (None, None)),
    ("", True, True, (None, None)),
    (
        "2 < 3 and <thinking> is not a tag</think>ok",
        True,
        True,
        ("2 < 3 and <thinking> is not a tag", "ok"),
    ),
    # The quirk: a complete tool call inside an unclosed think span is hoisted out.
    (f"I need f.\n{CALL}", True, True, ("I need f.", CALL)),
    (f"I need f.\n{CALL}\n{CALL}", True, True, ("I need f.", f"{CALL}\n{CALL}")),
    (
        "An example: <tool_call>...</think>Answer",
        True,
        True,
        ("An example: <tool_call>...", "Answer"),
    ),
    (
        "half a call <tool_call>\n<function=f>",
        True,
        True,
        ("half a call <tool_call>\n<function=f>", None),
    ),
    (f"plan</think>\nok\n{CALL}", True, True, ("plan", f"ok\n{CALL}")),
]


@pytest.mark.parametrize(("text", "opened", "thinking", "expected"), CASES)
def test_whole_text(text, opened, thinking, expected):
    result = parse_reasoning(text, in_reasoning=opened, enable_thinking=thinking)
    assert result == ReasoningResult(*expected)


@pytest.mark.parametrize(("text", "opened", "thinking", "expected"), CASES)
def test_every_split_point_and_single_chars(text, opened, thinking, expected):
    whole = parse_reasoning(text, in_reasoning=opened, enable_thinking=thinking)
    want = (whole.reasoning or "", whole.content or "")
    kwargs = {"in_reasoning": opened, "enable_thinking": thinking}
    for cut in range(len(text) + 1):
        assert stream_reasoning(split_at(text, [cut]), **kwargs) == want, cut
    assert stream_reasoning(list(text), **kwargs) == want


def test_prompt_state():
    assert starts_in_reasoning("<|im_start|>assistant\n<think>\n")
    assert not starts_in_reasoning("<|im_start|>assistant\n<think></think>")
    assert not starts_in_reasoning("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n")


def test_tiny_template_generation_prompts():
    tok = load_tokenizer("tiny")
    messages = [{"role": "user", "content": "hi"}]
    assert starts_in_reasoning(tok.apply_chat_template(messages))
    assert not starts_in_reasoning(tok.apply_chat_template(messages, enable_thinking=False))


def test_partial_tags_are_held_back_then_released():
    parser = ReasoningStreamParser()
    assert parser.feed("think </th") == ("think", "")
    assert parser.feed("ink>") == ("", "")
    assert not parser.in_reasoning
    assert parser.feed(" answer <") == ("", "answer <")  # no tag matters in content
    parser = ReasoningStreamParser()
    assert parser.feed("a </thi") == ("a", "")
    assert parser.feed("s is not a tag") == (" </this is not a tag", "")


def test_detokenized_tiny_model_stream_matches_whole_text():
    tok = load_tokenizer("tiny")
    text = f"Weighing options 🤔.\n</think>\nCalling f.\n{CALL}"
    detok = IncrementalDetokenizer(tok, tok.encode("<|im_start|>assistant\n<think>\n"))
    deltas = [detok.push(i) for i in tok.encode(text)] + [detok.flush()]
    assert "".join(deltas) == text
    assert tok.encode("<think></think><tool_call></tool_call>") == [5, 6, 7, 8]
    whole = parse_reasoning(text)
    assert stream_reasoning(deltas) == (whole.reasoning, whole.content)
    assert whole == ReasoningResult("Weighing options 🤔.", f"Calling f.\n{CALL}")


FRAGMENTS = ["<think>", "</think>", "<tool_call>", "</tool_call>", "<", "</", "think", ">", "\n"]
texts = st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=6), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    text=texts,
    cuts=st.lists(st.integers(0, 80), max_size=10),
    opened=st.booleans(),
    thinking=st.booleans(),
)
def test_any_chunking_equals_whole_text(text, cuts, opened, thinking):
    whole = parse_reasoning(text, in_reasoning=opened, enable_thinking=thinking)
    streamed = stream_reasoning(split_at(text, cuts), in_reasoning=opened, enable_thinking=thinking)
    assert streamed == (whole.reasoning or "", whole.content or "")
    if not thinking:
        assert whole.content == (text or None)
