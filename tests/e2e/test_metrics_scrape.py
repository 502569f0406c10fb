"""`hybridserve up` with every metrics endpoint on, scraped by a real Prometheus server (Debian's
`prometheus`): after a few requests through the gateway, Prometheus's HTTP API sees a non-zero
request count and a TTFT histogram."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        shutil.which("prometheus") is None,
        reason="the prometheus server is not installed (apt-get install prometheus; .ci/run does)",
    ),
]
URL_LINE = re.compile(r"Prometheus metrics at http://(\S+)/metrics")
START_TIMEOUT_S = 120.0
SCRAPE_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen, sig: int, timeout_s: float) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[str, list[str]]]:
    """(gateway URL, the three metrics targets host:port: worker group, router, gateway)."""
    log = tmp_path_factory.mktemp("up") / "up.log"
    port = _free_port()
    cmd = [
        *(sys.executable, "-m", "hybridserve.cli", "up", "--port", str(port)),
        *("--router-metrics-port", str(_free_port())),
        *("--worker-metrics-port", str(_free_port())),
    ]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "hybridserve up: not healthy in time"
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        targets = URL_LINE.findall(log.read_text())
        assert len(targets) == 3, log.read_text()[-3000:]
        yield url, targets
    finally:
        _stop(proc, signal.SIGINT, 60)  # Ctrl-C stops everything cleanly


def _prometheus_config(targets: list[str]) -> str:
    jobs = zip(("hybridserve-worker", "hybridserve-router", "hybridserve-gateway"), targets)
    lines = ["global:", "  scrape_interval: 1s", "  evaluation_interval: 1s", "scrape_configs:"]
    for job, target in jobs:
        lines += [
            f"  - job_name: {job}",
            "    static_configs:",
            f'      - targets: ["{target}"]',
        ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def prometheus(cluster, tmp_path: Path) -> Iterator[str]:
    """A real Prometheus scraping the cluster every second; its URL. Always killed."""
    config = tmp_path / "prometheus.yml"
    config.write_text(_prometheus_config(cluster[1]))
    port = _free_port()
    cmd = [
        "prometheus",
        f"--config.file={config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
    ]
    log = tmp_path / "prometheus.log"
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        yield f"http://127.0.0.1:{port}"
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        _stop(proc, signal.SIGTERM, 15)


def _query(prometheus: str, promql: str) -> list[dict]:
    try:
        reply = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=2)
    except httpx.HTTPError:
        return []  # not up yet
    if reply.status_code != 200:
        return []
    return reply.json()["data"]["result"]


def test_prometheus_scrapes_every_component(cluster, prometheus) -> None:
    url, _ = cluster
    for i in range(3):
        body = {"model": "tiny", "prompt": f"Once upon a time {i}", "max_tokens": 8}
        reply = httpx.post(f"{url}/v1/completions", json=body, timeout=60)
        assert reply.status_code == 200, reply.text
    wanted = {
        "sum(hybridserve_gateway_requests_total)": lambda r: float(r[0]["value"][1]) > 0,
        "sum(hybridserve_router_requests_total)": lambda r: float(r[0]["value"][1]) > 0,
        "hybridserve_worker_time_to_first_token_seconds_bucket": lambda r: len(r) > 0,
        "min(up)": lambda r: float(r[0]["value"][1]) == 1,
    }
    results: dict[str, list[dict]] = {}
    deadline = time.monotonic() + SCRAPE_TIMEOUT_S
    while time.monotonic() < deadline:
        results = {q: _query(prometheus, q) for q in wanted}
        if all(r and ok(r) for (q, ok), r in zip(wanted.items(), results.values())):
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"Prometheus did not see the metrics in {SCRAPE_TIMEOUT_S} s: {results}")
    ttft = results["hybridserve_worker_time_to_first_token_seconds_bucket"]
    assert {s["metric"]["job"] for s in ttft} == {"hybridserve-worker"}
    inf = [s for s in ttft if s["metric"]["le"] == "+Inf"]
    assert inf and float(inf[0]["value"][1]) >= 3
