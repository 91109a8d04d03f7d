#!/usr/bin/env bash
# scripts/crash-test.sh POTOK_BINARY — kill -9 a potok broker under load, restart it on the same log.dirs,
# and check with kcat that every acknowledged record is still there and the broker serves appends after
# recovery. (Records are acknowledged, with acks=all, once they are in the page cache: a process crash loses
# none of them; only a power loss could, for data not yet fsynced.)
set -euo pipefail
potok="$1"
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
    echo "crash-test: broker did not start" >&2
    exit 1
}

start
seq 1 20000 | sed 's/^/key-&:value-/' | timeout 60 kcat -b "$address" -t crash -P -K: -X acks=all -X linger.ms=5
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
start
count="$(timeout 60 kcat -b "$address" -t crash -C -e -o beginning -q | wc -l)"
echo "potok-crash: 20000 acknowledged, $count read back after kill -9 and restart"
echo "more" | timeout 30 kcat -b "$address" -t crash -P
after="$(timeout 60 kcat -b "$address" -t crash -C -e -o beginning -q | wc -l)"
kill -TERM "$pid"
timeout 30 tail --pid="$pid" -f /dev/null
pid=""
if [[ "$count" == 20000 && "$after" == 20001 ]]; then
    echo "crash-test: 1 passed, 0 failed"
else
    echo "crash-test: 0 passed, 1 failed (read $count then $after)"
    exit 1
fi
