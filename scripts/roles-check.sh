#!/usr/bin/env bash
# scripts/roles-check.sh potok BINARY | kafka — a cluster with dedicated roles, started from Kafka's KRaft
# property files: one controller-only node (process.roles=controller, node.id=4, only a CONTROLLER listener) and
# three broker-only nodes (process.roles=broker, node.id=1..3, no controller listener). Checked with real tools:
# kcat -L lists the three brokers and not the controller; kafka-metadata-quorum --bootstrap-controller shows the
# controller leading and the brokers as observers; kafka-topics creates an RF 3 topic with min.insync.replicas=2.
# Then the course's min-ISR exercise: two of the three brokers are killed with kill -9, the quorum (on its own
# node) shrinks the ISR to the last broker, and kcat's acks=all write is refused with NOT_ENOUGH_REPLICAS
# while kafka-topics still creates topics; the brokers return, rejoin the ISR and the write goes through.
# `kafka` runs the same files against Apache Kafka 4.1.1 (formatted first, as Kafka requires).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kafka.sh
target="$1"
potok="${2:-}"
venv="$(scripts/install-test-deps.sh)"
dir="$(mktemp -d)"
declare -a PIDS=("" "" "" "" "")
cleanup() {
    for i in 1 2 3 4; do [[ -n "${PIDS[$i]}" ]] && kill -9 "${PIDS[$i]}" 2>/dev/null; done
    rm -rf "$dir"
}
trap cleanup EXIT

read -r -a ports <<<"$("$venv/bin/python" -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
controller="127.0.0.1:${ports[3]}"
bootstrap="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
common="controller.quorum.voters=4@$controller
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
broker.session.timeout.ms=6000
broker.heartbeat.interval.ms=1000
replica.lag.time.max.ms=6000
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0"
cat >"$dir/server-4.properties" <<PROPS
process.roles=controller
node.id=4
listeners=CONTROLLER://$controller
log.dirs=$dir/kafka-logs-4
$common
PROPS
for i in 1 2 3; do
    cat >"$dir/server-$i.properties" <<PROPS
process.roles=broker
node.id=$i
listeners=PLAINTEXT://127.0.0.1:${ports[$((i - 1))]}
advertised.listeners=PLAINTEXT://127.0.0.1:${ports[$((i - 1))]}
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/kafka-logs-$i
$common
PROPS
done
if [[ "$target" == kafka ]]; then
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
    for i in 1 2 3 4; do
        kafka_java kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server-$i.properties" >/dev/null
    done
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
    echo "roles-check ($target): $*" >&2
    for i in 1 2 3 4; do echo "--- node $i" >&2; tail -n 20 "$dir/node-$i.out" >&2 || true; done
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
isr_of() { # isr_of PORT: the Isr column of partition 0 of min-isr
    topics --bootstrap-server "127.0.0.1:$1" --describe --topic min-isr | grep -oE 'Isr: [0-9,]+' | cut -d' ' -f2
}

started=$(date +%s%N)
for i in 4 1 2 3; do start_node "$i"; done
wait_for 90 "three brokers in kcat -L" brokers_seen "${ports[0]}" 3
echo "one controller and three brokers up in $((($(date +%s%N) - started) / 1000000)) ms"
listing="$(timeout 10 kcat -b "127.0.0.1:${ports[2]}" -L)"
head -n 5 <<<"$listing"
! grep -q "broker 4 at" <<<"$listing" || fail "kcat -L lists the controller-only node as a broker"

status="$(quorum --bootstrap-controller "$controller" describe --status)" || fail "kafka-metadata-quorum --status"
echo "$status"
grep -qE '^LeaderId: +4$' <<<"$status" || fail "the controller-only node does not lead the quorum"
replication="$(quorum --bootstrap-controller "$controller" describe --replication)" ||
    fail "kafka-metadata-quorum --replication"
echo "$replication"
[[ "$(grep -cE '^[1-3] .*Observer' <<<"$replication")" == 3 ]] || fail "the three brokers are not the quorum's observers"

topics --bootstrap-server "127.0.0.1:${ports[1]}" --create --topic min-isr --partitions 1 --replication-factor 3 \
    --config min.insync.replicas=2 || fail "kafka-topics --create"
full_isr() { [[ "$(isr_of "${ports[0]}" | tr ',' '\n' | wc -l)" == 3 ]]; }
wait_for 60 "three replicas in sync" full_isr
seq 1 50 | timeout 60 kcat -P -b "$bootstrap" -t min-isr -X acks=all || fail "kcat produce acks=all"

# Two brokers die: the leader stays, the others go.
leader="$(topics --bootstrap-server "127.0.0.1:${ports[0]}" --describe --topic min-isr | grep -oE 'Leader: [0-9]+' | cut -d' ' -f2)"
[[ "$leader" =~ ^[1-3]$ ]] || fail "no leader for min-isr: '$leader'"
dead=()
for i in 1 2 3; do
    [[ "$i" == "$leader" ]] && continue
    kill -9 "${PIDS[$i]}"
    wait "${PIDS[$i]}" 2>/dev/null || true
    PIDS[$i]=""
    dead+=("$i")
done
live="${ports[$((leader - 1))]}"
only_leader() { [[ "$(isr_of "$live")" == "$leader" ]]; }
wait_for 60 "the ISR down to broker $leader" only_leader
echo "brokers ${dead[*]} killed: the ISR of min-isr is $leader"
if seq 51 51 | timeout 60 kcat -P -b "127.0.0.1:$live" -t min-isr -X acks=all -X message.send.max.retries=0 \
    -X enable.idempotence=false 2>"$dir/refused.err"; then
    fail "an acks=all write with one replica in sync (min.insync.replicas=2) was accepted"
fi
grep -qiE 'not enough in-sync replicas|NOT_ENOUGH_REPLICAS' "$dir/refused.err" ||
    fail "the refusal is not NOT_ENOUGH_REPLICAS: $(cat "$dir/refused.err")"
echo "acks=all refused: $(grep -oiE 'not enough in-sync replicas[^"]*|NOT_ENOUGH_REPLICAS' "$dir/refused.err" | head -n 1)"
topics --bootstrap-server "127.0.0.1:$live" --create --topic while-down --partitions 1 --replication-factor 1 ||
    fail "kafka-topics --create with two brokers down (the quorum is on its own node)"

for i in "${dead[@]}"; do start_node "$i"; done
wait_for 90 "three brokers back in kcat -L" brokers_seen "$live" 3
wait_for 90 "three replicas back in sync" full_isr
seq 51 51 | timeout 60 kcat -P -b "$bootstrap" -t min-isr -X acks=all || fail "kcat acks=all after the brokers returned"
count="$(timeout 60 kcat -C -b "$bootstrap" -t min-isr -o beginning -e -q | wc -l)"
[[ "$count" == 51 ]] || fail "read $count of the 51 acknowledged records"
echo "the brokers returned and rejoined the ISR; acks=all accepted; all 51 records read"

for i in 1 2 3; do kill -TERM "${PIDS[$i]}"; done
for i in 1 2 3 4; do
    [[ "$i" == 4 ]] && kill -TERM "${PIDS[4]}"
    rc=0
    timeout 60 tail --pid="${PIDS[$i]}" -f /dev/null || fail "node $i did not stop in 60 s"
    wait "${PIDS[$i]}" || rc=$?
    PIDS[$i]=""
    [[ $rc == 0 || $rc == 143 ]] || fail "node $i exited with status $rc"
done
echo "roles-check ($target): passed"
