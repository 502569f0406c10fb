"""Ray worker groups on CPU (gloo): tp=2 serves the same tokens as tp=1, and a dead rank makes
the group unhealthy, fails its in-flight requests (offline and gRPC) and can be restarted."""

from __future__ import annotations

import random
import socket
import time

import grpc
import pytest
import ray

from hybridserve import LLM, SamplingParams
from hybridserve.errors import InvalidRequestError, WorkerUnavailableError
from hybridserve.v1 import common_pb2, worker_pb2, worker_pb2_grpc
from hybridserve.workers.engine import EngineConfig
from hybridserve.workers.group import WorkerGroup
from tests.workers.engine.greedy_compare import assert_same_greedy, gaps_from_top_logprobs
from tests.workers.models.hf_checkpoints import VARIANTS, make_checkpoint

pytestmark = pytest.mark.e2e
GREEDY = SamplingParams(
    temperature=0, max_tokens=12, ignore_eos=True, logprobs=True, top_logprobs=2
)


@pytest.fixture(scope="module")
def cluster(ray_cluster):
    return ray_cluster


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt")
    make_checkpoint(VARIANTS[0], folder)
    return str(folder)


def _prompts() -> list[list[int]]:
    rng = random.Random(3)
    return [[rng.randrange(3, 256) for _ in range(n)] for n in (4, 30, 77)]


@pytest.fixture(scope="module")
def reference(checkpoint):
    return LLM(checkpoint).generate(_prompts(), GREEDY)


# tp=4 puts 4 query heads over 2 KV heads and 8 Mamba heads over 2 B/C groups: both replicated.
@pytest.mark.parametrize("tp, ep", [(2, 2), (2, 1), (4, 4), (4, 2)])
def test_group_generates_the_tp1_tokens(cluster, checkpoint, reference, tp, ep):
    ref = reference
    llm = LLM(checkpoint, tp=tp, ep=ep)
    try:
        outs = llm.generate(_prompts(), GREEDY)
        with pytest.raises(InvalidRequestError, match="prompt"):
            llm.generate([[]], GREEDY)  # the typed error crosses Ray; the group keeps serving
        again = llm.generate(_prompts()[2:], GREEDY)[0]
    finally:
        llm.shutdown()
    for r, o in zip(ref, outs):
        assert_same_greedy(
            r.token_ids, gaps_from_top_logprobs(r.outputs[0].top_logprobs), o.token_ids
        )
    assert again.token_ids == outs[2].token_ids and again.cached_tokens > 0
    assert len(set(outs[2].token_ids)) > 3  # a comparison of varied tokens


def test_dead_rank_fails_requests_and_restart_recovers(cluster):
    """Offline requests get an error delta, gRPC streams (through the front-end process) an
    UNAVAILABLE status; the restarted group serves both again, gRPC on the same port."""
    group = WorkerGroup(EngineConfig(model="tiny", tp=2))
    probe = SamplingParams(temperature=0, max_tokens=6, ignore_eos=True)

    def run(rid: str) -> list[int]:
        group.submit([9, 8, 7, 6], probe, rid)
        tokens: list[int] = []
        while len(tokens) < 6:
            tokens += [t for d in group.poll(timeout_s=30) for t in d.token_ids]
        return tokens

    try:
        assert group.healthy()
        before = run("before")
        port = _free_port()  # a fixed port: the restart must serve on it again
        assert _grpc_tokens(group.serve(port), [9, 8, 7, 6], 6) == before
        stream = _GrpcStream(group.address, [5, 6, 7])
        group.submit([5, 6, 7], SamplingParams(max_tokens=4000, ignore_eos=True), "long")
        assert group.poll(timeout_s=30)  # it is decoding
        assert stream.first_reply()
        ray.kill(group.actors[1])
        errors = []
        deadline = time.monotonic() + 60
        while not errors and time.monotonic() < deadline:
            errors = [d for d in group.poll(timeout_s=5) if d.error is not None]
        assert errors and errors[0].rid == "long" and errors[0].finish_reason == "abort"
        assert stream.final_status() == grpc.StatusCode.UNAVAILABLE
        assert not group.healthy()
        group.restart()
        assert group.healthy()
        assert run("after") == before  # the restarted group serves the same model again
        assert group.address.endswith(f":{port}")
        assert _grpc_tokens(group.address, [9, 8, 7, 6], 6) == before
    finally:
        group.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("", 0))
        return s.getsockname()[1]


def _grpc_tokens(address: str, prompt: list[int], max_tokens: int) -> list[int]:
    with grpc.insecure_channel(address) as channel:
        sampling = common_pb2.SamplingParams(temperature=0, max_tokens=max_tokens, ignore_eos=True)
        request = worker_pb2.WorkerGenerateRequest(prompt_token_ids=prompt, sampling=sampling)
        replies = worker_pb2_grpc.WorkerStub(channel).Generate(request, timeout=60)
        return [t for r in replies for d in r.deltas for t in d.token_ids]


class _GrpcStream:
    """A long greedy generation streamed from the Worker service."""

    def __init__(self, address: str, prompt: list[int]) -> None:
        self.channel = grpc.insecure_channel(address)
        sampling = common_pb2.SamplingParams(temperature=0, max_tokens=4000, ignore_eos=True)
        request = worker_pb2.WorkerGenerateRequest(prompt_token_ids=prompt, sampling=sampling)
        self.replies = worker_pb2_grpc.WorkerStub(self.channel).Generate(request, timeout=120)

    def first_reply(self) -> worker_pb2.WorkerGenerateResponse:
        return next(self.replies)

    def final_status(self) -> grpc.StatusCode:
        try:
            for _ in self.replies:
                pass
        except grpc.RpcError as exc:
            return exc.code()
        finally:
            self.channel.close()
        return grpc.StatusCode.OK


def test_offline_api_reports_a_failed_group(cluster):
    llm = LLM("tiny", tp=2)
    try:
        ray.kill(llm.executor.actors[1])
        with pytest.raises(WorkerUnavailableError):
            llm.generate([[5, 6, 7]], SamplingParams(max_tokens=50, ignore_eos=True))
    finally:
        llm.shutdown()
