"""Streaming detokenization: text deltas that never end inside a UTF-8 character."""

from __future__ import annotations

from collections.abc import Sequence

from hybridserve.router.tokenization.tokenizer import Tokenizer

REPLACEMENT_CHAR = "\ufffd"
# Prompt tokens decoded as left context, so the first generated token decodes as it would in
# the full text (vLLM's INITIAL_INCREMENTAL_DETOKENIZATION_OFFSET).
PROMPT_CONTEXT_TOKENS = 5


class IncrementalDetokenizer:
    """Turns one request's generated ids into text, one id at a time (vLLM-style offsets).

    Invariant: `ids[prefix_offset:read_offset]` is the context last emitted text was decoded
    in; text is emitted only once the decode of `ids[prefix_offset:]` does not end in U+FFFD,
    i.e. once the bytes of the last character are complete.
    """

    def __init__(
        self,
        tokenizer: Tokenizer,
        prompt_ids: Sequence[int] | None = None,
        skip_special_tokens: bool = True,
    ) -> None:
        self._tokenizer = tokenizer
        self._skip = skip_special_tokens
        self._ids: list[int] = list(prompt_ids or [])
        self._read_offset = len(self._ids)
        self._prefix_offset = max(self._read_offset - PROMPT_CONTEXT_TOKENS, 0)

    def push(self, token_id: int) -> str:
        """Add one generated id; returns the text it completes (often "", never partial)."""
        self._ids.append(token_id)
        return self._advance(final=False)

    def flush(self) -> str:
        """The held-back tail at the end of generation (U+FFFD for an incomplete character)."""
        return self._advance(final=True)

    def _advance(self, final: bool) -> str:
        decode = self._tokenizer.decode
        prefix = decode(self._ids[self._prefix_offset : self._read_offset], self._skip)
        text = decode(self._ids[self._prefix_offset :], self._skip)
        if len(text) <= len(prefix) or (text.endswith(REPLACEMENT_CHAR) and not final):
            return ""
        self._prefix_offset = self._read_offset
        self._read_offset = len(self._ids)
        return text[len(prefix) :]
