"""Engine settings: one frozen dataclass, with "auto" values resolved by pure functions."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from hybridserve.errors import ConfigError

MAX_AUTO_CHECKPOINT = 4096  # tokens
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass(frozen=True)
class EngineConfig:
    """How one engine (one rank of a worker group) runs its model and sizes its caches.

    `cache_bytes` sizes the KV and state pools on CPU; on GPU `mem_fraction` of the device memory
    (minus the weights) does. `num_kv_pages` / `num_state_slots` override both (tests use them to
    create memory pressure). Mamba-state snapshots live on a grid of `snapshot_interval` tokens
    (auto: lcm of page size and the scan chunk), and chunked prefill cuts chunks on that grid.
    A prefill also saves a state every `checkpoint_interval` tokens (rounded up to the grid; 0:
    only at chunk ends and the prompt's last grid point), so a later prompt that shares only part
    of a long one (a system prompt, then another question) resumes from the deepest checkpoint
    below the branch point instead of from scratch; checkpoints are evicted LRU like any state.
    None (auto): as many tokens as one state's bytes would hold KV (a checkpoint costs the memory
    of the span it can save recomputing), at most MAX_AUTO_CHECKPOINT: 48 for the tiny preset in
    float32, 4096 for Nemotron 3 Nano in bf16 (one state there is ~8,000 tokens of KV).
    On a GPU, decode steps of up to `cuda_graph_max_bs` requests replay CUDA graphs captured at
    start-up (tensor-parallel groups decode eagerly for now). `tp` ranks share the model (heads,
    vocab, intermediate dims split); `ep` of them split the MoE experts (None: ep = tp, whole
    experts per rank; 1: every rank splits every expert).
    """

    model: str = "tiny"
    load_format: str = "auto"
    dtype: str = "auto"  # float32 on CPU, the checkpoint's dtype on GPU
    device: str = "auto"  # cuda when available, else cpu
    seed: int = 0
    page_size: int = 1
    chunked_prefill_size: int | None = None  # prompt tokens a step; None: 8192 GPU, 512 CPU
    max_running_requests: int = 64
    max_model_len: int | None = None  # None = the model's max_position_embeddings
    mem_fraction: float = 0.85
    cache_bytes: int = 256 << 20
    num_kv_pages: int | None = None
    num_state_slots: int | None = None
    snapshot_interval: int | None = None
    checkpoint_interval: int | None = None
    max_waiting_requests: int = 4096
    tp: int = 1
    ep: int | None = None
    cuda_graph_max_bs: int = 256  # decode CUDA graphs up to this batch (0: eager; GPU, tp=1)
    mamba_ssm_dtype: str | None = None  # SSM state cache dtype; None: the checkpoint's choice
    overlap_schedule: bool = True  # launch step k+1 before reading step k back (overlap.py)
    warmup: bool = True  # GPU: serve throwaway requests at start-up (warmup.py)
    stream_interval: int = 1  # the Worker service: tokens a stream holds before a message

    def __post_init__(self) -> None:
        if self.page_size < 1:
            raise ConfigError(f"page_size: must be >= 1, got {self.page_size}")
        if self.chunked_prefill_size is not None and self.chunked_prefill_size < 1:
            raise ConfigError("chunked_prefill_size: must be >= 1")
        if self.max_running_requests < 1:
            raise ConfigError("max_running_requests: must be >= 1")
        if not 0.0 < self.mem_fraction <= 1.0:
            raise ConfigError(f"mem_fraction: must be in (0, 1], got {self.mem_fraction}")
        if self.dtype != "auto" and self.dtype not in _DTYPES:
            raise ConfigError(f"dtype: expected auto or one of {sorted(_DTYPES)}")
        if self.checkpoint_interval is not None and self.checkpoint_interval < 0:
            raise ConfigError(f"checkpoint_interval: must be >= 0, got {self.checkpoint_interval}")
        if self.cuda_graph_max_bs < 0:
            raise ConfigError(f"cuda_graph_max_bs: must be >= 0, got {self.cuda_graph_max_bs}")
        if self.mamba_ssm_dtype is not None and self.mamba_ssm_dtype not in _DTYPES:
            raise ConfigError(f"mamba_ssm_dtype: expected one of {sorted(_DTYPES)}")
        if self.stream_interval < 1:
            raise ConfigError(f"stream_interval: must be >= 1, got {self.stream_interval}")
        if self.tp < 1:
            raise ConfigError(f"tp: must be >= 1, got {self.tp}")
        if self.ep is not None and (self.ep < 1 or self.tp % self.ep):
            raise ConfigError(f"ep: must be a divisor of tp={self.tp}, got {self.ep}")

    def resolved_ep(self) -> int:
        return self.tp if self.ep is None else self.ep

    def resolved_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def resolved_chunked_prefill_size(self) -> int:
        """The step's prompt-token budget: as given, else 8192 on a GPU (SGLang's default for
        large GPUs: a prefill of 8192 tokens runs near the matmul rate there) and 512 on CPU."""
        if self.chunked_prefill_size is not None:
            return self.chunked_prefill_size
        return 8192 if self.resolved_device().type == "cuda" else 512

    def resolved_ssm_dtype(self, checkpoint_dtype: str) -> torch.dtype:
        """The Mamba SSM state cache's dtype: as set, else the checkpoint's
        `mamba_ssm_cache_dtype` (float32 for Nemotron 3 Nano). bfloat16 halves a state's memory
        and the bytes a decode step moves for it, at the cost of rounding the state each step."""
        return _DTYPES[self.mamba_ssm_dtype or checkpoint_dtype]

    def resolved_dtype(self, checkpoint_dtype: str) -> torch.dtype:
        if self.dtype != "auto":
            return _DTYPES[self.dtype]
        if self.resolved_device().type == "cpu":
            return torch.float32
        return _DTYPES.get(checkpoint_dtype, torch.bfloat16)

    def resolved_snapshot_interval(self, scan_chunk: int) -> int:
        interval = self.snapshot_interval or math.lcm(self.page_size, scan_chunk)
        if interval % self.page_size:
            raise ConfigError(
                f"snapshot_interval: {interval} must be a multiple of page_size {self.page_size}"
            )
        return interval

    def resolved_checkpoint_interval(self, grid: int, state_tokens: float) -> int:
        """The checkpoint interval on the grid (0: off); `state_tokens`: one Mamba state's
        bytes over one token's KV bytes (the auto interval)."""
        every = self.checkpoint_interval
        if every is None:
            every = min(MAX_AUTO_CHECKPOINT, math.ceil(state_tokens))
        return -(-every // grid) * grid
