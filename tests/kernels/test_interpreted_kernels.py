"""Every Triton kernel against its reference under Triton's interpreter on CPU
(interpreted_cases.py), one subprocess a kernel: the interpreter is chosen when the kernel
modules are imported, and this process may hold them compiled for a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kernels.interpreted_cases import CASES

pytest.importorskip("triton", reason="the test extra installs triton (CI does)")
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_under_the_interpreter(name: str) -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.kernels.interpreted_cases", name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert f"{name}: rel err" in done.stdout
