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
# The harness deletes its namespaces itself, even on SIGTERM/SIGINT, and its nodes and workloads die with it
# (PR_SET_PDEATHSIG). Should it die another way (a librdkafka assertion aborts it, SIGKILL), its namespaces
# (named after its pid) are deleted here.
"$venv/bin/python" -m faults "${args[@]}" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null' TERM INT
rc=0
wait $pid || rc=$?
# A trapped signal ends the first wait early; the harness is still cleaning up.
while kill -0 $pid 2>/dev/null; do wait $pid || rc=$?; done
for ns in $(ip netns list | grep -o "^potokf$pid-[a-z0-9]*" || true); do
    ip netns del "$ns" && echo "fault-check: removed namespace $ns (the harness died with status $rc)" >&2
done
exit "$rc"
