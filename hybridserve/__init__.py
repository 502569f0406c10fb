"""hybridserve: a tensor-parallel serving cluster for hybrid Mamba-2 / attention MoE models.

This package stays free of torch so that the router and gateway image need no CUDA; the offline
engine (`LLM`, `SamplingParams`) is imported lazily from the workers package.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LLM", "SamplingParams", "__version__"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("LLM", "SamplingParams"):
        from hybridserve.workers import engine

        return getattr(engine, name)
    raise AttributeError(name)
