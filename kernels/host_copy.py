"""Host values onto the device without a sync."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def device_tensor(
    values: Sequence[int] | np.ndarray, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """`values` on `device` without waiting for the work queued there: a pinned host copy sent
    asynchronously (a plain `torch.tensor(..., device=cuda)` synchronizes the stream)."""
    host = torch.tensor(np.asarray(values), dtype=dtype, pin_memory=device.type == "cuda")
    return host.to(device, non_blocking=True)
