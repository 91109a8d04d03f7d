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

# console-producer: a delivery error names the key as Kafka's ErrorLoggingCallback does ("null" when absent).
potok topics --bootstrap-server "$address" --create --topic "$topic-small" --config max.message.bytes=200
rc=0
head -c 600 /dev/zero | tr '\0' x | timeout 30 "$bin" console-producer --bootstrap-server "$address" \
    --topic "$topic-small" --producer-property linger.ms=0 >"$work/out" 2>"$work/err" || rc=$?
expect_ok "console-producer (a record the broker refuses)"
expect_err "console-producer (a record the broker refuses)" \
    "^Error when sending message to topic $topic-small with key: null, value: 600 bytes with error: "
# console-producer: Kafka's ">" prompt when stdin and stdout are a terminal (script gives it a pty).
rc=0
printf 'prompted\n\004' | timeout 30 script -qec "'$bin' console-producer --bootstrap-server '$address' --topic '$topic-small'" \
    /dev/null >"$work/out" 2>"$work/err" || rc=$?
expect_ok "console-producer on a terminal"
expect_out "console-producer on a terminal" "^>"

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

# consumer-groups against Kafka 4.1.1's own kafka-consumer-groups on the same groups: stdout and stderr must
# match, rows compared as sets (Kafka 4.1 prints them in hash order, potok sorted). Kafka's log lines carry a
# different prefix; potok exits 1 where Kafka prints an error and exits 0, so only successes are compared.
# shellcheck source=scripts/kafka.sh
source "$(dirname "$0")/kafka.sh"
compare_groups() {
    local krc=0
    kafka_java org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server "$address" "$@" \
        >"$work/kafka.out" 2>"$work/kafka.err" || krc=$?
    potok consumer-groups --bootstrap-server "$address" "$@"
    [[ "$krc" == 0 && "$rc" == 0 ]] || fail "consumer-groups $*: exit status $rc (Kafka's: $krc)"
    sed -i -E 's/^\[[^]]*\] WARN /WARN /' "$work/err"
    sed -i -E 's/^\[main\] WARN [a-zA-Z.]+ - /WARN /' "$work/kafka.err"
    if ! diff <(sort "$work/kafka.out") <(sort "$work/out") >"$work/diff" ||
        ! diff <(sort "$work/kafka.err") <(sort "$work/err") >>"$work/diff"; then
        echo "--- Kafka's stdout"; cat "$work/kafka.out"; echo "--- Kafka's stderr"; cat "$work/kafka.err"
        echo "--- diff (< Kafka, > potok)"; cat "$work/diff"
        fail "consumer-groups $* differs from Kafka's kafka-consumer-groups"
    fi
    checks=$((checks + 1))
}
compare_group="$group-cmp"
printf 'a\nb\nc\nd\ne\nf\n' | timeout 30 "$bin" console-producer --bootstrap-server "$address" --topic "$topic" >/dev/null
second_group="$group-cmp2"
potok console-consumer --bootstrap-server "$address" --topic "$topic" --group "$second_group" --from-beginning --max-messages 2
expect_ok "console-consumer --group $second_group"
# Two members in the group while it is described; they leave (and the group is empty) before the resets.
members=()
for _ in 1 2; do
    timeout 90 "$bin" console-consumer --bootstrap-server "$address" --topic "$topic" --group "$compare_group" \
        --from-beginning --timeout-ms 60000 >/dev/null 2>&1 &
    members+=($!)
done
for _ in $(seq 200); do
    potok consumer-groups --bootstrap-server "$address" --describe --group "$compare_group" --members
    [[ "$(grep -cE "^$compare_group .* 2 +$" "$work/out")" == 2 ]] && break
    sleep 0.2
done
[[ "$(grep -cE "^$compare_group .* 2 +$" "$work/out")" == 2 ]] || fail "the two consumers did not share $compare_group"
sleep 6 # past their first auto commit (auto.commit.interval.ms=5000): the offsets stay put while both tools look
compare_groups --describe --group "$compare_group"
compare_groups --describe --group "$compare_group" --offsets --verbose
compare_groups --describe --group "$compare_group" --members
compare_groups --describe --group "$compare_group" --members --verbose
compare_groups --describe --group "$compare_group" --state
compare_groups --describe --group "$compare_group" --state --verbose
compare_groups --describe --group "$compare_group" --group "$second_group"
for pid in "${members[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
for _ in $(seq 100); do
    potok consumer-groups --bootstrap-server "$address" --describe --group "$compare_group" --state
    grep -q " Empty " "$work/out" && break
    sleep 0.3
done
grep -q " Empty " "$work/out" || fail "$compare_group did not become empty after its members left"
compare_groups --describe --group "$compare_group"
compare_groups --describe --group "$compare_group" --members --verbose
compare_groups --list --state
compare_groups --list --type --state Empty
compare_groups --reset-offsets --group "$compare_group" --topic "$topic" --to-earliest
compare_groups --reset-offsets --group "$compare_group" --topic "$topic:0,1" --to-latest --dry-run
compare_groups --reset-offsets --group "$compare_group" --all-topics --shift-by -2 --export
compare_groups --reset-offsets --group "$compare_group" --all-topics --to-offset 1000000 --dry-run
compare_groups --reset-offsets --group "$compare_group" --all-topics --to-current --export --dry-run
compare_groups --reset-offsets --group "$compare_group" --all-topics --to-datetime 2020-01-01T00:00:00.000 --dry-run
compare_groups --reset-offsets --group "$compare_group" --all-topics --by-duration PT1H --export --dry-run
compare_groups --reset-offsets --group "$compare_group" --group "$second_group" --all-topics --to-latest --export --dry-run
# --export then --from-file: the plan round-trips and --execute applies it.
potok consumer-groups --bootstrap-server "$address" --reset-offsets --group "$compare_group" --all-topics \
    --to-earliest --export --dry-run
expect_ok "consumer-groups --reset-offsets --export"
grep -E "^\"?$topic\"?,[0-9]+,[0-9]+$" "$work/out" >"$work/plan.csv" || fail "--export printed no topic,partition,offset line"
compare_groups --reset-offsets --group "$compare_group" --from-file "$work/plan.csv" --dry-run
potok consumer-groups --bootstrap-server "$address" --reset-offsets --group "$compare_group" --from-file "$work/plan.csv" --execute
expect_ok "consumer-groups --reset-offsets --from-file --execute"
potok consumer-groups --bootstrap-server "$address" --describe --group "$compare_group"
lag=$(awk -v g="$compare_group" '$1 == g && $6 ~ /^[0-9]+$/ { sum += $6 } END { print sum + 0 }' "$work/out")
[[ "$lag" -gt 0 ]] || fail "consumer-groups: lag $lag after resetting $compare_group to the earliest offsets"
potok consumer-groups --bootstrap-server "$address" --list --state bogus
expect_fail "consumer-groups --list --state bogus"
expect_err "consumer-groups --list --state bogus" "Invalid state list 'bogus'. Valid states are: Stable, Reconciling, Dead, PreparingRebalance, CompletingRebalance, Empty, Assigning"
potok consumer-groups --bootstrap-server "$address" --delete --group "$compare_group" --group "$second_group"
expect_ok "consumer-groups --delete ($compare_group, $second_group)"

# perf tools
potok producer-perf-test --topic "$topic" --num-records 2000 --record-size 100 --throughput -1 \
    --producer-props "bootstrap.servers=$address" acks=1
expect_ok "producer-perf-test"
expect_out "producer-perf-test" "^2000 records sent, [0-9.]+ records/sec \([0-9.]+ MB/sec\), [0-9.]+ ms avg latency, [0-9.]+ ms max latency, [0-9]+ ms 50th, [0-9]+ ms 95th, [0-9]+ ms 99th, [0-9]+ ms 99\.9th\.$"
potok consumer-perf-test --bootstrap-server "$address" --topic "$topic" --messages 2011 --timeout 10000
expect_ok "consumer-perf-test"
expect_out "consumer-perf-test" "^start\.time, end\.time, data\.consumed\.in\.MB, MB\.sec, data\.consumed\.in\.nMsg, nMsg\.sec, rebalance\.time\.ms, fetch\.time\.ms, fetch\.MB\.sec, fetch\.nMsg\.sec$"
expect_out "consumer-perf-test" "^[0-9-]+ [0-9:]+, [0-9-]+ [0-9:]+, [0-9.]+, [0-9.]+, 2011, [0-9.]+, [0-9]+, [0-9]+, [0-9.]+, [0-9.]+$"

# topics --delete
potok topics --bootstrap-server "$address" --delete --topic "$topic"
expect_ok "topics --delete"
potok topics --bootstrap-server "$address" --delete --topic "$topic" --if-exists
expect_ok "topics --delete --if-exists"

# A bootstrap server nobody listens on (port 1): a warning on the first failed connection, then a non-zero exit
# naming the address once the tool's timeout passes.
nowhere=127.0.0.1:1
unreachable() {
    expect_fail "$1 (unreachable bootstrap)"
    expect_err "$1 (unreachable bootstrap)" "WARN \[[A-Za-z]+ clientId=[^]]+\] Connection to node -1 \($nowhere\) could not be established"
    expect_err "$1 (unreachable bootstrap)" "^Error.*no broker is reachable at bootstrap servers $nowhere"
    [[ "$(grep -c "could not be established" "$work/err")" == 1 ]] || fail "$1: the connection warning is repeated"
}
printf 'default.api.timeout.ms=2000\nrequest.timeout.ms=1000\n' >"$work/admin.properties"
potok topics --bootstrap-server "$nowhere" --list --command-config "$work/admin.properties"
unreachable "topics --list"
potok consumer-groups --bootstrap-server "$nowhere" --list --timeout 2000
unreachable "consumer-groups --list"
rc=0
printf 'x\n' | timeout 30 "$bin" console-producer --bootstrap-server "$nowhere" --topic t \
    --producer-property max.block.ms=2000 >"$work/out" 2>"$work/err" || rc=$?
unreachable "console-producer"
potok producer-perf-test --topic t --num-records 5 --record-size 10 --throughput -1 \
    --producer-props "bootstrap.servers=$nowhere" max.block.ms=2000
unreachable "producer-perf-test"
potok console-consumer --bootstrap-server "$nowhere" --topic t --timeout-ms 2000
unreachable "console-consumer --timeout-ms"
potok consumer-perf-test --bootstrap-server "$nowhere" --topic t --messages 1 --timeout 2000
unreachable "consumer-perf-test"

# Flags of older Kafka tools get a hint instead of clap's generic error.
potok topics --zookeeper 127.0.0.1:2181 --list
expect_fail "topics --zookeeper"
expect_err "topics --zookeeper" "^Error: --zookeeper is not a recognized option: use --bootstrap-server HOST:PORT instead"
potok console-producer --broker-list "$address" --topic t
expect_fail "console-producer --broker-list"
expect_err "console-producer --broker-list" "^Error: --broker-list is not a recognized option: use --bootstrap-server"

# potok broker: the shipped config/server.properties with Kafka's empty listener host (every interface).
config="$(cd "$(dirname "$0")/.." && pwd)/config/server.properties"
"$bin" broker "$config" --override listeners=PLAINTEXT://:0 --override "log.dirs=$work/broker-logs" \
    >"$work/broker.out" 2>&1 &
broker_pid=$!
port=""
for _ in $(seq 300); do
    port="$(grep -oE 'listening on 0\.0\.0\.0:[0-9]+' "$work/broker.out" | grep -oE '[0-9]+$' || true)"
    [[ -n "$port" ]] && break
    sleep 0.1
done
[[ -n "$port" ]] || { cat "$work/broker.out" >&2; fail "broker with config/server.properties and listeners=PLAINTEXT://:0"; }
potok topics --bootstrap-server "127.0.0.1:$port" --list
expect_ok "topics against a broker listening on every interface"
potok broker --override "listeners=PLAINTEXT://127.0.0.1:$port"
expect_fail "broker on a port in use"
expect_err "broker on a port in use" "Address already in use.*--override listeners=PLAINTEXT://127\.0\.0\.1:"
kill -TERM "$broker_pid"
wait "$broker_pid" || fail "the broker did not stop cleanly on SIGTERM"
potok broker --override controller.quorum.bootstrap.servers=127.0.0.1:9093,127.0.0.1:9094 --override listeners=PLAINTEXT://127.0.0.1:0
expect_fail "broker with Kafka's dynamic quorum"
expect_err "broker with Kafka's dynamic quorum" "controller\.quorum\.bootstrap\.servers.*controller\.quorum\.voters"
potok broker --override process.roles=broker --override listeners=PLAINTEXT://127.0.0.1:0
expect_fail "broker with process.roles=broker"
expect_err "broker with process.roles=broker" "controller\.quorum\.voters: a node with only the broker or the controller role \(process\.roles\) needs the quorum's voters"

echo "cli-check: $checks checks passed against $address"
