"""Response models serialize to what the official openai client parses."""

from __future__ import annotations

import openai.types as ot
import openai.types.chat as oc

from hybridserve.router.gateway.parsers import ToolCallStreamParser, parse_tool_calls
from hybridserve.router.gateway.protocol import (
    ChatCompletion,
    ChatCompletionChoice,
    ChatCompletionChunk,
    ChatCompletionChunkChoice,
    ChatCompletionMessage,
    Completion,
    CompletionChoice,
    CompletionChunk,
    DeltaMessage,
    ErrorResponse,
    ModelCard,
    ModelList,
    Usage,
)

CALL = "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>"


def test_chat_completion_with_tool_calls():
    parsed = parse_tool_calls(CALL)
    body = ChatCompletion(
        model="tiny",
        choices=[
            ChatCompletionChoice(
                index=0,
                message=ChatCompletionMessage(
                    content=parsed.content, reasoning_content="r", tool_calls=parsed.tool_calls
                ),
                finish_reason="tool_calls",
            )
        ],
        usage=Usage.of(10, 5, cached_tokens=8),
    )
    data = body.model_dump(mode="json")
    client = oc.ChatCompletion.model_validate(data)
    assert client.choices[0].message.tool_calls[0].function.arguments == '{"a": "1"}'
    assert client.usage.total_tokens == 15
    assert client.usage.prompt_tokens_details.cached_tokens == 8
    assert data["id"].startswith("chatcmpl-")


def test_chunks():
    parser = ToolCallStreamParser()
    delta = parser.feed(CALL)
    chunk = ChatCompletionChunk(
        id="chatcmpl-1",
        model="tiny",
        choices=[
            ChatCompletionChunkChoice(index=0, delta=DeltaMessage(tool_calls=delta.tool_calls))
        ],
    )
    client = oc.ChatCompletionChunk.model_validate(chunk.model_dump(mode="json"))
    assert client.choices[0].delta.tool_calls[0].function.name == "f"
    usage_only = ChatCompletionChunk(id="chatcmpl-1", model="tiny", usage=Usage.of(1, 2))
    assert oc.ChatCompletionChunk.model_validate(usage_only.model_dump(mode="json")).choices == []
    text = CompletionChunk(
        id="cmpl-1",
        model="tiny",
        choices=[CompletionChoice(index=0, text="x", finish_reason="stop")],
    )
    assert ot.Completion.model_validate(text.model_dump(mode="json")).choices[0].text == "x"


def test_completion_models_and_error():
    body = Completion(
        model="tiny",
        choices=[CompletionChoice(index=0, text="hi", finish_reason="length")],
        usage=Usage.of(2, 1),
    )
    assert ot.Completion.model_validate(body.model_dump(mode="json")).object == "text_completion"
    models = ModelList(data=[ModelCard(id="tiny", max_model_len=4096)]).model_dump()
    assert models["data"][0]["object"] == "model" and models["object"] == "list"
    error = ErrorResponse.of("bad", "invalid_request_error", param="n").model_dump()
    assert error == {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "n", "code": None}
    }
