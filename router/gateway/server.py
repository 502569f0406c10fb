"""Runs the gateway with uvicorn: `run_gateway` blocks; `GatewayServer` runs it on a thread."""

from __future__ import annotations

import threading
import time

import uvicorn

from hybridserve.router.gateway.app import create_app
from hybridserve.router.gateway.config import GatewayConfig


def _uvicorn(config: GatewayConfig) -> uvicorn.Server:
    app = create_app(config)
    options = uvicorn.Config(
        app, host=config.host, port=config.port, log_level=config.log_level, access_log=False
    )
    return uvicorn.Server(options)


def run_gateway(config: GatewayConfig) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn handles the signals on the main thread)."""
    _uvicorn(config).run()


class GatewayServer:
    """The gateway on a background thread with its own event loop; `config.port` 0 picks a free
    port (see `url` after `start`). Always `stop()` it (or use it as a context manager)."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.server = _uvicorn(config)
        self.thread = threading.Thread(target=self.server.run, name="gateway", daemon=True)
        self.url = ""

    def start(self, timeout_s: float = 30.0) -> GatewayServer:
        self.thread.start()
        deadline = time.monotonic() + timeout_s
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                where = f"{self.config.host}:{self.config.port}"
                raise RuntimeError(f"gateway did not start on {where}")
            time.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{self.config.host}:{port}"
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout_s)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
