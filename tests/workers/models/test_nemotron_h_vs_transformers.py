"""Our NemotronH forward against transformers' logits, on tiny random checkpoints (fp32, CPU)."""

from __future__ import annotations

import random

import pytest
import torch

from hybridserve.workers.models import StateSnapshot, load_model
from tests.workers.models.harness import Harness, max_rel_err
from tests.workers.models.hf_checkpoints import VARIANTS, make_checkpoint, reference_logits

TOL = 1e-4


@pytest.fixture(scope="module", params=VARIANTS, ids=lambda v: f"seed{v.seed}-{v.pattern}")
def pair(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"ckpt{request.param.seed}")
    hf = make_checkpoint(request.param, folder)
    return hf, load_model(str(folder))


def _prompts(seed: int, lengths: list[int], vocab: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[rng.randrange(3, vocab) for _ in range(n)] for n in lengths]


def test_batched_prefill_matches_each_prompt_alone(pair):
    hf, ours = pair
    prompts = _prompts(1, [1, 7, 19, 33, 64], ours.config.vocab_size)
    out = Harness(ours).step(dict(enumerate(prompts)))
    for sid, prompt in enumerate(prompts):
        assert max_rel_err(out[sid], reference_logits(hf, prompt)) < TOL


def test_chunked_prefill_then_decode_matches_whole_sequence(pair):
    hf, ours = pair
    rng = random.Random(2)
    seqs = _prompts(3, [23, 40, 57], ours.config.vocab_size)
    full = [s + [rng.randrange(3, ours.config.vocab_size) for _ in range(16)] for s in seqs]
    h = Harness(ours)
    got: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(seqs))}
    cuts = {i: sorted(rng.sample(range(1, len(s)), rng.randint(1, 3))) for i, s in enumerate(seqs)}
    pieces = {
        i: [s[a:b] for a, b in zip([0, *cuts[i]], [*cuts[i], len(s)])] for i, s in enumerate(seqs)
    }
    for step in range(max(len(p) for p in pieces.values())):
        chunks = {i: p[step] for i, p in pieces.items() if step < len(p)}
        for sid, logits in h.step(chunks).items():
            got[sid].append(logits)
    for t in range(16):  # every sequence decodes in one batch: the one-token path
        out = h.step({i: [full[i][len(seqs[i]) + t]] for i in range(len(seqs))})
        for sid, logits in out.items():
            got[sid].append(logits)
    for sid, tokens in enumerate(full):
        assert max_rel_err(torch.cat(got[sid])[:-1], reference_logits(hf, tokens)[:-1]) < TOL


def test_snapshot_mid_chunk_resumes_a_second_sequence(pair):
    """A state saved at an offset inside a chunk is exactly the state of that prefix."""
    hf, ours = pair
    a = _prompts(4, [30], ours.config.vocab_size)[0]
    h = Harness(ours)
    h.step({0: a}, snapshots=(StateSnapshot(seq=0, offset=16, slot=40),))
    b = a[:16] + _prompts(5, [12], ours.config.vocab_size)[0]
    h.fork(src=0, dst=1, prefix_len=16, snapshot_slot=40)
    out = h.step({1: b[16:]})[1]
    assert max_rel_err(out, reference_logits(hf, b)[16:]) < TOL
