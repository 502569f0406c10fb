"""Model configuration: parse and validate a HF `config.json` of `model_type: nemotron_h`."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hybridserve.errors import ConfigError

MAMBA, ATTENTION, MOE, MLP = "mamba", "attention", "moe", "mlp"
BLOCK_TYPES = (MAMBA, ATTENTION, MOE, MLP)

# Pattern characters and transformers' `layers_block_type` names (current and legacy) -> ours.
_BLOCK_ALIASES = {
    "M": MAMBA,
    "*": ATTENTION,
    "E": MOE,
    "-": MLP,
    "linear_attention": MAMBA,
    "mamba": MAMBA,
    "full_attention": ATTENTION,
    "attention": ATTENTION,
    "moe": MOE,
    "mlp": MLP,
}
_PATTERN_CHARS = {MAMBA: "M", ATTENTION: "*", MOE: "E", MLP: "-"}

# Legacy field names that transformers still accepts in config.json.
_LEGACY_NAMES = {
    "mamba_n_groups": "n_groups",
    "mamba_d_conv": "conv_kernel",
    "mamba_dt_limit": "time_step_limit",
    "mamba_dt_min": "time_step_min",
    "mamba_conv_bias": "use_conv_bias",
    "mamba_chunk_size": "chunk_size",
}


@dataclass(frozen=True)
class ModelConfig:
    """Every field of a NemotronH config that changes the math, plus the serving-relevant rest."""

    vocab_size: int
    hidden_size: int
    layer_types: tuple[str, ...]
    # attention
    num_attention_heads: int = 32
    num_key_value_heads: int = 2
    head_dim: int = 128
    max_position_embeddings: int = 4096
    # mamba-2
    mamba_num_heads: int = 64
    mamba_head_dim: int = 64
    ssm_state_size: int = 128
    n_groups: int = 8
    conv_kernel: int = 4
    chunk_size: int = 128
    use_conv_bias: bool = True
    mamba_proj_bias: bool = False
    time_step_limit: tuple[float, float] = (0.0, math.inf)
    mamba_ssm_cache_dtype: str = "float32"
    # moe / mlp
    n_routed_experts: int = 128
    num_experts_per_tok: int = 6
    moe_intermediate_size: int = 1856
    moe_shared_expert_intermediate_size: int = 3712
    n_shared_experts: int = 1
    routed_scaling_factor: float = 1.0
    norm_topk_prob: bool = True
    n_group: int = 1
    topk_group: int = 1
    intermediate_size: int = 1856
    mlp_hidden_act: str = "relu2"
    mlp_bias: bool = False
    attention_bias: bool = False
    # embeddings, norms, tokens
    layer_norm_epsilon: float = 1e-5
    residual_in_fp32: bool = False
    tie_word_embeddings: bool = False
    bos_token_id: int | None = 1
    eos_token_ids: tuple[int, ...] = (2,)
    pad_token_id: int | None = 0
    torch_dtype: str = "bfloat16"
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        _validate(self)

    # Derived sizes -------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        return len(self.layer_types)

    @property
    def pattern(self) -> str:
        return "".join(_PATTERN_CHARS[t] for t in self.layer_types)

    @property
    def mamba_d_inner(self) -> int:
        return self.mamba_num_heads * self.mamba_head_dim

    @property
    def mamba_conv_dim(self) -> int:
        return self.mamba_d_inner + 2 * self.n_groups * self.ssm_state_size

    @property
    def mamba_in_proj_dim(self) -> int:
        return self.mamba_d_inner + self.mamba_conv_dim + self.mamba_num_heads

    def layers_of(self, block_type: str) -> list[int]:
        return [i for i, t in enumerate(self.layer_types) if t == block_type]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("extra")
        return d

    # Construction ----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> ModelConfig:
        """Build from a HF config dict; unknown keys are kept in `extra` (they change no math)."""
        raw = dict(raw)
        model_type = raw.get("model_type", "nemotron_h")
        if model_type != "nemotron_h":
            raise ConfigError(f"model_type: expected 'nemotron_h', got {model_type!r}")
        for old, new in _LEGACY_NAMES.items():
            if old in raw:
                raw[new] = raw.pop(old)  # as in transformers, the legacy name wins
        raw["layer_types"] = _parse_layer_types(raw)
        eos = raw.pop("eos_token_id", 2)
        raw["eos_token_ids"] = (
            tuple(eos) if isinstance(eos, list) else (eos,) if eos is not None else ()
        )
        if "time_step_limit" in raw:
            raw["time_step_limit"] = tuple(_parse_float(v) for v in raw["time_step_limit"])
        if raw.get("mlp_hidden_act", "relu2") != "relu2":
            raise ConfigError(
                f"mlp_hidden_act: only 'relu2' is supported, got {raw['mlp_hidden_act']!r}"
            )
        if raw.get("moe_latent_size") is not None:
            raise ConfigError(
                "moe_latent_size: latent MoE (Nemotron 3 Super/Ultra) is not supported"
            )
        if raw.get("num_attention_heads") and raw.get("num_key_value_heads") is None:
            raw["num_key_value_heads"] = raw["num_attention_heads"]
        names = {f for f in cls.__dataclass_fields__ if f != "extra"}
        known = {k: v for k, v in raw.items() if k in names}
        extra = {k: v for k, v in raw.items() if k not in names}
        return cls(**known, extra=extra)

    @classmethod
    def from_file(cls, path: str | Path) -> ModelConfig:
        path = Path(path)
        if path.is_dir():
            path = path / "config.json"
        if not path.exists():
            raise ConfigError(f"config.json not found at {path}")
        return cls.from_dict(json.loads(path.read_text()))


def _parse_float(v: Any) -> float:
    if isinstance(v, dict) and "__float__" in v:  # transformers' JSON encoding of inf/nan
        return float(v["__float__"])
    return float(v)


def _parse_layer_types(raw: dict[str, Any]) -> tuple[str, ...]:
    pattern = raw.pop("hybrid_override_pattern", None)
    blocks = raw.pop("layers_block_type", None) or raw.pop("layer_types", None)
    if blocks is None and pattern is None:
        raise ConfigError("layers_block_type / hybrid_override_pattern: one of them is required")
    if blocks is None:
        field_name, items = "hybrid_override_pattern", list(pattern)
    else:
        field_name, items = "layers_block_type", list(blocks)
    unknown = sorted({str(b) for b in items if b not in _BLOCK_ALIASES})
    if unknown:
        raise ConfigError(f"{field_name}: unknown block type(s) {unknown}")
    types = tuple(_BLOCK_ALIASES[b] for b in items)
    if not types:
        raise ConfigError(f"{field_name}: the model has no layers")
    return types


def _check(ok: bool, field_name: str, message: str) -> None:
    if not ok:
        raise ConfigError(f"{field_name}: {message}")


def _validate(c: ModelConfig) -> None:
    for name in ("vocab_size", "hidden_size"):
        _check(getattr(c, name) > 0, name, "must be positive")
    if MAMBA in c.layer_types:
        for name in (
            "mamba_num_heads",
            "mamba_head_dim",
            "ssm_state_size",
            "n_groups",
            "chunk_size",
        ):
            _check(getattr(c, name) > 0, name, "must be positive")
        _check(c.conv_kernel >= 2, "conv_kernel", f"must be >= 2, got {c.conv_kernel}")
        _check(
            c.mamba_num_heads % c.n_groups == 0,
            "n_groups",
            f"mamba_num_heads ({c.mamba_num_heads}) must be divisible by n_groups ({c.n_groups})",
        )
        lo, hi = c.time_step_limit
        _check(0.0 <= lo < hi, "time_step_limit", f"need 0 <= min < max, got {c.time_step_limit}")
        _check(
            c.mamba_ssm_cache_dtype in ("float32", "bfloat16", "float16"),
            "mamba_ssm_cache_dtype",
            f"unsupported {c.mamba_ssm_cache_dtype!r}",
        )
    if ATTENTION in c.layer_types:
        _check(c.num_attention_heads > 0 and c.head_dim > 0, "num_attention_heads", "must be > 0")
        _check(
            c.num_key_value_heads > 0 and c.num_attention_heads % c.num_key_value_heads == 0,
            "num_key_value_heads",
            f"must divide num_attention_heads={c.num_attention_heads}, got {c.num_key_value_heads}",
        )
    if MOE in c.layer_types:
        _check(c.n_routed_experts > 0, "n_routed_experts", "must be positive")
        _check(
            0 < c.num_experts_per_tok <= c.n_routed_experts,
            "num_experts_per_tok",
            f"must be in [1, n_routed_experts={c.n_routed_experts}], got {c.num_experts_per_tok}",
        )
        _check(
            c.n_group >= 1 and c.n_routed_experts % c.n_group == 0,
            "n_group",
            f"must divide n_routed_experts ({c.n_routed_experts}), got {c.n_group}",
        )
        _check(1 <= c.topk_group <= c.n_group, "topk_group", f"must be in [1, n_group={c.n_group}]")
        _check(c.n_shared_experts in (0, 1), "n_shared_experts", "only 0 or 1 is supported")
        _check(c.moe_intermediate_size > 0, "moe_intermediate_size", "must be positive")
    if MLP in c.layer_types:
        _check(c.intermediate_size > 0, "intermediate_size", "must be positive")
