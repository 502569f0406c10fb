"""What each spawned rank runs (kept free of transformers, so ranks start fast)."""

from __future__ import annotations

import random
from pathlib import Path

import torch

from hybridserve.workers.distributed import ParallelContext, init_process_group
from hybridserve.workers.models import load_model
from tests.workers.models.harness import Harness

PROMPT_LENS = [1, 7, 19, 33]
DECODE_STEPS = 4


def sequences(vocab: int) -> list[list[int]]:
    rng = random.Random(7)
    return [[rng.randrange(3, vocab) for _ in range(n + DECODE_STEPS)] for n in PROMPT_LENS]


def rank_forward(rank: int, world: int, port: int, ep: int, folder: str, out: str) -> None:
    """One rank: load its shard, batched prefill then decode steps; save its logits."""
    torch.set_num_threads(1)
    group = init_process_group("gloo", f"tcp://127.0.0.1:{port}", rank, world, timeout_s=30)
    ctx = ParallelContext.for_rank(rank, world, ep, group)
    assert ctx.broadcast_object({"step": 1} if rank == 0 else None) == {"step": 1}
    assert ctx.all_gather(torch.tensor([rank])).tolist() == list(range(world))
    model = load_model(folder, parallel=ctx)
    seqs = sequences(model.config.vocab_size)
    h = Harness(model)
    got = h.step({i: s[: PROMPT_LENS[i]] for i, s in enumerate(seqs)})
    logits = {i: [got[i]] for i in got}
    for t in range(DECODE_STEPS - 1):
        step = h.step({i: [s[PROMPT_LENS[i] + t]] for i, s in enumerate(seqs)})
        for i, row in step.items():
            logits[i].append(row)
    torch.save({i: torch.cat(rows) for i, rows in logits.items()}, Path(out) / f"rank{rank}.pt")
