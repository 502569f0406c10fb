"""Checkpoint loading: sharded folders, clear errors for renamed or mis-shaped tensors."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from hybridserve.errors import WeightLoadError
from hybridserve.workers.models import load_model
from tests.workers.models.harness import Harness, max_rel_err
from tests.workers.models.hf_checkpoints import VARIANTS, make_checkpoint, reference_logits


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    hf = make_checkpoint(VARIANTS[0], folder)
    return hf, folder


def _rewrite(src, dst, edit) -> None:
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    tensors = load_file(src / "model.safetensors")
    edit(tensors)
    save_file(tensors, dst / "model.safetensors", metadata={"format": "pt"})


def test_sharded_checkpoint_with_index_loads(checkpoint, tmp_path):
    hf, _ = checkpoint
    hf.save_pretrained(tmp_path, max_shard_size="40KB")
    assert (tmp_path / "model.safetensors.index.json").exists()
    assert len(list(tmp_path.glob("*.safetensors"))) > 1
    ours = load_model(str(tmp_path))
    prompt = list(range(3, 40))
    assert max_rel_err(Harness(ours).step({0: prompt})[0], reference_logits(hf, prompt)) < 1e-4


def test_renamed_tensor_is_rejected_by_name(checkpoint, tmp_path):
    _, folder = checkpoint
    old = "backbone.layers.0.mixer.in_proj.weight"
    new = old.replace("in_proj", "inproj")
    _rewrite(folder, tmp_path, lambda t: t.__setitem__(new, t.pop(old)))
    with pytest.raises(WeightLoadError, match="inproj"):
        load_model(str(tmp_path))


def test_missing_tensor_is_named(checkpoint, tmp_path):
    _, folder = checkpoint
    _rewrite(folder, tmp_path, lambda t: t.pop("backbone.layers.2.mixer.experts.3.up_proj.weight"))
    with pytest.raises(WeightLoadError, match=r"layers\.2\.mixer\.experts\.up_proj\[3\]"):
        load_model(str(tmp_path))


def test_misshaped_tensor_is_rejected_by_name(checkpoint, tmp_path):
    _, folder = checkpoint
    name = "backbone.layers.1.mixer.k_proj.weight"
    _rewrite(folder, tmp_path, lambda t: t.__setitem__(name, torch.zeros(5, 48)))
    with pytest.raises(WeightLoadError, match=r"k_proj.*\(5, 48\)"):
        load_model(str(tmp_path))


def test_empty_folder_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text(
        '{"model_type": "nemotron_h", "vocab_size": 8, '
        '"hidden_size": 8, "hybrid_override_pattern": "-"}'
    )
    with pytest.raises(WeightLoadError, match="no \\*.safetensors"):
        load_model(str(tmp_path))
