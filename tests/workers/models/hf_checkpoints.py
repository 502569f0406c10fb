"""Tiny random NemotronH checkpoints written by transformers: the numerical reference."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import NemotronHConfig, NemotronHForCausalLM


@dataclass(frozen=True)
class Variant:
    seed: int
    pattern: str
    n_groups: int
    kv_heads: int
    shared_expert: bool
    tied: bool
    n_group: int = 1  # MoE expert groups (group-limited routing when > 1)
    topk_group: int = 1


VARIANTS = [
    Variant(seed=0, pattern="M*E-ME*M", n_groups=2, kv_heads=2, shared_expert=True, tied=False),
    Variant(seed=1, pattern="*EM-M*E", n_groups=1, kv_heads=1, shared_expert=False, tied=True),
    Variant(
        seed=2,
        pattern="E-M*MEM*",
        n_groups=4,
        kv_heads=4,
        shared_expert=True,
        tied=True,
        n_group=2,
        topk_group=1,
    ),
]


def hf_config(v: Variant) -> NemotronHConfig:
    return NemotronHConfig(
        vocab_size=256,
        hidden_size=48,
        hybrid_override_pattern=v.pattern,
        num_attention_heads=4,
        num_key_value_heads=v.kv_heads,
        head_dim=12,
        mamba_num_heads=8,
        mamba_head_dim=6,
        n_groups=v.n_groups,
        ssm_state_size=8,
        conv_kernel=4,
        chunk_size=8,
        n_routed_experts=8,
        num_experts_per_tok=3,
        moe_intermediate_size=20,
        moe_shared_expert_intermediate_size=28,
        n_shared_experts=1 if v.shared_expert else 0,
        intermediate_size=40,
        routed_scaling_factor=2.5,
        n_group=v.n_group,
        topk_group=v.topk_group,
        tie_word_embeddings=v.tied,
        time_step_min=1e-9,
        layer_norm_epsilon=1e-5,
        eos_token_id=2,
        bos_token_id=1,
        pad_token_id=0,
    )


@torch.no_grad()
def make_checkpoint(v: Variant, folder: Path) -> NemotronHForCausalLM:
    """Save a random checkpoint to `folder` and return the transformers model that matches it.

    Weights beyond transformers' init are randomised too (norms, conv bias, A_log, D, dt_bias, the
    gate's correction bias) so that every term of the math is exercised; the final norm is
    scaled x10 so that greedy comparisons are not decided by float noise.
    """
    torch.manual_seed(v.seed)
    model = NemotronHForCausalLM(hf_config(v)).float().eval()
    for name, p in model.named_parameters():
        if name.endswith("norm.weight") or name.endswith("norm_f.weight"):
            p.copy_(1.0 + 0.2 * torch.randn_like(p))
        elif name.endswith(("conv1d.bias", "dt_bias")):
            p.copy_(0.5 * torch.randn_like(p))
        elif name.endswith("A_log"):
            p.copy_(torch.log(torch.rand_like(p) * 8 + 0.5))
        elif name.endswith(".D"):
            p.copy_(torch.randn_like(p))
    for layer in model.model.layers:
        gate = getattr(layer.mixer, "gate", None)
        if gate is not None:
            gate.e_score_correction_bias.copy_(0.1 * torch.randn_like(gate.e_score_correction_bias))
            gate.weight.copy_(0.3 * torch.randn_like(gate.weight))
        if gate is not None and not v.shared_expert:  # transformers always builds one: zero it
            layer.mixer.shared_experts.down_proj.weight.zero_()
    model.model.norm_f.weight.mul_(10.0)
    if v.tied:  # transformers keeps NemotronH's lm_head separate even when tied: tie it by value
        model.lm_head.weight.copy_(model.model.embeddings.weight)
    model.save_pretrained(folder)
    path = folder / "model.safetensors"
    dropped = (".shared_experts.",) * (not v.shared_expert) + ("lm_head.",) * v.tied
    if dropped:  # what a checkpoint without a shared expert / with tied embeddings holds
        tensors = {k: t for k, t in load_file(path).items() if not any(d in k for d in dropped)}
        save_file(tensors, path, metadata={"format": "pt"})
    return model


@torch.no_grad()
def reference_logits(model: NemotronHForCausalLM, tokens: list[int]) -> torch.Tensor:
    """transformers' logits [len(tokens), vocab] for one sequence alone."""
    return model(torch.tensor([tokens])).logits[0].float()
