"""hybridserve: a tensor-parallel serving cluster for hybrid Mamba-2 / attention MoE models.

This package stays free of torch so that the router and gateway image need no CUDA; the offline
engine (`LLM`, `SamplingParams`) is imported lazily from the workers package.
"""

from __future__ import annotations

from hybridserve.lazy import lazy_getattr

__all__ = ["LLM", "SamplingParams", "__version__"]
__version__ = "0.1.0"
__getattr__ = lazy_getattr(
    __name__, {"LLM": "hybridserve.workers.engine", "SamplingParams": "hybridserve.workers.engine"}
)
