"""Command-line flags of `hybridserve router` and the RouterConfig they build (wired by cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import inspect

from hybridserve.router.policies import POLICIES
from hybridserve.router.policies.cache_aware import CacheAwarePolicy
from hybridserve.router.server import RouterConfig, RouterServer

# The flags' defaults are the policy's own (one place to tune them).
_CACHE_AWARE = {
    name: p.default
    for name, p in inspect.signature(CacheAwarePolicy.__init__).parameters.items()
    if p.default is not inspect.Parameter.empty
}


def add_router_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--address", default="0.0.0.0:50051", help="host:port to serve gRPC on")
    parser.add_argument("--policy", default="cache_aware", choices=sorted(POLICIES))
    parser.add_argument(
        "--worker",
        action="append",
        default=[],
        help="a worker group's Worker gRPC address; repeat for several groups",
    )
    parser.add_argument(
        "--prefill-weight",
        type=float,
        default=_CACHE_AWARE["prefill_weight"],
        help="cache_aware: cost per uncached token",
    )
    parser.add_argument(
        "--decode-weight",
        type=float,
        default=_CACHE_AWARE["decode_weight"],
        help="cache_aware: cost of one running request, in prefill-token equivalents",
    )
    parser.add_argument(
        "--affinity-weight",
        type=float,
        default=_CACHE_AWARE["affinity_weight"],
        help="cache_aware: credit per token of the prompt's KV a group holds without a state",
    )
    parser.add_argument(
        "--balance-abs",
        type=int,
        default=_CACHE_AWARE["balance_abs"],
        help="cache_aware: load window, absolute requests",
    )
    parser.add_argument(
        "--balance-rel",
        type=float,
        default=_CACHE_AWARE["balance_rel"],
        help="cache_aware: load window, relative",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="HTTP port of the router's Prometheus /metrics, on --address's host (0: off)",
    )
    parser.add_argument("--health-interval", type=float, default=1.0, help="seconds")
    parser.add_argument(
        "--ray-address",
        default=None,
        help="find worker groups on this Ray cluster ('auto': the local one) and drop those "
        "that go away (default: no discovery)",
    )
    parser.add_argument(
        "--discovery-interval", type=float, default=5.0, help="seconds between discovery rounds"
    )
    parser.add_argument("--seed", type=int, default=None, help="policy random seed")


def router_config(args: argparse.Namespace) -> RouterConfig:
    options: dict[str, object] = {"seed": args.seed}
    if args.policy == "cache_aware":
        options.update(
            prefill_weight=args.prefill_weight,
            decode_weight=args.decode_weight,
            affinity_weight=args.affinity_weight,
            balance_abs=args.balance_abs,
            balance_rel=args.balance_rel,
        )
    return RouterConfig(
        address=args.address,
        policy=args.policy,
        policy_options=options,
        groups=tuple(args.worker),
        health_interval_s=args.health_interval,
        metrics_address=metrics_address(args.address, args.metrics_port),
        ray_address=args.ray_address,
        discovery_interval_s=args.discovery_interval,
    )


def metrics_address(grpc_address: str, port: int) -> str | None:
    """The metrics endpoint on the gRPC address's host; port 0 means not served."""
    return f"{grpc_address.rsplit(':', 1)[0]}:{port}" if port else None


async def run_router(config: RouterConfig) -> None:
    """Serve until cancelled (Ctrl-C), then stop cleanly."""
    server = await RouterServer(config).start()
    if server.metrics_url:
        print(f"hybridserve: router metrics at {server.metrics_url}", flush=True)
    try:
        await server.server.wait_for_termination()
    finally:
        await server.stop(grace=5)


def main(args: argparse.Namespace) -> int:
    asyncio.run(run_router(router_config(args)))
    return 0
