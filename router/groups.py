"""The registry of worker groups: added and removed at run time, health-checked, load-counted."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from dataclasses import dataclass

import grpc
import zmq.asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from hybridserve.errors import ConfigError, GroupExistsError, GroupNotFoundError
from hybridserve.metrics import RouterMetrics
from hybridserve.router.kv_events import KVEventSubscriber
from hybridserve.router.prefix_index import PrefixIndex
from hybridserve.router.stream_channel import stream_channel
from hybridserve.v1 import kv_wire, worker_pb2, worker_pb2_grpc


@dataclass
class GroupLoad:
    """The router's own load count for a group, changed at dispatch and at stream end."""

    in_flight: int = 0
    pending_prefill_tokens: int = 0
    active_tokens: int = 0


class WorkerGroup:
    """One registered group: its channels, what it serves, health and load. Generate streams
    run on a channel of their own whose small read window passes a slow reader's backpressure
    to the worker (stream_channel.py); the unary calls (snapshots, health) on a default one."""

    def __init__(self, group_id: str, address: str) -> None:
        self.id = group_id
        self.address = address
        self.channel = grpc.aio.insecure_channel(address)
        self.streams = stream_channel(address)
        self.stub = worker_pb2_grpc.WorkerStub(self.channel)
        self.stream_stub = worker_pb2_grpc.WorkerStub(self.streams)
        self.health_stub = health_pb2_grpc.HealthStub(self.channel)
        self.info = worker_pb2.WorkerInfo()
        self.healthy = True
        self.load = GroupLoad()
        self.report: kv_wire.LoadReport | None = None
        self.subscriber: KVEventSubscriber | None = None

    @property
    def model(self) -> str:
        return self.info.model

    async def close(self) -> None:
        await self.streams.close()
        await self.channel.close()

    async def fetch_snapshot(self) -> tuple[int, str, list[kv_wire.WireEvent]]:
        snap = await self.stub.GetKVSnapshot(worker_pb2.GetKVSnapshotRequest(), timeout=10)
        return snap.sequence, snap.epoch, kv_wire.unpack_events(snap.events)


class GroupRegistry:
    """Groups by id, one prefix index per model. Used from the router's event loop only."""

    def __init__(
        self,
        health_interval_s: float = 1.0,
        health_timeout_s: float = 1.0,
        metrics: RouterMetrics | None = None,
    ) -> None:
        self.groups: dict[str, WorkerGroup] = {}
        self.metrics = metrics
        self.indexes: dict[str, PrefixIndex] = {}
        self.health_interval_s = health_interval_s
        self.health_timeout_s = health_timeout_s
        self._zmq = zmq.asyncio.Context()
        self._ids = itertools.count()
        self._health_task: asyncio.Task | None = None
        self._retired: list[WorkerGroup] = []  # removed, streams still in flight

    async def add(self, address: str, group_id: str | None = None) -> WorkerGroup:
        """Register the group at `address` (its Worker gRPC server): ask what it serves,
        subscribe to its KV events. Raises GroupExistsError when the id or the address is
        taken, ConfigError when it cannot be reached or does not fit the other groups."""
        if group_id is None:
            group_id = next(f"group-{n}" for n in self._ids if f"group-{n}" not in self.groups)
        self._check_free(address, group_id)
        group = WorkerGroup(group_id, address)
        try:
            group.info = await group.stub.GetInfo(worker_pb2.GetInfoRequest(), timeout=10)
        except grpc.aio.AioRpcError as exc:
            await group.close()
            raise ConfigError(f"group {group_id} at {address}: {exc.details()}") from exc
        try:
            self._check_free(address, group_id)  # a concurrent add may have taken it meanwhile
        except GroupExistsError:
            await group.close()
            raise
        index = self.indexes.setdefault(group.model, PrefixIndex(group.info.block_size))
        if index.block_size != group.info.block_size:
            await group.close()
            raise ConfigError(
                f"group {group_id}: block size {group.info.block_size} differs from the "
                f"{index.block_size} of the other groups serving {group.model}"
            )
        group.subscriber = KVEventSubscriber(
            group_id,
            group.info.kv_events_endpoint,
            index,
            group.fetch_snapshot,
            lambda report: setattr(group, "report", report),
            self._zmq,
        )
        group.subscriber.start()
        self.groups[group_id] = group
        return group

    async def remove(self, group_id: str) -> None:
        """Stop routing to the group at once. Its in-flight streams run on to their end, and
        its channel closes after the last (closing it under a live call would cancel that call
        without a status for the client)."""
        group = self.groups.pop(group_id, None)
        if group is None:
            raise GroupNotFoundError(f"no group {group_id!r}")
        if group.subscriber is not None:
            await group.subscriber.close()
        index = self.indexes.get(group.model)
        if index is not None:
            index.clear_group(group_id)
            if not any(g.model == group.model for g in self.groups.values()):
                del self.indexes[group.model]  # a later group may use another block size
        if group.load.in_flight:
            self._retired.append(group)  # closed by the health loop once idle
        else:
            await group.close()

    def _check_free(self, address: str, group_id: str) -> None:
        if group_id in self.groups:
            raise GroupExistsError(f"group {group_id!r} exists")
        same = self.find(address)
        if same is not None:
            raise GroupExistsError(f"{address} is registered as group {same.id!r}")

    def find(self, address: str) -> WorkerGroup | None:
        """The group registered at this Worker address, if any."""
        return next((g for g in self.groups.values() if g.address == address), None)

    def candidates(self, model: str, exclude: set[str] | None = None) -> list[WorkerGroup]:
        exclude = exclude or set()
        return [
            g
            for g in self.groups.values()
            if g.model == model and g.healthy and g.id not in exclude
        ]

    def models(self) -> list[str]:
        return sorted({g.model for g in self.groups.values()})

    def mark_failed(self, group: WorkerGroup) -> None:
        """Take the group out of rotation until a health check finds it serving again."""
        group.healthy = False

    def start(self) -> None:
        self._health_task = asyncio.get_running_loop().create_task(self._health_loop())

    async def close(self) -> None:
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        for group_id in list(self.groups):
            await self.remove(group_id)
        await self._close_retired(idle_only=False)
        self._zmq.term()

    async def check(self, group: WorkerGroup) -> bool:
        try:
            reply = await group.health_stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self.health_timeout_s
            )
            group.healthy = reply.status == health_pb2.HealthCheckResponse.SERVING
        except (grpc.aio.AioRpcError, grpc.aio.UsageError):  # UsageError: removed meanwhile
            group.healthy = False
        return group.healthy

    async def _health_loop(self) -> None:
        while True:
            started = time.monotonic()
            await asyncio.gather(*(self.check(g) for g in list(self.groups.values())))
            if self.metrics is not None:
                self.metrics.set_healthy_groups(sum(g.healthy for g in self.groups.values()))
            await self._close_retired(idle_only=True)
            await asyncio.sleep(max(0.0, self.health_interval_s - (time.monotonic() - started)))

    async def _close_retired(self, idle_only: bool) -> None:
        closing = [g for g in self._retired if not (idle_only and g.load.in_flight)]
        self._retired = [g for g in self._retired if g not in closing]
        for group in closing:
            await group.close()
