"""Turns a Router GenerateRequest's input (text, chat messages or token ids) into token ids."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format

from hybridserve.errors import InvalidRequestError
from hybridserve.router.tokenization import Tokenizer
from hybridserve.v1 import router_pb2


def prompt_token_ids(request: router_pb2.GenerateRequest, tokenizer: Tokenizer | None) -> list[int]:
    """Raises InvalidRequestError for a missing or empty prompt, or text without a tokenizer."""
    kind = request.WhichOneof("input")
    if kind is None:
        raise InvalidRequestError("prompt: give one of text, chat or token_ids")
    if kind == "token_ids":
        ids = list(request.token_ids.ids)
    else:
        if tokenizer is None:
            raise InvalidRequestError(f"{kind}: model {request.model!r} has no tokenizer")
        text = request.text if kind == "text" else render_chat(request.chat, tokenizer)
        ids = tokenizer.encode(text)
    if not ids:
        raise InvalidRequestError("prompt: must contain at least one token")
    return ids


def render_chat(chat: router_pb2.ChatInput, tokenizer: Tokenizer) -> str:
    if not chat.messages:
        raise InvalidRequestError("chat.messages: must contain at least one message")
    tools: list[dict[str, Any]] | None = None
    if chat.tools_json:
        try:
            tools = json.loads(chat.tools_json)
        except json.JSONDecodeError as exc:
            raise InvalidRequestError(f"chat.tools_json: not valid JSON: {exc}") from exc
        if not isinstance(tools, list):
            raise InvalidRequestError("chat.tools_json: must be a JSON list of tools")
    kwargs: dict[str, Any] = {}
    if chat.HasField("template_kwargs"):
        kwargs = json_format.MessageToDict(chat.template_kwargs)
    add_generation_prompt = (
        chat.add_generation_prompt if chat.HasField("add_generation_prompt") else True
    )
    messages = [_message(m) for m in chat.messages]
    return tokenizer.apply_chat_template(messages, tools, add_generation_prompt, **kwargs)


def _message(msg: router_pb2.ChatMessage) -> dict[str, Any]:
    out: dict[str, Any] = {"role": msg.role, "content": msg.content}
    if msg.HasField("reasoning_content"):
        out["reasoning_content"] = msg.reasoning_content
    if msg.HasField("tool_call_id"):
        out["tool_call_id"] = msg.tool_call_id
    if msg.HasField("name"):
        out["name"] = msg.name
    if msg.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": call.type or "function",
                "function": {"name": call.name, "arguments": call.arguments_json or "{}"},
            }
            for call in msg.tool_calls
        ]
    return out
