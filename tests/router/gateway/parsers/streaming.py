"""Helpers that feed the parsers a text in chunks, for comparing with the whole-text result."""

from __future__ import annotations

from collections.abc import Sequence

from hybridserve.router.gateway.parsers import (
    ReasoningStreamParser,
    ToolCallStreamParser,
)
from hybridserve.router.gateway.protocol import DeltaToolCall, Tool


def split_at(text: str, cuts: Sequence[int]) -> list[str]:
    bounds = [0, *sorted({min(max(c, 0), len(text)) for c in cuts}), len(text)]
    return [text[a:b] for a, b in zip(bounds, bounds[1:])]


def stream_reasoning(chunks: Sequence[str], **kwargs: bool) -> tuple[str, str]:
    parser = ReasoningStreamParser(**kwargs)
    deltas = [parser.feed(chunk) for chunk in chunks] + [parser.finish()]
    return "".join(d.reasoning for d in deltas), "".join(d.content for d in deltas)


def stream_tools(
    chunks: Sequence[str], tools: Sequence[Tool] | None = None
) -> tuple[str, list[tuple[str, str]]]:
    """(content, [(name, arguments)]) assembled from the deltas as an OpenAI client would."""
    parser = ToolCallStreamParser(tools)
    content: list[str] = []
    pieces: list[DeltaToolCall] = []
    for delta in [parser.feed(chunk) for chunk in chunks] + [parser.finish()]:
        content.append(delta.content)
        pieces.extend(delta.tool_calls)
    calls: dict[int, list[str]] = {}
    for piece in pieces:
        if piece.id is not None:
            assert piece.id.startswith("call_") and len(piece.id) == 29
            assert piece.index == len(calls)
            calls[piece.index] = [piece.function.name or "", ""]
        calls[piece.index][1] += piece.function.arguments or ""
    return "".join(content), [(name, args) for name, args in calls.values()]
