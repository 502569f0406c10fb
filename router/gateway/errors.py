"""Gateway errors, and every error mapped once to an HTTP status and OpenAI's error body."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pydantic import ValidationError

from hybridserve.errors import (
    ContextLengthExceededError,
    HybridServeError,
    InvalidRequestError,
    ModelNotFoundError,
    QueueFullError,
    WorkerUnavailableError,
)
from hybridserve.router.gateway.protocol.common import ErrorResponse


class AuthenticationError(HybridServeError):
    """The API key is missing or wrong while keys are configured (HTTP 401)."""


class RequestTooLargeError(HybridServeError):
    """The request body is over the gateway's size limit (HTTP 413)."""


class HttpError(NamedTuple):
    status: int
    body: ErrorResponse


# (class, status, OpenAI error type, code); the first matching row wins, so subclasses go first.
_ROWS: tuple[tuple[type[BaseException], int, str, str | None], ...] = (
    (ContextLengthExceededError, 400, "invalid_request_error", "context_length_exceeded"),
    (InvalidRequestError, 400, "invalid_request_error", None),
    (AuthenticationError, 401, "invalid_request_error", "invalid_api_key"),
    (ModelNotFoundError, 404, "invalid_request_error", "model_not_found"),
    (RequestTooLargeError, 413, "invalid_request_error", "request_too_large"),
    (QueueFullError, 429, "rate_limit_error", "rate_limit_exceeded"),
    (WorkerUnavailableError, 503, "service_unavailable", "service_unavailable"),
)


def http_error(exc: BaseException) -> HttpError:
    """The status and body for any exception; unexpected ones are a 500 without details."""
    if isinstance(exc, ValidationError):
        return HttpError(400, validation_error_body(exc.errors()))
    for cls, status, kind, code in _ROWS:
        if isinstance(exc, cls):
            return HttpError(status, ErrorResponse.of(str(exc), kind, code=code))
    return HttpError(500, ErrorResponse.of("internal server error", "server_error"))


def validation_error_body(errors: Sequence[Mapping[str, Any]]) -> ErrorResponse:
    """A 400 body from pydantic (or FastAPI `RequestValidationError`) errors: the first
    error's message, `param` naming its field path."""
    if not errors:
        return ErrorResponse.of("invalid request", "invalid_request_error")
    first = errors[0]
    loc = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(loc) or None
    message = str(first.get("msg", "invalid value"))
    if param:
        message = f"{param}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error(s))"
    return ErrorResponse.of(message, "invalid_request_error", param=param)
