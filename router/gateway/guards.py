"""Checks at the HTTP edge before any parsing: the API key, and the body size limit."""

from __future__ import annotations

import hmac

from starlette.requests import Request

from hybridserve.router.gateway.errors import AuthenticationError, RequestTooLargeError


def check_api_key(request: Request, api_keys: tuple[str, ...]) -> None:
    """Raises AuthenticationError unless keys are off or `Authorization: Bearer KEY` matches."""
    if not api_keys:
        return
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise AuthenticationError("missing API key: send 'Authorization: Bearer <key>'")
    if not any(hmac.compare_digest(key.strip(), known) for known in api_keys):
        raise AuthenticationError("invalid API key")


async def read_body(request: Request, max_bytes: int) -> bytes:
    """The raw body; RequestTooLargeError from Content-Length alone, or as soon as the bytes
    received pass `max_bytes` (a chunked upload)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestTooLargeError(f"request body is {declared} bytes; the limit is {max_bytes}")
    body = bytearray()
    async for part in request.stream():
        body += part
        if len(body) > max_bytes:
            raise RequestTooLargeError(f"request body is over the limit of {max_bytes} bytes")
    return bytes(body)
