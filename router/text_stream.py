"""Per-sample text for streamed token ids: incremental detokenization, then stop strings."""

from __future__ import annotations

from collections.abc import Sequence

from hybridserve.router.tokenization import IncrementalDetokenizer, StopStringMatcher, Tokenizer


class SampleText:
    """One sample's text state; `push` returns the text safe to emit and whether a stop string
    matched (nothing after a match is ever emitted)."""

    def __init__(
        self,
        tokenizer: Tokenizer,
        prompt_ids: Sequence[int],
        stops: Sequence[str],
        skip_special_tokens: bool = True,
    ) -> None:
        self._detok = IncrementalDetokenizer(tokenizer, prompt_ids, skip_special_tokens)
        self._stops = StopStringMatcher(stops)

    @property
    def stopped(self) -> bool:
        return self._stops.stopped

    def push(self, token_ids: Sequence[int], final: bool) -> tuple[str, bool]:
        text = "".join(self._detok.push(t) for t in token_ids)
        if final:
            text += self._detok.flush()
        emitted, stopped = self._stops.push(text)
        if final and not stopped:
            emitted += self._stops.flush()
        return emitted, stopped
