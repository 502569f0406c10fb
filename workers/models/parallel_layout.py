"""Check up front that a model's heads, groups and experts split over a tp/ep layout."""

from __future__ import annotations

from hybridserve.errors import ConfigError
from hybridserve.workers.distributed import ParallelContext, head_range
from hybridserve.workers.models.config import ATTENTION, MAMBA, MOE, ModelConfig


def check_parallel(c: ModelConfig, p: ParallelContext) -> None:
    """Raise ConfigError naming the first field that `tp`/`ep` cannot divide."""
    if p.tp_size == 1:
        return
    if ATTENTION in c.layer_types:
        head_range(c.num_attention_heads, 0, p.tp_size, "num_attention_heads", False)
        head_range(c.num_key_value_heads, 0, p.tp_size, "num_key_value_heads", True)
    if MAMBA in c.layer_types:
        head_range(c.mamba_num_heads, 0, p.tp_size, "mamba_num_heads", False)
        head_range(c.n_groups, 0, p.tp_size, "n_groups", True)
    if MOE in c.layer_types and c.n_routed_experts % p.ep_size:
        raise ConfigError(
            f"ep: n_routed_experts ({c.n_routed_experts}) is not divisible by ep={p.ep_size}"
        )
