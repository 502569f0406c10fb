"""Splits `<think>...</think>` output into reasoning and content (Nemotron `nano_v3` rules)."""

from __future__ import annotations

from typing import NamedTuple

from hybridserve.router.gateway.parsers._text import WhitespaceTrimmer, partial_tag_suffix

THINK_START = "<think>"
THINK_END = "</think>"
TOOL_CALL_START = "<tool_call>"
TOOL_CALL_END = "</tool_call>"
REASONING_TAGS = (THINK_START, THINK_END, TOOL_CALL_START)  # the tags that act inside reasoning


class ReasoningDelta(NamedTuple):
    """What one chunk of model text added to each part ("" when nothing)."""

    reasoning: str
    content: str


class ReasoningResult(NamedTuple):
    """A whole response split in two; a part that is empty is None (OpenAI style)."""

    reasoning: str | None
    content: str | None


def starts_in_reasoning(prompt: str) -> bool:
    """Whether the rendered prompt leaves a `<think>` open (the generation prompt with thinking
    on ends in `<think>\\n`; with thinking off it ends in `<think></think>`)."""
    return prompt.rfind(THINK_START) > prompt.rfind(THINK_END)


class ReasoningStreamParser:
    """Incremental reasoning/content splitter for one response; `feed` text deltas, then `finish`.

    Rules (vLLM `nemotron_v3` / DeepSeek-R1, made chunk-invariant):
    - `enable_thinking=False`: every character is content, tags included.
    - The response starts in reasoning when the prompt opened `<think>` (`starts_in_reasoning`),
      or when its first non-whitespace text is `<think>`. A `<think>` inside reasoning is dropped.
    - The first `</think>` ends reasoning for good; later tags are plain content. A response that
      never closes it is all reasoning.
    - Whitespace around the boundaries is trimmed: reasoning is stripped, and content loses the
      whitespace right after `</think>`.
    - Known Nemotron quirk: a complete `<tool_call>...</tool_call>` inside reasoning also ends
      it; the block and all that follows are content, for the tool-call parser. A `</think>` before
      the block's `</tool_call>` means the block was only reasoning text after all.
    Feeding any split of one text gives the same concatenated output.
    """

    def __init__(self, *, in_reasoning: bool = True, enable_thinking: bool = True) -> None:
        if not enable_thinking:
            self._mode = "content"
        else:
            self._mode = "reasoning" if in_reasoning else "undecided"
        self._buffer = ""
        self._reasoning = WhitespaceTrimmer(strip_leading=True)
        self._strip_content = False  # drop leading whitespace of content (right after </think>)

    @property
    def in_reasoning(self) -> bool:
        return self._mode == "reasoning"

    def feed(self, text: str) -> ReasoningDelta:
        self._buffer += text
        return self._drain(final=False)

    def finish(self) -> ReasoningDelta:
        """The text held back for a possible tag, at the end of the response."""
        return self._drain(final=True)

    def _drain(self, final: bool) -> ReasoningDelta:
        reasoning: list[str] = []
        content: list[str] = []
        while self._buffer:
            if self._mode == "undecided" and not self._decide(final):
                break
            if self._mode == "content":
                content.append(self._take_content(self._buffer))
                self._buffer = ""
                break
            if self._mode == "reasoning" and not self._step_reasoning(final, reasoning, content):
                break
        return ReasoningDelta("".join(reasoning), "".join(content))

    def _decide(self, final: bool) -> bool:
        """Undecided mode: reasoning if the text opens with `<think>`. False = wait for more."""
        head = self._buffer.lstrip()
        if head.startswith(THINK_START):
            self._buffer = head[len(THINK_START) :]
            self._mode = "reasoning"
            return True
        if not final and (not head or THINK_START.startswith(head)):
            return False
        self._mode = "content"
        return True

    def _take_content(self, text: str) -> str:
        if self._strip_content:
            text = text.lstrip()
            self._strip_content = not text
        return text

    def _step_reasoning(self, final: bool, reasoning: list[str], content: list[str]) -> bool:
        """Consume the buffer up to and including the next tag; False = wait for more text."""
        buf = self._buffer
        found = [(buf.find(tag), tag) for tag in REASONING_TAGS]
        hits = [(pos, tag) for pos, tag in found if pos >= 0]
        if not hits:
            keep = 0 if final else partial_tag_suffix(buf, REASONING_TAGS)
            reasoning.append(self._reasoning.push(buf[: len(buf) - keep]))
            self._buffer = buf[len(buf) - keep :]
            return False
        pos, tag = min(hits)
        reasoning.append(self._reasoning.push(buf[:pos]))
        if tag == THINK_START:
            self._buffer = buf[pos + len(tag) :]
            return True
        if tag == THINK_END:
            self._end_reasoning(buf[pos + len(tag) :], strip_content=True)
            return True
        close = buf.find(TOOL_CALL_END, pos)
        think_end = buf.find(THINK_END, pos)
        if think_end >= 0 and (close < 0 or think_end < close):
            reasoning.append(self._reasoning.push(buf[pos:think_end]))
            self._end_reasoning(buf[think_end + len(THINK_END) :], strip_content=True)
            return True
        if close >= 0:
            self._end_reasoning(buf[pos:], strip_content=False)  # the hoisted tool call
            return True
        if final:
            reasoning.append(self._reasoning.push(buf[pos:]))
            self._buffer = ""
            return False
        self._buffer = buf[pos:]
        return False

    def _end_reasoning(self, rest: str, strip_content: bool) -> None:
        self._reasoning.cut()
        self._mode = "content"
        self._strip_content = strip_content
        self._buffer = rest


def parse_reasoning(
    text: str, *, in_reasoning: bool = True, enable_thinking: bool = True
) -> ReasoningResult:
    """Split a whole response; same rules as `ReasoningStreamParser`."""
    parser = ReasoningStreamParser(in_reasoning=in_reasoning, enable_thinking=enable_thinking)
    first, last = parser.feed(text), parser.finish()
    return ReasoningResult(
        (first.reasoning + last.reasoning) or None, (first.content + last.content) or None
    )
