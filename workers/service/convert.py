"""Protobuf <-> engine types for the Worker service (sampling params in, token deltas out)."""

from __future__ import annotations

from hybridserve.v1 import common_pb2 as pb
from hybridserve.workers.engine import FinishReason, SamplingParams, TokenDelta

_OPTIONAL = (
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "max_tokens",
    "n",
    "skip_special_tokens",
)
_FINISH = {
    None: pb.FINISH_REASON_UNSPECIFIED,
    FinishReason.STOP: pb.FINISH_REASON_STOP,
    FinishReason.LENGTH: pb.FINISH_REASON_LENGTH,
    FinishReason.ABORT: pb.FINISH_REASON_ABORT,
}


def sampling_from_proto(msg: pb.SamplingParams) -> SamplingParams:
    """Unset optional fields take the engine defaults; raises InvalidRequestError when bad."""
    kwargs: dict[str, object] = {n: getattr(msg, n) for n in _OPTIONAL if msg.HasField(n)}
    if kwargs.get("max_tokens") == 0:
        kwargs["max_tokens"] = None  # no output limit: the context length is the bound
    return SamplingParams(
        stop_token_ids=tuple(msg.stop_token_ids),
        stop=tuple(msg.stop),
        min_tokens=msg.min_tokens,
        ignore_eos=msg.ignore_eos,
        logprobs=msg.logprobs,
        top_logprobs=msg.top_logprobs,
        **kwargs,  # type: ignore[arg-type]
    )


def delta_to_proto(delta: TokenDelta) -> pb.TokenDelta:
    out = pb.TokenDelta(
        index=delta.index,
        token_ids=delta.token_ids,
        finish_reason=_FINISH[delta.finish_reason],
    )
    if delta.logprobs is not None:
        out.logprobs.extend(delta.logprobs)
    for top in delta.top_logprobs or []:
        entries = [pb.TopLogprob(token_id=t, logprob=lp) for t, lp in top]
        out.top_logprobs.append(pb.TopLogprobs(entries=entries))
    return out
