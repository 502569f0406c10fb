"""Runs helm on the chart and parses the rendered manifests (skipped when helm is absent)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "hybridserve"
VARIANTS = {
    "default": [],
    "tp8-2groups": ["-f", str(CHART / "ci" / "tp8-2groups.yaml")],
    "monitoring": ["-f", str(CHART / "ci" / "monitoring.yaml")],
}
HELM = shutil.which("helm")
needs_helm = pytest.mark.skipif(
    HELM is None, reason="helm is not on PATH (CI installs it: bash deploy/install-helm.sh)"
)


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    assert HELM is not None
    return subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120)


def render(*args: str) -> list[dict]:
    """`helm template` of the chart as a list of manifests (empty documents dropped)."""
    result = helm("template", "test", str(CHART), "--namespace", "serving", *args)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(manifests: list[dict], kind: str) -> list[dict]:
    return [m for m in manifests if m["kind"] == kind]
