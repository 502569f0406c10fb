"""Pure-torch reference implementations: the CPU path of every kernel and the oracle its Triton
version is tested against. Inputs are flat varlen batches (no padding)."""

from hybridserve.kernels.ref.attention import attention_varlen
from hybridserve.kernels.ref.conv1d import (
    causal_conv1d_varlen,
    conv1d_states_at,
    conv1d_update,
    conv1d_update_slots,
)
from hybridserve.kernels.ref.linear import linear
from hybridserve.kernels.ref.mamba_gemv import in_proj_conv
from hybridserve.kernels.ref.moe import gate_topk, moe_experts, shared_expert
from hybridserve.kernels.ref.norm import add_rms_norm, gated_rms_norm, rms_norm
from hybridserve.kernels.ref.qkv_gemv import qkv_to_cache
from hybridserve.kernels.ref.ssd import (
    add_initial_states,
    selective_state_update,
    selective_state_update_slots,
    softplus_dt,
    ssd_scan,
    ssd_scan_varlen,
)

__all__ = [
    "add_initial_states",
    "add_rms_norm",
    "attention_varlen",
    "causal_conv1d_varlen",
    "conv1d_states_at",
    "conv1d_update",
    "conv1d_update_slots",
    "gate_topk",
    "gated_rms_norm",
    "in_proj_conv",
    "linear",
    "moe_experts",
    "qkv_to_cache",
    "rms_norm",
    "selective_state_update",
    "selective_state_update_slots",
    "shared_expert",
    "softplus_dt",
    "ssd_scan",
    "ssd_scan_varlen",
]
