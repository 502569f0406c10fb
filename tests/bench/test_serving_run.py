"""bench/serving_run.sh end to end on the tiny model: it starts `hybridserve up` (real Ray,
router, gateway), waits, runs bench/serving.py with the worker's /metrics sampled, and stops the
cluster cleanly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_serving_run_benchmarks_a_fresh_cluster_and_stops_it(tmp_path: Path) -> None:
    port, router_port, metrics_port = _free_ports(3)
    out, log = tmp_path / "result.json", tmp_path / "up.log"
    env = {
        **os.environ,
        "PORT": str(port),
        "ROUTER_PORT": str(router_port),
        "METRICS_PORT": str(metrics_port),
        "LOG": str(log),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
    }
    bench = (
        "--backend grpc --dataset random --input-len 16 --output-len 128 --num-prompts 16 "
        f"--max-concurrency 4 --output-json {out}"
    )
    run = subprocess.run(
        ["bash", str(ROOT / "bench/serving_run.sh"), "--max-running-requests 8", bench],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(out.read_text())
    assert (report["summary"]["completed"], report["summary"]["failed"]) == (16, 0)
    server = report["server"]
    assert 1 <= server["running_max"] <= 4 and server["steps"] > 0, (
        server,
        run.stdout[-3000:],
        log.read_text(),
    )
    assert server["preemptions"] == 0
    assert "Server (worker /metrics)" in run.stdout
    assert "hybridserve: stopped" in log.read_text()
