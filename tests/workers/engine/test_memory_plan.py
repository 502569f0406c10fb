"""Sizing the KV page pool and the Mamba state pool from the memory budget (the full model's
geometry, bf16 states, no device)."""

from __future__ import annotations

import torch

from hybridserve.workers.engine.engine_config import EngineConfig
from hybridserve.workers.engine.memory import MAX_STATE_SHARE, STATES_PER_REQUEST, plan_pools
from hybridserve.workers.models.cache_buffers import CacheShapes
from hybridserve.workers.models.loader import resolve_config

SHAPES = CacheShapes.from_config(resolve_config("nemotron-3-nano-30b-a3b"))
BF16 = torch.bfloat16
STATE = SHAPES.state_bytes_per_slot(BF16, BF16)
TOKEN = SHAPES.kv_bytes_per_slot(BF16)


def plan(budget: int, max_model_len: int, **options) -> tuple[int, int]:
    cfg = EngineConfig(model="nemotron-3-nano-30b-a3b", max_running_requests=1024, **options)
    return plan_pools(cfg, SHAPES, BF16, BF16, budget, max_model_len)


def test_kv_the_running_requests_cannot_use_goes_to_states() -> None:
    """1024 requests of 4096 tokens need ~25 GB of KV; of 68 GB the states get the rest, not
    40% (the H200 serving run needed --max-mamba-cache-size to get past ~1100 slots)."""
    budget = 68 << 30
    pages, states = plan(budget, 4096)
    assert states > int(budget * MAX_STATE_SHARE) // STATE  # more than the share alone
    assert pages >= 1024 * 4096  # page size 1: every request can still reach full length
    assert pages * TOKEN + states * STATE <= budget


def test_states_stop_at_what_the_running_requests_can_use() -> None:
    pages, states = plan(400 << 30, 4096)
    assert states == STATES_PER_REQUEST * 1024 + 1
    assert pages * TOKEN + states * STATE <= 400 << 30


def test_long_contexts_keep_the_share_rule() -> None:
    """When full-length requests would need all the KV, states keep their share."""
    budget = 68 << 30
    pages, states = plan(budget, 262144)
    assert states == int(budget * MAX_STATE_SHARE) // STATE
    assert pages == (budget - states * STATE) // TOKEN


def test_explicit_sizes_win() -> None:
    assert plan(68 << 30, 4096, num_state_slots=1100)[1] == 1100
    assert plan(68 << 30, 4096, num_kv_pages=5000) == (5000, int((68 << 30) * 0.4) // STATE)
