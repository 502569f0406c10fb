"""Typed errors shared by every component; the HTTP and gRPC edges map each to one status."""

from __future__ import annotations


class HybridServeError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(HybridServeError, ValueError):
    """A model or cluster configuration is invalid; the message names the field."""


class WeightLoadError(HybridServeError, ValueError):
    """A checkpoint does not fit the model: a tensor is missing, unexpected or mis-shaped."""


class InvalidRequestError(HybridServeError, ValueError):
    """A request's parameters are out of range (HTTP 400, gRPC INVALID_ARGUMENT)."""


class ContextLengthExceededError(InvalidRequestError):
    """The prompt (plus max_tokens) does not fit the model's context (HTTP 400)."""


class ModelNotFoundError(HybridServeError, LookupError):
    """No worker group serves the requested model (HTTP 404, gRPC NOT_FOUND)."""


class GroupNotFoundError(HybridServeError, LookupError):
    """No worker group is registered under that id (gRPC NOT_FOUND)."""


class GroupExistsError(HybridServeError):
    """A worker group with that id or address is already registered (gRPC ALREADY_EXISTS)."""


class QueueFullError(HybridServeError):
    """The engine or cluster refuses new work for now (HTTP 429, gRPC RESOURCE_EXHAUSTED)."""


class RequestAbortedError(HybridServeError):
    """The request was aborted before it finished."""


class WorkerUnavailableError(HybridServeError):
    """No healthy worker can take the request (HTTP 503, gRPC UNAVAILABLE)."""
