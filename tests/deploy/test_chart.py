"""The Helm chart: lints, renders valid Kubernetes objects, sizes GPUs by tp, probes real ports."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy.helm import CHART, VARIANTS, by_kind, helm, needs_helm, render

kubernetes_validate = pytest.importorskip(
    "kubernetes_validate", reason="pip install kubernetes-validate (a [test] extra)"
)
K8S_VERSION = "1.30.0"
# Custom resources: kubernetes-validate ships only the built-in API schemas.
CRD_KINDS = {"RayCluster": "KubeRay CRD (ray.io/v1)", "ServiceMonitor": "Prometheus Operator CRD"}

pytestmark = needs_helm


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_lint(variant: str) -> None:
    result = helm("lint", "--strict", str(CHART), *VARIANTS[variant])
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_manifests_validate_against_kubernetes_schemas(variant: str) -> None:
    manifests = render(*VARIANTS[variant])
    kinds = {m["kind"] for m in manifests}
    assert {"Deployment", "Service", "Secret", "RayCluster"} <= kinds
    for manifest in manifests:
        if manifest["kind"] in CRD_KINDS:
            continue  # checked structurally below
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


def test_monitoring_variant_renders_monitoring_objects() -> None:
    manifests = render(*VARIANTS["monitoring"])
    monitors = by_kind(manifests, "ServiceMonitor")
    assert {m["metadata"]["name"].rsplit("-", 1)[-1] for m in monitors} >= {"gateway", "router"}
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
        assert all(e["path"] == "/metrics" for e in monitor["spec"]["endpoints"])
    (dashboard,) = by_kind(manifests, "ConfigMap")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert yaml.safe_load(dashboard["data"]["hybridserve.json"])["uid"] == "hybridserve"
    assert {
        h["spec"]["scaleTargetRef"]["name"] for h in by_kind(manifests, "HorizontalPodAutoscaler")
    }
    assert not by_kind(render(), "ServiceMonitor")


@pytest.mark.parametrize(("variant", "groups", "tp"), [("default", 1, 1), ("tp8-2groups", 2, 8)])
def test_worker_pods_request_exactly_tp_gpus(variant: str, groups: int, tp: int) -> None:
    (cluster,) = by_kind(render(*VARIANTS[variant]), "RayCluster")
    assert cluster["apiVersion"] == "ray.io/v1"
    head = cluster["spec"]["headGroupSpec"]["template"]["spec"]
    assert "nvidia.com/gpu" not in str(head["containers"][0]["resources"])
    assert f"--tp={tp}" in head["containers"][0]["args"][0]
    (group,) = cluster["spec"]["workerGroupSpecs"]
    assert group["replicas"] == group["minReplicas"] == group["maxReplicas"] == groups
    assert group["rayStartParams"]["num-gpus"] == str(tp)
    pod = group["template"]["spec"]
    resources = pod["containers"][0]["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == tp
    assert resources["limits"]["nvidia.com/gpu"] == tp
    shm = next(v for v in pod["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["medium"] == "Memory"
    assert {"name": "dshm", "mountPath": "/dev/shm"} in pod["containers"][0]["volumeMounts"]


def container_port(deployment: dict, name: str) -> int:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return next(p["containerPort"] for p in container["ports"] if p["name"] == name)


def test_probes_point_at_real_endpoints() -> None:
    manifests = render()
    deployments = {
        d["metadata"]["labels"]["app.kubernetes.io/component"]: d
        for d in by_kind(manifests, "Deployment")
    }
    router = deployments["router"]["spec"]["template"]["spec"]["containers"][0]
    grpc_port = container_port(deployments["router"], "grpc")
    assert f"--address=0.0.0.0:{grpc_port}" in router["args"]  # the port the router serves
    for probe in (router["readinessProbe"], router["livenessProbe"]):
        assert probe["grpc"]["port"] == grpc_port
    gateway = deployments["gateway"]["spec"]["template"]["spec"]["containers"][0]
    assert f"--port={container_port(deployments['gateway'], 'http')}" in gateway["args"]
    for probe in (gateway["readinessProbe"], gateway["livenessProbe"]):
        assert probe["httpGet"] == {"path": "/health", "port": "http"}
    services = {s["metadata"]["name"]: s for s in by_kind(manifests, "Service")}
    router_address = next(a for a in gateway["args"] if a.startswith("--router-address="))
    host, port = router_address.split("=", 1)[1].rsplit(":", 1)
    assert int(port) in [p["port"] for p in services[host]["spec"]["ports"]]


@pytest.mark.parametrize(
    "bad",
    [
        ["--set", "workers.tp=3"],
        ["--set", "workers.tp=16"],
        ["--set", "gateway.replicas=-1"],
        ["--set", "router.replicas=-2"],
        ["--set", "workers.groups=0"],
        ["--set", "workers.model.source=s3"],
        ["--set", "workers.model.source=hostPath"],  # hostPath left empty
        ["--set", "router.port=70000"],
        ["--set", "workers.tp=4"],  # gpusPerPod stays 1: a group must fit one pod
    ],
)
def test_bad_values_are_rejected(bad: list[str]) -> None:
    result = helm("template", "test", str(CHART), *bad)
    assert result.returncode != 0, f"accepted {bad}"
    assert "Error" in result.stderr
