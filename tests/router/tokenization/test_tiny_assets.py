"""The committed tiny tokenizer assets: reproducible from the script, and HF-compatible."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest

from hybridserve.router.tokenization import load_tokenizer

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "scripts" / "make_tiny_tokenizer.py"
ASSETS = files("hybridserve") / "assets" / "tiny"
NAMES = ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja")


def test_script_reproduces_the_committed_files_byte_for_byte(tmp_path):
    for run in ("a", "b"):  # separate processes: no shared hash seeds or caches
        out = tmp_path / run
        subprocess.run(
            [sys.executable, str(SCRIPT), "--out", str(out)], check=True, capture_output=True
        )
    for name in NAMES:
        first = (tmp_path / "a" / name).read_bytes()
        assert first == (tmp_path / "b" / name).read_bytes(), name
        assert first == (ASSETS / name).read_bytes(), f"{name} is stale: rerun {SCRIPT.name}"


def test_transformers_agrees_on_ids_and_chat_rendering():
    transformers = pytest.importorskip("transformers")
    hf = transformers.AutoTokenizer.from_pretrained(str(ASSETS))
    ours = load_tokenizer("tiny")
    text = "Hi <think>x</think> 😀 你好 <|im_end|>"
    assert hf.encode(text, add_special_tokens=False) == ours.encode(text)
    assert hf.eos_token_id == ours.eos_token_ids[0] and hf.pad_token_id == 0
    messages = [
        {"role": "system", "content": "S"},
        {"role": "user", "content": "Q"},
        {
            "role": "assistant",
            "content": "A",
            "reasoning_content": "R",
            "tool_calls": [{"function": {"name": "f", "arguments": {"k": [1]}}}],
        },
        {"role": "tool", "content": "T"},
        {"role": "user", "content": "Q2"},
    ]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    for kwargs in ({}, {"enable_thinking": False}, {"truncate_history_thinking": False}):
        expected = hf.apply_chat_template(
            messages, tools=tools, tokenize=False, add_generation_prompt=True, **kwargs
        )
        assert ours.apply_chat_template(messages, tools=tools, **kwargs) == expected
