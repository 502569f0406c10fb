"""Request helpers the model runner uses every step."""

from __future__ import annotations

import numpy as np

from hybridserve.workers.engine import SamplingParams
from hybridserve.workers.engine.request import Request


def test_token_ids_slices_prompt_and_output_without_joining_them():
    req = Request("r", [1, 2, 3, 4], SamplingParams(), output_ids=[5, 6, 7])
    for start in range(8):
        for end in range(start, 8):
            assert req.token_ids(start, end) == req.all_ids[start:end]


def test_kv_indices_extend_the_previous_copy_and_rebuild_when_replaced():
    req = Request("r", [1, 2, 3], SamplingParams(), kv_slots=[10, 11, 12])
    assert req.kv_indices(2).tolist() == [10, 11]
    req.kv_slots.append(13)
    assert req.kv_indices(4).tolist() == [10, 11, 12, 13]
    assert req.kv_indices(3).tolist() == [10, 11, 12]
    req.kv_slots += list(range(100, 300))  # past the buffer: it grows, keeping what it had
    assert req.kv_indices(204).tolist() == req.kv_slots
    assert req.kv_indices(204).dtype == np.int64
    req.set_kv_slots([20, 21, 12, 13])  # replaced: the mirror is rebuilt
    assert req.kv_indices(4).tolist() == [20, 21, 12, 13]
