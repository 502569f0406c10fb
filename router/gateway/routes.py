"""The OpenAI endpoints: `/v1/chat/completions`, `/v1/completions` and `/v1/models`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from hybridserve.errors import ModelNotFoundError
from hybridserve.router.gateway.chat import chat_completion, chat_completion_chunks
from hybridserve.router.gateway.completions import completion, completion_chunks
from hybridserve.router.gateway.config import GatewayConfig
from hybridserve.router.gateway.events import (
    merge_events,
    prefetch,
    sample_events,
    token_text_for,
)
from hybridserve.router.gateway.guards import check_api_key, read_body
from hybridserve.router.gateway.protocol import (
    ChatCompletionRequest,
    CompletionRequest,
    ModelCard,
    ModelList,
)
from hybridserve.router.gateway.requests import chat_generate_request, text_generate_request
from hybridserve.router.gateway.router_client import RouterClient
from hybridserve.router.gateway.sse import SSEResponse


def _json(model: object) -> JSONResponse:
    return JSONResponse(model.model_dump(mode="json"))  # type: ignore[attr-defined]


def create_routes(config: GatewayConfig) -> APIRouter:
    """The endpoints, each checking the API key and the body size before parsing."""
    routes = APIRouter(prefix="/v1")

    def client(request: Request) -> RouterClient:
        return request.app.state.router_client

    @routes.post("/chat/completions")
    async def chat(request: Request) -> Response:
        check_api_key(request, config.api_keys)
        body = ChatCompletionRequest.model_validate_json(
            await read_body(request, config.max_body_bytes)
        )
        upstream = chat_generate_request(body, config.default_max_tokens)
        responses = client(request).generate(upstream)
        events = await prefetch(sample_events(responses, token_text_for(body.model)))
        if body.stream:
            return SSEResponse(chat_completion_chunks(body, events))
        return _json(await chat_completion(body, events))

    @routes.post("/completions")
    async def completions(request: Request) -> Response:
        check_api_key(request, config.api_keys)
        body = CompletionRequest.model_validate_json(
            await read_body(request, config.max_body_bytes)
        )
        token_text = token_text_for(body.model)
        streams = [
            sample_events(
                client(request).generate(text_generate_request(body, prompt)),
                token_text,
                index_offset=i * body.n,
            )
            for i, prompt in enumerate(body.prompts())
        ]
        events = await prefetch(merge_events(streams))
        if body.stream:
            return SSEResponse(completion_chunks(body, events))
        return _json(await completion(body, events))

    @routes.get("/models")
    async def models(request: Request) -> Response:
        check_api_key(request, config.api_keys)
        return _json(ModelList(data=await _cards(client(request))))

    @routes.get("/models/{model_id:path}")
    async def model(request: Request, model_id: str) -> Response:
        check_api_key(request, config.api_keys)
        for card in await _cards(client(request)):
            if card.id == model_id:
                return _json(card)
        raise ModelNotFoundError(f"model {model_id!r} is not served here")

    return routes


async def _cards(client: RouterClient) -> list[ModelCard]:
    return [
        ModelCard(id=m.id, max_model_len=m.max_model_len or None)
        for m in await client.list_models()
    ]
