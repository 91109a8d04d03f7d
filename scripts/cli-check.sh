#!/usr/bin/env bash
# scripts/cli-check.sh HOST:PORT BIN — runs every Kafka-style subcommand of the potok binary BIN (topics,
# console-producer, console-consumer, consumer-groups, producer-perf-test, consumer-perf-test) against the
# broker at HOST:PORT and checks their output the way a course would read it. Works against potok and against
# Apache Kafka alike (topic and group names are unique per run). Every command runs under a timeout.
set -euo pipefail
address=$1
bin=$2
run_id="$$-$(date +%s)"
topic="cli-topic-$run_id"
group="cli-group-$run_id"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
checks=0

fail() {
    echo "cli-check FAILED: $*" >&2
    for f in "$work"/out "$work"/err; do [[ -f "$f" ]] && { echo "--- $f"; cat "$f"; } >&2; done
    exit 1
}
# potok ARGS... : runs the binary (30 s at most) with stdout in $work/out, stderr in $work/err; sets rc.
potok() {
    rc=0
    timeout 30 "$bin" "$@" >"$work/out" 2>"$work/err" </dev/null || rc=$?
}
expect_ok() { [[ "$rc" == 0 ]] || fail "$1: exit status $rc"; checks=$((checks + 1)); }
expect_fail() { [[ "$rc" != 0 && "$rc" != 124 ]] || fail "$1: expected an error exit, got $rc"; checks=$((checks + 1)); }
expect_out() { grep -qE -- "$2" "$work/out" || fail "$1: stdout lacks /$2/"; checks=$((checks + 1)); }
expect_err() { grep -qE -- "$2" "$work/err" || fail "$1: stderr lacks /$2/"; checks=$((checks + 1)); }

# topics
potok topics --bootstrap-server "$address" --create --topic "$topic" --partitions 3 --config retention.ms=3600000
expect_ok "topics --create"
expect_out "topics --create" "^Created topic $topic\.$"
potok topics --bootstrap-server "$address" --create --topic "$topic" --partitions 3
expect_fail "topics --create (exists)"
expect_err "topics --create (exists)" "^Error while executing topic command : .*already exists"
potok topics --bootstrap-server "$address" --create --topic "$topic" --if-not-exists
expect_ok "topics --create --if-not-exists"
potok topics --bootstrap-server "$address" --list
expect_ok "topics --list"
expect_out "topics --list" "^$topic$"
potok topics --bootstrap-server "$address" --alter --topic "$topic" --partitions 4
expect_ok "topics --alter"
potok topics --bootstrap-server "$address" --describe --topic "$topic"
expect_ok "topics --describe"
expect_out "topics --describe" "^Topic: $topic	TopicId: [A-Za-z0-9_-]{22}	PartitionCount: 4	ReplicationFactor: 1	Configs: (.*,)?retention\.ms=3600000"
expect_out "topics --describe" "^	Topic: $topic	Partition: 3	Leader: [0-9]+	Replicas: [0-9]+	Isr: [0-9]+	Elr: 	LastKnownElr: $"
[[ "$(grep -c "Partition: " "$work/out")" == 4 ]] || fail "topics --describe: expected 4 partition lines"
potok topics --bootstrap-server "$address" --describe --topic "cli-missing-$run_id"
expect_fail "topics --describe (missing)"
expect_err "topics --describe (missing)" "Topic 'cli-missing-$run_id' does not exist as expected"

# console-producer: keyed lines, then a line without the separator (an error, as in Kafka).
printf 'k1:v1\nk2:v2\nk3:v3\nk4:v4\nk5:v5\n' >"$work/in"
rc=0
timeout 30 "$bin" console-producer --bootstrap-server "$address" --topic "$topic" --property parse.key=true \
    --property key.separator=: --producer-property linger.ms=5 <"$work/in" >"$work/out" 2>"$work/err" || rc=$?
expect_ok "console-producer"
rc=0
printf 'no-separator\n' | timeout 30 "$bin" console-producer --bootstrap-server "$address" --topic "$topic" \
    --property parse.key=true >"$work/out" 2>"$work/err" || rc=$?
expect_fail "console-producer (no separator)"
expect_err "console-producer (no separator)" "No key separator found on line number 1"
potok console-producer --bootstrap-server "$address" --topic "$topic" --producer-property no.such.key=1
expect_fail "console-producer (unknown property)"
expect_err "console-producer (unknown property)" "no\.such\.key"

# console-consumer
potok console-consumer --bootstrap-server "$address" --topic "$topic" --group "$group" --from-beginning \
    --max-messages 5 --property print.key=true --property print.partition=true --property print.offset=true
expect_ok "console-consumer --group"
expect_err "console-consumer --group" "^Processed a total of 5 messages$"
[[ "$(grep -cE '^Partition:[0-9]+	Offset:[0-9]+	k[1-5]	v[1-5]$' "$work/out")" == 5 ]] \
    || fail "console-consumer: expected 5 'Partition:P<TAB>Offset:O<TAB>key<TAB>value' lines"
for i in 1 2 3 4 5; do grep -q "	k$i	v$i\$" "$work/out" || fail "console-consumer: k$i missing"; done
potok console-consumer --bootstrap-server "$address" --topic "$topic" --partition 0 --offset earliest \
    --timeout-ms 1500 --property print.value=true
expect_ok "console-consumer --partition --timeout-ms"
expect_err "console-consumer --partition" "^Processed a total of [0-9]+ messages$"
potok console-consumer --bootstrap-server "$address" --topic "$topic" --offset 3
expect_fail "console-consumer --offset without --partition"
expect_err "console-consumer --offset without --partition" "The partition is required when offset is specified"

# consumer-groups
potok consumer-groups --bootstrap-server "$address" --list
expect_ok "consumer-groups --list"
expect_out "consumer-groups --list" "^$group$"
potok consumer-groups --bootstrap-server "$address" --describe --group "$group"
expect_ok "consumer-groups --describe"
expect_out "consumer-groups --describe" "^GROUP +TOPIC +PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG +CONSUMER-ID +HOST +CLIENT-ID$"
lag=$(awk -v g="$group" '$1 == g && $6 ~ /^[0-9]+$/ { sum += $6 } END { print sum + 0 }' "$work/out")
[[ "$lag" == 0 ]] || fail "consumer-groups --describe: lag $lag after consuming everything"
potok consumer-groups --bootstrap-server "$address" --reset-offsets --group "$group" --topic "$topic" --to-earliest --execute
expect_ok "consumer-groups --reset-offsets"
expect_out "consumer-groups --reset-offsets" "^GROUP +TOPIC +PARTITION +NEW-OFFSET"
potok consumer-groups --bootstrap-server "$address" --describe --group "$group"
lag=$(awk -v g="$group" '$1 == g && $6 ~ /^[0-9]+$/ { sum += $6 } END { print sum + 0 }' "$work/out")
[[ "$lag" == 5 ]] || fail "consumer-groups --describe: lag $lag after --to-earliest, expected 5"
potok consumer-groups --bootstrap-server "$address" --delete --group "$group"
expect_ok "consumer-groups --delete"
expect_out "consumer-groups --delete" "^Deletion of requested consumer groups \('$group'\) was successful\.$"
potok consumer-groups --bootstrap-server "$address" --describe --group "$group"
expect_fail "consumer-groups --describe (deleted)"

# perf tools
potok producer-perf-test --topic "$topic" --num-records 2000 --record-size 100 --throughput -1 \
    --producer-props "bootstrap.servers=$address" acks=1
expect_ok "producer-perf-test"
expect_out "producer-perf-test" "^2000 records sent, [0-9.]+ records/sec \([0-9.]+ MB/sec\), [0-9.]+ ms avg latency, [0-9.]+ ms max latency, [0-9]+ ms 50th, [0-9]+ ms 95th, [0-9]+ ms 99th, [0-9]+ ms 99\.9th\.$"
potok consumer-perf-test --bootstrap-server "$address" --topic "$topic" --messages 2005 --timeout 10000
expect_ok "consumer-perf-test"
expect_out "consumer-perf-test" "^start\.time, end\.time, data\.consumed\.in\.MB, MB\.sec, data\.consumed\.in\.nMsg, nMsg\.sec, rebalance\.time\.ms, fetch\.time\.ms, fetch\.MB\.sec, fetch\.nMsg\.sec$"
expect_out "consumer-perf-test" "^[0-9-]+ [0-9:]+, [0-9-]+ [0-9:]+, [0-9.]+, [0-9.]+, 2005, [0-9.]+, [0-9]+, [0-9]+, [0-9.]+, [0-9.]+$"

# topics --delete
potok topics --bootstrap-server "$address" --delete --topic "$topic"
expect_ok "topics --delete"
potok topics --bootstrap-server "$address" --delete --topic "$topic" --if-exists
expect_ok "topics --delete --if-exists"

echo "cli-check: $checks checks passed against $address"
