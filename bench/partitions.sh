#!/usr/bin/env bash
# bench/partitions.sh POTOK_BINARY [fds|shutdown|all] — partition-scale figures of a potok broker (issue 13):
#   fds       how many partitions one broker reaches under a 20,000-descriptor limit (`ulimit -n 20000`),
#             creating topics of 500 partitions and then of 50 until a creation fails; the broker must still
#             answer afterwards.
#   shutdown  with 6,000 partitions (12 topics of 500, 60,000 records spread over one of them): how long SIGTERM
#             takes, how long a clean restart takes, and how long a restart after kill -9 takes (until the
#             broker listens).
# Prints one line per figure. Uses a fresh temp dir; BENCH_PORT_FILE is not needed (port 0).
set -euo pipefail
potok="$(realpath "$1")"
what="${2:-all}"
cd "$(dirname "$0")/.."
data="$(mktemp -d)"
POTOK_PID=""
cleanup() { [[ -n "$POTOK_PID" ]] && kill -9 "$POTOK_PID" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT
ms() { date +%s%3N; }

start_broker() { # NOFILE_LIMIT: starts on a free port with log.dirs=$data/logs, sets POTOK_PID and POTOK_ADDRESS
    : >"$data/broker.out"
    bash -c 'ulimit -n "$1"; exec "$2" broker --override listeners=PLAINTEXT://127.0.0.1:0 --override "log.dirs=$3"' \
        _ "$1" "$potok" "$data/logs" >"$data/broker.out" 2>&1 &
    POTOK_PID=$!
    for _ in $(seq 6000); do
        POTOK_ADDRESS="$(grep -o '127\.0\.0\.1:[0-9]*' "$data/broker.out" | head -n 1 || true)"
        [[ -n "$POTOK_ADDRESS" ]] && return 0
        kill -0 "$POTOK_PID" 2>/dev/null || break
        sleep 0.01
    done
    cat "$data/broker.out" >&2
    return 1
}

stop_broker() {
    kill -TERM "$POTOK_PID"
    wait "$POTOK_PID" || true
    POTOK_PID=""
}

create() { # TOPIC PARTITIONS -> 0 on success
    timeout 600 "$potok" topics --bootstrap-server "$POTOK_ADDRESS" --create --topic "$1" --partitions "$2" \
        >"$data/create.out" 2>&1
}

if [[ "$what" == fds || "$what" == all ]]; then
    rm -rf "$data/logs"
    start_broker 20000
    total=0 n=0
    for size in 500 50; do
        while create "f$n" "$size"; do total=$((total + size)); n=$((n + 1)); done
        n=$((n + 1))
    done
    alive=no
    "$potok" topics --bootstrap-server "$POTOK_ADDRESS" --list >/dev/null 2>&1 && alive=yes
    echo "fds: $total partitions created under ulimit -n 20000 (last failure: $(tail -n 1 "$data/create.out")); broker answers afterwards: $alive"
    stop_broker
fi

if [[ "$what" == shutdown || "$what" == all ]]; then
    rm -rf "$data/logs"
    start_broker 65536
    for i in $(seq 0 11); do create "s$i" 500 || { cat "$data/create.out"; exit 1; }; done
    "$potok" producer-perf-test --topic s0 --num-records 60000 --record-size 100 --throughput -1 \
        --producer-props "bootstrap.servers=$POTOK_ADDRESS" >/dev/null
    start=$(ms); stop_broker; stop_ms=$(($(ms) - start))
    echo "shutdown: SIGTERM to exit with 6000 partitions: $stop_ms ms"
    start=$(ms)
    start_broker 65536
    echo "shutdown: clean restart until listening: $(($(ms) - start)) ms"
    "$potok" producer-perf-test --topic s1 --num-records 60000 --record-size 100 --throughput -1 \
        --producer-props "bootstrap.servers=$POTOK_ADDRESS" >/dev/null
    kill -9 "$POTOK_PID"; wait "$POTOK_PID" 2>/dev/null || true
    start=$(ms)
    start_broker 65536
    echo "shutdown: restart after kill -9 until listening: $(($(ms) - start)) ms"
    start=$(ms); stop_broker; echo "shutdown: SIGTERM after that restart: $(($(ms) - start)) ms"
fi
