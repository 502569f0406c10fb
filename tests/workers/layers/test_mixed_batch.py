"""A batch mixing decode rows with prefill chunks (the decode rows run through the decode kernels
together, the rest through the prefill kernels) gives what each part gives on its own."""

from __future__ import annotations

import torch

from hybridserve.workers.models import ForwardBatch, StateSnapshot, load_model
from tests.workers.models.harness import Harness


def _batch(q_lens: list[int], prefix: list[int], snapshots: list[StateSnapshot]) -> ForwardBatch:
    cu = [0]
    for n in q_lens:
        cu.append(cu[-1] + n)
    empty = torch.zeros(0, dtype=torch.long)
    return ForwardBatch(empty, cu, prefix, empty, empty, cu, empty, snapshots)


def test_num_decode_counts_the_leading_decode_rows() -> None:
    assert _batch([1, 1, 3, 1], [2, 3, 0, 4], []).num_decode == 2
    assert _batch([1, 1], [2, 0], []).num_decode == 1  # a 1-token prompt is a prefill
    assert _batch([1, 1], [2, 3], [StateSnapshot(1, 1, 9)]).num_decode == 1
    assert _batch([1, 1], [2, 3], []).is_decode
    assert not _batch([4], [0], []).is_decode


def test_mixed_batch_equals_its_parts_run_alone() -> None:
    model = load_model("tiny", "dummy", torch.float32, torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    toks = torch.randint(3, model.config.vocab_size, (30,), generator=gen).tolist()
    mixed, alone = Harness(model), Harness(model)
    for h in (mixed, alone):
        h.step({0: toks[:6], 1: toks[6:11], 3: toks[11:13]})
    step = {0: toks[13:14], 3: toks[14:15], 1: toks[15:18], 2: toks[18:22]}
    got = mixed.step(step)
    want = {sid: alone.step({sid: t})[sid] for sid, t in step.items()}
    nxt = {sid: [toks[22 + sid]] for sid in step}
    got.update({f"next{k}": v for k, v in mixed.step(nxt).items()})
    want.update({f"next{k}": v for k, v in alone.step(nxt).items()})
    for key, logits in want.items():
        torch.testing.assert_close(got[key], logits, rtol=1e-4, atol=1e-4)
