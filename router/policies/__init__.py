"""Routing policies behind one interface; `create_policy(name, ...)` builds one by name."""

from __future__ import annotations

from typing import Any

from hybridserve.errors import ConfigError
from hybridserve.router.policies.base import BasePolicy, Candidate
from hybridserve.router.policies.cache_aware import CacheAwarePolicy
from hybridserve.router.policies.least_load import LeastLoadPolicy
from hybridserve.router.policies.power_of_two import PowerOfTwoPolicy
from hybridserve.router.policies.random_pick import RandomPolicy
from hybridserve.router.policies.round_robin import RoundRobinPolicy

POLICIES: dict[str, type[BasePolicy]] = {
    cls.name: cls
    for cls in (RoundRobinPolicy, RandomPolicy, LeastLoadPolicy, PowerOfTwoPolicy, CacheAwarePolicy)
}

__all__ = [
    "POLICIES",
    "BasePolicy",
    "CacheAwarePolicy",
    "Candidate",
    "LeastLoadPolicy",
    "PowerOfTwoPolicy",
    "RandomPolicy",
    "RoundRobinPolicy",
    "create_policy",
]


def create_policy(name: str, **options: Any) -> BasePolicy:
    """`options` are the policy's constructor arguments (cache_aware weights, seed)."""
    if name not in POLICIES:
        raise ConfigError(f"policy: expected one of {sorted(POLICIES)}, got {name!r}")
    return POLICIES[name](**options)
