"""HYBRIDSERVE_LOOP_PROFILE: the engine loop thread's cProfile, written to `<path>.<pid>`."""

from __future__ import annotations

import os
import pstats
import time

from hybridserve.workers.engine import Engine, EngineConfig, SamplingParams
from hybridserve.workers.engine.engine_loop import EngineLoop
from hybridserve.workers.engine.loop_profile import ENV


def test_the_loop_writes_its_profile_with_the_steps_it_ran(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV, str(tmp_path / "loop.prof"))
    deltas = []
    loop = EngineLoop(Engine(EngineConfig(model="tiny")), deltas.extend).start()
    params = SamplingParams(temperature=0, max_tokens=4, ignore_eos=True)
    loop.command("add_request", [5, 6, 7], params, "r").result(timeout=60)
    deadline = time.monotonic() + 60
    while not any(d.finish_reason for d in deltas) and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.shutdown()
    assert sum(len(d.token_ids) for d in deltas) == 4
    stats = pstats.Stats(str(tmp_path / f"loop.prof.{os.getpid()}"))
    steps = [v for k, v in stats.stats.items() if k[2] == "step" and k[0].endswith("engine.py")]
    assert steps and steps[0][1] >= 4  # primitive calls of Engine.step: one a token at least


def test_no_profile_without_the_variable(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    loop = EngineLoop(Engine(EngineConfig(model="tiny")), lambda deltas: None).start()
    loop.shutdown()
    assert list(tmp_path.iterdir()) == []
