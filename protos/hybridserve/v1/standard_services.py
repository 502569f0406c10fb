"""Standard gRPC services every hybridserve server registers: health checking and reflection."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection


class StandardServices:
    """Health (overall "" and one entry per service) and server reflection for `server`."""

    def __init__(self, server: grpc.aio.Server, service_names: list[str]) -> None:
        self.health = health.aio.HealthServicer()
        self.service_names = ["", *service_names]
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME]
        reflection.enable_server_reflection(names, server)

    async def set_serving(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for name in self.service_names:
            await self.health.set(name, status)
