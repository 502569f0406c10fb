"""Structural parse of one Qwen3-Coder `<tool_call>` block, safe on a text that is still growing."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from hybridserve.router.gateway.parsers.tool_schema import BadArgumentError, convert_value
from hybridserve.router.gateway.protocol.tools import FUNCTION_NAME_RE

TOOL_CALL_START = "<tool_call>"
TOOL_CALL_END = "</tool_call>"
FUNCTION_START = "<function="
FUNCTION_END = "</function>"
PARAMETER_START = "<parameter="
PARAMETER_END = "</parameter>"
MAX_NAME_CHARS = 256


class Incomplete(Exception):
    """The block cannot be judged yet: more text may change the outcome."""


class Malformed(Exception):
    """The block is not a valid tool call; its text is returned as content."""


class ParsedBlock(NamedTuple):
    name: str
    arguments: str  # JSON object text
    end: int  # index just after `</tool_call>`


def parse_block(
    text: str, start: int, properties: dict[str, dict[str, Any]], final: bool
) -> ParsedBlock:
    """Parse the block at `text[start:]` (which starts with `<tool_call>`).

    Raises `Incomplete` (only when not `final`) or `Malformed`. Decisions depend only on the
    text already seen, so a growing text never turns a parsed block into another result.
    """
    try:
        return _Block(text, properties, final).parse(start)
    except Incomplete:
        if final:
            raise Malformed("unfinished tool call") from None
        raise


class _Block:
    def __init__(self, text: str, properties: dict[str, dict[str, Any]], final: bool) -> None:
        self.text = text
        self.properties = properties
        self.final = final

    def parse(self, start: int) -> ParsedBlock:
        pos = self.expect(self.skip_ws(start + len(TOOL_CALL_START)), FUNCTION_START)
        name, pos = self.name_until_gt(pos)
        if not FUNCTION_NAME_RE.fullmatch(name):
            raise Malformed(f"bad function name {name!r}")
        schema = self.properties.get(name, {})
        arguments: dict[str, Any] = {}
        while True:
            pos = self.skip_ws(pos)
            if self.text.startswith(FUNCTION_END, pos):
                pos += len(FUNCTION_END)
                break
            pos = self.expect(pos, PARAMETER_START)
            param, pos = self.name_until_gt(pos)
            if not param or any(c.isspace() or c in "<>" for c in param):
                raise Malformed(f"bad parameter name {param!r}")
            value, pos = self.value(pos, set(schema) - set(arguments) - {param})
            try:
                arguments[param] = convert_value(value, schema.get(param))
            except BadArgumentError as e:
                raise Malformed(str(e)) from None
        end = self.expect(self.skip_ws(pos), TOOL_CALL_END)
        try:
            text = json.dumps(arguments, ensure_ascii=False, allow_nan=False)
        except ValueError as e:
            raise Malformed(str(e)) from None
        return ParsedBlock(name, text, end)

    def skip_ws(self, pos: int) -> int:
        while pos < len(self.text) and self.text[pos].isspace():
            pos += 1
        if pos == len(self.text):
            raise Incomplete
        return pos

    def expect(self, pos: int, marker: str) -> int:
        """The index after `marker` at `pos`."""
        if self.text.startswith(marker, pos):
            return pos + len(marker)
        if marker.startswith(self.text[pos:]):
            raise Incomplete
        raise Malformed(f"expected {marker!r} at {pos}")

    def name_until_gt(self, pos: int, forgiving: bool = False) -> tuple[str, int]:
        """The text up to the next `>` (a function or parameter name) and the index after it;
        with `forgiving`, a name that can never end is "" instead of `Malformed`."""
        gt = self.text.find(">", pos, pos + MAX_NAME_CHARS + 1)
        if gt < 0:
            if "\n" in self.text[pos:] or len(self.text) - pos > MAX_NAME_CHARS or self.final:
                if forgiving:
                    return "", pos
                raise Malformed("unterminated name")
            raise Incomplete
        return self.text[pos:gt], gt + 1

    def value(self, pos: int, unseen: set[str]) -> tuple[str, int]:
        """A parameter value (one leading and one trailing newline stripped) and the index
        after its end: the first `</parameter>` followed by the next parameter or `</function>`,
        or a line `<parameter=NAME>` naming a schema parameter not given yet (a forgotten
        `</parameter>`), whichever comes first."""
        if pos == len(self.text):
            raise Incomplete
        if self.text[pos] == "\n":
            pos += 1
        search = pos
        while True:
            close = self.text.find(PARAMETER_END, search)
            line = self.text.find("\n" + PARAMETER_START, search) if unseen else -1
            if close < 0 and line < 0:
                break
            if line >= 0 and (close < 0 or line < close):
                name, _ = self.name_until_gt(line + 1 + len(PARAMETER_START), forgiving=True)
                if name in unseen:
                    return self.text[pos:line], line + 1
                search = line + 1
                continue
            after = close + len(PARAMETER_END)
            nxt = after
            while nxt < len(self.text) and self.text[nxt].isspace():
                nxt += 1
            rest = self.text[nxt : nxt + len(PARAMETER_START)]
            if rest.startswith((PARAMETER_START, FUNCTION_END)):
                return _strip_newline(self.text[pos:close]), after
            partial = any(m.startswith(rest) for m in (PARAMETER_START, FUNCTION_END))
            if partial and not self.final:
                raise Incomplete  # the lookahead is not complete yet
            search = after
        if not self.final:
            raise Incomplete
        return self.implicit_value(pos)

    def implicit_value(self, pos: int) -> tuple[str, int]:
        """Final text, no structural `</parameter>`: the value ends at the next line that starts
        with `<parameter=` or `</function>` (the model forgot to close it)."""
        ends = [self.text.find("\n" + m, pos) for m in (PARAMETER_START, FUNCTION_END)]
        ends = [e for e in ends if e >= 0]
        if not ends:
            raise Malformed("unclosed parameter")
        return self.text[pos : min(ends)], min(ends) + 1


def _strip_newline(value: str) -> str:
    return value[:-1] if value.endswith("\n") else value
