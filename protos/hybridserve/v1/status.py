"""The one map from hybridserve's typed errors to gRPC status codes, used by every gRPC edge."""

from __future__ import annotations

import grpc

from hybridserve.errors import (
    ConfigError,
    GroupExistsError,
    GroupNotFoundError,
    InvalidRequestError,
    ModelNotFoundError,
    QueueFullError,
    RequestAbortedError,
    WorkerUnavailableError,
)

# Checked in order, so subclasses (ContextLengthExceededError) meet their base's entry.
_CODES: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (ModelNotFoundError, grpc.StatusCode.NOT_FOUND),
    (GroupNotFoundError, grpc.StatusCode.NOT_FOUND),
    (GroupExistsError, grpc.StatusCode.ALREADY_EXISTS),
    (InvalidRequestError, grpc.StatusCode.INVALID_ARGUMENT),
    (QueueFullError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (WorkerUnavailableError, grpc.StatusCode.UNAVAILABLE),
    (RequestAbortedError, grpc.StatusCode.CANCELLED),
    (ConfigError, grpc.StatusCode.FAILED_PRECONDITION),
)


def status_code(exc: BaseException) -> grpc.StatusCode:
    """The gRPC status for `exc`: its typed error's code, INTERNAL for anything else."""
    for cls, code in _CODES:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


# Codes a router may retry on another group, when no token has been streamed yet.
RETRYABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INTERNAL}
)
