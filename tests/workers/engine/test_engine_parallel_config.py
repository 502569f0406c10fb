"""EngineConfig's tp/ep knobs: validated, and an engine refuses a layout it is not given."""

from __future__ import annotations

import pytest

from hybridserve.errors import ConfigError
from hybridserve.workers.engine.engine import Engine
from hybridserve.workers.engine.engine_config import EngineConfig


def test_ep_defaults_to_tp_and_must_divide_it():
    assert EngineConfig(tp=4).resolved_ep() == 4
    assert EngineConfig(tp=4, ep=1).resolved_ep() == 1
    with pytest.raises(ConfigError, match="ep: must be a divisor of tp=4"):
        EngineConfig(tp=4, ep=3)
    with pytest.raises(ConfigError, match="tp: must be >= 1"):
        EngineConfig(tp=0)


def test_engine_with_tp_needs_its_rank_context():
    with pytest.raises(ConfigError, match="needs a worker group"):
        Engine(EngineConfig(model="tiny", tp=2))
