#!/usr/bin/env bash
# scripts/crash-test.sh POTOK_BINARY — kill -9 a potok broker under load, restart it on the same log.dirs,
# and check with kcat that every acknowledged record is still there and the broker serves appends after
# recovery. (Records are acknowledged, with acks=all, once they are in the page cache: a process crash loses
# none of them; only a power loss could, for data not yet fsynced.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/potok-broker.sh
potok="$1"
data="$(mktemp -d)"
POTOK_PID=""
cleanup() { [[ -n "$POTOK_PID" ]] && kill -9 "$POTOK_PID" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

potok_start "$potok" "$data"
address="$POTOK_ADDRESS"
seq 1 20000 | sed 's/^/key-&:value-/' | timeout 60 kcat -b "$address" -t crash -P -K: -X acks=all -X linger.ms=5
kill -9 "$POTOK_PID"
wait "$POTOK_PID" 2>/dev/null || true
potok_start "$potok" "$data"
address="$POTOK_ADDRESS"
count="$(timeout 60 kcat -b "$address" -t crash -C -e -o beginning -q | wc -l)"
echo "potok-crash: 20000 acknowledged, $count read back after kill -9 and restart"
echo "more" | timeout 30 kcat -b "$address" -t crash -P
after="$(timeout 60 kcat -b "$address" -t crash -C -e -o beginning -q | wc -l)"
potok_stop
if [[ "$count" == 20000 && "$after" == 20001 ]]; then
    echo "crash-test: 1 passed, 0 failed"
else
    echo "crash-test: 0 passed, 1 failed (read $count then $after)"
    exit 1
fi
