#!/usr/bin/env bash
# scripts/leadership-check.sh potok BINARY | kafka — preferred leaders and replica moves on a three-node cluster
# started from Kafka's KRaft property files (combined nodes, as in cluster-check.sh), checked with Kafka's own
# tools and kcat:
# - leader election (org.apache.kafka.tools.LeaderElectionCommand, ElectLeaders): a topic with 3 partitions and
#   RF 3, its preferred leader stopped with SIGTERM (leadership moves) and started again; with
#   auto.leader.rebalance.enable=false leadership stays away until kafka-leader-election --election-type
#   PREFERRED brings it back, for one partition (--topic/--partition) and then for --all-topic-partitions
#   (while it is stopped, the election fails with PreferredLeaderNotAvailableException); a second election is a
#   no-op, an UNCLEAN election of a partition with a live leader is one too, an unknown partition is an error;
# - reassignment (org.apache.kafka.tools.reassign.ReassignPartitionsCommand, AlterPartitionReassignments and
#   ListPartitionReassignments): replicas 1,2 moved to 2,3 and a replication factor raised from 2 to 3 with
#   --execute, --verify until complete (the directories appear on the new broker and leave the old one, the
#   moved segments are the same bytes, every record is still read), --list, --disallow-replication-factor-change
#   refusing RF 3 to 2; a move to a broker that is
#   registered but stopped stays in progress (started with a raw AlterPartitionReassignments from kafka-python,
#   as the tool refuses brokers that are not running), --list and --verify show it, --cancel takes it back;
# - auto.leader.rebalance.enable=true with leader.imbalance.check.interval.seconds=5 (the nodes restarted
#   with it): after the preferred leader returns, leadership goes back to it with no tool.
# `kafka` runs the same files and checks against Apache Kafka 4.1.1 (formatted first, as Kafka requires).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/kafka.sh
target="$1"
potok="${2:-}"
[[ "$target" == kafka || -x "$potok" ]] || { echo "usage: $0 potok BINARY | kafka" >&2; exit 2; }
venv="$(scripts/install-test-deps.sh)"
dir="$(mktemp -d)"
declare -a PIDS=("" "" "" "")
cleanup() {
    for i in 1 2 3; do
        if [[ -n "${PIDS[$i]}" ]]; then
            kill -9 "${PIDS[$i]}" 2>/dev/null
        fi
    done
    rm -rf "$dir"
}
trap cleanup EXIT
started=$(date +%s%N)
elapsed() { echo "$((($(date +%s%N) - started) / 1000000)) ms"; }

read -r -a ports <<<"$("$venv/bin/python" -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
voters="1@127.0.0.1:${ports[3]},2@127.0.0.1:${ports[4]},3@127.0.0.1:${ports[5]}"
bootstrap="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"
port_of() { echo "${ports[$(($1 - 1))]}"; }

# write_properties AUTO_REBALANCE: the three nodes' property files.
write_properties() {
    for i in 1 2 3; do
        cat >"$dir/server-$i.properties" <<PROPS
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(port_of "$i"),CONTROLLER://127.0.0.1:${ports[$((i + 2))]}
advertised.listeners=PLAINTEXT://127.0.0.1:$(port_of "$i")
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/kafka-logs-$i
num.partitions=1
default.replication.factor=3
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
group.initial.rebalance.delay.ms=0
auto.leader.rebalance.enable=$1
leader.imbalance.check.interval.seconds=5
PROPS
    done
}
write_properties false

if [[ "$target" == kafka ]]; then
    cluster_id="$(kafka_java kafka.tools.StorageTool random-uuid)"
    for i in 1 2 3; do
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

# stop_node N: SIGTERM and wait for a clean exit (Kafka exits 143 after its shutdown hooks; potok exits 0).
stop_node() {
    kill -TERM "${PIDS[$1]}"
    reap_node "$1"
}
# stop_all: SIGTERM to all three at once (one by one, the last would wait for a quorum that is gone).
stop_all() {
    local i
    for i in 1 2 3; do kill -TERM "${PIDS[$i]}"; done
    for i in 1 2 3; do reap_node "$i"; done
}
reap_node() {
    local i=$1 rc=0
    timeout 60 tail --pid="${PIDS[$i]}" -f /dev/null || fail "node $i did not stop in 60 s"
    wait "${PIDS[$i]}" || rc=$?
    PIDS[$i]=""
    [[ $rc == 0 || $rc == 143 ]] || fail "node $i exited with status $rc"
}

fail() {
    echo "leadership-check ($target): $*" >&2
    for i in 1 2 3; do echo "--- node $i" >&2; tail -n 30 "$dir/node-$i.out" >&2 || true; done
    exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND until it succeeds, for at most SECONDS.
wait_for() {
    local seconds=$1 what=$2
    local deadline=$((SECONDS + seconds))
    shift 2
    while ((SECONDS < deadline)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    fail "timed out after ${seconds}s waiting for $what"
}

tool() { # tool MAIN_CLASS ARGS...: one of Kafka's command-line tools
    local main=$1
    shift
    timeout 90 "$KAFKA_JAVA_HOME/bin/java" -cp "$(kafka_classpath)" \
        -Dorg.slf4j.simpleLogger.defaultLogLevel=error "$main" "$@"
}
topics() { tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" "$@"; }
elect() { tool org.apache.kafka.tools.LeaderElectionCommand --bootstrap-server "$bootstrap" "$@"; }
reassign() { tool org.apache.kafka.tools.reassign.ReassignPartitionsCommand --bootstrap-server "$bootstrap" "$@"; }
quorum() { tool org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$bootstrap" "$@"; }

brokers_seen() { # brokers_seen COUNT
    timeout 10 kcat -b "$bootstrap" -m 5 -L 2>/dev/null | grep -q "^ $1 brokers:"
}
# partition_line TOPIC PARTITION: kcat's "partition P, leader L, replicas: R, isrs: I" for it.
partition_line() {
    timeout 10 kcat -b "$bootstrap" -m 5 -L -t "$1" 2>/dev/null | grep -E "^ +partition $2, " | head -n 1
}
leader_of() { partition_line "$1" "$2" | sed -nE 's/.*leader (-?[0-9]+),.*/\1/p'; }
replicas_of() { partition_line "$1" "$2" | sed -nE 's/.*replicas: ([0-9,]+),.*/\1/p'; }
isr_of() { partition_line "$1" "$2" | sed -nE 's/.*isrs: ([0-9,]+).*/\1/p'; }
# in_sync TOPIC PARTITIONS: every listed partition has its whole replica set in the ISR.
in_sync() {
    local t=$1 p
    shift
    for p in "$@"; do
        local r i
        r="$(replicas_of "$t" "$p")"
        i="$(isr_of "$t" "$p")"
        [[ -n "$r" && "$(tr ',' '\n' <<<"$r" | sort | tr '\n' ,)" == "$(tr ',' '\n' <<<"$i" | sort | tr '\n' ,)" ]] ||
            return 1
    done
}
leader_is() { [[ "$(leader_of "$1" "$2")" == "$3" ]]; }
leader_not() { local l; l="$(leader_of "$1" "$2")"; [[ -n "$l" && "$l" != "-1" && "$l" != "$3" ]]; }
count_records() { timeout 60 kcat -C -b "$bootstrap" -t "$1" -o beginning -e -q | wc -l; }
# described TOPIC PARTITION LEADER REPLICAS: kafka-topics --describe shows that partition so.
described() {
    topics --describe --topic "$1" | grep -qE "Partition: $2	Leader: $3	Replicas: $4	"
}

for i in 1 2 3; do start_node "$i"; done
wait_for 90 "three brokers in kcat -L" brokers_seen 3
echo "three nodes up in $(elapsed)"

# --- Preferred leader election ------------------------------------------------------------------------------
# Broker 2 is the preferred leader of partitions 0 and 1, broker 3 of partition 2.
topics --create --topic lead --replica-assignment 2:3:1,2:1:3,3:1:2 || fail "kafka-topics --create lead"
wait_for 60 "lead fully in sync" in_sync lead 0 1 2
seq 1 300 | timeout 60 kcat -P -b "$bootstrap" -t lead -X acks=all || fail "kcat produce acks=all"
for p in 0 1 2; do wait_for 30 "the preferred leader of lead-$p" leader_is lead "$p" "$(replicas_of lead "$p" | cut -d, -f1)"; done

stop_node 2
wait_for 60 "lead-0 led by another broker" leader_not lead 0 2
wait_for 60 "lead-1 led by another broker" leader_not lead 1 2
echo "broker 2 stopped (SIGTERM): lead-0 led by $(leader_of lead 0), lead-1 by $(leader_of lead 1) ($(elapsed))"
out="$(elect --election-type PREFERRED --topic lead --partition 0 2>&1)" &&
    fail "a preferred election with the preferred replica stopped succeeded: $out"
echo "$out" | head -n 1
grep -q "Error completing leader election (PREFERRED) for partition: lead-0: org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: The preferred leader was not available." <<<"$out" ||
    fail "preferred election with the preferred replica stopped: $out"
start_node 2
wait_for 90 "broker 2 registered again" brokers_seen 3
wait_for 90 "broker 2 back in the ISR of lead" in_sync lead 0 1 2
sleep 6 # longer than leader.imbalance.check.interval.seconds
leader_not lead 0 2 && leader_not lead 1 2 ||
    fail "leadership went back to broker 2 with auto.leader.rebalance.enable=false"
echo "broker 2 restarted and in sync; leadership stays away with auto.leader.rebalance.enable=false ($(elapsed))"

out="$(elect --election-type PREFERRED --topic lead --partition 0)" || fail "kafka-leader-election lead-0: $out"
echo "$out"
grep -qx "Successfully completed leader election (PREFERRED) for partitions lead-0" <<<"$out" ||
    fail "unexpected kafka-leader-election output: $out"
wait_for 30 "kafka-topics --describe showing lead-0 led by 2" described lead 0 2 2,3,1
leader_not lead 1 2 || fail "lead-1 moved with an election of lead-0 only"
out="$(elect --election-type PREFERRED --all-topic-partitions)" || fail "kafka-leader-election --all-topic-partitions: $out"
echo "$out"
grep -qx "Successfully completed leader election (PREFERRED) for partitions lead-1" <<<"$out" ||
    fail "unexpected kafka-leader-election --all-topic-partitions output: $out"
wait_for 30 "kafka-topics --describe showing lead-1 led by 2" described lead 1 2 2,1,3
topics --describe --topic lead
described lead 2 3 3,1,2 || fail "lead-2 is not led by its preferred replica 3"
# Asked again, and an unclean election where the ISR leader is alive: nothing to do.
out="$(elect --election-type PREFERRED --topic lead --partition 0)" || fail "kafka-leader-election again: $out"
echo "$out"
grep -qx "Valid replica already elected for partitions lead-0" <<<"$out" || fail "second election: $out"
out="$(elect --election-type UNCLEAN --topic lead --partition 2)" || fail "kafka-leader-election UNCLEAN: $out"
echo "$out"
grep -qx "Valid replica already elected for partitions lead-2" <<<"$out" || fail "unclean election: $out"
out="$(elect --election-type PREFERRED --topic nosuchtopic --partition 0 2>&1)" &&
    fail "an election of an unknown partition succeeded: $out"
grep -q "Error completing leader election (PREFERRED) for partition: nosuchtopic-0: org.apache.kafka.common.errors.UnknownTopicOrPartitionException" <<<"$out" ||
    fail "unknown partition election: $out"
count="$(count_records lead)"
[[ "$count" == 300 ]] || fail "read $count of the 300 records of lead"
echo "preferred elections checked; all 300 records of lead read ($(elapsed))"

# --- Reassignment ---------------------------------------------------------------------------------------------
topics --create --topic move --replica-assignment 1:2,2:1 || fail "kafka-topics --create move"
topics --create --topic grow --replica-assignment 1:2 || fail "kafka-topics --create grow"
wait_for 60 "move and grow in sync" in_sync move 0 1
wait_for 60 "grow in sync" in_sync grow 0
seq 1 200 | timeout 60 kcat -P -b "$bootstrap" -t move -X acks=all || fail "kcat produce move"
seq 1 100 | timeout 60 kcat -P -b "$bootstrap" -t grow -X acks=all || fail "kcat produce grow"
cat >"$dir/move.json" <<JSON
{"version":1,"partitions":[
 {"topic":"move","partition":0,"replicas":[2,3]},
 {"topic":"move","partition":1,"replicas":[3,2]},
 {"topic":"grow","partition":0,"replicas":[1,2,3]}]}
JSON
out="$(reassign --reassignment-json-file "$dir/move.json" --execute)" || fail "kafka-reassign-partitions --execute: $out"
echo "$out"
grep -q "Successfully started partition reassignments for grow-0,move-0,move-1" <<<"$out" ||
    fail "unexpected --execute output: $out"
verified() {
    reassign --reassignment-json-file "$dir/move.json" --verify >"$dir/verify.out" 2>&1 &&
        [[ "$(grep -c "is completed" "$dir/verify.out")" == 3 ]]
}
wait_for 90 "kafka-reassign-partitions --verify to report three completed" verified
cat "$dir/verify.out"
out="$(reassign --list)" || fail "kafka-reassign-partitions --list: $out"
echo "$out"
grep -q "No partition reassignments found." <<<"$out" || fail "reassignments listed after completion: $out"
describe="$(topics --describe --topic move)"
echo "$describe"
grep -qE "Partition: 0	Leader: [23]	Replicas: 2,3	Isr: (2,3|3,2)" <<<"$describe" || fail "move-0 is not on 2,3"
grep -qE "Partition: 1	Leader: [23]	Replicas: 3,2	Isr: (2,3|3,2)" <<<"$describe" || fail "move-1 is not on 3,2"
describe="$(topics --describe --topic grow)"
echo "$describe"
grep -qE "Partition: 0	Leader: [1-3]	Replicas: 1,2,3	Isr: [1-3],[1-3],[1-3]" <<<"$describe" ||
    fail "grow-0 does not have 3 replicas in sync"
no_dir() { [[ ! -e "$1" ]]; }
for p in 0 1; do
    [[ -d "$dir/kafka-logs-3/move-$p" ]] || fail "no directory move-$p on broker 3"
    wait_for 30 "move-$p to leave broker 1" no_dir "$dir/kafka-logs-1/move-$p"
    cmp -s "$dir/kafka-logs-2/move-$p/00000000000000000000.log" "$dir/kafka-logs-3/move-$p/00000000000000000000.log" ||
        fail "move-$p differs between brokers 2 and 3"
done
for i in 1 2; do
    cmp -s "$dir/kafka-logs-$i/grow-0/00000000000000000000.log" "$dir/kafka-logs-3/grow-0/00000000000000000000.log" ||
        fail "grow-0 differs between brokers $i and 3"
done
# kafka-reassign-partitions --disallow-replication-factor-change (AlterPartitionReassignments v1, KIP-860).
echo '{"version":1,"partitions":[{"topic":"grow","partition":0,"replicas":[1,2]}]}' >"$dir/shrink.json"
out="$(reassign --reassignment-json-file "$dir/shrink.json" --execute --disallow-replication-factor-change 2>&1)" &&
    fail "a reassignment changing the replication factor was accepted with --disallow-replication-factor-change"
grep -qx "grow-0: The replication factor is changed from 3 to 2" <<<"$out" ||
    fail "--disallow-replication-factor-change: $out"
count="$(count_records move)"
[[ "$count" == 200 ]] || fail "read $count of the 200 records of move after the reassignment"
count="$(count_records grow)"
[[ "$count" == 100 ]] || fail "read $count of the 100 records of grow after the reassignment"
echo "move moved to 2,3 and grow to 1,2,3: directories moved, segments identical, all records read ($(elapsed))"

# A move to a broker that is registered but stopped stays in progress until it is cancelled.
# kafka-reassign-partitions --execute refuses such a move (it checks the brokers against DescribeCluster, which
# lists live brokers only), so it is started with a raw AlterPartitionReassignments request (kafka-python).
topics --create --topic cancel --replica-assignment 1:2 || fail "kafka-topics --create cancel"
wait_for 60 "cancel in sync" in_sync cancel 0
seq 1 50 | timeout 60 kcat -P -b "$bootstrap" -t cancel -X acks=all || fail "kcat produce cancel"
cat >"$dir/cancel.json" <<JSON
{"version":1,"partitions":[{"topic":"cancel","partition":0,"replicas":[1,2,3]}]}
JSON
stop_node 3
wait_for 60 "two brokers listed" brokers_seen 2
out="$(reassign --reassignment-json-file "$dir/cancel.json" --execute 2>&1)" &&
    fail "kafka-reassign-partitions --execute to a stopped broker succeeded: $out"
grep -q "Unknown broker id 3" <<<"$out" || fail "--execute to a stopped broker: $out"
out="$(timeout 60 "$venv/bin/python" tests/clients/reassign_to.py "$bootstrap" cancel 0 1,2,3)" ||
    fail "AlterPartitionReassignments to the stopped broker 3: $out"
out="$(reassign --list)" || fail "kafka-reassign-partitions --list: $out"
echo "$out"
grep -qx "Current partition reassignments:" <<<"$out" &&
    grep -qx "cancel-0: replicas: 1,2,3. adding: 3." <<<"$out" ||
    fail "--list does not show the move of cancel-0 to broker 3 in progress: $out"
out="$(reassign --reassignment-json-file "$dir/cancel.json" --verify)" || fail "--verify (in progress): $out"
echo "$out"
grep -q "Reassignment of partition cancel-0 is still in progress." <<<"$out" || fail "--verify (in progress): $out"
# --preserve-throttles: there are none, and clearing them would ask the stopped broker (broker-level configs).
out="$(reassign --reassignment-json-file "$dir/cancel.json" --cancel --preserve-throttles)" || fail "--cancel: $out"
echo "$out"
grep -q "Successfully cancelled partition reassignment for: cancel-0" <<<"$out" || fail "--cancel: $out"
out="$(reassign --list)" || fail "kafka-reassign-partitions --list: $out"
grep -q "No partition reassignments found." <<<"$out" || fail "reassignment listed after --cancel: $out"
wait_for 30 "cancel-0 back on 1,2" described cancel 0 "[12]" 1,2
start_node 3
wait_for 90 "broker 3 registered again" brokers_seen 3
wait_for 60 "broker 3 back in the ISR of lead" in_sync lead 0 1 2
[[ ! -e "$dir/kafka-logs-3/cancel-0" ]] || fail "broker 3 holds cancel-0 after the move was cancelled"
count="$(count_records cancel)"
[[ "$count" == 50 ]] || fail "read $count of the 50 records of cancel"
echo "a move to the stopped broker 3 was listed in progress and cancelled; all 50 records read ($(elapsed))"

# --- auto.leader.rebalance.enable=true --------------------------------------------------------------------
stop_all
write_properties true
for i in 1 2 3; do start_node "$i"; done
wait_for 90 "three brokers again" brokers_seen 3
wait_for 90 "lead fully in sync after the restart" in_sync lead 0 1 2
stop_node 2
wait_for 60 "lead-0 led by another broker" leader_not lead 0 2
wait_for 60 "lead-1 led by another broker" leader_not lead 1 2
start_node 2
wait_for 90 "broker 2 registered again" brokers_seen 3
wait_for 90 "broker 2 back in the ISR of lead" in_sync lead 0 1 2
echo "broker 2 restarted with auto.leader.rebalance.enable=true; waiting for its leaderships ($(elapsed))"
wait_for 60 "lead-0 led by broker 2 again" leader_is lead 0 2
wait_for 60 "lead-1 led by broker 2 again" leader_is lead 1 2
topics --describe --topic lead
echo "leadership went back to the preferred replicas on its own ($(elapsed))"

stop_all
echo "leadership-check ($target): passed in $(elapsed)"
