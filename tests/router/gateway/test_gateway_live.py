"""The gateway over a real router and tiny-model worker, through the official openai client."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from tests.router.gateway.live import ClusterThread, live_gateway

KEY = "sk-test"
MAX_BODY = 64 << 10
NO_THINK = {"chat_template_kwargs": {"enable_thinking": False}}


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[ClusterThread, str]]:
    cluster = ClusterThread(num_groups=1)
    try:
        with live_gateway(
            cluster.cluster.router.address, api_keys=(KEY,), max_body_bytes=MAX_BODY
        ) as gateway:
            yield cluster, gateway.url
    finally:
        cluster.close()


@pytest.fixture
def client(stack: tuple[ClusterThread, str]) -> openai.OpenAI:
    return openai.OpenAI(base_url=stack[1] + "/v1", api_key=KEY, max_retries=0, timeout=60)


def _chat(client: openai.OpenAI, **kw: object):
    kw.setdefault("max_tokens", 8)
    kw.setdefault("model", "tiny")
    messages = [{"role": "user", "content": "Hello there"}]
    return client.chat.completions.create(messages=messages, **kw)


def test_chat_non_stream_counts_usage(client):
    reply = _chat(client, temperature=0, extra_body=NO_THINK)
    choice = reply.choices[0]
    assert reply.object == "chat.completion" and reply.model == "tiny"
    assert choice.finish_reason in ("stop", "length")
    assert reply.usage.completion_tokens <= 8 and reply.usage.prompt_tokens > 0
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens
    assert choice.message.content is not None
    assert getattr(choice.message, "reasoning_content", None) is None


def test_chat_stream_thinking_on_and_off(client):
    def run(**kw: object) -> tuple[str, str, list]:
        chunks = list(_chat(client, stream=True, stream_options={"include_usage": True}, **kw))
        content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        reasoning = "".join(
            getattr(c.choices[0].delta, "reasoning_content", None) or ""
            for c in chunks
            if c.choices
        )
        return content, reasoning, chunks

    _, reasoning, chunks = run(max_tokens=6, temperature=0, extra_body={"ignore_eos": True})
    assert reasoning  # the prompt opens <think>: the output starts as reasoning
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 6
    assert chunks[-2].choices[0].finish_reason == "length"
    content, reasoning, _ = run(temperature=0, extra_body=NO_THINK)
    assert reasoning == "" and content


def test_n_logprobs_seed_and_stop(client):
    reply = _chat(client, n=2, logprobs=True, top_logprobs=2, seed=7, extra_body=NO_THINK)
    assert [c.index for c in reply.choices] == [0, 1]
    for choice in reply.choices:
        tokens = choice.logprobs.content
        assert tokens and all(len(t.top_logprobs) == 2 for t in tokens)
    again = _chat(client, n=2, logprobs=True, top_logprobs=2, seed=7, extra_body=NO_THINK)
    assert [c.message.content for c in again.choices] == [c.message.content for c in reply.choices]


def test_completions_stream_and_not(client):
    reply = client.completions.create(model="tiny", prompt="The quick brown", max_tokens=5)
    assert reply.choices[0].text and reply.usage.completion_tokens <= 5
    batch = client.completions.create(
        model="tiny", prompt=["a b c", "d e f"], n=2, max_tokens=3, logprobs=1
    )
    assert [c.index for c in batch.choices] == [0, 1, 2, 3]
    assert batch.choices[3].logprobs.tokens
    stream = client.completions.create(
        model="tiny",
        prompt="The quick brown",
        max_tokens=5,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    greedy = client.completions.create(
        model="tiny", prompt="The quick brown", max_tokens=5, temperature=0
    )
    assert text == greedy.choices[0].text
    assert chunks[-1].usage.completion_tokens == greedy.usage.completion_tokens


def test_models_health_metrics(client, stack):
    models = client.models.list()
    assert [m.id for m in models.data] == ["tiny"]
    assert httpx.get(stack[1] + "/health").status_code == 200
    metrics = httpx.get(stack[1] + "/metrics").text
    assert 'hybridserve_gateway_requests_total{route="/v1/models",status="200"}' in metrics
    assert "hybridserve_gateway_request_duration_seconds_bucket" in metrics


def test_cached_tokens_on_a_repeated_long_prompt(client):
    prompt = " ".join(f"word{i}" for i in range(300))
    first = client.completions.create(model="tiny", prompt=prompt, max_tokens=2)
    time.sleep(0.2)
    second = client.completions.create(model="tiny", prompt=prompt, max_tokens=2)
    assert first.usage.prompt_tokens == second.usage.prompt_tokens
    assert second.usage.prompt_tokens_details.cached_tokens > 0


def test_error_statuses(client, stack):
    with pytest.raises(openai.BadRequestError):
        _chat(client, temperature=5)
    with pytest.raises(openai.BadRequestError, match="4096"):
        client.completions.create(model="tiny", prompt="hi " * 5000, max_tokens=4)
    with pytest.raises(openai.NotFoundError):
        _chat(client, model="gpt-unknown")
    anonymous = openai.OpenAI(base_url=stack[1] + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        anonymous.models.list()
    with pytest.raises(openai.APIStatusError) as info:
        client.completions.create(model="tiny", prompt="x" * (MAX_BODY + 1))
    assert info.value.status_code == 413
    assert "limit" in info.value.body["message"]
    assert _chat(client).choices  # still serving


def test_disconnect_mid_stream_frees_the_slots(stack):
    cluster, url = stack
    body = {
        "model": "tiny",
        "messages": [{"role": "user", "content": "go"}],
        "max_tokens": 3000,
        "ignore_eos": True,
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {KEY}"}
    before = cluster.call(cluster.cluster.stats(0)).generated_tokens
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, headers=headers) as r:
        assert r.status_code == 200
        lines = r.iter_lines()
        for _ in range(6):
            next(lines)
        assert cluster.running() == 1
    deadline = time.monotonic() + 10
    while cluster.running() != 0:
        assert time.monotonic() < deadline, "the worker still runs the abandoned request"
        time.sleep(0.05)
    generated = cluster.call(cluster.cluster.stats(0)).generated_tokens - before
    assert generated < 3000  # aborted, not run to the end


def test_unavailable_router_is_503_and_full_queue_is_429():
    with live_gateway("127.0.0.1:1") as gateway:
        client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
        with pytest.raises(openai.InternalServerError) as info:
            _chat(client)
        assert info.value.status_code == 503
        assert httpx.get(gateway.url + "/health").status_code == 503
    # two full groups: with one, the router's retry finds no other group and says UNAVAILABLE
    cluster = ClusterThread(num_groups=2, max_waiting_requests=0)
    try:
        with live_gateway(cluster.cluster.router.address) as gateway:
            client = openai.OpenAI(base_url=gateway.url + "/v1", api_key="x", max_retries=0)
            with pytest.raises(openai.RateLimitError):
                _chat(client)
    finally:
        cluster.close()
