"""The worker's front-end process imports no torch: it starts in a fraction of the time and
memory of the engine process (the engine packages export their names lazily)."""

from __future__ import annotations

import subprocess
import sys


def test_frontend_process_modules_stay_torch_free() -> None:
    code = (
        "import sys\n"
        "import hybridserve.workers.service.frontend\n"
        "import hybridserve.workers.service.remote_engine_client\n"
        "import hybridserve.workers.server\n"
        "from hybridserve.workers.engine import SamplingParams, TokenDelta\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
