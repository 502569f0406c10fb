"""TP/EP forward on CPU with gloo: every rank's logits against transformers (fp32)."""

from __future__ import annotations

import pytest
import torch

from hybridserve.errors import ConfigError
from hybridserve.workers.distributed import ParallelContext
from hybridserve.workers.models import build_empty, resolve_config
from hybridserve.workers.models.weights import iter_checkpoint, load_weights
from tests.workers.distributed.ranks import DECODE_STEPS, PROMPT_LENS, rank_forward, sequences
from tests.workers.distributed.spawn import run_ranks
from tests.workers.models.harness import max_rel_err
from tests.workers.models.hf_checkpoints import VARIANTS, make_checkpoint, reference_logits

TOL = 1e-4


@pytest.fixture(scope="module", params=[VARIANTS[0], VARIANTS[1]], ids=["v0", "v1-kv1-g1"])
def checkpoint(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"tp-ckpt{request.param.seed}")
    return make_checkpoint(request.param, folder), folder


@pytest.mark.parametrize("tp,ep", [(2, 2), (2, 1), (4, 4), (4, 2)])
def test_tp_logits_match_transformers(checkpoint, tmp_path, tp, ep):
    hf, folder = checkpoint
    run_ranks(rank_forward, tp, ep, str(folder), str(tmp_path), timeout_s=60)
    vocab = hf.config.vocab_size
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(tp)]
    for i, seq in enumerate(sequences(vocab)):
        ref = reference_logits(hf, seq[: PROMPT_LENS[i] + DECODE_STEPS - 1])
        assert ranks[0][i].shape == ref.shape
        assert max_rel_err(ranks[0][i], ref) < TOL
        for other in ranks[1:]:
            assert torch.equal(other[i], ranks[0][i])


class _Recorder:
    """Wraps lazy checkpoint slices; remembers which tensors were read at all."""

    def __init__(self, weights, read: set[str]) -> None:
        self.weights, self.read = weights, read

    def __iter__(self):
        for name, src in self.weights:
            yield name, _RecordedSlice(name, src, self.read)


class _RecordedSlice:
    def __init__(self, name: str, src, read: set[str]) -> None:
        self.name, self.src, self.read = name, src, read

    def get_shape(self):
        return self.src.get_shape()

    def __getitem__(self, index):
        self.read.add(self.name)
        return self.src[index]


def test_rank_reads_only_its_experts(checkpoint):
    """tp=2, ep=2: rank 1 never reads experts 0..3 and holds about half of the parameters."""
    _, folder = checkpoint
    config = resolve_config(str(folder))
    ctx = ParallelContext.for_rank(1, 2, 2)  # no group: building and loading need none
    model = build_empty(config, torch.float32, ctx).to_empty(device="cpu")
    read: set[str] = set()
    load_weights(model, _Recorder(iter_checkpoint(folder, lazy=True), read))
    experts = {n for n in read if ".experts." in n}
    assert experts and all(int(n.split(".experts.")[1].split(".")[0]) >= 4 for n in experts)
    assert not any(n.startswith("backbone.layers.2.mixer.experts.3.") for n in read)
    local = sum(p.numel() for p in model.parameters())
    whole = sum(p.numel() for p in build_empty(config, torch.float32).parameters())
    assert abs(local / whole - 0.5) < 0.05  # ~1/tp: block norms and MoE gates stay whole


@pytest.mark.parametrize("tp", [3, 8])
def test_indivisible_tp_is_a_clear_error(checkpoint, tp):
    _, folder = checkpoint
    config = resolve_config(str(folder))
    with pytest.raises(ConfigError, match=f"num_attention_heads: 4 cannot be split over tp={tp}"):
        build_empty(config, torch.float32, ParallelContext.for_rank(0, tp))
