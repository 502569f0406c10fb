"""The Router gRPC service: tokenize, route, forward the stream, add text and usage; groups
are added and removed at run time."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import grpc

from hybridserve.errors import HybridServeError, InvalidRequestError, ModelNotFoundError
from hybridserve.router.dispatch import Dispatcher
from hybridserve.router.groups import GroupRegistry
from hybridserve.router.prompts import prompt_token_ids
from hybridserve.router.text_stream import SampleText
from hybridserve.router.tokenization import Tokenizer, find_tokenizer
from hybridserve.v1 import common_pb2, router_pb2, router_pb2_grpc, worker_pb2
from hybridserve.v1.status import status_code


class RouterServicer(router_pb2_grpc.RouterServicer):
    """Typed errors become gRPC statuses here, once; a worker's status passes through as is."""

    def __init__(self, registry: GroupRegistry, dispatcher: Dispatcher) -> None:
        self.registry = registry
        self.dispatcher = dispatcher
        self._tokenizers: dict[str, Tokenizer | None] = {}

    async def Generate(
        self, request: router_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[router_pb2.GenerateResponse]:
        try:
            model = self._model(request.model)
            tokenizer = self._tokenizer(model)
            prompt = prompt_token_ids(request, tokenizer)
            rid = request.request_id or uuid.uuid4().hex
            responses = self._generate(request, model, tokenizer, prompt, rid, context)
            async with contextlib.aclosing(responses):
                async for response in responses:
                    yield response
        except HybridServeError as exc:
            await context.abort(status_code(exc), str(exc))
        except grpc.aio.AioRpcError as exc:
            await context.abort(exc.code(), exc.details() or str(exc.code()))

    async def _generate(
        self,
        request: router_pb2.GenerateRequest,
        model: str,
        tokenizer: Tokenizer | None,
        prompt: list[int],
        rid: str,
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[router_pb2.GenerateResponse]:
        sampling = request.sampling
        n = sampling.n if sampling.HasField("n") else 1
        texts = self._texts(request, tokenizer, prompt, n)
        upstream = worker_pb2.WorkerGenerateRequest(
            request_id=rid, prompt_token_ids=prompt, sampling=sampling
        )
        usage = common_pb2.Usage(prompt_tokens=len(prompt))
        done: set[int] = set()
        first = True
        stream = self.dispatcher.generate(model, upstream, context.time_remaining())
        async with contextlib.aclosing(stream):
            async for route, reply in stream:
                out = router_pb2.GenerateResponse(request_id=rid)
                if first:  # retries happen before the first reply: the route is final
                    first = False
                    out.group, out.prompt_tokens = route.group.id, len(prompt)
                    usage.predicted_cached_tokens = route.predicted_cached_tokens
                    usage.cached_tokens = reply.cached_tokens
                for delta in reply.deltas:
                    if delta.index in done:
                        continue  # a stop string already ended this sample
                    usage.completion_tokens += len(delta.token_ids)
                    if texts is not None:
                        self._add_text(delta, texts[delta.index], tokenizer, request.return_text)
                    if delta.finish_reason != common_pb2.FINISH_REASON_UNSPECIFIED:
                        done.add(delta.index)
                    out.deltas.append(delta)
                if reply.HasField("usage"):
                    usage.cached_tokens = reply.usage.cached_tokens
                    usage.computed_tokens = reply.usage.computed_tokens
                if len(done) == n:
                    out.usage.CopyFrom(usage)
                    yield out
                    return  # closing the stream cancels the upstream call if still running
                yield out

    def _texts(
        self,
        request: router_pb2.GenerateRequest,
        tokenizer: Tokenizer | None,
        prompt: list[int],
        n: int,
    ) -> list[SampleText] | None:
        stops = list(request.sampling.stop)
        if not request.return_text and not stops:
            return None
        if tokenizer is None:
            raise InvalidRequestError("return_text/stop: this model has no tokenizer")
        skip = request.sampling.skip_special_tokens
        skip = skip if request.sampling.HasField("skip_special_tokens") else True
        return [SampleText(tokenizer, prompt, stops, skip) for _ in range(n)]

    @staticmethod
    def _add_text(
        delta: common_pb2.TokenDelta,
        text: SampleText,
        tokenizer: Tokenizer | None,
        return_text: bool,
    ) -> None:
        final = delta.finish_reason != common_pb2.FINISH_REASON_UNSPECIFIED
        emitted, stopped = text.push(delta.token_ids, final)
        if stopped:
            delta.finish_reason = common_pb2.FINISH_REASON_STOP
        if return_text:
            delta.text = emitted
            if tokenizer is not None:
                for top in delta.top_logprobs:
                    for entry in top.entries:
                        entry.text = tokenizer.decode([entry.token_id], skip_special_tokens=False)

    async def ListModels(
        self, request: router_pb2.ListModelsRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ListModelsResponse:
        models = []
        for model in self.registry.models():
            groups = [g for g in self.registry.groups.values() if g.model == model]
            healthy = sum(g.healthy for g in groups)
            max_len = max(g.info.max_model_len for g in groups)
            models.append(router_pb2.ModelInfo(id=model, groups=healthy, max_model_len=max_len))
        return router_pb2.ListModelsResponse(models=models)

    async def ClusterStatus(
        self, request: router_pb2.ClusterStatusRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.ClusterStatusResponse:
        out = router_pb2.ClusterStatusResponse(policy=self.dispatcher.policy.name)
        for group in self.registry.groups.values():
            index = self.registry.indexes.get(group.model)
            sub = group.subscriber
            status = router_pb2.GroupStatus(
                id=group.id,
                address=group.address,
                model=group.model,
                healthy=group.healthy,
                in_flight=group.load.in_flight,
                kv_event_sequence=sub.sequence if sub else 0,
                indexed_blocks=index.num_blocks(group.id) if index else 0,
                indexed_states=index.num_states(group.id) if index else 0,
                resyncs=sub.resyncs if sub else 0,
            )
            if group.report is not None:
                status.load.CopyFrom(common_pb2.Load(**group.report._asdict()))
            out.groups.append(status)
        return out

    async def AddWorkerGroup(
        self, request: router_pb2.AddWorkerGroupRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.AddWorkerGroupResponse:
        group_id = request.group_id if request.HasField("group_id") else None
        try:
            if not request.address:
                raise InvalidRequestError("address: required")
            group = await self.registry.add(request.address, group_id)
        except HybridServeError as exc:
            await context.abort(status_code(exc), str(exc))
        return router_pb2.AddWorkerGroupResponse(group_id=group.id, model=group.model)

    async def RemoveWorkerGroup(
        self, request: router_pb2.RemoveWorkerGroupRequest, context: grpc.aio.ServicerContext
    ) -> router_pb2.RemoveWorkerGroupResponse:
        try:
            await self.registry.remove(request.group_id)
        except HybridServeError as exc:
            await context.abort(status_code(exc), str(exc))
        return router_pb2.RemoveWorkerGroupResponse()

    def _model(self, name: str) -> str:
        models = self.registry.models()
        if not name:
            if len(models) == 1:
                return models[0]
            raise InvalidRequestError(f"model: required when serving {len(models)} models")
        if name not in models:
            raise ModelNotFoundError(f"model {name!r} is not served here; models: {models}")
        return name

    def _tokenizer(self, model: str) -> Tokenizer | None:
        if model not in self._tokenizers:
            self._tokenizers[model] = find_tokenizer(model)
        return self._tokenizers[model]
