"""`hybridserve up`: local Ray, N worker groups, the router and the gateway in one command.

The router runs on its own asyncio thread, the gateway on the main thread (uvicorn owns
Ctrl-C); on exit everything stops in reverse order."""

from __future__ import annotations

import argparse
import asyncio
import threading

from hybridserve.launch.engine_args import engine_options
from hybridserve.launch.groups import capacity_line, connect_ray, start_groups


def run_up(args: argparse.Namespace) -> int:
    import ray

    from hybridserve.router.cli_args import metrics_address
    from hybridserve.router.gateway.config import GatewayConfig
    from hybridserve.router.gateway.server import run_gateway
    from hybridserve.router.server import RouterConfig, RouterServer

    options = engine_options(args)
    connect_ray(args.ray_address, num_cpus=max(2, args.groups * args.tp))
    port = args.worker_metrics_port  # group i on port + i; 0: not served
    metrics_ports = [port + i if port else None for i in range(args.groups)]
    groups = start_groups(options, [0] * args.groups, metrics_ports)
    worker_metrics = [g.metrics_url for g in groups if g.metrics_url]
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, name="router", daemon=True).start()
    config = RouterConfig(
        address=f"{args.host}:{args.router_port}",
        policy=args.policy,
        groups=tuple(g.address for g in groups),
        metrics_address=metrics_address(args.host, args.router_metrics_port),
    )

    async def start_router() -> RouterServer:  # grpc.aio servers are made on their own loop
        return await RouterServer(config).start()

    router = asyncio.run_coroutine_threadsafe(start_router(), loop).result(60)
    print(
        f"hybridserve: {len(groups)} worker group(s) of tp={args.tp} at "
        f"{', '.join(g.address for g in groups)}",
        flush=True,
    )
    for i, group in enumerate(groups):
        print(capacity_line(i, group.stats(), options), flush=True)
    print(f"hybridserve: router (gRPC) at {router.address}", flush=True)
    for url in [*worker_metrics, router.metrics_url, f"http://{args.host}:{args.port}/metrics"]:
        if url:
            print(f"hybridserve: Prometheus metrics at {url}", flush=True)
    print(f"hybridserve: OpenAI API at http://{args.host}:{args.port}/v1", flush=True)
    try:
        run_gateway(
            GatewayConfig(
                router_address=router.address,
                host=args.host,
                port=args.port,
                api_keys=tuple(args.api_key),
                log_level="warning",
            )
        )
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass
    finally:
        asyncio.run_coroutine_threadsafe(router.stop(grace=2), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        for group in groups:
            group.shutdown()
        ray.shutdown()
        print("hybridserve: stopped", flush=True)
    return 0
