"""Every Triton kernel against its reference under Triton's interpreter on CPU
(interpreted_cases.py), one subprocess a kernel and dtype: the interpreter is chosen when the kernel
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


@pytest.mark.parametrize("dtype", ["float32", "float16"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_kernel_under_the_interpreter(name: str, dtype: str) -> None:
    env = {**os.environ, "TRITON_INTERPRET": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.kernels.interpreted_cases", "--dtype", dtype, name],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-4000:]
    assert f"{name} ({dtype}): rel err" in done.stdout


REBINDS = """
import torch, triton, triton.language as tl
from tests.kernels import hopper_front_end

@triton.jit
def rebinds(out_ptr, n):
    at = tl.program_id(0) * 2
    if n > 0:
        at = out_ptr + 1  # an int, then a pointer: the interpreter runs it, a GPU would not
    tl.store(out_ptr, 1.0)

if CHECK:
    hopper_front_end.check_before_each_run()
rebinds[(1,)](torch.zeros(1), 1)
"""


@pytest.mark.parametrize("check", [False, True])
def test_the_front_end_refuses_what_the_interpreter_runs(check: bool, tmp_path: Path) -> None:
    script = tmp_path / "rebinds.py"  # triton.jit reads a kernel's source from its file
    script.write_text(f"CHECK = {check}\n{REBINDS}")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script)], cwd=ROOT, env=env, capture_output=True, text=True
    )
    if check:
        assert done.returncode != 0 and "CompilationError" in done.stderr, done.stderr[-2000:]
    else:
        assert done.returncode == 0, done.stderr[-2000:]
