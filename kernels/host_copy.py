"""Host values onto the device without a sync."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch


def _pinned(values: Sequence[int] | np.ndarray, dtype: torch.dtype, pin: bool) -> torch.Tensor:
    """`values` in a fresh host tensor, page-locked where `pin` (so that a copy from it to the
    device runs asynchronously)."""
    array = np.asarray(values)
    host = torch.empty(array.shape, dtype=dtype, pin_memory=pin)
    host.numpy()[...] = array  # (torch cannot pin a tensor built from a numpy array)
    return host


def device_tensor(
    values: Sequence[int] | np.ndarray, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """`values` on `device` without waiting for the work queued there: a pinned host copy sent
    asynchronously (a plain `torch.tensor(..., device=cuda)` synchronizes the stream)."""
    return _pinned(values, dtype, device.type == "cuda").to(device, non_blocking=True)


def copy_into(dst: torch.Tensor, values: Sequence[int] | np.ndarray) -> None:
    """`dst[:len(values)] = values` without a sync (an existing buffer: a CUDA graph's input)."""
    dst[: len(values)].copy_(_pinned(values, dst.dtype, dst.is_cuda), non_blocking=True)


def _in_order(rows: list[int]) -> bool:
    """Whether `rows` are 0, 1, ...: decode steps, most mixed ones."""
    return rows == list(range(len(rows)))


def select_rows(x: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """`x[rows]` without a sync (indexing with a list copies it from pageable memory, which
    waits for the work queued on the device: under overlap scheduling, the step just launched)."""
    if _in_order(rows):
        return x[: len(rows)]
    return x[device_tensor(rows, torch.long, x.device)]


def put_rows(dst: torch.Tensor, rows: list[int], values: torch.Tensor) -> None:
    """`dst[rows] = values` without a sync; one device copy where the rows are in order."""
    if _in_order(rows):
        dst[: len(rows)].copy_(values)
    else:
        dst[device_tensor(rows, torch.long, dst.device)] = values


@functools.lru_cache(maxsize=16)
def device_offsets(offsets: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """int32 `offsets` on `device`, copied once for the batch's layers, which all pass the same
    (a pinned buffer a layer would be allocated anew while the GPU runs behind the host)."""
    return device_tensor(offsets, torch.int32, device)
