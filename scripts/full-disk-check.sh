#!/usr/bin/env bash
# scripts/full-disk-check.sh POTOK_BINARY — a potok broker on a full disk (issue 13, item 9). In a private mount
# namespace (unshare -m; needs root, as CI has) a 32 MiB tmpfs holds log.dirs: records are produced with kcat,
# the rest of the tmpfs is filled, more produce requests must fail cleanly while the broker keeps serving, then
# the broker is killed with -9 and restarted on the still-full disk: it must start (it died of SIGBUS reading a
# sparse memory-mapped index before) and serve every acknowledged record; once space is freed it takes writes
# again.
set -euo pipefail
potok="$(realpath "$1")"
cd "$(dirname "$0")/.."
if [[ "${POTOK_IN_NAMESPACE:-}" != 1 ]]; then
    exec unshare -m env POTOK_IN_NAMESPACE=1 bash "$0" "$potok"
fi
source scripts/potok-broker.sh
data="$(mktemp -d)"
POTOK_PID=""
cleanup() { [[ -n "$POTOK_PID" ]] && kill -9 "$POTOK_PID" 2>/dev/null; umount "$data/disk" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT
mkdir "$data/disk"
mount -t tmpfs -o size=32m tmpfs "$data/disk"
start() { # the broker's log.dirs on the tmpfs, its output beside it
    "$potok" broker --override listeners=PLAINTEXT://127.0.0.1:0 --override "log.dirs=$data/disk/logs" \
        >>"$data/broker.out" 2>&1 &
    POTOK_PID=$!
    for _ in $(seq 300); do
        POTOK_ADDRESS="$(grep -o '127\.0\.0\.1:[0-9]*' "$data/broker.out" | tail -n 1 || true)"
        if [[ -n "$POTOK_ADDRESS" ]] && timeout 10 kcat -b "$POTOK_ADDRESS" -L >/dev/null 2>&1; then return 0; fi
        kill -0 "$POTOK_PID" 2>/dev/null || break
        sleep 0.1
    done
    wait "$POTOK_PID" 2>/dev/null; echo "potok broker did not start (exit status $?):" >&2; tail -n 20 "$data/broker.out" >&2
    POTOK_PID=""
    return 1
}
records() { # N: N records of ~1 KB
    local pad; pad="$(head -c 1000 /dev/zero | tr '\0' x)"
    seq 1 "$1" | sed "s/\$/ $pad/"
}
failed=0
check() { if eval "$2"; then echo "ok: $1"; else echo "FAILED: $1"; failed=$((failed + 1)); fi; }

start
records 2000 | timeout 60 kcat -b "$POTOK_ADDRESS" -t full -P -X acks=all -X linger.ms=5
: >"$data/broker.out.before"
dd if=/dev/zero of="$data/disk/filler" bs=64k 2>/dev/null || true
df -h "$data/disk" | tail -n 1
set +e
records 3000 | timeout 60 kcat -b "$POTOK_ADDRESS" -t full -P -X acks=all -X linger.ms=5 -X retries=0 \
    -X message.timeout.ms=15000 >"$data/produce.out" 2>&1
produce_rc=$?
set -e
check "produce on the full disk fails" "((produce_rc != 0))"
check "the failure is a storage error" "grep -qi 'storage\|disk' '$data/produce.out' || { head -n 5 '$data/produce.out'; false; }"
check "the broker still serves metadata" "timeout 10 kcat -b '$POTOK_ADDRESS' -L >/dev/null 2>&1"
kill -9 "$POTOK_PID"; wait "$POTOK_PID" 2>/dev/null || true; POTOK_PID=""
check "the broker restarts on the full disk" "start"
if [[ -n "$POTOK_PID" ]]; then
    count="$(timeout 60 kcat -b "$POTOK_ADDRESS" -t full -C -e -o beginning -q | wc -l)"
    check "every acknowledged record is read back after the restart ($count >= 2000)" "((count >= 2000))"
    rm -f "$data/disk/filler"
    check "writes work again once space is freed" \
        "records 10 | timeout 60 kcat -b '$POTOK_ADDRESS' -t full -P -X acks=all -X message.timeout.ms=15000"
    potok_stop >/dev/null || true
fi
echo "full-disk-check: $((6 - failed)) passed, $failed failed"
((failed == 0)) || { echo "-- broker output"; tail -n 30 "$data/broker.out"; exit 1; }
