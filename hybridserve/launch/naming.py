"""How worker groups are found on a Ray cluster: rank 0 of every group is a named Ray actor.

The name is `worker-group:<group id>` in the `hybridserve` namespace, whatever namespace the
process that started the group runs in. Ray drops the name when the actor dies, so the names
listed are the groups alive; a restarted group gets a new id (its address changes too). The
router's discovery (hybridserve.router.discovery) lists these names and asks each actor for its
Worker gRPC address."""

from __future__ import annotations

import uuid

NAMESPACE = "hybridserve"
_PREFIX = "worker-group:"


def new_actor_name(group_name: str) -> str:
    """A name no other group on the cluster has: the group's name and a random suffix."""
    return f"{_PREFIX}{group_name}-{uuid.uuid4().hex[:8]}"


def group_id(actor_name: str) -> str | None:
    """The router's id for the group whose rank 0 has this name; None: not a group's name."""
    return actor_name.removeprefix(_PREFIX) if actor_name.startswith(_PREFIX) else None
