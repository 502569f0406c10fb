"""Server-sent events in OpenAI's format: `data: {chunk}` lines, then `data: [DONE]`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

from pydantic import BaseModel
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from hybridserve.router.gateway.errors import http_error

log = logging.getLogger(__name__)
DONE = b"data: [DONE]\n\n"


def sse_event(chunk: BaseModel) -> bytes:
    return b"data: " + json.dumps(chunk.model_dump(mode="json")).encode() + b"\n\n"


async def sse_body(chunks: AsyncIterator[BaseModel]) -> AsyncIterator[bytes]:
    """The event stream; an error after the first byte becomes an error event before [DONE]."""
    try:
        async for chunk in chunks:
            yield sse_event(chunk)
    except Exception as exc:  # noqa: BLE001 - the status line is sent: report it in-band
        log.warning("stream failed: %r", exc)
        yield sse_event(http_error(exc).body)
    finally:
        await chunks.aclose()  # type: ignore[attr-defined]
    yield DONE


class SSEResponse(StreamingResponse):
    """Always closes its body, even when the client went away mid-stream, so that the router
    call under it is cancelled at once (not when the generator is garbage-collected)."""

    media_type = "text/event-stream"

    def __init__(self, chunks: AsyncIterator[BaseModel]) -> None:
        super().__init__(sse_body(chunks), headers={"Cache-Control": "no-cache"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]
