"""Load HF safetensors checkpoints (one or many shards) into the model, or fill dummy weights."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn
from tqdm import tqdm

from hybridserve.errors import WeightLoadError

# Checkpoints name the backbone `backbone.*` (transformers keeps `model.*` in memory).
_PREFIXES = ("backbone.", "model.")
# Per-expert tensors of the checkpoint, stacked along dim 0 in our `experts.{up,down}_proj`.
_EXPERT = re.compile(r"^(layers\.\d+\.mixer\.experts)\.(\d+)\.(up_proj|down_proj)\.weight$")
_IGNORED = re.compile(r"^(mtp\.|.*rotary_emb\.inv_freq$)")
_PROGRESS_BYTES = 1 << 30  # show a progress bar for checkpoints above 1 GiB


def checkpoint_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    index = folder / "model.safetensors.index.json"
    if index.exists():
        names = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        files = [folder / n for n in names]
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise WeightLoadError(f"no *.safetensors files in {folder}")
    missing = [str(f) for f in files if not f.exists()]
    if missing:
        raise WeightLoadError(f"checkpoint shards listed in the index are missing: {missing}")
    return files


def iter_checkpoint(folder: str | Path) -> Iterator[tuple[str, torch.Tensor]]:
    """Stream `(name, tensor)` pairs, one shard open at a time."""
    files = checkpoint_files(folder)
    total = sum(f.stat().st_size for f in files)
    bar = tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        desc="loading weights",
        disable=total < _PROGRESS_BYTES,
    )
    for f in files:
        with safe_open(str(f), framework="pt") as shard:
            for name in shard.keys():  # noqa: SIM118 (safe_open is not a dict)
                yield name, shard.get_tensor(name)
        bar.update(f.stat().st_size)
    bar.close()


def canonical_name(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def load_weights(model: nn.Module, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
    """Copy every checkpoint tensor into its parameter; raise naming any mismatch."""
    params = dict(model.named_parameters())
    tied = "lm_head.weight" not in params
    loaded: set[str] = set()
    for raw_name, tensor in weights:
        name = canonical_name(raw_name)
        if _IGNORED.match(name) or (tied and name == "lm_head.weight"):
            continue
        expert = _EXPERT.match(name)
        if expert:
            stacked, index, proj = expert.groups()
            key = f"{stacked}.{proj}"
            target = params.get(key)
            if target is None or int(index) >= target.shape[0]:
                raise WeightLoadError(f"unexpected tensor {raw_name!r} (no such expert)")
            _copy(raw_name, target.data[int(index)], tensor)
            loaded.add(f"{key}[{index}]")
            continue
        if name not in params:
            if tensor.numel() == 0 and ".shared_experts." in name:
                continue  # a zero-width shared expert is "no shared expert"
            raise WeightLoadError(f"unexpected tensor {raw_name!r}: the model has no such weight")
        _copy(raw_name, params[name].data, tensor)
        loaded.add(name)
    missing = [n for n in _expected_names(params, loaded) if n not in loaded]
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise WeightLoadError(f"checkpoint is missing {len(missing)} tensor(s): {shown}")


def _expected_names(params: dict[str, nn.Parameter], loaded: set[str]) -> Iterator[str]:
    """Every parameter; stacked experts may come whole or as one tensor per expert."""
    for name, p in params.items():
        if name.endswith(("experts.up_proj", "experts.down_proj")) and name not in loaded:
            yield from (f"{name}[{e}]" for e in range(p.shape[0]))
        else:
            yield name


def _copy(name: str, dst: torch.Tensor, src: torch.Tensor) -> None:
    if tuple(dst.shape) != tuple(src.shape):
        raise WeightLoadError(
            f"tensor {name!r} has shape {tuple(src.shape)}, the model expects {tuple(dst.shape)}"
        )
    dst.copy_(src)


@torch.no_grad()
def init_dummy_weights(model: nn.Module, seed: int = 0, std: float = 0.02) -> None:
    """Random weights of the right shapes and dtypes (for benchmarks and the tiny preset).

    Values follow the real model's conventions where they matter for stable outputs: norms at 1,
    A_log = log(1..H), D = 1, dt_bias = softplus^-1 of a step in [1e-3, 1e-1].
    """
    gen = torch.Generator(device="cpu").manual_seed(seed)
    for name, p in model.named_parameters():
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "weight" and "norm" in name:
            p.fill_(1.0)
        elif leaf == "A_log":
            p.copy_(torch.log(torch.arange(1, p.numel() + 1, dtype=torch.float32)))
        elif leaf == "D":
            p.fill_(1.0)
        elif leaf == "dt_bias":
            dt = torch.exp(
                torch.rand(p.shape, generator=gen) * (math.log(0.1) - math.log(1e-3))
                + math.log(1e-3)
            )
            p.copy_(dt + torch.log(-torch.expm1(-dt)))
        elif leaf in ("bias", "e_score_correction_bias"):
            p.zero_()
        else:
            _fill_normal(p, gen, std)


def _fill_normal(p: torch.Tensor, gen: torch.Generator, std: float) -> None:
    if p.device.type == "cpu":
        p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32) * std)
    else:  # generate on the device in slices (full-size models do not fit a CPU staging copy)
        flat = p.view(-1)
        dev_gen = torch.Generator(device=p.device).manual_seed(
            int(torch.randint(2**31, (1,), generator=gen))
        )
        for s in range(0, flat.numel(), 1 << 26):
            chunk = flat[s : s + (1 << 26)]
            chunk.copy_(torch.randn(chunk.shape, generator=dev_gen, device=p.device) * std)
