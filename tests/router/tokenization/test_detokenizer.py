"""Streaming detokenization: deltas add up to the full decode and never split a character."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridserve.router.tokenization import IncrementalDetokenizer, Tokenizer, load_tokenizer

TEXTS = [
    "Hello 😀 world 👍🏽 done",
    "你好，世界！这是一个测试。",
    "🇫🇷🇯🇵 mixed: café, naïve, 日本語, Ελληνικά, עברית 🎉",
    "<think>reasoning 🤔</think>answer 答案",
]


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return load_tokenizer("tiny")


def stream(detok: IncrementalDetokenizer, ids: list[int]) -> list[str]:
    return [detok.push(i) for i in ids] + [detok.flush()]


@pytest.mark.parametrize("text", TEXTS)
def test_one_token_at_a_time_equals_full_decode(tok, text):
    ids = tok.encode(text)
    assert any("\ufffd" in tok.decode([i]) for i in ids)  # the text does split characters
    deltas = stream(IncrementalDetokenizer(tok), ids)
    assert "".join(deltas) == tok.decode(ids) == text
    assert not any("\ufffd" in d for d in deltas)


def test_prompt_context_does_not_leak_into_output(tok):
    prompt = tok.encode("<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n")
    ids = tok.encode("再见 👋")
    assert "".join(stream(IncrementalDetokenizer(tok, prompt_ids=prompt), ids)) == "再见 👋"


def test_special_tokens_follow_skip_flag(tok):
    ids = tok.encode("a<|im_end|>b")
    assert "".join(stream(IncrementalDetokenizer(tok), ids)) == "ab"
    kept = IncrementalDetokenizer(tok, skip_special_tokens=False)
    assert "".join(stream(kept, ids)) == "a<|im_end|>b"


def test_flush_releases_an_incomplete_character(tok):
    ids = tok.encode("x😀")
    detok = IncrementalDetokenizer(tok)
    partial = [detok.push(i) for i in ids[:-1]]
    assert "".join(partial) == "x"
    assert detok.flush() == "\ufffd"


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_any_text_streams_exactly(tok, text):
    ids = tok.encode(text)
    deltas = stream(IncrementalDetokenizer(tok, skip_special_tokens=False), ids)
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas[:-1]) or "\ufffd" in text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1023), max_size=40))
def test_arbitrary_ids_stream_like_full_decode(tok, ids):
    assert "".join(stream(IncrementalDetokenizer(tok), ids)) == tok.decode(ids)
