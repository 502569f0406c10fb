"""Request helpers the model runner uses every step."""

from __future__ import annotations

import torch

from hybridserve.workers.engine import SamplingParams
from hybridserve.workers.engine.request import Request


def test_token_ids_slices_prompt_and_output_without_joining_them():
    req = Request("r", [1, 2, 3, 4], SamplingParams(), output_ids=[5, 6, 7])
    for start in range(8):
        for end in range(start, 8):
            assert req.token_ids(start, end) == req.all_ids[start:end]


def test_kv_indices_extend_the_previous_copy_and_rebuild_when_stale():
    req = Request("r", [1, 2, 3], SamplingParams(), kv_slots=[10, 11, 12])
    assert req.kv_indices(2).tolist() == [10, 11]
    req.kv_slots.append(13)
    assert req.kv_indices(4).tolist() == [10, 11, 12, 13]
    req.kv_slots[:2] = [20, 21]  # rewritten in place: the owner marks the copy stale
    req.kv_copy = None
    assert torch.equal(req.kv_indices(4), torch.tensor([20, 21, 12, 13]))
    assert req.kv_indices(3).tolist() == [20, 21, 12]
