"""`hybridserve worker`: one worker group on a Ray cluster, serving the Worker gRPC service
(for Kubernetes pods: the router lists these addresses)."""

from __future__ import annotations

import argparse
import signal
import threading

from hybridserve.launch.engine_args import engine_options
from hybridserve.launch.groups import connect_ray, start_groups


def run_worker(args: argparse.Namespace) -> int:
    import ray

    connect_ray(args.ray_address, num_cpus=max(2, args.tp))
    (group,) = start_groups(engine_options(args), 1, args.port)
    print(f"hybridserve: worker group (tp={args.tp}) serving at {group.address}", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(5.0):
        if not group.healthy():
            print("hybridserve: the group is unhealthy; restarting it", flush=True)
            group.restart()
            print(f"hybridserve: worker group serving at {group.address}", flush=True)
    group.shutdown()
    ray.shutdown()
    return 0
