"""Offline API: `LLM(model=...).generate(prompts, params)` runs an engine to completion."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from hybridserve.errors import WorkerUnavailableError
from hybridserve.router.tokenization import IncrementalDetokenizer, StopStringMatcher
from hybridserve.router.tokenization.tokenizer import Tokenizer, find_tokenizer
from hybridserve.workers.engine.engine import Engine
from hybridserve.workers.engine.engine_config import EngineConfig
from hybridserve.workers.engine.outputs import CompletionOutput, RequestOutput, TokenDelta
from hybridserve.workers.engine.request import FinishReason
from hybridserve.workers.engine.sampling_params import SamplingParams
from hybridserve.workers.executor import InProcessExecutor, create_executor


class _TextStream:
    """Detokenizes one sample and applies its stop strings."""

    def __init__(self, tokenizer: Tokenizer, params: SamplingParams) -> None:
        self.detok = IncrementalDetokenizer(
            tokenizer, skip_special_tokens=params.skip_special_tokens
        )
        self.stops = StopStringMatcher(params.stop)
        self.text = ""
        self.stopped = False

    def push(self, token_ids: list[int], final: bool) -> None:
        piece = "".join(self.detok.push(t) for t in token_ids)
        if final:
            piece += self.detok.flush()
        out, self.stopped = self.stops.push(piece)
        self.text += out + (self.stops.flush() if final and not self.stopped else "")


class LLM:
    """`model` is a preset name ("tiny", "nemotron-3-nano-30b-a3b") or a HF folder; other
    keyword arguments are `EngineConfig` fields (tp, ep, page_size, chunked_prefill_size, ...).
    tp > 1 (or `use_ray=True`) runs a Ray worker group, on the Ray cluster at `ray_address` if
    given; tp = 1 runs in this process."""

    def __init__(
        self,
        model: str = "tiny",
        use_ray: bool | None = None,
        ray_address: str | None = None,
        **engine_args: Any,
    ) -> None:
        cfg = EngineConfig(model=model, **engine_args)
        self.executor = create_executor(cfg, use_ray, ray_address)
        self.tokenizer = find_tokenizer(model)
        self._ids = itertools.count()

    @property
    def engine(self) -> Engine:
        """The in-process engine (tp = 1 without Ray)."""
        if not isinstance(self.executor, InProcessExecutor):
            raise AttributeError("the engine runs in a Ray worker group")
        return self.executor.engine

    def generate(
        self,
        prompts: Sequence[Sequence[int]] | Sequence[str] | str,
        params: SamplingParams | Sequence[SamplingParams] | None = None,
    ) -> list[RequestOutput]:
        """Run every prompt to completion; outputs come back in prompt order."""
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        ids = [self._encode(p) for p in prompts]
        plist = (
            list(params)
            if isinstance(params, Sequence)
            else [params or SamplingParams()] * len(ids)
        )
        rids = [self.executor.submit(p, sp, f"llm-{next(self._ids)}") for p, sp in zip(ids, plist)]
        outputs = {
            rid: RequestOutput(
                rid, p, [CompletionOutput(i, [], None) for i in range(sp.n)], prompt_tokens=len(p)
            )
            for rid, p, sp in zip(rids, ids, plist)
        }
        texts = {}
        if self.tokenizer is not None:
            texts = {
                (rid, i): _TextStream(self.tokenizer, sp)
                for rid, sp in zip(rids, plist)
                for i in range(sp.n)
            }
        pending = {(rid, i) for rid, sp in zip(rids, plist) for i in range(sp.n)}
        while pending:
            for delta in self.executor.poll():
                key = (delta.rid, delta.index)
                if key in pending and self._collect(outputs[delta.rid], delta, texts.get(key)):
                    pending.discard(key)
        return [outputs[r] for r in rids]

    def shutdown(self) -> None:
        self.executor.shutdown()

    def _collect(self, out: RequestOutput, delta: TokenDelta, text: _TextStream | None) -> bool:
        """Add a delta to its sample; True when the sample is done."""
        if delta.error is not None:
            raise WorkerUnavailableError(delta.error)
        sample = out.outputs[delta.index]
        sample.token_ids += delta.token_ids
        sample.finish_reason = delta.finish_reason
        out.computed_tokens += delta.computed_tokens
        out.cached_tokens = out.cached_tokens or (delta.cached_tokens if delta.index == 0 else 0)
        if delta.logprobs is not None:
            sample.logprobs = (sample.logprobs or []) + delta.logprobs
            sample.top_logprobs = (sample.top_logprobs or []) + (delta.top_logprobs or [])
        if text is not None and not text.stopped:
            text.push(delta.token_ids, delta.finish_reason is not None)
            sample.text = text.text
            if text.stopped and delta.finish_reason is None:
                out.computed_tokens += self.executor.stop(delta.rid, delta.index)
                sample.finish_reason = FinishReason.STOP
        return sample.finish_reason is not None

    def _encode(self, prompt: Sequence[int] | str) -> list[int]:
        if isinstance(prompt, str):
            if self.tokenizer is None:
                raise ValueError("this model has no tokenizer: pass token ids")
            return self.tokenizer.encode(prompt)
        return list(prompt)
