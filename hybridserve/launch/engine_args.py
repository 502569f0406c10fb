"""Engine flags shared by `up`, `worker` and `generate` (SGLang's names where one exists)."""

from __future__ import annotations

import argparse
from typing import Any


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model and engine")
    g.add_argument(
        "--model-path",
        default="tiny",
        help="HF checkpoint folder, or a preset: tiny (built in), "
        "nemotron-3-nano-30b-a3b (full size, use --load-format dummy)",
    )
    g.add_argument(
        "--load-format",
        default="auto",
        choices=["auto", "safetensors", "dummy"],
        help="dummy = random weights of the right shapes (benchmarks)",
    )
    g.add_argument("--dtype", default="auto", help="auto, float32, bfloat16 or float16")
    g.add_argument("--device", default="auto", help="auto (cuda when present), cuda or cpu")
    g.add_argument("--tp", type=int, default=1, help="tensor-parallel ranks (GPUs) per group")
    g.add_argument(
        "--ep",
        type=int,
        default=None,
        help="expert-parallel ranks for the MoE layers (default: tp)",
    )
    g.add_argument(
        "--max-running-requests",
        type=int,
        default=64,
        help="requests decoded together in one group",
    )
    g.add_argument(
        "--chunked-prefill-size",
        type=int,
        default=None,
        help="prompt tokens per engine step (the token budget; default 8192 on GPU, 512 on CPU)",
    )
    g.add_argument("--page-size", type=int, default=1, help="tokens per KV page")
    g.add_argument(
        "--checkpoint-interval",
        type=int,
        default=None,
        help="prefills save a Mamba state every this many tokens, for partial-prefix hits "
        "(0: off; default: the tokens of KV one state's memory would hold, at most 4096)",
    )
    g.add_argument(
        "--max-model-len",
        type=int,
        default=None,
        help="context limit (default: the model's max_position_embeddings)",
    )
    g.add_argument(
        "--mem-fraction-static",
        type=float,
        default=0.85,
        help="GPU memory fraction for KV and Mamba-state pools (after weights)",
    )
    g.add_argument("--cache-mb", type=int, default=256, help="KV + state pool size on CPU, MiB")
    g.add_argument(
        "--mamba-ssm-dtype",
        choices=("float32", "bfloat16", "float16"),
        default=None,
        help="dtype of the cached Mamba SSM states (default: the checkpoint's, float32 for "
        "Nemotron 3 Nano); bfloat16 halves their memory and traffic",
    )
    g.add_argument(
        "--max-mamba-cache-size",
        type=int,
        default=None,
        help="Mamba state slots (running requests + snapshots); the KV pool gets the rest of the "
        "budget (default: 3 per running request, at most 40%% of the budget plus the KV that "
        "max-running-requests requests of max-model-len tokens cannot use)",
    )
    g.add_argument(
        "--cuda-graph-max-bs",
        type=int,
        default=256,
        help="GPU: decode batches up to this size replay CUDA graphs (0: always eager)",
    )
    g.add_argument(
        "--enable-overlap-schedule",
        dest="overlap_schedule",
        action="store_true",
        default=True,
        help="(default) launch each decode step before the previous one's tokens are read back, "
        "so the host's scheduling hides behind the GPU (steps with logprobs or penalties wait)",
    )
    g.add_argument(
        "--disable-overlap-schedule",
        dest="overlap_schedule",
        action="store_false",
        help="read each step's tokens back before scheduling the next (SGLang's flag)",
    )
    g.add_argument(
        "--stream-interval",
        type=int,
        default=1,
        help="tokens a stream holds before sending them as one message (the first and last go "
        "at once); larger values cut per-message work at high concurrency",
    )
    g.add_argument(
        "--skip-server-warmup",
        action="store_true",
        help="GPU: skip the start-up requests that compile and autotune the prefill kernels "
        "(the first real requests then wait for that instead)",
    )
    g.add_argument("--seed", type=int, default=0, help="engine seed (unseeded sampling)")


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """EngineConfig keyword arguments (built by the caller, so --help never imports torch)."""
    return dict(
        model=args.model_path,
        load_format=args.load_format,
        dtype=args.dtype,
        device=args.device,
        tp=args.tp,
        ep=args.ep,
        max_running_requests=args.max_running_requests,
        chunked_prefill_size=args.chunked_prefill_size,
        page_size=args.page_size,
        checkpoint_interval=args.checkpoint_interval,
        max_model_len=args.max_model_len,
        mem_fraction=args.mem_fraction_static,
        cache_bytes=args.cache_mb << 20,
        num_state_slots=args.max_mamba_cache_size,
        mamba_ssm_dtype=args.mamba_ssm_dtype,
        cuda_graph_max_bs=args.cuda_graph_max_bs,
        overlap_schedule=args.overlap_schedule,
        stream_interval=args.stream_interval,
        warmup=not args.skip_server_warmup,
        seed=args.seed,
    )
