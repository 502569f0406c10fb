"""One chat choice's streamed text -> `DeltaMessage`s: reasoning, content, then tool calls."""

from __future__ import annotations

from hybridserve.router.gateway.parsers import (
    ReasoningStreamParser,
    ToolCallStreamParser,
    parses_tool_calls,
)
from hybridserve.router.gateway.parsers.reasoning import ReasoningDelta
from hybridserve.router.gateway.protocol import ChatCompletionRequest, DeltaMessage


class ChoiceStream:
    """Pipeline of one choice: text -> ReasoningStreamParser -> content -> ToolCallStreamParser
    (only when tools are parsed). Each tool-call piece becomes its own message."""

    def __init__(self, request: ChatCompletionRequest) -> None:
        thinking = request.enable_thinking
        self.reasoning = ReasoningStreamParser(in_reasoning=thinking, enable_thinking=thinking)
        self.tools = (
            ToolCallStreamParser(request.tools)
            if parses_tool_calls(request.tools, request.tool_choice)
            else None
        )
        self.called = False

    def feed(self, text: str) -> list[DeltaMessage]:
        return self._messages(self.reasoning.feed(text), final=False)

    def finish(self) -> list[DeltaMessage]:
        return self._messages(self.reasoning.finish(), final=True)

    def finish_reason(self, reason: str | None) -> str | None:
        return "tool_calls" if self.called and reason in ("stop", None) else reason

    def _messages(self, delta: ReasoningDelta, final: bool) -> list[DeltaMessage]:
        out = []
        if delta.reasoning:
            out.append(DeltaMessage(reasoning_content=delta.reasoning))
        if self.tools is None:
            if delta.content:
                out.append(DeltaMessage(content=delta.content))
            return out
        parts = [self.tools.feed(delta.content)] if delta.content else []
        if final:
            parts.append(self.tools.finish())
        for part in parts:
            if part.content:
                out.append(DeltaMessage(content=part.content))
            for call in part.tool_calls:
                self.called = True
                out.append(DeltaMessage(tool_calls=[call]))
        return out
