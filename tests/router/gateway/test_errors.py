"""Every error maps to one HTTP status and an OpenAI error body."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hybridserve.errors import (
    ContextLengthExceededError,
    InvalidRequestError,
    QueueFullError,
    WorkerUnavailableError,
)
from hybridserve.router.gateway.errors import (
    AuthenticationError,
    ModelNotFoundError,
    RequestTooLargeError,
    http_error,
    validation_error_body,
)
from hybridserve.router.gateway.protocol import ChatCompletionRequest


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (ContextLengthExceededError("prompt has 5000 tokens; the limit is 4096"), 400, None),
        (InvalidRequestError("top_k must be -1 or >= 1"), 400, None),
        (AuthenticationError("invalid API key"), 401, "invalid_api_key"),
        (ModelNotFoundError("model 'x' does not exist"), 404, "model_not_found"),
        (RequestTooLargeError("body over 1 MiB"), 413, "request_too_large"),
        (QueueFullError("queue full"), 429, "rate_limit_exceeded"),
        (WorkerUnavailableError("no healthy group"), 503, "service_unavailable"),
    ],
)
def test_statuses(exc, status, code):
    error = http_error(exc)
    assert error.status == status
    body = error.body.model_dump()["error"]
    assert body["message"] == str(exc) and set(body) == {"message", "type", "param", "code"}
    if code is not None:
        assert body["code"] == code
    if isinstance(exc, ContextLengthExceededError):
        assert body["code"] == "context_length_exceeded" and "4096" in body["message"]


def test_unexpected_errors_hide_details():
    error = http_error(RuntimeError("secret path /x"))
    assert error.status == 500 and "secret" not in error.body.error.message


def test_validation_errors_name_the_param():
    with pytest.raises(ValidationError) as info:
        ChatCompletionRequest.model_validate({"model": "m", "messages": [], "temperature": 9})
    error = http_error(info.value)
    assert error.status == 400 and error.body.error.type == "invalid_request_error"
    assert error.body.error.param == "temperature"
    assert "1 more" in error.body.error.message


def test_fastapi_style_locations():
    body = validation_error_body([{"loc": ("body", "top_p"), "msg": "too big"}])
    assert body.error.param == "top_p" and body.error.message == "top_p: too big"
    assert validation_error_body([]).error.type == "invalid_request_error"
