"""Validated OpenAI requests -> the router's `GenerateRequest`s (chat input or a text prompt)."""

from __future__ import annotations

import json

from hybridserve.router.gateway.parsers import tools_for_template
from hybridserve.router.gateway.protocol import (
    AssistantMessage,
    ChatCompletionRequest,
    CompletionRequest,
    ToolMessage,
    sampling_kwargs,
)
from hybridserve.router.gateway.protocol.chat import MessageContent
from hybridserve.router.gateway.protocol.completions import Prompt
from hybridserve.v1 import common_pb2, router_pb2


def sampling_params(
    request: ChatCompletionRequest | CompletionRequest, default_max_tokens: int | None = None
) -> common_pb2.SamplingParams:
    """The wire form of `sampling_kwargs`; a None value stays unset (the engine's default).
    A chat request without an output limit gets `default_max_tokens`, or none (wire value 0:
    until EOS, a stop or the context limit, as OpenAI's and vLLM's chat APIs)."""
    kwargs = sampling_kwargs(request)
    if kwargs["max_tokens"] is None:
        kwargs["max_tokens"] = default_max_tokens or 0
    fields = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    return common_pb2.SamplingParams(**{k: v for k, v in fields.items() if v is not None})


def _text(content: MessageContent | None) -> str:
    if content is None:
        return ""
    return content if isinstance(content, str) else "".join(part.text for part in content)


def _chat_message(message: object) -> router_pb2.ChatMessage:
    out = router_pb2.ChatMessage(role=message.role, content=_text(message.content))  # type: ignore[attr-defined]
    if message.name is not None:  # type: ignore[attr-defined]
        out.name = message.name  # type: ignore[attr-defined]
    if isinstance(message, ToolMessage):
        out.tool_call_id = message.tool_call_id
    if isinstance(message, AssistantMessage):
        if message.reasoning_content is not None:
            out.reasoning_content = message.reasoning_content
        for call in message.tool_calls or []:
            out.tool_calls.append(
                router_pb2.ToolCall(
                    id=call.id,
                    type=call.type,
                    name=call.function.name,
                    arguments_json=call.function.arguments,
                )
            )
    return out


def chat_generate_request(
    request: ChatCompletionRequest, default_max_tokens: int | None = None
) -> router_pb2.GenerateRequest:
    chat = router_pb2.ChatInput(messages=[_chat_message(m) for m in request.messages])
    if request.chat_template_kwargs:
        chat.template_kwargs.update(request.chat_template_kwargs)
    tools = tools_for_template(request.tools, request.tool_choice)
    if tools:
        chat.tools_json = json.dumps([tool.model_dump(exclude_none=True) for tool in tools])
    return router_pb2.GenerateRequest(
        model=request.model,
        chat=chat,
        sampling=sampling_params(request, default_max_tokens),
        return_text=True,
    )


def text_generate_request(
    request: CompletionRequest, prompt: Prompt, default_max_tokens: int | None = None
) -> router_pb2.GenerateRequest:
    out = router_pb2.GenerateRequest(
        model=request.model, sampling=sampling_params(request, default_max_tokens), return_text=True
    )
    if isinstance(prompt, str):
        out.text = prompt
    else:
        out.token_ids.ids.extend(prompt)
    return out
