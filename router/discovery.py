"""Ray discovery: keeps the registry in step with the worker groups alive on a Ray cluster.

Rank 0 of every worker group is a named Ray actor in the `hybridserve` namespace
(hybridserve.launch.naming); Ray drops the name when the actor dies. Every `interval_s` the
discovery lists those names (Ray calls block, so they run on a thread), asks each new one for
its Worker gRPC address and registers the group under the id its name carries; a group whose
name disappeared is removed. A name whose group does not serve yet is asked again next round.
A group already registered at the same address (from config or AddWorkerGroup) is left to
whoever registered it, and a discovered group removed by hand stays removed while its name
lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hybridserve.errors import ConfigError, GroupExistsError
from hybridserve.launch import naming
from hybridserve.router.groups import GroupRegistry, WorkerGroup

logger = logging.getLogger(__name__)

ADDRESS_TIMEOUT_S = 5.0


class RayDiscovery:
    """Runs on the router's event loop; connects to Ray on its first round."""

    def __init__(self, registry: GroupRegistry, ray_address: str, interval_s: float) -> None:
        self.registry = registry
        self.ray_address = ray_address
        self.interval_s = interval_s
        self.rounds = 0  # rounds finished, errors included
        self._seen: dict[str, WorkerGroup | None] = {}  # actor name -> group added (None: not ours)
        self._connected_here = False
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connected_here:
            import ray

            await asyncio.to_thread(ray.shutdown)

    async def poll(self) -> None:
        """One round: remove the groups whose names went, add those that appeared."""
        names = await asyncio.to_thread(self._list_names)
        for name in self._seen.keys() - names:
            group = self._seen.pop(name)
            if group is not None and self.registry.groups.get(group.id) is group:
                logger.info("discovery: group %s is gone", group.id)
                await self.registry.remove(group.id)
        for name in names - self._seen.keys():
            address = await asyncio.to_thread(_address, name)
            if not address:
                continue
            if self.registry.find(address) is not None:
                self._seen[name] = None
                continue
            try:
                group = await self.registry.add(address, naming.group_id(name))
            except (ConfigError, GroupExistsError) as exc:
                logger.warning("discovery: %s (asked again next round)", exc)
                continue
            self._seen[name] = group
            logger.info("discovery: added group %s at %s", group.id, address)

    async def _loop(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:  # a Ray hiccup must not end discovery
                logger.exception("discovery: round failed")
            self.rounds += 1
            await asyncio.sleep(self.interval_s)

    def _list_names(self) -> set[str]:
        import ray

        if not ray.is_initialized():
            ray.init(address=self.ray_address, log_to_driver=False)
            self._connected_here = True
        return {
            actor["name"]
            for actor in ray.util.list_named_actors(all_namespaces=True)
            if actor["namespace"] == naming.NAMESPACE and naming.group_id(actor["name"])
        }


def _address(name: str) -> str:
    """The Worker address of the group whose rank 0 has this name; "" when it does not serve
    yet or is gone."""
    import ray

    try:
        actor = ray.get_actor(name, namespace=naming.NAMESPACE)
        return ray.get(actor.address.remote(), timeout=ADDRESS_TIMEOUT_S)
    except (ValueError, ray.exceptions.RayError):
        return ""
