"""The tiny preset's tokenizer: vocabulary layout, lossless round trips, loading by name/folder."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hybridserve.errors import ConfigError
from hybridserve.router.tokenization import Tokenizer, find_tokenizer, load_tokenizer

TINY_ASSETS = files("hybridserve") / "assets" / "tiny"
SPECIAL_IDS = {
    "<pad>": 0,
    "<s>": 1,
    "</s>": 2,
    "<|im_start|>": 3,
    "<|im_end|>": 4,
    "<think>": 5,
    "</think>": 6,
    "<tool_call>": 7,
    "</tool_call>": 8,
    "<tool_response>": 9,
    "</tool_response>": 10,
}


@pytest.fixture(scope="module")
def tok() -> Tokenizer:
    return load_tokenizer("tiny")


def test_vocab_size_matches_the_tiny_model(tok):
    assert tok.vocab_size == 1024
    assert max(tok.encode("any text at all, even 😀 and 你好")) < 1024


@pytest.mark.parametrize("token", list(SPECIAL_IDS))
def test_each_special_token_is_one_fixed_id(tok, token):
    assert tok.token_id(token) == SPECIAL_IDS[token]
    assert tok.encode(token) == [SPECIAL_IDS[token]]
    assert tok.encode(f"a{token}b")[1:-1] == [SPECIAL_IDS[token]]


def test_config_tokens_and_eos(tok):
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == ("<s>", "<|im_end|>", "<pad>")
    assert tok.eos_token_ids == (4,)


def test_decode_drops_control_tokens_but_keeps_markup(tok):
    ids = tok.encode("<|im_start|>assistant\n<think>x</think>y<|im_end|>")
    assert tok.decode(ids) == "assistant\n<think>x</think>y"
    assert tok.decode(ids, skip_special_tokens=False).startswith("<|im_start|>")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_unicode_text_round_trips(tok, text):
    ids = tok.encode(text)
    assert tok.decode(ids, skip_special_tokens=False) == text
    if not any(t in text for t in SPECIAL_IDS):
        assert tok.decode(ids) == text


def test_round_trips_hard_cases(tok):
    cases = ["", " ", "\n\n\t ", "  lead", "😀👍🏽🇫🇷", "你好，世界", "\x00\x7f\u200b", "é" * 50]
    for text in cases:
        assert tok.decode(tok.encode(text)) == text


def test_folder_with_template_in_config(tmp_path):
    (tmp_path / "tokenizer.json").write_bytes((TINY_ASSETS / "tokenizer.json").read_bytes())
    config = {"eos_token": {"content": "</s>"}, "chat_template": "{{ messages[0].content }}!"}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    loaded = load_tokenizer(str(tmp_path))
    assert loaded.eos_token_ids == (2, 4)
    assert loaded.apply_chat_template([{"role": "user", "content": "hi"}]) == "hi!"
    assert find_tokenizer(str(tmp_path)) is not None


def test_presets_and_missing_tokenizers(tmp_path):
    assert find_tokenizer("tiny") is not None
    assert find_tokenizer("nemotron-3-nano-30b-a3b") is None
    assert find_tokenizer(str(tmp_path)) is None
    with pytest.raises(ConfigError, match="ships no tokenizer"):
        load_tokenizer("nemotron-3-nano-30b-a3b")
    with pytest.raises(ConfigError, match="neither a preset nor a folder"):
        load_tokenizer("no-such-model")
    with pytest.raises(ConfigError, match="no tokenizer.json"):
        load_tokenizer(str(tmp_path))


def test_tokenization_does_not_import_torch():
    code = "import sys, hybridserve.router.tokenization as t; t.load_tokenizer('tiny');"
    code += "assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
