#!/usr/bin/env bash
# Starts `hybridserve up` with the server flags, waits until its OpenAI API answers, runs
# bench/serving.py against it (both --base-url and --router-address are set, so either backend
# works) with the bench flags, then stops the cluster (Ctrl-C). One command for a whole run:
#
#   bench/serving_run.sh "<hybridserve up flags>" "<bench/serving.py flags>"
#
# PORT / ROUTER_PORT / METRICS_PORT (default 18431 / 18432 / 18433: the gateway, the router, worker
# group 0's /metrics, which the bench samples) and LOG (the cluster's output file) are read from
# the environment; the log's tail is printed at the end.
set -euo pipefail
port=${PORT:-18431}
router_port=${ROUTER_PORT:-18432}
metrics_port=${METRICS_PORT:-18433}
log=${LOG:-/tmp/hybridserve-up.log}
# shellcheck disable=SC2086  # the flag strings are split on purpose
python3 -m hybridserve.cli up --port "$port" --router-port "$router_port" \
  --worker-metrics-port "$metrics_port" $1 >"$log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; tail -n 15 "$log"' EXIT
ready="import urllib.request as u; u.urlopen('http://127.0.0.1:$port/v1/models', timeout=2)"
until python3 -c "$ready" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || { echo "hybridserve up exited"; exit 1; }
  sleep 1
done
# the worker serves /metrics on its Ray node's address, which the cluster prints
metrics_url=$(grep -o "http://[^ ]*:$metrics_port/metrics" "$log" | head -n 1)
# shellcheck disable=SC2086
python3 -m bench.serving --base-url "http://127.0.0.1:$port" \
  --router-address "127.0.0.1:$router_port" --worker-metrics "$metrics_url" $2
