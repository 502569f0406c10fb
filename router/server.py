"""The router's gRPC server: Router service, health and reflection over a group registry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import grpc
from prometheus_client import CollectorRegistry

from hybridserve.metrics import MetricsHttpServer, RouterMetrics
from hybridserve.router.discovery import RayDiscovery
from hybridserve.router.dispatch import Dispatcher
from hybridserve.router.groups import GroupRegistry, WorkerGroup
from hybridserve.router.policies import create_policy
from hybridserve.router.servicer import RouterServicer
from hybridserve.v1 import router_pb2, router_pb2_grpc
from hybridserve.v1.standard_services import StandardServices

ROUTER_SERVICE = router_pb2.DESCRIPTOR.services_by_name["Router"].full_name


@dataclass(frozen=True)
class RouterConfig:
    """`policy_options` go to the policy's constructor (cache_aware: prefill_weight,
    decode_weight, affinity_weight, balance_abs, balance_rel; any: seed). `groups` are Worker
    addresses registered at start; more can be added and removed at run time. `metrics_address`
    ("host:port", port 0: a free one) serves the router's Prometheus metrics; None: not served
    (they are still recorded). With `ray_address`, groups on that Ray cluster are found and
    dropped every `discovery_interval_s` (router.discovery); None: no discovery."""

    address: str = "127.0.0.1:0"
    policy: str = "cache_aware"
    policy_options: dict[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()
    health_interval_s: float = 1.0
    metrics_address: str | None = None
    ray_address: str | None = None
    discovery_interval_s: float = 5.0


class RouterServer:
    """Use `await start()` / `await stop()` on the asyncio loop that will run it."""

    def __init__(self, config: RouterConfig) -> None:
        self.config = config
        self.metrics_registry = CollectorRegistry()  # per server: no global-registry clashes
        self.metrics = RouterMetrics(self.metrics_registry)
        self.registry = GroupRegistry(config.health_interval_s, metrics=self.metrics)
        self.policy = create_policy(config.policy, **config.policy_options)
        self.dispatcher = Dispatcher(self.registry, self.policy, self.metrics)
        self.server = grpc.aio.server()
        router_pb2_grpc.add_RouterServicer_to_server(
            RouterServicer(self.registry, self.dispatcher), self.server
        )
        self.standard = StandardServices(self.server, [ROUTER_SERVICE])
        self.address = ""
        self.metrics_server: MetricsHttpServer | None = None
        self.discovery: RayDiscovery | None = None

    @property
    def metrics_url(self) -> str:
        """http://host:port/metrics once started with a `metrics_address`, else ""."""
        return self.metrics_server.url if self.metrics_server is not None else ""

    async def start(self) -> RouterServer:
        for address in self.config.groups:
            await self.registry.add(address)
        self.registry.start()
        if self.config.ray_address is not None:
            self.discovery = RayDiscovery(
                self.registry, self.config.ray_address, self.config.discovery_interval_s
            )
            self.discovery.start()
        port = self.server.add_insecure_port(self.config.address)
        self.address = f"{self.config.address.rsplit(':', 1)[0]}:{port}"
        await self.server.start()
        await self.standard.set_serving(True)
        if self.config.metrics_address is not None:
            self.metrics_server = MetricsHttpServer(
                self.metrics_registry, self.config.metrics_address
            ).start()
        return self

    async def add_group(self, address: str, group_id: str | None = None) -> WorkerGroup:
        return await self.registry.add(address, group_id)

    async def remove_group(self, group_id: str) -> None:
        await self.registry.remove(group_id)

    async def stop(self, grace: float | None = None) -> None:
        await self.standard.set_serving(False)
        await self.server.stop(grace)
        if self.discovery is not None:
            await self.discovery.close()
        await self.registry.close()
        if self.metrics_server is not None:
            self.metrics_server.stop()
            self.metrics_server = None
