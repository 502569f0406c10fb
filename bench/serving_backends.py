"""Request drivers of the serving benchmark: the gateway's streaming `/v1/completions` (HTTP, SSE)
and the router's `Router.Generate` (gRPC). Both send token-id prompts, greedy, with `ignore_eos`,
so every request reads exactly its prompt and writes exactly `output_len` tokens."""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from typing import Any

import grpc
import httpx

from bench.serving_datasets import BenchRequest
from bench.serving_metrics import RequestResult, timed_result
from hybridserve.v1 import common_pb2, router_pb2, router_pb2_grpc


class BaseBackend(ABC):
    """One target server. `send` may be awaited concurrently; it raises on transport errors
    (the caller records them as failures) and returns a failed result for a refused request."""

    @abstractmethod
    async def default_model(self) -> str:
        """The first model the server lists."""

    @abstractmethod
    async def send(self, request: BenchRequest, model: str) -> RequestResult: ...

    @abstractmethod
    async def close(self) -> None: ...


async def sse_payloads(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of `data:` lines, up to `data: [DONE]`."""
    async for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[len("data:") :].strip()
        if data == "[DONE]":
            return
        yield json.loads(data)


class OpenAIBackend(BaseBackend):
    """`POST {base_url}/v1/completions` with `stream: true` and `include_usage`; output tokens
    and cached tokens come from the final usage chunk (chunks counted if there is none)."""

    def __init__(self, base_url: str, api_key: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
        self.client = httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=None, limits=limits
        )

    async def default_model(self) -> str:
        response = await self.client.get("/v1/models")
        response.raise_for_status()
        return response.json()["data"][0]["id"]

    async def send(self, request: BenchRequest, model: str) -> RequestResult:
        body = {
            "model": model,
            "prompt": request.prompt,
            "max_tokens": request.output_len,
            "temperature": 0.0,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        chunk_times: list[float] = []
        usage: dict[str, Any] = {}
        start = time.perf_counter()
        async with self.client.stream("POST", "/v1/completions", json=body) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode(errors="replace")
                return RequestResult(ok=False, error=f"HTTP {response.status_code}: {text}")
            async for payload in sse_payloads(response.aiter_lines()):
                if "error" in payload:
                    return RequestResult(ok=False, error=json.dumps(payload["error"]))
                if any(choice.get("text") for choice in payload.get("choices", ())):
                    chunk_times.append(time.perf_counter())
                usage = payload.get("usage") or usage
        end = time.perf_counter()
        details = usage.get("prompt_tokens_details") or {}
        return timed_result(
            start,
            chunk_times,
            end,
            prompt_tokens=usage.get("prompt_tokens", len(request.prompt)),
            output_tokens=usage.get("completion_tokens", len(chunk_times)),
            cached_tokens=details.get("cached_tokens"),
        )

    async def close(self) -> None:
        await self.client.aclose()


class GrpcBackend(BaseBackend):
    """`Router.Generate` with token ids and no text (`return_text` off): the router's own path,
    without detokenization or HTTP. Output tokens are counted from the deltas."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.stub = router_pb2_grpc.RouterStub(self.channel)

    async def default_model(self) -> str:
        reply = await self.stub.ListModels(router_pb2.ListModelsRequest())
        return reply.models[0].id

    async def send(self, request: BenchRequest, model: str) -> RequestResult:
        message = router_pb2.GenerateRequest(
            model=model,
            token_ids=router_pb2.TokenIds(ids=request.prompt),
            sampling=common_pb2.SamplingParams(
                max_tokens=request.output_len, temperature=0.0, ignore_eos=True
            ),
        )
        chunk_times: list[float] = []
        tokens, cached = 0, None
        start = time.perf_counter()
        async for reply in self.stub.Generate(message):
            count = sum(len(delta.token_ids) for delta in reply.deltas)
            if count:
                chunk_times.append(time.perf_counter())
                tokens += count
            if reply.HasField("usage"):
                cached = reply.usage.cached_tokens
        end = time.perf_counter()
        return timed_result(start, chunk_times, end, len(request.prompt), tokens, cached)

    async def close(self) -> None:
        await self.channel.close()


def create_backend(
    name: str, base_url: str, router_address: str | None, api_key: str | None = None
) -> BaseBackend:
    if name == "openai":
        return OpenAIBackend(base_url, api_key)
    if name == "grpc" and router_address:
        return GrpcBackend(router_address)
    raise ValueError(f"backend {name!r} (openai, or grpc with a router address)")
