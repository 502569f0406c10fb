"""The memory roofline of a model's forward (bench/engine.py, bench/gpu_check.py): the fewest
bytes and the FLOPs of a step from the config, and the device rates they are divided by,
measured in the same run."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from bench.kernel_timing import median_us
from hybridserve.workers.models.config import ATTENTION, MAMBA, MLP, MOE, ModelConfig


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_seconds(fn: Callable[[], object], device: torch.device, reps: int = 10) -> float:
    """One call of `fn`, the median over `reps` after a warm-up: timed by CUDA events on a GPU
    (as the kernel rows are), by the host clock elsewhere."""
    if device.type == "cuda":
        with torch.cuda.device(device):
            return median_us(fn, reps, warmup=1) * 1e-6
    fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def copy_bandwidth(device: torch.device, nbytes: int = 1 << 30) -> float:
    """Device-to-device copy rate in bytes/s, counting bytes read plus bytes written."""
    src = torch.randn(nbytes // 2, dtype=torch.bfloat16, device=device)
    dst = torch.empty_like(src)
    seconds = median_seconds(lambda: dst.copy_(src), device)
    return 2 * nbytes / seconds


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int = 8192) -> float:
    n = n if device.type == "cuda" else 1024
    a, b = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(2))
    return 2 * n**3 / median_seconds(lambda: a @ b, device)


@dataclass(frozen=True)
class StepCost:
    bytes: float  # the fewest bytes one step must move through device memory
    flops: float

    def seconds(self, bandwidth: float, flop_rate: float) -> float:
        return max(self.bytes / bandwidth, self.flops / flop_rate)


def expected_experts(c: ModelConfig, tokens: int) -> float:
    """Distinct routed experts per MoE layer hit by `tokens` tokens, experts drawn uniformly."""
    e, k = c.n_routed_experts, c.num_experts_per_tok
    return e * (1.0 - (1.0 - k / e) ** tokens)


def step_cost(c: ModelConfig, batch: int, ctx: int, new_tokens: int, wbytes: int) -> StepCost:
    """One forward of `batch` sequences adding `new_tokens` tokens in all, `ctx` tokens each."""
    h, d = c.hidden_size, c.head_dim
    attn = h * (c.num_attention_heads + 2 * c.num_key_value_heads) * d
    attn += c.num_attention_heads * d * h
    mamba = h * c.mamba_in_proj_dim + c.mamba_d_inner * h
    mamba += c.mamba_conv_dim * (c.conv_kernel + 1) + c.mamba_d_inner + 3 * c.mamba_num_heads
    expert = 2 * h * c.moe_intermediate_size
    shared = 2 * h * c.moe_shared_expert_intermediate_size if c.n_shared_experts else 0
    n_layers = {t: c.layer_types.count(t) for t in (MAMBA, ATTENTION, MOE, MLP)}
    dense = (
        n_layers[MAMBA] * mamba
        + n_layers[ATTENTION] * attn
        + n_layers[MOE] * (shared + c.n_routed_experts * h)
        + n_layers[MLP] * 2 * h * c.intermediate_size
        + (c.num_layers + 1) * h
        + c.vocab_size * h  # lm_head (logits of one row a sequence)
    )
    touched = n_layers[MOE] * expected_experts(c, new_tokens) * expert
    kv = n_layers[ATTENTION] * batch * (ctx + 1) * 2 * c.num_key_value_heads * d * wbytes
    ssm_bytes = 4 if c.mamba_ssm_cache_dtype == "float32" else 2
    ssm = c.mamba_num_heads * c.mamba_head_dim * c.ssm_state_size * ssm_bytes
    conv = c.mamba_conv_dim * (c.conv_kernel - 1) * wbytes
    state = n_layers[MAMBA] * batch * 2 * (ssm + conv)
    active = dense - c.vocab_size * h + n_layers[MOE] * c.num_experts_per_tok * expert
    flops = 2 * new_tokens * active + 2 * batch * c.vocab_size * h
    return StepCost((dense + touched) * wbytes + kv + state, flops)
