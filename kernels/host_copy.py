"""Host values onto the device without a sync."""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch


def device_tensor(
    values: Sequence[int] | np.ndarray, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """`values` on `device` without waiting for the work queued there: a pinned host copy sent
    asynchronously (a plain `torch.tensor(..., device=cuda)` synchronizes the stream)."""
    array = np.asarray(values)
    host = torch.empty(array.shape, dtype=dtype, pin_memory=device.type == "cuda")
    host.numpy()[...] = array  # (torch cannot pin a tensor built from a numpy array)
    return host.to(device, non_blocking=True)


def select_rows(x: torch.Tensor, rows: list[int]) -> torch.Tensor:
    """`x[rows]` without a sync (indexing with a list copies it from pageable memory, which
    waits for the work queued on the device: under overlap scheduling, the step just launched)."""
    if rows == list(range(len(rows))):  # every row in order: decode steps, most mixed ones
        return x[: len(rows)]
    return x[device_tensor(rows, torch.long, x.device)]


@functools.lru_cache(maxsize=16)
def device_offsets(offsets: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """int32 `offsets` on `device`, copied once for the batch's layers, which all pass the same
    (a pinned buffer a layer would be allocated anew while the GPU runs behind the host)."""
    return device_tensor(offsets, torch.int32, device)
