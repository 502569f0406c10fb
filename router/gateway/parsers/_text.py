"""Text helpers shared by the streaming parsers: held-back tag prefixes and whitespace."""

from __future__ import annotations

from collections.abc import Iterable


def partial_tag_suffix(text: str, tags: Iterable[str]) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of one of `tags`.

    A streaming parser holds those characters back: the next chunk may complete the tag.
    """
    longest = 0
    for tag in tags:
        for size in range(min(len(tag) - 1, len(text)), longest, -1):
            if text.endswith(tag[:size]):
                longest = size
                break
    return longest


class WhitespaceTrimmer:
    """Emits text with the whitespace at chosen boundaries removed, one chunk at a time.

    Whitespace at the end of the text seen so far is held back until more non-whitespace text
    arrives (then it is emitted) or a boundary is reached (`cut`: it is dropped). After
    `start_segment()` the leading whitespace of the next text is dropped.
    """

    def __init__(self, strip_leading: bool) -> None:
        self._strip_leading = strip_leading
        self._pending = ""

    def push(self, text: str) -> str:
        if self._strip_leading:
            text = text.lstrip()
            if not text:
                return ""
            self._strip_leading = False
        full = self._pending + text
        body = full.rstrip()
        self._pending = full[len(body) :]
        return body

    def cut(self) -> None:
        """A boundary: held whitespace is dropped, and so is the leading whitespace after it."""
        self._pending = ""
        self._strip_leading = True

    def flush(self) -> str:
        """End of text: the held whitespace, which touches no boundary, is emitted."""
        pending, self._pending = self._pending, ""
        return pending
