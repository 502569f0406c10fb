"""Model building blocks; each block takes `(hidden, batch, caches)` and returns hidden."""

from hybridserve.workers.layers.attention import Attention
from hybridserve.workers.layers.mamba2 import Mamba2Mixer
from hybridserve.workers.layers.mlp import ReLU2MLP
from hybridserve.workers.layers.moe import MoE
from hybridserve.workers.layers.norm import GatedRMSNorm, RMSNorm

__all__ = ["Attention", "GatedRMSNorm", "Mamba2Mixer", "MoE", "RMSNorm", "ReLU2MLP"]
