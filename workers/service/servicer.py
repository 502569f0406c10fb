"""The Worker gRPC service: runs requests on an EngineClient and serves its load and KV snapshot."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterator

import grpc

from hybridserve.errors import HybridServeError, WorkerUnavailableError
from hybridserve.metrics import WorkerMetrics
from hybridserve.v1 import common_pb2, kv_wire, worker_pb2, worker_pb2_grpc
from hybridserve.v1.status import status_code
from hybridserve.workers.service.convert import delta_to_proto, sampling_from_proto
from hybridserve.workers.service.engine_client import EngineClient
from hybridserve.workers.service.kv_publisher import KVEventPublisher


class WorkerServicer(worker_pb2_grpc.WorkerServicer):
    """Typed errors become gRPC statuses here, once. A cancelled call (client gone, deadline)
    closes the engine stream, which aborts the request and frees its slots. With `metrics`, each
    request's time to first token, inter-token gaps and end-to-end time are recorded.

    `stream_interval` (SGLang's option): a stream's tokens are held until that many are due, then
    sent as one message (the first token and a sample's last always go at once). At a thousand
    streams every hop to the client handles one message a token per stream; holding k tokens
    divides that by k, at the cost of k steps between a client's updates."""

    def __init__(
        self,
        client: EngineClient,
        publisher: KVEventPublisher,
        metrics: WorkerMetrics | None = None,
        stream_interval: int = 1,
    ) -> None:
        self.client = client
        self.publisher = publisher
        self.metrics = metrics
        self.stream_interval = stream_interval

    async def Generate(
        self, request: worker_pb2.WorkerGenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[worker_pb2.WorkerGenerateResponse]:
        try:
            if not self.client.healthy:
                raise WorkerUnavailableError("this worker group has failed")
            params = sampling_from_proto(request.sampling)
            rid = request.request_id or uuid.uuid4().hex
            prompt = list(request.prompt_token_ids)
            usage = common_pb2.Usage(prompt_tokens=len(prompt))
            finished, first, held = 0, True, 0
            timer = _RequestTimer(self.metrics)
            response = worker_pb2.WorkerGenerateResponse()
            stream = self.client.generate(prompt, params, rid)
            async with contextlib.aclosing(stream):
                async for delta in stream:
                    if getattr(delta, "error", None):
                        raise WorkerUnavailableError(f"worker group failed: {delta.error}")
                    timer.tokens(delta.index, len(delta.token_ids))
                    if delta.index == 0:
                        usage.cached_tokens = delta.cached_tokens
                    usage.completion_tokens += len(delta.token_ids)
                    response.deltas.append(delta_to_proto(delta))
                    held += len(delta.token_ids)
                    if first:
                        response.cached_tokens = delta.cached_tokens
                    if delta.finish_reason is not None:
                        usage.computed_tokens += delta.computed_tokens
                        finished += 1
                        if finished == params.n:
                            response.usage.CopyFrom(usage)
                            timer.finished()
                    elif not first and held < self.stream_interval:
                        continue  # hold the tokens for the next message
                    yield response
                    response, first, held = worker_pb2.WorkerGenerateResponse(), False, 0
        except HybridServeError as exc:
            await context.abort(status_code(exc), str(exc))

    async def Abort(
        self, request: worker_pb2.AbortRequest, context: grpc.aio.ServicerContext
    ) -> worker_pb2.AbortResponse:
        return worker_pb2.AbortResponse(found=await self.client.abort(request.request_id))

    async def GetLoad(
        self, request: worker_pb2.GetLoadRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.Load:
        return common_pb2.Load(**(await self.client.load())._asdict())

    async def GetInfo(
        self, request: worker_pb2.GetInfoRequest, context: grpc.aio.ServicerContext
    ) -> worker_pb2.WorkerInfo:
        info = self.client.info
        return worker_pb2.WorkerInfo(
            model=info.model,
            max_model_len=info.max_model_len,
            vocab_size=info.vocab_size,
            page_size=info.page_size,
            block_size=info.block_size,
            kv_events_endpoint=self.publisher.endpoint,
            publisher_epoch=self.publisher.epoch,
        )

    async def GetKVSnapshot(
        self, request: worker_pb2.GetKVSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> worker_pb2.KVSnapshot:
        sequence, events = await self.publisher.snapshot()
        return worker_pb2.KVSnapshot(
            sequence=sequence,
            epoch=self.publisher.epoch,
            events=kv_wire.pack_events(events),
            block_size=self.client.info.block_size,
        )


class _RequestTimer:
    """One request's latencies, from its arrival: the first token of any sample (TTFT), the gap
    before each later token of a sample (spread evenly over a multi-token delta), the finish."""

    def __init__(self, metrics: WorkerMetrics | None) -> None:
        self.metrics = metrics
        self.start = time.perf_counter()
        self.last: dict[int, float] = {}  # sample index -> time of its last token

    def tokens(self, index: int, count: int) -> None:
        if self.metrics is None or count == 0:
            return
        now = time.perf_counter()
        if not self.last:
            self.metrics.observe_first_token(now - self.start)
        elif index in self.last:
            gap = (now - self.last[index]) / count
            for _ in range(count):
                self.metrics.observe_inter_token(gap)
        self.last[index] = now

    def finished(self) -> None:
        if self.metrics is not None:
            self.metrics.observe_finished(time.perf_counter() - self.start)
