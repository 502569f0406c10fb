"""The Worker gRPC server of a worker group's rank 0: Worker service, health, reflection, KV PUB."""

from __future__ import annotations

import grpc

from hybridserve.v1 import worker_pb2, worker_pb2_grpc
from hybridserve.v1.standard_services import StandardServices
from hybridserve.workers.service import EngineClient, KVEventPublisher, WorkerServicer

WORKER_SERVICE = worker_pb2.DESCRIPTOR.services_by_name["Worker"].full_name


class WorkerServer:
    """Serves `client` on `address` ("host:0" picks a free port) and publishes its KV events on
    `kv_bind`. Use `await start()` / `await stop()` on the asyncio loop that will run it."""

    def __init__(
        self,
        client: EngineClient,
        address: str = "127.0.0.1:0",
        kv_bind: str = "tcp://127.0.0.1:*",
        kv_interval_s: float = 0.02,
        load_interval_s: float = 0.5,
    ) -> None:
        self.client = client
        self._requested = address
        self.publisher = KVEventPublisher(client, kv_bind, kv_interval_s, load_interval_s)
        self.server = grpc.aio.server()
        worker_pb2_grpc.add_WorkerServicer_to_server(
            WorkerServicer(client, self.publisher), self.server
        )
        self.standard = StandardServices(self.server, [WORKER_SERVICE])
        self.address = ""

    async def start(self) -> WorkerServer:
        port = self.server.add_insecure_port(self._requested)
        self.address = f"{self._requested.rsplit(':', 1)[0]}:{port}"
        self.publisher.start()
        await self.server.start()
        await self.standard.set_serving(True)
        return self

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving; with `grace`, in-flight calls get that many seconds to finish."""
        await self.standard.set_serving(False)
        await self.server.stop(grace)
        await self.publisher.close()
