"""Build a model from a preset name or a HF folder, with real, dummy or preset weights."""

from __future__ import annotations

from pathlib import Path

import torch

from hybridserve.errors import ConfigError
from hybridserve.workers.distributed import ParallelContext
from hybridserve.workers.models.config import ModelConfig
from hybridserve.workers.models.nemotron_h import NemotronHForCausalLM
from hybridserve.workers.models.presets import FINAL_NORM_SCALE, PRESETS
from hybridserve.workers.models.weights import init_dummy_weights, iter_checkpoint, load_weights

LOAD_FORMATS = ("auto", "safetensors", "dummy")


def resolve_config(model: str) -> ModelConfig:
    if model in PRESETS:
        return ModelConfig.from_dict(PRESETS[model])
    if Path(model).exists():
        return ModelConfig.from_file(model)
    raise ConfigError(f"model: {model!r} is neither a preset {sorted(PRESETS)} nor a folder")


def build_empty(
    config: ModelConfig, dtype: torch.dtype, parallel: ParallelContext | None = None
) -> NemotronHForCausalLM:
    """The model (this rank's shard) on the meta device: shapes and dtypes, no memory."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device("meta"):
            return NemotronHForCausalLM(config, parallel)
    finally:
        torch.set_default_dtype(previous)


def load_model(
    model: str,
    load_format: str = "auto",
    dtype: torch.dtype = torch.float32,
    device: torch.device | str = "cpu",
    seed: int = 0,
    parallel: ParallelContext | None = None,
) -> NemotronHForCausalLM:
    """`model` is a preset name or a HF folder; presets always get (seeded) random weights.
    With `parallel`, build and load only this rank's shard (dummy weights differ per rank)."""
    if load_format not in LOAD_FORMATS:
        raise ConfigError(f"load_format: expected one of {LOAD_FORMATS}, got {load_format!r}")
    config = resolve_config(model)
    net = build_empty(config, dtype, parallel).to_empty(device=device)
    if model in PRESETS or load_format == "dummy":
        init_dummy_weights(net, seed=seed)
        with torch.no_grad():
            net.norm_f.weight.mul_(FINAL_NORM_SCALE.get(model, 1.0))
    else:
        load_weights(net, iter_checkpoint(model, lazy=True))
    return net.eval()
