"""Fixtures shared across test packages."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_cluster():
    """One local Ray cluster for every test that needs one (starting Ray is the slow part; on a
    loaded 2-core machine a first start can time out, so it is tried twice)."""
    ray = pytest.importorskip("ray")
    for attempt in range(2):
        try:
            ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
            break
        except RuntimeError:
            ray.shutdown()
            if attempt:
                raise
    yield ray
    ray.shutdown()
