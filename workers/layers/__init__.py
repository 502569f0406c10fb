"""Model building blocks; each block takes `(hidden, batch, caches)` and returns hidden."""

from hybridserve.workers.layers.attention import Attention
from hybridserve.workers.layers.linear import ColumnParallelLinear, RowParallelLinear
from hybridserve.workers.layers.mamba2 import Mamba2Mixer
from hybridserve.workers.layers.mlp import ReLU2MLP
from hybridserve.workers.layers.moe import MoE
from hybridserve.workers.layers.norm import GatedRMSNorm, RMSNorm
from hybridserve.workers.layers.vocab import ParallelLMHead, VocabParallelEmbedding, vocab_logits

__all__ = [
    "Attention",
    "ColumnParallelLinear",
    "GatedRMSNorm",
    "Mamba2Mixer",
    "MoE",
    "ParallelLMHead",
    "RMSNorm",
    "ReLU2MLP",
    "RowParallelLinear",
    "VocabParallelEmbedding",
    "vocab_logits",
]
