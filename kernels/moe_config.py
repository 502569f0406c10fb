"""Tile shapes for the fused MoE grouped GEMM (kernels/moe.py), in plain Python for CPU tests."""

from __future__ import annotations

from typing import NamedTuple

# Up to this many (token, slot) pairs (decode at batch 1-2, k=6) the MoE runs as GEMVs
# (kernels/moe_gemv.py). H200, both projections, experts read from HBM (bench/tile_sweep.py
# --kernel moe_gemv), us, grouped GEMM -> GEMVs: T=1 45.8 -> 36.2, T=2 75.9 -> 65.8; T=4 119.3
# -> 120.2.
GEMV_MAX_PAIRS = 12


def fuses_shared_expert(num_tokens: int, top_k: int) -> bool:
    """Whether the MoE runs as GEMVs, which take the shared expert into their own two launches
    (`moe_experts(.., shared=)`); elsewhere it runs beside, and the experts add onto its output."""
    return 0 < num_tokens * top_k <= GEMV_MAX_PAIRS


class MoEBlockConfig(NamedTuple):
    block_m: int
    block_n: int
    block_k: int
    num_warps: int
    num_stages: int
    group_m: int = 8  # row blocks that sweep the columns together (their rows stay in L2)
    tma: bool = False  # weights (and the down projection's rows) through TMA: see kernels/moe.py


def moe_block_config(
    num_tokens: int,
    top_k: int,
    num_experts: int,
    element_size: int = 2,
    shared_memory: int = 232448,  # bytes a block (H100/H200)
) -> MoEBlockConfig:
    """Tile shapes by the mean rows per expert (Nemotron 3 Nano: hidden 2688, I 1856, 128 x 6),
    with pipeline stages dropped until the tiles fit `shared_memory` bytes (fp32 halves them)."""
    per_expert = num_tokens * top_k / max(1, num_experts)
    if per_expert <= 2:
        cfg = MoEBlockConfig(16, 64, 128, 4, 4)
    elif per_expert <= 16:
        cfg = MoEBlockConfig(16, 128, 128, 4, 3)
    elif per_expert < 64:  # T=512: 653 us both projections, T=1024: 695 (32-row tiles: 862)
        cfg = MoEBlockConfig(64, 128, 64, 4, 4)
    elif per_expert < 256:  # T ~1400-5400 (H200, bench/tile_sweep.py: T=2048 827 us)
        cfg = MoEBlockConfig(128, 256, 64, 8, 4)
    else:  # T=8192: 2414-2514 us -> 2305-2372 through TMA (at T=2048 TMA was 2-5% slower)
        cfg = MoEBlockConfig(128, 256, 64, 8, 4, tma=element_size == 2)  # timed in bf16 only
    stage_bytes = (cfg.block_m + cfg.block_n) * cfg.block_k * element_size
    stages = cfg.num_stages
    while stages > 1 and stages * stage_bytes > shared_memory:
        stages -= 1
    return cfg._replace(num_stages=stages)
