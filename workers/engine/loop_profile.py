"""An opt-in cProfile of the engine loop thread, for finding where a serving engine's host time
goes (schedule, inputs, read-back, delta routing, commands) under real traffic. Set
`HYBRIDSERVE_LOOP_PROFILE=<path>`: each engine process writes `<path>.<pid>` (pstats format)
every `WRITE_EVERY_S` seconds, so the file exists even when the process is killed at the end."""

from __future__ import annotations

import cProfile
import os
import time

ENV = "HYBRIDSERVE_LOOP_PROFILE"
WRITE_EVERY_S = 10.0


class LoopProfile:
    """Profiles the thread that creates it (cProfile follows only the enabling thread)."""

    def __init__(self, path: str) -> None:
        self.path = f"{path}.{os.getpid()}"
        self._profile = cProfile.Profile()
        self._written = time.monotonic()
        self._profile.enable()

    @classmethod
    def from_env(cls) -> LoopProfile | None:
        path = os.environ.get(ENV)
        return cls(path) if path else None

    def tick(self) -> None:
        """Write the cumulative stats when `WRITE_EVERY_S` has passed since the last write."""
        if time.monotonic() - self._written >= WRITE_EVERY_S:
            self.write()

    def write(self) -> None:
        self._profile.disable()
        self._profile.dump_stats(self.path)
        self._written = time.monotonic()
        self._profile.enable()
