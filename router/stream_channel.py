"""gRPC channel options for a relay that reads token streams (the router from its worker groups,
the gateway from the router).

By default gRPC reads ahead on a stream up to a window that its bandwidth-delay probe keeps
growing, so a reader that falls behind never slows the sender: one-token messages pile up in the
transport and the client sees the tokens late (at 1,024 streams the router relayed ~12k messages
a second and the bench read its last tokens 18 s after the engine had finished). With a small
window and no probe, a reader that falls behind blocks the sender's writes; the worker's stream
then merges the tokens due meanwhile into one message (`EngineClient` streams hand a backlog over
as one delta), so messages grow exactly when a hop is saturated, as vLLM merges outputs for an
API server that lags. A reader that keeps up still gets a message per token."""

from __future__ import annotations

import grpc

LOOKAHEAD_BYTES = 1024  # ~30 one-token messages in flight on a stream before the sender waits

STREAM_OPTIONS = (("grpc.http2.lookahead_bytes", LOOKAHEAD_BYTES), ("grpc.http2.bdp_probe", 0))


def stream_channel(address: str) -> grpc.aio.Channel:
    """An insecure channel to `address` for reading token streams (unary calls with large
    replies belong on a default channel: every window's worth waits for an update)."""
    return grpc.aio.insecure_channel(address, options=STREAM_OPTIONS)
