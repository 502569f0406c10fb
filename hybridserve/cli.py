"""The `hybridserve` command line: one entry point, one subcommand per job.

up        all-in-one: local Ray, worker groups, router and OpenAI gateway (the default demo)
worker    one worker group on a Ray cluster, serving the Worker gRPC service
router    the cache-aware gRPC router in front of worker groups
gateway   the OpenAI-compatible HTTP gateway in front of a router
groups    list, add or remove a running router's worker groups
generate  run the offline engine on prompts and print JSON lines
"""

from __future__ import annotations

import argparse
import json
import sys

from hybridserve.launch.engine_args import add_engine_arguments, engine_options

REASONING_PARSERS = ("nemotron_v3", "nano_v3", "deepseek_r1")
TOOL_CALL_PARSERS = ("qwen3_coder",)
POLICIES = ("cache_aware", "round_robin", "random", "least_load", "power_of_two")


def _up(args: argparse.Namespace) -> int:
    from hybridserve.launch.up import run_up

    return run_up(args)


def _worker(args: argparse.Namespace) -> int:
    from hybridserve.launch.worker import run_worker

    return run_worker(args)


def _router(args: argparse.Namespace) -> int:
    from hybridserve.router.cli_args import main

    return main(args)


def _gateway(args: argparse.Namespace) -> int:
    from hybridserve.router.gateway.config import GatewayConfig
    from hybridserve.router.gateway.server import run_gateway

    run_gateway(
        GatewayConfig(
            router_address=args.router_address,
            host=args.host,
            port=args.port,
            api_keys=tuple(args.api_key),
            max_body_bytes=args.max_body_bytes,
        )
    )
    return 0


def _groups(args: argparse.Namespace) -> int:
    from hybridserve.launch.admin import run_admin

    return run_admin(args)


def _generate(args: argparse.Namespace) -> int:
    from hybridserve.workers.engine import LLM, SamplingParams  # torch stays out of --help

    options = engine_options(args)
    llm = LLM(options.pop("model"), **options)
    params = SamplingParams(
        temperature=args.temperature, max_tokens=args.max_tokens, seed=args.sample_seed
    )
    for out in llm.generate(args.prompt, params):
        print(
            json.dumps(
                {
                    "text": out.text,
                    "token_ids": out.token_ids,
                    "finish_reason": out.finish_reason,
                    "cached_tokens": out.cached_tokens,
                }
            )
        )
    llm.shutdown()
    return 0


def _bench(args: argparse.Namespace) -> int:
    import runpy
    from pathlib import Path

    folder = Path(__file__).resolve().parent.parent / "bench"
    script = folder / f"{args.name}.py"
    if not script.exists():
        found = sorted(p.stem for p in folder.glob("*.py")) if folder.is_dir() else []
        print(
            f"hybridserve bench: no benchmark {args.name!r}; found {found or 'none'} "
            "(benchmarks run from a source checkout)",
            file=sys.stderr,
        )
        return 2
    sys.argv = [str(script), *args.args]
    sys.path.insert(0, str(folder.parent))  # scripts import bench.* and tests.* helpers
    runpy.run_path(str(script), run_name="__main__")
    return 0


def _serving_flags(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=port, help="HTTP port of the OpenAI API")
    p.add_argument(
        "--api-key",
        action="append",
        default=[],
        help="accepted API key (Authorization: Bearer KEY); repeat for several; "
        "none = no authentication",
    )


def _parsers_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--reasoning-parser",
        default="nemotron_v3",
        choices=REASONING_PARSERS,
        help="how <think>...</think> becomes reasoning_content (all three names "
        "select the Nemotron 3 parser)",
    )
    p.add_argument(
        "--tool-call-parser",
        default="qwen3_coder",
        choices=TOOL_CALL_PARSERS,
        help="tool-call markup of the model (Nemotron 3 uses qwen3_coder XML)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridserve", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="local Ray + worker groups + router + gateway")
    add_engine_arguments(up)
    _serving_flags(up, 8000)
    _parsers_flags(up)
    up.add_argument("--groups", type=int, default=1, help="number of worker groups")
    up.add_argument(
        "--policy",
        default="cache_aware",
        choices=POLICIES,
        help="router policy for picking a worker group",
    )
    up.add_argument("--router-port", type=int, default=0, help="gRPC port of the router (0: free)")
    up.add_argument(
        "--router-metrics-port",
        type=int,
        default=0,
        help="HTTP port of the router's Prometheus /metrics (0: off)",
    )
    up.add_argument(
        "--worker-metrics-port",
        type=int,
        default=0,
        help="HTTP port of worker group 0's Prometheus /metrics; group i on PORT+i (0: off)",
    )
    up.add_argument(
        "--ray-address", default=None, help="join this Ray cluster instead of starting a local one"
    )
    up.set_defaults(func=_up)

    worker = sub.add_parser("worker", help="one worker group serving the Worker gRPC service")
    add_engine_arguments(worker)
    worker.add_argument(
        "--port",
        type=int,
        default=50061,
        help="Worker gRPC port of each group's rank 0 (on its own node)",
    )
    worker.add_argument(
        "--groups", type=int, default=1, help="worker groups to start (Kubernetes: one per GPU pod)"
    )
    worker.add_argument(
        "--metrics-port", type=int, default=0, help="HTTP port of Prometheus /metrics (0: off)"
    )
    worker.add_argument("--ray-address", default=None, help="Ray cluster to join (default: local)")
    worker.set_defaults(func=_worker)

    router = sub.add_parser("router", help="the cache-aware gRPC router")
    from hybridserve.router.cli_args import add_router_arguments

    add_router_arguments(router)
    router.set_defaults(func=_router)

    gateway = sub.add_parser("gateway", help="the OpenAI-compatible HTTP gateway")
    _serving_flags(gateway, 8000)
    _parsers_flags(gateway)
    gateway.add_argument("--router-address", required=True, help="the router's gRPC host:port")
    gateway.add_argument(
        "--max-body-bytes", type=int, default=32 << 20, help="larger request bodies get HTTP 413"
    )
    gateway.set_defaults(func=_gateway)

    groups = sub.add_parser("groups", help="list, add or remove a running router's groups")
    router_flag = argparse.ArgumentParser(add_help=False)
    router_flag.add_argument("--router", required=True, help="the router's gRPC host:port")
    actions = groups.add_subparsers(dest="action", required=True)
    actions.add_parser("list", parents=[router_flag], help="id, address, model, health, load")
    add = actions.add_parser("add", parents=[router_flag], help="register a worker group")
    add.add_argument("address", help="the group's Worker gRPC host:port")
    add.add_argument("--id", default=None, help="its group id (default: the router picks)")
    remove = actions.add_parser(
        "remove", parents=[router_flag], help="stop routing to a group, let its streams end"
    )
    remove.add_argument("group_id")
    groups.set_defaults(func=_groups)

    gen = sub.add_parser("generate", help="run the offline engine on prompts, print JSON lines")
    add_engine_arguments(gen)
    gen.add_argument(
        "--prompt",
        action="append",
        required=True,
        help="a text prompt; repeat the flag for several prompts (one batch)",
    )
    gen.add_argument("--max-tokens", type=int, default=32, help="tokens to generate per prompt")
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    gen.add_argument("--sample-seed", type=int, default=None, help="per-request sampling seed")
    gen.set_defaults(func=_generate)

    bench = sub.add_parser("bench", help="run bench/NAME.py with the arguments that follow")
    bench.add_argument("name", help="benchmark script name, e.g. kernels, engine, tp_check")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="its own arguments (see --help)")
    bench.set_defaults(func=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
