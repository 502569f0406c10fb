"""Built-in model configurations: the full Nemotron 3 Nano (for dummy-weight benchmarks) and a
tiny random model with every block type (the embedded default; needs no download)."""

from __future__ import annotations

from typing import Any

NEMOTRON_3_NANO_30B_A3B: dict[str, Any] = {
    "model_type": "nemotron_h",
    "vocab_size": 131072,
    "hidden_size": 2688,
    "hybrid_override_pattern": "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME",
    "max_position_embeddings": 262144,
    "num_attention_heads": 32,
    "num_key_value_heads": 2,
    "head_dim": 128,
    "mamba_num_heads": 64,
    "mamba_head_dim": 64,
    "ssm_state_size": 128,
    "n_groups": 8,
    "conv_kernel": 4,
    "chunk_size": 128,
    "n_routed_experts": 128,
    "num_experts_per_tok": 6,
    "moe_intermediate_size": 1856,
    "moe_shared_expert_intermediate_size": 3712,
    "n_shared_experts": 1,
    "routed_scaling_factor": 2.5,
    "n_group": 1,
    "topk_group": 1,
    "norm_topk_prob": True,
    "intermediate_size": 1856,
    "mlp_hidden_act": "relu2",
    "layer_norm_epsilon": 1e-5,
    "residual_in_fp32": False,
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": [2, 11],
    "pad_token_id": 0,
    "torch_dtype": "bfloat16",
}

TINY: dict[str, Any] = {
    **NEMOTRON_3_NANO_30B_A3B,
    "vocab_size": 1024,
    "hidden_size": 64,
    "hybrid_override_pattern": "ME*M-EM*E",
    "max_position_embeddings": 4096,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "mamba_num_heads": 8,
    "mamba_head_dim": 8,
    "ssm_state_size": 16,
    "n_groups": 2,
    "chunk_size": 16,
    "n_routed_experts": 8,
    "num_experts_per_tok": 2,
    "moe_intermediate_size": 32,
    "moe_shared_expert_intermediate_size": 64,
    "intermediate_size": 96,
    "eos_token_id": [2, 4],  # </s>, <|im_end|> of the packaged tiny tokenizer
    "torch_dtype": "float32",
}

PRESETS: dict[str, dict[str, Any]] = {
    "nemotron-3-nano-30b-a3b": NEMOTRON_3_NANO_30B_A3B,
    "tiny": TINY,
}
# Random-weight presets scale the final norm so that greedy decoding has no float-noise ties.
FINAL_NORM_SCALE = {"tiny": 10.0}
