"""Write a model (tp=1) as a HF-style checkpoint folder: config.json + model.safetensors with the
real checkpoints' names (`backbone.*`, one tensor per expert). For benchmarks and tests that need
the same random weights under several parallel layouts."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from hybridserve.workers.models.nemotron_h import NemotronHForCausalLM


def hf_config_dict(model: NemotronHForCausalLM) -> dict:
    c = model.config
    d = c.to_dict()
    d.pop("layer_types")
    d["hybrid_override_pattern"] = c.pattern
    d["eos_token_id"] = list(d.pop("eos_token_ids"))
    d["time_step_limit"] = list(c.time_step_limit)
    d["model_type"] = "nemotron_h"
    return d


@torch.no_grad()
def save_checkpoint(model: NemotronHForCausalLM, folder: str | Path) -> Path:
    if model.parallel.tp_size != 1:
        raise ValueError("save_checkpoint writes a whole model (tp=1)")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    for name, p in model.named_parameters():
        key = name if name.startswith("lm_head.") else f"backbone.{name}"
        if name.endswith(("experts.up_proj", "experts.down_proj")):
            stem, proj = key.rsplit(".", 1)
            for e in range(p.shape[0]):
                tensors[f"{stem}.{e}.{proj}.weight"] = p[e].contiguous().cpu()
        else:
            tensors[key] = p.contiguous().cpu()
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(hf_config_dict(model), indent=2))
    return folder
