"""The Grafana dashboard: valid structure, and it queries only metrics the code exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from hybridserve.metrics import ALL_METRIC_NAMES, HISTOGRAM_NAMES

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "hybridserve.json"
METRIC = re.compile(r"\bhybridserve_[a-z0-9_]+")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def queried_metrics(board: dict) -> set[str]:
    names = set()
    for panel in board["panels"]:
        for target in panel["targets"]:
            names.update(METRIC.findall(target["expr"]))
    for variable in board["templating"]["list"]:
        names.update(METRIC.findall(json.dumps(variable.get("query", ""))))
    return names


def exported_name(sample: str) -> str:
    for suffix in ("_bucket", "_sum", "_count"):
        base = sample.removesuffix(suffix)
        if base != sample and base in HISTOGRAM_NAMES:
            return base
    return sample


def test_dashboard_is_structurally_valid_grafana_json() -> None:
    board = dashboard()
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)) >= 8
    for panel in board["panels"]:
        assert panel["type"] in {"timeseries", "stat", "gauge", "bargauge", "table"}
        grid = panel["gridPos"]
        assert grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24
        assert panel["datasource"]["type"] == "prometheus"
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"


def test_dashboard_queries_only_exported_metrics() -> None:
    queried = {exported_name(name) for name in queried_metrics(dashboard())}
    assert queried <= ALL_METRIC_NAMES, sorted(queried - ALL_METRIC_NAMES)
    for must in ("time_to_first_token", "inter_token_latency", "kv_pool", "waiting_requests"):
        assert any(must in name for name in queried), must


def test_histograms_are_queried_through_their_series() -> None:
    for name in queried_metrics(dashboard()):
        assert name not in HISTOGRAM_NAMES, f"{name}: query _bucket/_sum/_count"


def test_helm_chart_ships_the_same_dashboard() -> None:
    chart_copy = ROOT / "helm" / "hybridserve" / "dashboards" / "hybridserve.json"
    assert chart_copy.read_text() == DASHBOARD.read_text()


@pytest.mark.parametrize(
    "path",
    [
        "grafana/provisioning/datasources/prometheus.yaml",
        "grafana/provisioning/dashboards/hybridserve.yaml",
    ],
)
def test_grafana_provisioning_parses(path: str) -> None:
    config = yaml.safe_load((ROOT / "deploy" / path).read_text())
    assert config["apiVersion"] == 1


def test_prometheus_scrapes_every_component() -> None:
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert jobs == {f"hybridserve-{c}" for c in ("gateway", "router", "worker")}
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    assert {"router", "gateway", "worker-0", "prometheus", "grafana"} <= set(compose["services"])
