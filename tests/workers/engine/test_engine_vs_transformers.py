"""Greedy outputs of the engine equal transformers' greedy generate, prompt by prompt."""

from __future__ import annotations

import random

import pytest
import torch

from hybridserve import LLM, SamplingParams
from tests.workers.engine.greedy_compare import assert_same_greedy
from tests.workers.models.hf_checkpoints import VARIANTS, make_checkpoint

NEW_TOKENS = 32
GREEDY = SamplingParams(temperature=0, max_tokens=NEW_TOKENS, ignore_eos=True)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    hf = make_checkpoint(VARIANTS[0], folder)
    rng = random.Random(7)
    lengths = [1, 2, 5, 9, 16, 17, 31, 48, 64, 77, 100, 128, 150, 199, 256, 300]
    prompts = [[rng.randrange(3, 256) for _ in range(n)] for n in lengths]
    refs = [_hf_greedy(hf, p) for p in prompts]
    return folder, prompts, refs


@torch.no_grad()
def _hf_greedy(hf, prompt: list[int]) -> tuple[list[int], list[float]]:
    hf.generation_config.eos_token_id = None
    out = hf.generate(
        torch.tensor([prompt]),
        max_new_tokens=NEW_TOKENS,
        do_sample=False,
        output_scores=True,
        return_dict_in_generate=True,
        pad_token_id=0,
    )
    top2 = [s[0].float().topk(2).values for s in out.scores]
    return out.sequences[0, len(prompt) :].tolist(), [(a - b).item() for a, b in top2]


def test_all_at_once(setup):
    folder, prompts, refs = setup
    outs = LLM(str(folder)).generate(prompts, GREEDY)
    compared = [assert_same_greedy(t, g, out.token_ids) for out, (t, g) in zip(outs, refs)]
    assert sum(compared) > 0.5 * len(prompts) * NEW_TOKENS  # the comparison is not vacuous


def test_staggered_arrivals(setup):
    folder, prompts, refs = setup
    engine = LLM(str(folder), chunked_prefill_size=64).engine
    results: dict[str, list[int]] = {}
    pending = list(enumerate(prompts))
    while pending or engine.has_work():
        for _ in range(2):  # two new requests every step while any remain
            if pending:
                i, p = pending.pop(0)
                engine.add_request(p, GREEDY, rid=str(i))
        for d in engine.step():
            results.setdefault(d.rid, []).extend(d.token_ids)
    compared = [assert_same_greedy(t, g, results[str(i)]) for i, (t, g) in enumerate(refs)]
    assert sum(compared) > 0.5 * len(prompts) * NEW_TOKENS
