#!/usr/bin/env bash
# scripts/restart-check.sh POTOK_BINARY — consumer groups across a clean broker restart: committed offsets
# (with metadata), group listings and group deletion survive, and a new member resumes from the committed
# offsets (tests/clients/restart_check.py, phase 1 before and phase 2 after a SIGTERM and restart on the same
# log.dirs).
set -euo pipefail
cd "$(dirname "$0")/.."
potok="$1"
venv="$(scripts/install-test-deps.sh)"
data="$(mktemp -d)"
pid=""
cleanup() { [[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

start() {
    : >"$data/broker.out"
    "$potok" broker --override listeners=PLAINTEXT://127.0.0.1:0 --override "log.dirs=$data/logs" \
        >"$data/broker.out" 2>&1 &
    pid=$!
    address=""
    for _ in $(seq 300); do # 30 s
        address="$(grep -o '127\.0\.0\.1:[0-9]*' "$data/broker.out" | head -n 1 || true)"
        [[ -n "$address" ]] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    cat "$data/broker.out" >&2
    echo "restart-check: broker did not start" >&2
    exit 1
}

stop() {
    kill -TERM "$pid"
    timeout 30 tail --pid="$pid" -f /dev/null
    wait "$pid" || { echo "restart-check: broker exited with $?" >&2; exit 1; }
    pid=""
}

start
timeout 120 "$venv/bin/python" tests/clients/restart_check.py phase1 "$address" "$data/state.json" || { cat "$data/broker.out"; exit 1; }
stop
start
timeout 120 "$venv/bin/python" tests/clients/restart_check.py phase2 "$address" "$data/state.json" || { cat "$data/broker.out"; exit 1; }
stop
