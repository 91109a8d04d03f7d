#!/usr/bin/env bash
# scripts/restart-check.sh POTOK_BINARY — consumer groups across a clean broker restart: committed offsets
# (with metadata), group listings and group deletion survive, and a new member resumes from the committed
# offsets (tests/clients/restart_check.py, phase 1 before and phase 2 after a SIGTERM and restart on the same
# log.dirs). Then transactions across restarts: tests/clients/txn_restart_check.py runs its own broker on a fixed
# port and keeps one transactional producer alive through a clean stop, a kill -9 and another clean stop in the
# middle of transactions, which then commit, abort, or are fenced as they should.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/potok-broker.sh
potok="$1"
venv="$(scripts/install-test-deps.sh)"
data="$(mktemp -d)"
POTOK_PID=""
cleanup() { [[ -n "$POTOK_PID" ]] && kill -9 "$POTOK_PID" 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

for phase in phase1 phase2; do
    potok_start "$potok" "$data"
    timeout 120 "$venv/bin/python" tests/clients/restart_check.py "$phase" "$POTOK_ADDRESS" "$data/state.json" ||
        { cat "$data/broker.out"; exit 1; }
    potok_stop || { echo "restart-check: broker exited badly" >&2; exit 1; }
done

timeout 200 "$venv/bin/python" tests/clients/txn_restart_check.py "$potok"
