"""The gateway's client of the router's gRPC API; gRPC statuses become typed errors here, once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from hybridserve.errors import (
    ContextLengthExceededError,
    InvalidRequestError,
    ModelNotFoundError,
    QueueFullError,
    RequestAbortedError,
    WorkerUnavailableError,
)
from hybridserve.router.stream_channel import stream_channel
from hybridserve.v1 import router_pb2, router_pb2_grpc

_CONTEXT_HINTS = ("context", "exceeds the KV cache")


def typed_error(exc: grpc.aio.AioRpcError) -> Exception:
    """The typed error for a router status (anything unexpected stays a plain 500 error)."""
    code, details = exc.code(), exc.details() or exc.code().name
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        if any(hint in details for hint in _CONTEXT_HINTS):
            return ContextLengthExceededError(details)
        return InvalidRequestError(details)
    if code == grpc.StatusCode.NOT_FOUND:
        return ModelNotFoundError(details)
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return QueueFullError(details)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return WorkerUnavailableError(details)
    if code == grpc.StatusCode.CANCELLED:
        return RequestAbortedError(details)
    return RuntimeError(f"router error {code.name}: {details}")


class RouterClient:
    """One channel to the router; create and close it on the event loop that uses it."""

    def __init__(self, address: str, timeout_s: float | None = None) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self.channel = stream_channel(address)  # its streams pass backpressure to the router
        self.stub = router_pb2_grpc.RouterStub(self.channel)

    async def generate(
        self, request: router_pb2.GenerateRequest
    ) -> AsyncIterator[router_pb2.GenerateResponse]:
        """The router's stream; closing it early (client gone) cancels the call, so the router
        aborts the request upstream."""
        call = self.stub.Generate(request, timeout=self.timeout_s)
        try:
            async for response in call:
                yield response
        except grpc.aio.AioRpcError as exc:
            raise typed_error(exc) from exc
        finally:
            call.cancel()

    async def list_models(self) -> list[router_pb2.ModelInfo]:
        try:
            reply = await self.stub.ListModels(router_pb2.ListModelsRequest(), timeout=10.0)
        except grpc.aio.AioRpcError as exc:
            raise typed_error(exc) from exc
        return list(reply.models)

    async def cluster_status(self) -> router_pb2.ClusterStatusResponse:
        try:
            return await self.stub.ClusterStatus(router_pb2.ClusterStatusRequest(), timeout=5.0)
        except grpc.aio.AioRpcError as exc:
            raise typed_error(exc) from exc

    async def close(self) -> None:
        await self.channel.close()
