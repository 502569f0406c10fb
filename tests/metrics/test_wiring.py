"""Router and worker servers record their metrics and serve them over HTTP (in-process cluster)."""

from __future__ import annotations

import asyncio

import httpx

from hybridserve.metrics import MetricsHttpServer
from hybridserve.v1 import common_pb2, router_pb2
from tests.router.cluster import local_cluster


async def _wait_for(check, timeout_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "metric never recorded"
        await asyncio.sleep(0.02)


def test_router_and_worker_metrics_recorded_and_served() -> None:
    async def main() -> None:
        async with local_cluster(policy="round_robin") as c:
            sampling = common_pb2.SamplingParams(max_tokens=4, temperature=0.0, ignore_eos=True)
            ids = router_pb2.TokenIds(ids=list(range(1, 40)))
            request = router_pb2.GenerateRequest(model="tiny", token_ids=ids, sampling=sampling)
            replies = [r async for r in c.stub.Generate(request)]
            group = replies[0].group
            worker = c.workers[c.group_index(group)]

            r = c.router.metrics_registry
            labels = {"policy": "round_robin", "group": group}
            assert r.get_sample_value("hybridserve_router_requests_total", labels) == 1
            name = "hybridserve_router_decision_duration_seconds_count"
            assert r.get_sample_value(name, {"policy": "round_robin"}) == 1
            name = "hybridserve_router_reported_cache_hit_tokens_total"
            assert r.get_sample_value(name, {"group": group}) is not None
            healthy = "hybridserve_router_healthy_groups"
            await _wait_for(lambda: r.get_sample_value(healthy) == 2)

            w, wl = worker.metrics_registry, {"group": worker.address}
            ttft = "hybridserve_worker_time_to_first_token_seconds_count"
            assert w.get_sample_value(ttft, wl) == 1
            itl = "hybridserve_worker_inter_token_latency_seconds_count"
            assert w.get_sample_value(itl, wl) == 3
            e2e = "hybridserve_worker_e2e_request_latency_seconds_count"
            assert w.get_sample_value(e2e, wl) == 1
            prompt = "hybridserve_worker_prompt_tokens_total"
            await _wait_for(lambda: (w.get_sample_value(prompt, wl) or 0) >= 39)

            url = worker.serve_metrics("127.0.0.1:0")
            router_http = MetricsHttpServer(r, "127.0.0.1:0").start()
            try:
                async with httpx.AsyncClient() as http:
                    body = (await http.get(url)).text
                    assert f'{ttft}{{group="{worker.address}"}} 1.0' in body
                    body = (await http.get(router_http.url)).text
                    assert 'hybridserve_router_requests_total{group="' in body
            finally:
                router_http.stop()

    asyncio.run(main())
