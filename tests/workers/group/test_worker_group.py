"""Ray worker groups on CPU (gloo): tp=2 serves the same tokens as tp=1, and a dead rank makes
the group unhealthy, fails its in-flight requests and can be restarted."""

from __future__ import annotations

import random
import time

import pytest
import ray

from hybridserve import LLM, SamplingParams
from hybridserve.errors import InvalidRequestError, WorkerUnavailableError
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
        group.submit([5, 6, 7], SamplingParams(max_tokens=4000, ignore_eos=True), "long")
        assert group.poll(timeout_s=30)  # it is decoding
        ray.kill(group.actors[1])
        errors = []
        deadline = time.monotonic() + 60
        while not errors and time.monotonic() < deadline:
            errors = [d for d in group.poll(timeout_s=5) if d.error is not None]
        assert errors and errors[0].rid == "long" and errors[0].finish_reason == "abort"
        assert not group.healthy()
        group.restart()
        assert group.healthy()
        assert run("after") == before  # the restarted group serves the same model again
    finally:
        group.shutdown()


def test_offline_api_reports_a_failed_group(cluster):
    llm = LLM("tiny", tp=2)
    try:
        ray.kill(llm.executor.actors[1])
        with pytest.raises(WorkerUnavailableError):
            llm.generate([[5, 6, 7]], SamplingParams(max_tokens=50, ignore_eos=True))
    finally:
        llm.shutdown()
