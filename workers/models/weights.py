"""Load HF safetensors checkpoints (one or many shards) into the model, or fill dummy weights."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import nn
from tqdm import tqdm

from hybridserve.errors import WeightLoadError
from hybridserve.workers.distributed.shard import Shard

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


def iter_checkpoint(folder: str | Path, lazy: bool = False) -> Iterator[tuple[str, Any]]:
    """Stream `(name, tensor)` pairs, one shard open at a time. With `lazy`, yield safetensors
    slices instead: indexing one reads only that part (a rank's shard), skipping it reads nothing.
    """
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
                yield name, shard.get_slice(name) if lazy else shard.get_tensor(name)
        bar.update(f.stat().st_size)
    bar.close()


def canonical_name(name: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            return name[len(prefix) :]
    return name


def load_weights(model: nn.Module, weights: Iterable[tuple[str, Any]]) -> None:
    """Copy this rank's part of every checkpoint tensor (a torch tensor or a lazy safetensors
    slice) into its parameter, as the owning module's `shards` say; raise naming any mismatch.
    Experts of other ranks are skipped unread."""
    params = dict(model.named_parameters())
    modules = dict(model.named_modules())
    tied = "lm_head.weight" not in params
    loaded: set[str] = set()
    for raw_name, tensor in weights:
        name = canonical_name(raw_name)
        if _IGNORED.match(name) or (tied and name == "lm_head.weight"):
            continue
        expert = _EXPERT.match(name)
        if expert:
            stacked, index, proj = expert.groups()
            key, e = f"{stacked}.{proj}", int(index)
            experts = modules.get(stacked)
            if key not in params or experts is None or e >= experts.num_experts:
                raise WeightLoadError(f"unexpected tensor {raw_name!r} (no such expert)")
            local = e - experts.first_expert
            if 0 <= local < params[key].shape[0]:
                _copy(raw_name, params[key].data[local], experts.expert_shards[proj], tensor)
                loaded.add(f"{key}[{index}]")
            continue
        if name not in params:
            if _shape(tensor) and 0 in _shape(tensor) and ".shared_experts." in name:
                continue  # a zero-width shared expert is "no shared expert"
            raise WeightLoadError(f"unexpected tensor {raw_name!r}: the model has no such weight")
        _copy(raw_name, params[name].data, _shard_of(modules, name, params[name]), tensor)
        loaded.add(name)
    missing = [n for n in _expected_names(params, modules, loaded) if n not in loaded]
    if missing:
        shown = ", ".join(missing[:8]) + (" ..." if len(missing) > 8 else "")
        raise WeightLoadError(f"checkpoint is missing {len(missing)} tensor(s): {shown}")


def _shard_of(modules: dict[str, nn.Module], name: str, param: torch.Tensor) -> Shard:
    owner, _, leaf = name.rpartition(".")
    shard = getattr(modules.get(owner), "shards", {}).get(leaf)
    return shard if shard is not None else Shard(tuple(param.shape))


def _expected_names(
    params: dict[str, nn.Parameter], modules: dict[str, nn.Module], loaded: set[str]
) -> Iterator[str]:
    """Every parameter; stacked experts may come whole or as one tensor per (local) expert."""
    for name, p in params.items():
        if name.endswith(("experts.up_proj", "experts.down_proj")) and name not in loaded:
            first = modules[name.rpartition(".")[0]].first_expert
            yield from (f"{name}[{e}]" for e in range(first, first + p.shape[0]))
        else:
            yield name


def _shape(src: Any) -> tuple[int, ...]:
    return tuple(src.shape) if isinstance(src, torch.Tensor) else tuple(src.get_shape())


def _copy(name: str, dst: torch.Tensor, shard: Shard, src: Any) -> None:
    if _shape(src) != shard.full_shape:
        raise WeightLoadError(
            f"tensor {name!r} has shape {_shape(src)}, the model expects {shard.full_shape}"
        )
    shard.load_into(dst, src)


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
