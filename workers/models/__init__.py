"""The NemotronH model family: config, weights, presets and the serving forward."""

from hybridserve.workers.models.cache_buffers import CacheShapes, HybridCacheBuffers
from hybridserve.workers.models.config import ModelConfig
from hybridserve.workers.models.forward_batch import ForwardBatch, StateSnapshot
from hybridserve.workers.models.loader import build_empty, load_model, resolve_config
from hybridserve.workers.models.nemotron_h import NemotronHForCausalLM

__all__ = [
    "CacheShapes",
    "ForwardBatch",
    "HybridCacheBuffers",
    "ModelConfig",
    "NemotronHForCausalLM",
    "StateSnapshot",
    "build_empty",
    "load_model",
    "resolve_config",
]
