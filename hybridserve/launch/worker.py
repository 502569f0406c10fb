"""`hybridserve worker`: worker groups on a Ray cluster, each serving the Worker gRPC service
from its rank 0 (Kubernetes: one group per GPU pod, all on the same port; the router lists the
pods' addresses, or finds the groups itself with --ray-address). Unhealthy groups are restarted
in place."""

from __future__ import annotations

import argparse
import signal
import threading

from hybridserve.launch.engine_args import engine_options
from hybridserve.launch.groups import connect_ray, start_groups

HEALTH_CHECK_S = 5.0


def run_worker(args: argparse.Namespace) -> int:
    import ray

    connect_ray(args.ray_address, num_cpus=max(2, args.tp * args.groups))
    metrics = args.metrics_port or None
    groups = start_groups(engine_options(args), [args.port] * args.groups, [metrics] * args.groups)
    for group in groups:
        print(f"hybridserve: worker group (tp={args.tp}) serving at {group.address}", flush=True)
        if group.metrics_url:
            print(f"hybridserve: worker metrics at {group.metrics_url}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(HEALTH_CHECK_S):
        for group in groups:
            if not group.healthy():
                print(f"hybridserve: group at {group.address} is unhealthy; restarting", flush=True)
                group.restart()
                print(f"hybridserve: worker group serving at {group.address}", flush=True)
    for group in groups:
        group.shutdown()
    ray.shutdown()
    return 0
