"""Size the KV page pool and the Mamba state pool from a memory budget."""

from __future__ import annotations

import torch

from hybridserve.workers.engine.engine_config import EngineConfig
from hybridserve.workers.models.cache_buffers import CacheShapes

STATES_PER_REQUEST = 3  # a working slot plus room for snapshots
MAX_STATE_SHARE = 0.4  # of the budget, when the model also has attention layers


def cache_budget_bytes(cfg: EngineConfig, device: torch.device) -> int:
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free * cfg.mem_fraction)
    return cfg.cache_bytes


def plan_pools(
    cfg: EngineConfig,
    shapes: CacheShapes,
    dtype: torch.dtype,
    ssm_dtype: torch.dtype,
    budget: int,
    max_model_len: int,
) -> tuple[int, int]:
    """Returns (KV pages, state slots) that fit `budget` bytes; explicit sizes win.

    States get up to MAX_STATE_SHARE of the budget (as many as `STATES_PER_REQUEST` a running
    request need at most), plus whatever the KV pool could not use: more than
    `max_running_requests` requests of `max_model_len` tokens."""
    state_bytes = max(1, shapes.state_bytes_per_slot(dtype, ssm_dtype))
    page_bytes = shapes.kv_bytes_per_slot(dtype) * cfg.page_size
    share = MAX_STATE_SHARE if page_bytes else 1.0
    want = STATES_PER_REQUEST * cfg.max_running_requests + 1
    states = cfg.num_state_slots or max(2, min(want, int(budget * share) // state_bytes))
    kv_need = cfg.max_running_requests * -(-max_model_len // cfg.page_size) * page_bytes
    if not cfg.num_state_slots and not cfg.num_kv_pages and page_bytes:
        # KV beyond what every running request at full length can use goes to states instead
        spare = budget - states * state_bytes - kv_need
        states = max(states, min(want, states + spare // state_bytes))
    if cfg.num_kv_pages:
        pages = cfg.num_kv_pages
    elif page_bytes:
        pages = max(1, (budget - states * state_bytes) // page_bytes)
    else:  # no attention layer: pages only index tokens
        pages = cfg.max_running_requests * -(-max_model_len // cfg.page_size)
    return int(pages), int(states)
