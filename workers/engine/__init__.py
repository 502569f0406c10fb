"""The serving engine: requests, scheduler, cache manager, model runner and sampler."""

from hybridserve.workers.engine.async_engine import AsyncEngine
from hybridserve.workers.engine.engine import Engine
from hybridserve.workers.engine.engine_config import EngineConfig
from hybridserve.workers.engine.llm import LLM
from hybridserve.workers.engine.outputs import CompletionOutput, RequestOutput, TokenDelta
from hybridserve.workers.engine.request import FinishReason
from hybridserve.workers.engine.sampling_params import SamplingParams
from hybridserve.workers.engine.stats import EngineStats

__all__ = [
    "LLM",
    "AsyncEngine",
    "CompletionOutput",
    "Engine",
    "EngineConfig",
    "EngineStats",
    "FinishReason",
    "RequestOutput",
    "SamplingParams",
    "TokenDelta",
]
