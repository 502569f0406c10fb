"""A saved model loads back with identical logits (the round trip benchmarks rely on)."""

from __future__ import annotations

import torch

from hybridserve.workers.models import load_model
from hybridserve.workers.models.checkpoint_writer import save_checkpoint
from tests.workers.models.harness import Harness


def test_tiny_round_trips_through_a_checkpoint(tmp_path):
    tiny = load_model("tiny")
    save_checkpoint(tiny, tmp_path)
    again = load_model(str(tmp_path))
    prompt = list(range(3, 50))
    assert torch.equal(Harness(tiny).step({0: prompt})[0], Harness(again).step({0: prompt})[0])
