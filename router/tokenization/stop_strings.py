"""Stop strings over streamed text: emit what cannot start a stop, hold back what might."""

from __future__ import annotations

from collections.abc import Sequence


class StopStringMatcher:
    """One request's stop-string state. The emitted text never contains a stop string, and
    nothing after the first match is ever emitted."""

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = tuple(s for s in stops if s)
        self._held = ""  # the longest tail that is a proper prefix of some stop
        self.stopped = False

    def push(self, text_delta: str) -> tuple[str, bool]:
        """Returns (text safe to emit now, whether a stop string has matched)."""
        if self.stopped:
            return "", True
        text = self._held + text_delta
        hits = [i for i in (text.find(s) for s in self._stops) if i >= 0]
        if hits:
            self._held, self.stopped = "", True
            return text[: min(hits)], True
        keep = self._partial_match_len(text)
        self._held = text[len(text) - keep :]
        return text[: len(text) - keep], False

    def flush(self) -> str:
        """Release the held-back tail once the stream ends without completing a stop."""
        held, self._held = self._held, ""
        return held

    def _partial_match_len(self, text: str) -> int:
        best = 0
        for stop in self._stops:
            for n in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:n]):
                    best = n
                    break
        return best
