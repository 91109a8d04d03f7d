#!/usr/bin/env bash
# scripts/fault-check.sh kafka|potok [BINARY] [--quick] [--trials N] [--seed S] [--duration S] [--keep]
# Fault-injection trials (issue 16) against a three-node cluster of real processes: SIGKILL and restart,
# SIGSTOP/SIGCONT and network partitions between nodes while idempotent producers, a transactional producer
# and a consumer group run, then a checker over what a fresh consumer drains. `kafka` runs Apache Kafka 4.1.1
# from the same property files (it must pass: that shows the checker is right). Needs root: each node runs in
# a network namespace the run creates and deletes (see tests/faults/cluster.py). Exits 1 on any violation.
set -euo pipefail
cd "$(dirname "$0")/.."
(($# >= 1)) || { sed -n 2,7p "$0" >&2; exit 2; }
venv="$(scripts/install-test-deps.sh)"
if [[ "$1" == kafka ]]; then
    bash scripts/kafka.sh install >/dev/null
fi
args=("$@")
# The potok binary is given relative to the repository; the harness runs from tests/.
if [[ "$1" == potok && $# -ge 2 && "$2" != -* ]]; then args[1]="$(realpath "$2")"; fi
cd tests
# The harness deletes its namespaces itself, even on SIGTERM/SIGINT; after a SIGKILL of the harness the next
# run removes them (their names carry the dead harness's pid) and the nodes die with it (PR_SET_PDEATHSIG).
exec "$venv/bin/python" -m faults "${args[@]}"
