"""Qwen3-Coder XML tool calls (Nemotron 3 Nano) -> OpenAI `tool_calls`, whole or streamed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from hybridserve.router.gateway.parsers._text import WhitespaceTrimmer, partial_tag_suffix
from hybridserve.router.gateway.parsers.tool_markup import (
    TOOL_CALL_END,
    TOOL_CALL_START,
    Incomplete,
    Malformed,
    parse_block,
)
from hybridserve.router.gateway.parsers.tool_schema import tool_properties
from hybridserve.router.gateway.protocol.tools import (
    DeltaFunctionCall,
    DeltaToolCall,
    FunctionCall,
    Tool,
    ToolCall,
)


class ToolCallDelta(NamedTuple):
    """What one chunk of content text added: plain content, and tool-call pieces to stream."""

    content: str
    tool_calls: list[DeltaToolCall]


class ToolCallResult(NamedTuple):
    content: str | None  # None when empty
    tool_calls: list[ToolCall]


class ToolCallStreamParser:
    """Incremental tool-call extraction for one response; `feed` content deltas, then `finish`.

    - Text outside `<tool_call>` blocks is content; a possible partial `<tool_call>` at the end
      of the text seen so far is held back. Whitespace touching a parsed block is dropped.
    - A block is emitted once its `</tool_call>` arrives, as two deltas of one index: the id, type
      and name (arguments ""), then the whole JSON arguments.
    - A malformed block (unclosed or unexpected tags, bad names, an object parameter that is not
      JSON) is content, verbatim, up to its `</tool_call>` or the next `<tool_call>`.
    Feeding any split of one text gives the same content and calls (ids aside). Never raises on
    model output.
    """

    def __init__(self, tools: Sequence[Tool] | None = None) -> None:
        self._properties = tool_properties(tools)
        self._buffer = ""
        self._content = WhitespaceTrimmer(strip_leading=False)
        self.tool_calls: list[ToolCall] = []

    def feed(self, text: str) -> ToolCallDelta:
        self._buffer += text
        return self._drain(final=False)

    def finish(self) -> ToolCallDelta:
        """The held-back text at the end of the response (an unfinished block is content)."""
        return self._drain(final=True)

    def _drain(self, final: bool) -> ToolCallDelta:
        content: list[str] = []
        deltas: list[DeltaToolCall] = []
        while self._buffer:
            buf = self._buffer
            pos = buf.find(TOOL_CALL_START)
            if pos < 0:
                keep = 0 if final else partial_tag_suffix(buf, (TOOL_CALL_START,))
                content.append(self._content.push(buf[: len(buf) - keep]))
                self._buffer = buf[len(buf) - keep :]
                break
            content.append(self._content.push(buf[:pos]))
            self._buffer = buf[pos:]
            try:
                block = parse_block(self._buffer, 0, self._properties, final)
            except Incomplete:
                break
            except Malformed:
                end = _malformed_end(self._buffer, final)
                if end is None:
                    break
                content.append(self._content.push(self._buffer[:end]))
                self._buffer = self._buffer[end:]
                continue
            self._content.cut()
            deltas.extend(self._add_call(block.name, block.arguments))
            self._buffer = self._buffer[block.end :]
        if final:
            content.append(self._content.flush())
        return ToolCallDelta("".join(content), deltas)

    def _add_call(self, name: str, arguments: str) -> list[DeltaToolCall]:
        call = ToolCall(function=FunctionCall(name=name, arguments=arguments))
        index = len(self.tool_calls)
        self.tool_calls.append(call)
        header = DeltaFunctionCall(name=name, arguments="")
        return [
            DeltaToolCall(index=index, id=call.id, type="function", function=header),
            DeltaToolCall(index=index, function=DeltaFunctionCall(arguments=arguments)),
        ]


def _malformed_end(text: str, final: bool) -> int | None:
    """Where the malformed block at the start of `text` ends: after its `</tool_call>`, or at
    the next `<tool_call>`, whichever comes first; None = not known yet."""
    close = text.find(TOOL_CALL_END, len(TOOL_CALL_START))
    again = text.find(TOOL_CALL_START, len(TOOL_CALL_START))
    if close >= 0 and (again < 0 or close < again):
        return close + len(TOOL_CALL_END)
    if again >= 0:
        return again
    return len(text) if final else None


def parse_tool_calls(text: str, tools: Sequence[Tool] | None = None) -> ToolCallResult:
    """Extract every tool call of a whole response; same rules as `ToolCallStreamParser`."""
    parser = ToolCallStreamParser(tools)
    content = parser.feed(text).content + parser.finish().content
    return ToolCallResult(content or None, parser.tool_calls)
