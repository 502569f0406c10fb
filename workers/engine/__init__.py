"""The serving engine: requests, scheduler, cache manager, model runner and sampler.

Names are imported on first use, so the worker's front-end process (which needs only the plain
types: SamplingParams, TokenDelta, EngineStats) does not import torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from hybridserve.lazy import lazy_getattr

_HOMES = {
    "AsyncEngine": ".async_engine",
    "CompletionOutput": ".outputs",
    "Engine": ".engine",
    "EngineConfig": ".engine_config",
    "EngineStats": ".stats",
    "FinishReason": ".request",
    "LLM": ".llm",
    "RequestOutput": ".outputs",
    "SamplingParams": ".sampling_params",
    "TokenDelta": ".outputs",
}
__all__ = [
    "AsyncEngine",
    "CompletionOutput",
    "Engine",
    "EngineConfig",
    "EngineStats",
    "FinishReason",
    "LLM",
    "RequestOutput",
    "SamplingParams",
    "TokenDelta",
]

if TYPE_CHECKING:
    from hybridserve.workers.engine.async_engine import AsyncEngine
    from hybridserve.workers.engine.engine import Engine
    from hybridserve.workers.engine.engine_config import EngineConfig
    from hybridserve.workers.engine.llm import LLM
    from hybridserve.workers.engine.outputs import CompletionOutput, RequestOutput, TokenDelta
    from hybridserve.workers.engine.request import FinishReason
    from hybridserve.workers.engine.sampling_params import SamplingParams
    from hybridserve.workers.engine.stats import EngineStats


__getattr__ = lazy_getattr(__name__, _HOMES)
