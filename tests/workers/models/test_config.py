"""Config parsing: both layer-pattern forms, legacy names, and errors that name the field."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import NemotronHConfig
from transformers import NemotronHForCausalLM as HFModel

from hybridserve.errors import ConfigError
from hybridserve.workers.models import ModelConfig, build_empty, resolve_config
from hybridserve.workers.models.presets import NEMOTRON_3_NANO_30B_A3B

BASE = {
    "model_type": "nemotron_h",
    "vocab_size": 64,
    "hidden_size": 32,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 8,
    "mamba_num_heads": 4,
    "mamba_head_dim": 8,
    "n_groups": 2,
}


def test_pattern_and_block_type_list_agree():
    a = ModelConfig.from_dict({**BASE, "hybrid_override_pattern": "M*E-"})
    b = ModelConfig.from_dict(
        {**BASE, "layers_block_type": ["linear_attention", "full_attention", "moe", "mlp"]}
    )
    assert a.layer_types == b.layer_types == ("mamba", "attention", "moe", "mlp")
    assert a.pattern == "M*E-"


def test_transformers_saved_config_round_trips(tmp_path):
    hf = NemotronHConfig(
        hybrid_override_pattern="ME*-",
        vocab_size=64,
        hidden_size=32,
        n_groups=4,
        routed_scaling_factor=2.5,
        time_step_min=1e-9,
    )
    hf.save_pretrained(tmp_path)
    c = ModelConfig.from_file(tmp_path)
    assert c.pattern == "ME*-" and c.n_groups == 4 and c.routed_scaling_factor == 2.5
    assert c.time_step_limit == (0.0, math.inf)  # transformers writes inf as {"__float__": ...}


def test_legacy_names_are_mapped():
    c = ModelConfig.from_dict(
        {
            **BASE,
            "hybrid_override_pattern": "M",
            "mamba_n_groups": 4,
            "mamba_d_conv": 3,
            "mamba_dt_limit": [0.0, 0.5],
        }
    )
    assert (c.n_groups, c.conv_kernel, c.time_step_limit) == (4, 3, (0.0, 0.5))


@pytest.mark.parametrize(
    "override, field",
    [
        ({"hybrid_override_pattern": "M*X"}, "hybrid_override_pattern"),
        ({"layers_block_type": ["moe", "sliding_attention"]}, "layers_block_type"),
        ({"hybrid_override_pattern": "M", "n_groups": 3}, "n_groups"),
        ({"hybrid_override_pattern": "*", "num_key_value_heads": 3}, "num_key_value_heads"),
        ({"hybrid_override_pattern": "E", "num_experts_per_tok": 200}, "num_experts_per_tok"),
        ({"hybrid_override_pattern": "E", "n_group": 3}, "n_group"),
        ({"hybrid_override_pattern": "-", "mlp_hidden_act": "gelu"}, "mlp_hidden_act"),
        ({"hybrid_override_pattern": "M", "time_step_limit": [0.5, 0.1]}, "time_step_limit"),
        ({"hybrid_override_pattern": "M", "model_type": "llama"}, "model_type"),
        ({}, "hybrid_override_pattern"),
    ],
)
def test_bad_configs_name_the_field(override, field):
    with pytest.raises(ConfigError, match=field):
        ModelConfig.from_dict({**BASE, **override})


def test_full_preset_parameter_count_on_meta_device():
    ours = build_empty(resolve_config("nemotron-3-nano-30b-a3b"), torch.bfloat16)
    assert all(p.device.type == "meta" for p in ours.parameters())
    with torch.device("meta"):
        hf = HFModel(NemotronHConfig(**NEMOTRON_3_NANO_30B_A3B))
    count = sum(p.numel() for p in ours.parameters())
    # transformers keeps the gate's correction bias as a buffer: count the checkpoint's tensors
    assert count == sum(t.numel() for t in hf.state_dict().values())
    assert round(count / 1e9, 2) == 31.58
