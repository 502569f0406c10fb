"""`hybridserve up` as a newcomer runs it (a subprocess: real Ray, router, gateway, tiny model),
driven with the official openai client and with curl as README shows."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

import httpx
import openai
import pytest

pytestmark = pytest.mark.e2e
LONG_PROMPT = " ".join(f"word{i}" for i in range(300))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = _free_port()
    cmd = [sys.executable, "-m", "hybridserve.cli", "up", "--port", str(port)]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail("hybridserve up did not become healthy in 120 s")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C stops everything cleanly
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        assert proc.returncode == 0 and "hybridserve: stopped" in out, out[-2000:]
        capacity = r"group 0: KV cache [1-9]\d* tokens, [1-9]\d* Mamba state slots, up to 64 "
        assert re.search(capacity, out), out[-2000:]


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server}/v1", api_key="unused")


def test_chat_and_completions_streaming_and_not(client):
    chat = client.chat.completions.create(
        model="tiny",
        messages=[{"role": "user", "content": "Hi"}],
        max_tokens=8,
        n=2,
        logprobs=True,
        top_logprobs=2,
    )
    assert len(chat.choices) == 2 and chat.usage.completion_tokens == 16
    assert chat.usage.total_tokens == chat.usage.prompt_tokens + 16
    assert all(len(c.logprobs.content) == 8 for c in chat.choices)
    pieces = list(
        client.chat.completions.create(
            model="tiny",
            messages=[{"role": "user", "content": "Hi"}],
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"chat_template_kwargs": {"enable_thinking": False}},
        )
    )
    assert pieces[-1].usage.completion_tokens == 8
    assert "".join(c.choices[0].delta.content or "" for c in pieces if c.choices)
    text = client.completions.create(model="tiny", prompt="Once upon", max_tokens=12, temperature=0)
    streamed = client.completions.create(
        model="tiny", prompt="Once upon", max_tokens=12, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == text.choices[0].text


def test_seed_stop_and_cache(client):
    def sample(**kw):
        return client.completions.create(
            model="tiny", prompt="The cat", max_tokens=16, temperature=1.0, **kw
        ).choices[0]

    assert sample(seed=7).text == sample(seed=7).text
    full = (
        client.completions.create(model="tiny", prompt="The cat", max_tokens=16, temperature=0)
        .choices[0]
        .text
    )
    cut = client.completions.create(
        model="tiny", prompt="The cat", max_tokens=16, temperature=0, stop=[full[4:7]]
    ).choices[0]
    assert cut.finish_reason == "stop" and full.startswith(cut.text) and len(cut.text) < 16 * 8
    for _ in range(2):
        usage = client.completions.create(model="tiny", prompt=LONG_PROMPT, max_tokens=2).usage
    assert usage.prompt_tokens_details.cached_tokens > 0


def test_bad_input_then_still_serving(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt="x", max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        client.completions.create(model="tiny", prompt="x", max_tokens=2, temperature=-1)
    with pytest.raises(openai.BadRequestError, match="4096"):
        client.completions.create(model="tiny", prompt=LONG_PROMPT * 20, max_tokens=2)
    assert client.completions.create(model="tiny", prompt="x", max_tokens=2).choices[0].text


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_example_answers(server):
    body = (
        '{"model": "tiny", "messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 32}'
    )
    out = subprocess.run(
        [
            "curl",
            "-s",
            f"{server}/v1/chat/completions",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert '"chat.completion"' in out and '"finish_reason"' in out
