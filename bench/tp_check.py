"""tp=N against tp=1 on one host, with the same random weights: greedy tokens (compared up to
the reference's first near-tie) and the decode-step all-reduce time.

CPU (gloo):         python3 bench/tp_check.py --tp 2 --device cpu --dtype float32
GPU (NCCL, 2 GPUs): python3 bench/tp_check.py --tp 2 --device cuda --dtype bfloat16
bf16 against fp32, the noise floor of the comparison (tp=1 both):
                    python3 bench/tp_check.py --tp 1 --device cuda --dtype bfloat16 \
                        --ref-dtype float32
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import tempfile
import time

import torch
import torch.multiprocessing as mp

from hybridserve import LLM, SamplingParams
from hybridserve.workers.distributed import ParallelContext, init_process_group
from hybridserve.workers.models import ModelConfig, build_empty
from hybridserve.workers.models.checkpoint_writer import save_checkpoint
from hybridserve.workers.models.config import MAMBA
from hybridserve.workers.models.weights import init_dummy_weights

SMALL = {
    "model_type": "nemotron_h",
    "vocab_size": 8192,
    "hidden_size": 1024,
    "hybrid_override_pattern": "MEM*EMEM*E",
    "num_attention_heads": 16,
    "num_key_value_heads": 2,
    "head_dim": 64,
    "mamba_num_heads": 32,
    "mamba_head_dim": 32,
    "n_groups": 4,
    "ssm_state_size": 64,
    "chunk_size": 64,
    "n_routed_experts": 16,
    "num_experts_per_tok": 4,
    "moe_intermediate_size": 512,
    "moe_shared_expert_intermediate_size": 1024,
    "routed_scaling_factor": 2.5,
    "max_position_embeddings": 4096,
    "eos_token_id": [2],
}
NEAR_TIE = 2e-3


def make_checkpoint(folder: str) -> ModelConfig:
    config = ModelConfig.from_dict(SMALL)
    model = build_empty(config, torch.float32).to_empty(device="cpu")
    init_dummy_weights(model, seed=0)
    with torch.no_grad():
        model.norm_f.weight.mul_(10.0)  # no float-noise ties in greedy decoding
    save_checkpoint(model, folder)
    return config


def compare(ref, out) -> dict:
    compared = diverged = 0
    for r, o in zip(ref, out):
        gaps = [t[0][1] - t[1][1] for t in r.outputs[0].top_logprobs]
        n = next((i for i, g in enumerate(gaps) if g < NEAR_TIE), len(gaps))
        compared += n
        diverged += r.token_ids[:n] != o.token_ids[:n]
    lp = [
        abs(a - b)
        for r, o in zip(ref, out)
        for a, b in zip(r.outputs[0].logprobs, o.outputs[0].logprobs)
    ]
    return {
        "prompts": len(ref),
        "tokens_compared": compared,
        "prompts_diverged": diverged,
        "max_abs_logprob_diff": max(lp),
        "mean_abs_logprob_diff": statistics.mean(lp),
    }


def reductions_per_step(config: ModelConfig, tp: int) -> int:
    """Row-parallel reductions of one forward: one per mixer, one for the embedding, and the
    gated norm's when a B/C group spans ranks."""
    mamba = len(config.layers_of(MAMBA))
    spans = mamba if tp > config.n_groups else 0
    return config.num_layers + 1 + spans


def _time_allreduce(rank: int, world: int, port: int, device: str, shape, result) -> None:
    backend = "nccl" if device == "cuda" else "gloo"
    if device == "cuda":
        torch.cuda.set_device(rank)
    group = init_process_group(backend, f"tcp://127.0.0.1:{port}", rank, world)
    ctx = ParallelContext.for_rank(rank, world, group=group)
    x = torch.randn(
        *shape, dtype=torch.bfloat16 if device == "cuda" else torch.float32, device=device
    )
    times = []
    for _ in range(200):
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        ctx.all_reduce(x)
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    if rank == 0:
        result.put(statistics.median(times[20:]) * 1e6)


def allreduce_us(tp: int, device: str, shape: tuple[int, ...]) -> float:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.get_context("spawn")
    result = ctx.Queue()
    procs = [
        ctx.Process(target=_time_allreduce, args=(r, tp, port, device, shape, result))
        for r in range(tp)
    ]
    for p in procs:
        p.start()
    value = result.get(timeout=300)
    for p in procs:
        p.join(60)
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tp", type=int, default=2)
    parser.add_argument("--ep", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument(
        "--ref-dtype", default=None, help="the tp=1 reference's dtype (default --dtype)"
    )
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()
    rng = random.Random(0)
    prompts = [
        [rng.randrange(3, 8192) for _ in range(rng.randint(8, 200))] for _ in range(args.prompts)
    ]
    params = SamplingParams(
        temperature=0, max_tokens=args.max_tokens, ignore_eos=True, logprobs=True, top_logprobs=2
    )
    with tempfile.TemporaryDirectory() as folder:
        config = make_checkpoint(folder)
        common = dict(device=args.device, dtype=args.dtype)
        single = LLM(folder, device=args.device, dtype=args.ref_dtype or args.dtype)
        ref = single.generate(prompts, params)
        single.shutdown()  # give its device memory back before the group's rank 0 starts
        del single
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        group = LLM(folder, tp=args.tp, ep=args.ep, **common)
        t = time.perf_counter()
        out = group.generate(prompts, params)
        elapsed = time.perf_counter() - t
        group.shutdown()
    report = {
        "tp": args.tp,
        "ep": args.ep or args.tp,
        "device": args.device,
        "dtype": args.dtype,
        "ref_dtype": args.ref_dtype or args.dtype,
        **compare(ref, out),
        "tp_generate_s": round(elapsed, 3),
    }
    if args.tp > 1:
        per_op = allreduce_us(args.tp, args.device, (1, config.hidden_size))
        n = reductions_per_step(config, args.tp)
        report |= {
            "allreduce_us_per_op_batch1": round(per_op, 1),
            "allreduces_per_decode_step": n,
            "allreduce_us_per_decode_step": round(per_op * n, 1),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
