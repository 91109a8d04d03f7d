#!/usr/bin/env bash
# scripts/cluster-check.sh potok BINARY | kafka — a three-node cluster started from Kafka's KRaft property files
# (server-1..3.properties: process.roles=broker,controller, node.id, controller.quorum.voters, a CONTROLLER
# listener, log.dirs kafka-logs-N), checked with real tools: kcat -L, Kafka's own kafka-topics (--create with
# RF 3 and --describe), kafka-python's admin client; then a node is killed with kill -9 (its leaderships move,
# metadata changes go on, its partitions show as under-replicated, every record produced with acks=all
# before is still read) and restarted (it registers again, catches up and rejoins every ISR, with segments
# identical to the other nodes'); then every node stops on SIGTERM.
# `kafka` runs the same files and checks against Apache Kafka 4.1.1 (formatted with kafka-storage first, as
# Kafka requires); `potok` starts `BINARY broker server-N.properties` with no format step.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kafka.sh
target="$1"
potok="${2:-}"
venv="$(scripts/install-test-deps.sh)"
dir="$(mktemp -d)"
declare -a PIDS=("" "" "" "")
cleanup() {
    for i in 1 2 3; do [[ -n "${PIDS[$i]}" ]] && kill -9 "${PIDS[$i]}" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT

read -r -a ports <<<"$("$venv/bin/python" -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
voters="1@127.0.0.1:${ports[3]},2@127.0.0.1:${ports[4]},3@127.0.0.1:${ports[5]}"
bootstrap="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]}"
for i in 1 2 3; do
    cat >"$dir/server-$i.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:${ports[$((i - 1))]},CONTROLLER://127.0.0.1:${ports[$((i + 2))]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[$((i - 1))]}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/kafka-logs-$i
num.partitions=3
default.replication.factor=3
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0
PROPS
done

# Kafka needs every node formatted with one cluster id; for potok it is optional, and done here with potok's
# `storage format` for nodes 1 and 2 and Kafka's own tool for node 3 (potok accepts its meta.properties).
if [[ "$target" == kafka ]]; then
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
    for i in 1 2 3; do
        kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server-$i.properties" >/dev/null
    done
else
    cluster_id="$("$potok" storage random-uuid)"
    "$potok" storage format -t "$cluster_id" -c "$dir/server-1.properties" >/dev/null
    "$potok" storage format -t "$cluster_id" -c "$dir/server-2.properties" >/dev/null
    kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server-3.properties" >/dev/null
    if "$potok" storage format -t "$cluster_id" -c "$dir/server-1.properties" 2>"$dir/format.err"; then
        fail "formatting a formatted directory again succeeded"
    fi
    grep -q "already formatted" "$dir/format.err" || fail "no 'already formatted' error: $(cat "$dir/format.err")"
fi

start_node() {
    local i=$1
    if [[ "$target" == kafka ]]; then
        "$KAFKA_JAVA_HOME/bin/java" -Xms128m -Xmx512m -cp "$(kafka_classpath)" \
            -Dorg.slf4j.simpleLogger.defaultLogLevel=warn kafka.Kafka "$dir/server-$i.properties" \
            >>"$dir/node-$i.out" 2>&1 </dev/null &
    else
        "$potok" broker "$dir/server-$i.properties" >>"$dir/node-$i.out" 2>&1 </dev/null &
    fi
    PIDS[$i]=$!
}

fail() {
    echo "cluster-check ($target): $*" >&2
    for i in 1 2 3; do echo "--- node $i" >&2; tail -n 20 "$dir/node-$i.out" >&2 || true; done
    exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds.
wait_for() {
    local seconds=$1 what=$2
    shift 2
    for ((n = 0; n < seconds * 2; n++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    fail "timed out after ${seconds}s waiting for $what"
}

brokers_seen() { # brokers_seen PORT COUNT
    timeout 10 kcat -b "127.0.0.1:$1" -m 5 -L 2>/dev/null | grep -q "^ $2 brokers:"
}

quorum() { timeout 60 "$KAFKA_JAVA_HOME/bin/java" -cp "$(kafka_classpath)" \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=error org.apache.kafka.tools.MetadataQuorumCommand "$@"; }

topics() { timeout 60 "$KAFKA_JAVA_HOME/bin/java" -cp "$(kafka_classpath)" \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=error org.apache.kafka.tools.TopicCommand "$@"; }

started=$(date +%s%N)
for i in 1 2 3; do start_node "$i"; done
wait_for 90 "three brokers in kcat -L" brokers_seen "${ports[0]}" 3
echo "three nodes up and registered in $((($(date +%s%N) - started) / 1000000)) ms"
# Start-up to the first record acknowledged by the whole ISR (an auto-created topic; formatting not counted).
first_ack() { echo first | timeout 10 kcat -P -b "$bootstrap" -t startup -X acks=all -X message.timeout.ms=5000; }
wait_for 90 "a first acknowledged record" first_ack
echo "start-up to the first acks=all record acknowledged: $((($(date +%s%N) - started) / 1000000)) ms"
timeout 10 kcat -b "127.0.0.1:${ports[2]}" -L | head -n 5

topics --bootstrap-server "127.0.0.1:${ports[1]}" --create --topic invoice --partitions 5 --replication-factor 3 \
    --config segment.bytes=1048576 || fail "kafka-topics --create"
describe="$(topics --bootstrap-server "127.0.0.1:${ports[2]}" --describe --topic invoice)" || fail "kafka-topics --describe"
echo "$describe"
[[ "$(grep -cE 'Partition: [0-4]	Leader: [1-3]	Replicas: [1-3],[1-3],[1-3]	Isr: [1-3],[1-3],[1-3]' <<<"$describe")" == 5 ]] ||
    fail "kafka-topics --describe did not show 5 partitions with 3 replicas in sync"
timeout 120 "$venv/bin/python" tests/clients/cluster_check.py three "$bootstrap" || fail "kafka-python (three nodes)"
# kafka-metadata-quorum, through a broker and straight at a controller.
status="$(quorum --bootstrap-server "127.0.0.1:${ports[0]}" describe --status)" || fail "kafka-metadata-quorum --status"
echo "$status"
grep -qE '^LeaderId: +[1-3]$' <<<"$status" || fail "kafka-metadata-quorum shows no leader"
grep -qE "^ClusterId: +$cluster_id\$" <<<"$status" || fail "the cluster id is not the formatted $cluster_id"
[[ "$(grep '^CurrentVoters:' <<<"$status" | grep -o '"id": [1-3]' | wc -l)" == 3 ]] || fail "three voters expected"
quorum --bootstrap-controller "127.0.0.1:${ports[4]}" describe --replication || fail "kafka-metadata-quorum --replication"

# Replication: 100 records with acks=all (kcat), then node 1 dies by SIGKILL: the partitions it held are
# under-replicated (Kafka's own tool lists them), and every acknowledged record is still there.
seq 1 100 | timeout 60 kcat -P -b "$bootstrap" -t invoice -X acks=all || fail "kcat produce acks=all"
kill -9 "${PIDS[1]}"
wait "${PIDS[1]}" 2>/dev/null || true
PIDS[1]=""
timeout 120 "$venv/bin/python" tests/clients/cluster_check.py two "127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}" 1 ||
    fail "kafka-python (node 1 killed)"
under_replicated() {
    [[ "$(topics --bootstrap-server "127.0.0.1:${ports[2]}" --describe --topic invoice --under-replicated-partitions |
        grep -c 'Partition:')" == 5 ]]
}
wait_for 60 "five under-replicated partitions of invoice" under_replicated
topics --bootstrap-server "127.0.0.1:${ports[2]}" --describe --topic invoice --under-replicated-partitions
if [[ "$target" == potok ]]; then
    # potok's own kafka-topics prints the same report: the five partitions, no topic line.
    mine="$("$potok" topics --bootstrap-server "127.0.0.1:${ports[2]}" --describe --topic invoice --under-replicated-partitions)"
    [[ "$(grep -c 'Partition:' <<<"$mine")" == 5 ]] || fail "potok topics --under-replicated-partitions: $mine"
    ! grep -q '^Topic:' <<<"$mine" || fail "potok topics printed the topic line with --under-replicated-partitions"
fi
count="$(timeout 60 kcat -C -b "127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}" -t invoice -o beginning -e -q | wc -l)"
[[ "$count" == 100 ]] || fail "read $count of the 100 acknowledged records after node 1 was killed"
echo "node 1 killed: 5 partitions under-replicated, all 100 acknowledged records readable"
leader_moved() { quorum --bootstrap-server "127.0.0.1:${ports[1]}" describe --status | grep -qE '^LeaderId: +[23]$'; }
wait_for 60 "a quorum leader other than node 1" leader_moved
echo "the metadata quorum has a leader among the live nodes"

start_node 1
wait_for 90 "node 1 back in kcat -L" brokers_seen "${ports[2]}" 3
echo "node 1 restarted and registered again"
in_sync() {
    [[ -z "$(topics --bootstrap-server "127.0.0.1:${ports[2]}" --describe --topic invoice --under-replicated-partitions)" ]]
}
wait_for 90 "node 1 back in every ISR of invoice" in_sync
# The follower copies are byte for byte the leader's: the same segments on every node.
for p in 0 1 2 3 4; do
    for i in 2 3; do
        cmp -s "$dir/kafka-logs-1/invoice-$p/00000000000000000000.log" "$dir/kafka-logs-$i/invoice-$p/00000000000000000000.log" ||
            fail "invoice-$p differs between node 1 and node $i"
    done
done
echo "node 1 caught up: every ISR has 3 members, every partition's segment is the same on the three nodes"

for i in 1 2 3; do kill -TERM "${PIDS[$i]}"; done
for i in 1 2 3; do
    rc=0
    timeout 60 tail --pid="${PIDS[$i]}" -f /dev/null || fail "node $i did not stop in 60 s"
    wait "${PIDS[$i]}" || rc=$?
    PIDS[$i]=""
    # Kafka exits 143 on SIGTERM after its shutdown hooks; potok exits 0.
    [[ $rc == 0 || $rc == 143 ]] || fail "node $i exited with status $rc"
done
echo "cluster-check ($target): passed"
