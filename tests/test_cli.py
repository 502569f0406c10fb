"""The `hybridserve` command line: subcommands, SGLang-named flags, torch-free --help."""

from __future__ import annotations

import subprocess
import sys

import pytest

from hybridserve.cli import build_parser, main
from hybridserve.launch.engine_args import engine_options


def test_help_lists_every_subcommand_and_stays_torch_free():
    code = (
        "import sys; from hybridserve.cli import build_parser; build_parser(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    text = build_parser().format_help()
    for command in ("up", "worker", "router", "gateway", "generate", "bench"):
        assert command in text


@pytest.mark.parametrize(
    "flag",
    [
        "--model-path",
        "--tp",
        "--port",
        "--host",
        "--max-running-requests",
        "--chunked-prefill-size",
        "--groups",
        "--policy",
        "--mem-fraction-static",
        "--load-format",
        "--api-key",
        "--reasoning-parser",
        "--tool-call-parser",
        "--max-mamba-cache-size",
        "--mamba-ssm-dtype",
        "--enable-overlap-schedule",
        "--disable-overlap-schedule",
    ],
)
def test_up_has_the_sglang_named_flags(flag):
    up = build_parser()._subparsers._group_actions[0].choices["up"]
    assert flag in up.format_help()


def test_up_defaults_are_the_embedded_cluster():
    args = build_parser().parse_args(["up"])
    assert (args.model_path, args.host, args.port, args.groups, args.tp) == (
        "tiny",
        "127.0.0.1",
        8000,
        1,
        1,
    )


def test_max_mamba_cache_size_sets_the_state_slots():
    from hybridserve.workers.engine.engine_config import EngineConfig

    args = build_parser().parse_args(["up", "--max-mamba-cache-size", "7"])
    assert EngineConfig(**engine_options(args)).num_state_slots == 7
    assert engine_options(build_parser().parse_args(["up"]))["num_state_slots"] is None


def test_overlap_schedule_is_on_unless_disabled():
    from hybridserve.workers.engine.engine_config import EngineConfig

    args = build_parser().parse_args(["up", "--disable-overlap-schedule"])
    assert not EngineConfig(**engine_options(args)).overlap_schedule
    for flags in ([], ["--enable-overlap-schedule"]):
        assert engine_options(build_parser().parse_args(["up", *flags]))["overlap_schedule"]


def test_stream_interval_and_skip_warmup_reach_the_engine_config():
    from hybridserve.workers.engine.engine_config import EngineConfig

    args = build_parser().parse_args(["up", "--stream-interval", "8", "--skip-server-warmup"])
    cfg = EngineConfig(**engine_options(args))
    assert (cfg.stream_interval, cfg.warmup) == (8, False)
    cfg = EngineConfig(**engine_options(build_parser().parse_args(["up"])))
    assert (cfg.stream_interval, cfg.warmup) == (1, True)


def test_chunked_prefill_size_defaults_by_device():
    from hybridserve.workers.engine.engine_config import EngineConfig

    assert EngineConfig(device="cpu").resolved_chunked_prefill_size() == 512
    assert EngineConfig(device="cuda").resolved_chunked_prefill_size() == 8192
    assert (
        EngineConfig(device="cuda", chunked_prefill_size=64).resolved_chunked_prefill_size() == 64
    )
    args = build_parser().parse_args(["up"])
    assert EngineConfig(**engine_options(args)).chunked_prefill_size is None


def test_capacity_line_warns_when_state_slots_cap_the_running_requests():
    from types import SimpleNamespace

    from hybridserve.launch.groups import capacity_line

    stats = SimpleNamespace(kv_pages_total=100, state_slots_total=590)
    options = {"page_size": 2, "max_running_requests": 1024}
    line = capacity_line(0, stats, options)
    assert "KV cache 200 tokens, 590 Mamba state slots, up to 1024 running" in line
    assert "at most 590 at once" in line
    assert "at most" not in capacity_line(0, stats, {**options, "max_running_requests": 64})


def test_unknown_benchmark_is_a_clear_error(capsys):
    assert main(["bench", "no-such-bench"]) == 2
    assert "no benchmark 'no-such-bench'" in capsys.readouterr().err
