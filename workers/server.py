"""The Worker gRPC server of a worker group's rank 0: Worker service, health, reflection, KV PUB,
and the group's Prometheus metrics (optionally served over HTTP)."""

from __future__ import annotations

import grpc
from prometheus_client import CollectorRegistry

from hybridserve.metrics import MetricsHttpServer, WorkerMetrics
from hybridserve.v1 import worker_pb2, worker_pb2_grpc
from hybridserve.v1.standard_services import StandardServices
from hybridserve.workers.service import EngineClient, KVEventPublisher, WorkerServicer

WORKER_SERVICE = worker_pb2.DESCRIPTOR.services_by_name["Worker"].full_name


class WorkerServer:
    """Serves `client` on `address` ("host:0" picks a free port) and publishes its KV events on
    `kv_bind`. Use `await start()` / `await stop()` on the asyncio loop that will run it.

    Metrics are recorded into `metrics_registry` (its own, per server) labelled `group` (default:
    the served host:port): engine stats every `load_interval_s`, request latencies per call.
    `metrics_address` ("host:port", port 0: a free one) serves them; `serve_metrics` can also
    start that later. `stream_interval`: tokens a stream holds before a message (WorkerServicer)."""

    def __init__(
        self,
        client: EngineClient,
        address: str = "127.0.0.1:0",
        kv_bind: str = "tcp://127.0.0.1:*",
        kv_interval_s: float = 0.02,
        load_interval_s: float = 0.5,
        group: str | None = None,
        metrics_address: str | None = None,
        stream_interval: int = 1,
    ) -> None:
        self.client = client
        self._requested = address
        self._group = group
        self._metrics_address = metrics_address
        self.publisher = KVEventPublisher(client, kv_bind, kv_interval_s, load_interval_s)
        self.servicer = WorkerServicer(client, self.publisher, stream_interval=stream_interval)
        self.server = grpc.aio.server()
        worker_pb2_grpc.add_WorkerServicer_to_server(self.servicer, self.server)
        self.standard = StandardServices(self.server, [WORKER_SERVICE])
        self.address = ""
        self.metrics_registry = CollectorRegistry()
        self.metrics: WorkerMetrics | None = None  # made at start, once the label is known
        self.metrics_server: MetricsHttpServer | None = None

    @property
    def metrics_url(self) -> str:
        """http://host:port/metrics while metrics are served over HTTP, else ""."""
        return self.metrics_server.url if self.metrics_server is not None else ""

    async def start(self) -> WorkerServer:
        port = self.server.add_insecure_port(self._requested)
        self.address = f"{self._requested.rsplit(':', 1)[0]}:{port}"
        self.metrics = WorkerMetrics(self.metrics_registry, self._group or self.address)
        self.servicer.metrics = self.metrics
        self.publisher.on_stats = self.metrics.observe_stats
        self.publisher.start()
        await self.server.start()
        await self.standard.set_serving(True)
        if self._metrics_address is not None:
            self.serve_metrics(self._metrics_address)
        return self

    def serve_metrics(self, address: str) -> str:
        """Serve the metrics over HTTP on `address` (once); returns the /metrics URL."""
        if self.metrics_server is None:
            self.metrics_server = MetricsHttpServer(self.metrics_registry, address).start()
        return self.metrics_server.url

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving; with `grace`, in-flight calls get that many seconds to finish."""
        await self.standard.set_serving(False)
        await self.server.stop(grace)
        await self.publisher.close()
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None
