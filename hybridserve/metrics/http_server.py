"""MetricsHttpServer: a registry's /metrics on its own port, served by a daemon thread."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, start_http_server


class MetricsHttpServer:
    """Serves `registry` (Prometheus text format, any path) on `address` ("host:0" picks a free
    port; see `address` after `start`). Always `stop()` it."""

    def __init__(self, registry: CollectorRegistry, address: str) -> None:
        self.registry = registry
        self._requested = address
        self.address = ""
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://{self.address}/metrics"

    def start(self) -> MetricsHttpServer:
        host, port = self._requested.rsplit(":", 1)
        self._server, self._thread = start_http_server(int(port), host, self.registry)
        self.address = f"{host}:{self._server.server_port}"
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
