#!/usr/bin/env bash
# scripts/dump-log-check.sh BIN — `BIN dump-log` (potok's kafka-dump-log) against Apache Kafka 4.1.1's own
# DumpLogSegments on the same files: stdout and stderr must be byte-identical for every file kind (.log, .index,
# .timeindex, .txnindex, .snapshot) and flag (--deep-iteration, --print-data-log, --skip-record-metadata,
# --offsets-decoder, --transaction-log-decoder, --verify-index-only, --max-bytes).
#
# The files come from a potok broker it starts (tests/cli/dump_log_workload.py writes idempotent, compressed and
# transactional batches, aborts a transaction, commits and deletes a group, lets a transactional id expire), plus
# damaged copies (a torn tail, a flipped byte, index entries pointing elsewhere, a bad snapshot CRC, a preallocated
# index). When POTOK_KAFKA_BOOTSTRAP and POTOK_KAFKA_LOG_DIR name a running Apache Kafka, the same workload runs
# there and Kafka's own files are compared too.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$1
venv="$(scripts/install-test-deps.sh)"
# shellcheck source=scripts/kafka.sh
source scripts/kafka.sh
kafka_install >/dev/null
work="$(mktemp -d)"
pid=""
cleanup() {
    [[ -n "$pid" ]] && kill "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
checks=0

fail() {
    echo "dump-log-check FAILED: $*" >&2
    exit 1
}

# compare ARGS...: both tools on the same arguments; their stdout and stderr must match.
compare() {
    local rc=0
    kafka_java kafka.tools.DumpLogSegments "$@" >"$work/kafka.out" 2>"$work/kafka.err" || rc=$?
    ((rc == 0)) || { cat "$work/kafka.err" >&2; fail "Kafka's DumpLogSegments failed on: $*"; }
    timeout 60 "$bin" dump-log "$@" >"$work/potok.out" 2>"$work/potok.err" || fail "potok dump-log failed on: $*"
    if ! diff -u "$work/kafka.out" "$work/potok.out" >"$work/diff" || ! diff -u "$work/kafka.err" "$work/potok.err" >>"$work/diff"; then
        head -n 40 "$work/diff" >&2
        fail "potok dump-log differs from Kafka's on: $*"
    fi
    checks=$((checks + 1))
}

# A potok broker that expires transactional ids within seconds, so the workload's id leaves a tombstone.
data="$work/potok"
mkdir -p "$data"
"$bin" broker --override listeners=PLAINTEXT://127.0.0.1:0 --override "log.dirs=$data/logs" \
    --override transactional.id.expiration.ms=1000 \
    --override transaction.remove.expired.transaction.cleanup.interval.ms=200 >"$data/broker.out" 2>&1 &
pid=$!
address=""
for _ in $(seq 300); do
    address="$(grep -o '127\.0\.0\.1:[0-9]*' "$data/broker.out" | head -n 1 || true)"
    [[ -n "$address" ]] && break
    sleep 0.1
done
[[ -n "$address" ]] || { cat "$data/broker.out" >&2; fail "the potok broker did not start"; }
timeout 30 "$bin" topics --bootstrap-server "$address" --create --topic dl --partitions 1 \
    --config segment.bytes=8000 --config index.interval.bytes=500 >/dev/null
timeout 30 "$bin" topics --bootstrap-server "$address" --create --topic dl-append --partitions 1 \
    --config message.timestamp.type=LogAppendTime >/dev/null
timeout 120 "$venv/bin/python" tests/cli/dump_log_workload.py "$address" dl
printf 'a\nb\nc\n' | timeout 30 "$bin" console-producer --bootstrap-server "$address" --topic dl-append >/dev/null
sleep 2 # the transactional id expires (1 s) and its tombstone is written
kill -TERM "$pid"
timeout 30 tail --pid="$pid" -f /dev/null || fail "the potok broker did not stop"
pid=""
logs="$data/logs"

# Every file of a partition directory, comma-separated, segment by segment.
partition_files() { find "$1" -maxdepth 1 -type f \( -name '*.log' -o -name '*.index' -o -name '*.timeindex' -o -name '*.txnindex' -o -name '*.snapshot' \) | sort | paste -sd,; }
# The partition of an internal topic whose log mentions NAME.
internal_partition() { grep -l -- "$2" "$1"/"$3"-*/*.log | head -n 1; }

files="$(partition_files "$logs/dl-0")"
[[ "$files" == *.txnindex* && "$files" == *.snapshot* ]] || fail "the workload left no .txnindex or .snapshot: $files"
compare --files "$files"
compare --deep-iteration --files "$files"
compare --print-data-log --files "$files"
compare --print-data-log --skip-record-metadata --files "$files"
compare --verify-index-only --files "$files"
compare --max-bytes 3000 --files "$logs/dl-0/00000000000000000000.log"
compare --print-data-log --files "$(partition_files "$logs/dl-append-0")"
offsets_log="$(internal_partition "$logs" dl-group __consumer_offsets)"
compare --offsets-decoder --files "$offsets_log"
txn_log="$(internal_partition "$logs" dl-txn __transaction_state)"
grep -q DELETE <(kafka_java kafka.tools.DumpLogSegments --transaction-log-decoder --files "$txn_log") \
    || fail "no __transaction_state tombstone to compare"
compare --transaction-log-decoder --files "$txn_log"

# Damaged copies, named as segments so both tools take their base offsets from the names.
damaged="$work/damaged"
mkdir -p "$damaged"
cp "$logs"/dl-0/00000000000000000000.* "$damaged/"
log="$damaged/00000000000000000000.log"
head -c 37 "$log" >"$work/torn" && cat "$work/torn" >>"$log"                  # a torn tail: half a batch
at="$(grep -abo 'value-3value' "$log" | head -n 1 | cut -d: -f1)"
printf 'X' | dd of="$log" bs=1 seek="$at" conv=notrunc status=none            # a changed value: a CRC mismatch
printf '\0\0\0\7\0\0\0\0' | dd of="$damaged/00000000000000000000.index" bs=1 seek=0 conv=notrunc status=none
printf '\0\0\0\0\0\0\0\1' | dd of="$damaged/00000000000000000000.timeindex" bs=1 seek=0 conv=notrunc status=none
truncate -s 4096 "$damaged/00000000000000000000.timeindex"                   # preallocated: zero entries end it
compare --deep-iteration --files "$log,$damaged/00000000000000000000.index,$damaged/00000000000000000000.timeindex"
grep -q "Found 37 invalid bytes" "$work/kafka.out" && grep -q "isvalid: false" "$work/kafka.out" \
    && grep -q "Mismatches in" "$work/kafka.err" && grep -q "Found timestamp mismatch" "$work/kafka.err" \
    || fail "the damaged copies did not show the damage in Kafka's dump"
compare --print-data-log --files "$log"
snapshot="$(find "$logs/dl-0" -name '*.snapshot' | head -n 1)"
cp "$snapshot" "$damaged/"
snapshot="$damaged/$(basename "$snapshot")"
printf '\1' | dd of="$snapshot" bs=1 seek=20 conv=notrunc status=none
compare --files "$snapshot"
grep -q "CRC is no longer valid" "$work/kafka.err" || fail "the damaged snapshot passed Kafka's check"
: >"$damaged/00000000000000000500.index"
: >"$damaged/00000000000000000500.log"
compare --files "$damaged/00000000000000000500.index"

# Apache Kafka's own files, while it runs: its active segment's indexes are preallocated.
if [[ -n "${POTOK_KAFKA_BOOTSTRAP:-}" && -n "${POTOK_KAFKA_LOG_DIR:-}" ]]; then
    topic="dl-kafka-$$-$(date +%s)"
    timeout 120 "$venv/bin/python" tests/cli/dump_log_workload.py "$POTOK_KAFKA_BOOTSTRAP" "$topic"
    files="$(partition_files "$POTOK_KAFKA_LOG_DIR/$topic-0")"
    compare --print-data-log --files "$files"
    compare --verify-index-only --files "$files"
    compare --offsets-decoder --files "$(internal_partition "$POTOK_KAFKA_LOG_DIR" "$topic-group" __consumer_offsets)"
    compare --transaction-log-decoder --files "$(internal_partition "$POTOK_KAFKA_LOG_DIR" "$topic-txn" __transaction_state)"
fi

# What Kafka only answers with a stack trace: potok names the problem and fails.
cp "$logs"/dl-0/*.txnindex "$damaged/00000000000000000151.txnindex"
printf '\0\7' | dd of="$damaged/00000000000000000151.txnindex" bs=1 seek=0 conv=notrunc status=none
if "$bin" dump-log --files "$damaged/00000000000000000151.txnindex" >/dev/null 2>"$work/err"; then
    fail "a .txnindex entry of version 7 was dumped without an error"
fi
grep -q "Unexpected aborted transaction version 7" "$work/err" || fail "the .txnindex error does not name the version"
checks=$((checks + 1))

echo "dump-log-check: $checks comparisons with Kafka's DumpLogSegments passed"
