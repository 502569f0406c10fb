"""A live stack for gateway tests: the local router cluster on a loop thread, and the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from hybridserve.router.gateway.config import GatewayConfig
from hybridserve.router.gateway.server import GatewayServer
from tests.router.cluster import Cluster, local_cluster

T = TypeVar("T")


class ClusterThread:
    """`local_cluster` kept open on its own event loop thread, so sync tests can use it."""

    def __init__(self, **cluster_options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self._context = local_cluster(**cluster_options)
        try:
            self.cluster: Cluster = self.call(self._context.__aenter__())
        except BaseException:
            self._stop_loop()
            raise

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def running(self, i: int = 0) -> int:
        return self.call(self.cluster.stats(i)).running

    def close(self) -> None:
        try:
            self.call(self._context.__aexit__(None, None, None))
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def live_gateway(router_address: str, **options: Any) -> Iterator[GatewayServer]:
    config = GatewayConfig(router_address=router_address, port=0, **options)
    server = GatewayServer(config).start()
    try:
        yield server
    finally:
        server.stop()
