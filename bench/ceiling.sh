#!/usr/bin/env bash
# bench/ceiling.sh — the broker's own ceiling (issue 23): the broker pinned to one core, the load generators to the
# other, the fastest clients available, one client and several at once, against potok and then Kafka 4.1.1.
#
#   bench/ceiling.sh     # 3-4 minutes on 2 cores after the build; writes bench/results/ceiling.{md,csv,png}, logs/ceiling/
#
# For each broker (never both at once), on a fresh log dir: the broker runs under `taskset -c 0` (BENCH_BROKER_CPU),
# every client under `taskset -c 1` (BENCH_CLIENT_CPU). Topics have 6 partitions, acks=1, linger.ms=5,
# batch.size=65536, no compression; the broker's default flush policy (no fsync).
#   produce  potok producer-perf-test (potok's Rust producer), 1 KiB and 100 B records, 1 client and CLIENTS at
#            once; kcat -P (librdkafka) 1 KiB records from a file, 1 client and CLIENTS at once; kcat -P -K: of
#            keyed 1 KiB records into a compacted topic (cleanup.policy=compact), 1 client
#   consume  the 1 KiB topic (CEIL_N records): potok consumer-perf-test, 1 and CLIENTS at once (each its own
#            group, each reading everything); kcat -C -o 0 -c N (librdkafka, no group), 1 and CLIENTS at once
# Each run: records/s and MB/s from the wall time of all its clients together, broker CPU (utime+stime from /proc)
# in seconds, per GB and as a share of its one core, and the clients' CPU (GNU time). Next to dd's disk write and
# memcpy bandwidth. bench/curves_report.py writes the table and chart.
#   CEIL_N [1000000] 1 KiB records per run   CEIL_N100 [5000000] 100 B records per run   CEIL_CLIENTS [4]
# and the knobs of bench/lib.sh (ports 39092, 39192/39193).
NAME=ceiling
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
N="${CEIL_N:-1000000}"
N100="${CEIL_N100:-5000000}"
C="${CEIL_CLIENTS:-4}"
PROPS=(acks=1 linger.ms=5 batch.size=65536)

bench_setup
describe_machine "$OUT/ceiling-machine.txt"

# Lines for kcat -P: each line one record (the newline is the delimiter, not part of the value).
step "writing kcat's input: $N lines of 1024 bytes and $((N / C)) lines"
head -c 1024 /dev/zero | tr '\0' x >"$WORK/line"
echo >>"$WORK/line"
yes "$(cat "$WORK/line")" | head -n "$N" >"$WORK/kcat-all.txt"
head -n "$((N / C))" "$WORK/kcat-all.txt" >"$WORK/kcat-part.txt"
# KEY:VALUE lines for kcat -P -K: into the compacted topic (which refuses records without a key): 100,000 keys.
awk -v n="$N" -v v="$(head -c 1024 /dev/zero | tr '\0' x)" 'BEGIN{for (i = 0; i < n; i++) printf "k%06d:%s\n", i % 100000, v}' \
    >"$WORK/kcat-keyed.txt"

high_watermarks() { # TOPIC: the sum of the topic's end offsets (what the broker holds)
    timeout 60 "$PY" - "$BS" "$1" <<'PYEOF' 2>>"$LOGS/$BROKER-hw.err"
import sys
from confluent_kafka import Consumer, TopicPartition
c = Consumer({"bootstrap.servers": sys.argv[1], "group.id": "hw"})
md = c.list_topics(sys.argv[2], timeout=30).topics[sys.argv[2]]
print(sum(c.get_watermark_offsets(TopicPartition(sys.argv[2], p), timeout=30)[1] for p in md.partitions))
c.close()
PYEOF
}

# begin: the counters a run starts from (broker CPU, busy ticks of both cores, time)
begin() { q0=$(runq_wait_ns) c0=$(cpu_ticks) b0=$(core_ticks "$BROKER_CPU") k0=$(core_ticks "$CLIENT_CPU") t0=$(now); }
# end: right after the clients exit (before any check), the same counters again: wall, cpu, b1, k1
end() { wall=$(elapsed "$t0") cpu=$(cpu_since "$c0") b1=$(core_ticks "$BROKER_CPU") k1=$(core_ticks "$CLIENT_CPU") q1=$(runq_wait_ns); }
# finish LABEL KIND CLIENTS RECORDS BYTES RC: records the figures of one run (all its clients), from begin's and end's counters.
finish() {
    local label=$1 kind=$2 n=$3 recs=$4 bytes=$5 rc=$6 ccpu bo ko
    ccpu=$(client_cpu "$label")
    # what other processes took from each pinned core, as a share of it
    bo=$(awk -v a="$b0" -v b="$b1" -v c="$cpu" -v w="$wall" -v t="$CLK_TCK" 'BEGIN{v=((b-a)/t-c)/w; printf "%.2f", v < 0 ? 0 : v}')
    ko=$(awk -v a="$k0" -v b="$k1" -v c="$ccpu" -v w="$wall" -v t="$CLK_TCK" 'BEGIN{v=((b-a)/t-c)/w; printf "%.2f", v < 0 ? 0 : v}')
    local series="$kind"
    if [[ $rc != 0 ]]; then
        rec "$BROKER" "$series" "$label" failed 1 -
        step "$BROKER $label FAILED (rc $rc; see $LOGS/$BROKER-$label-*)"
        return 1
    fi
    rec "$BROKER" "$series" "$label" clients "$n" -
    rec "$BROKER" "$series" "$label" records "$recs" rec
    rec "$BROKER" "$series" "$label" bytes "$bytes" B
    rec "$BROKER" "$series" "$label" seconds "$wall" s
    rec "$BROKER" "$series" "$label" records_per_s "$(awk -v r="$recs" -v w="$wall" 'BEGIN{printf "%.0f", r/w}')" rec/s
    rec "$BROKER" "$series" "$label" MiB_per_s "$(awk -v b="$bytes" -v w="$wall" 'BEGIN{printf "%.1f", b/w/1048576}')" MiB/s
    rec "$BROKER" "$series" "$label" broker_cpu "$cpu" s
    rec "$BROKER" "$series" "$label" broker_cpu_per_GB "$(per_gb "$cpu" "$bytes")" s/GB
    rec "$BROKER" "$series" "$label" broker_core_busy "$(awk -v c="$cpu" -v w="$wall" 'BEGIN{printf "%.2f", c/w}')" share
    rec "$BROKER" "$series" "$label" client_cpu "$ccpu" s
    rec "$BROKER" "$series" "$label" client_core_busy "$(awk -v c="$ccpu" -v w="$wall" 'BEGIN{printf "%.2f", c/w}')" share
    rec "$BROKER" "$series" "$label" broker_core_others "$bo" share
    local qw
    qw=$(awk -v a="$q0" -v b="$q1" -v w="$wall" 'BEGIN{printf "%.2f", (b-a)/1e9/w}')
    rec "$BROKER" "$series" "$label" broker_runq_wait "$qw" share
    rec "$BROKER" "$series" "$label" client_core_others "$ko" share
    step "$BROKER $label: $recs records, $bytes B in $wall s = $(awk -v b="$bytes" -v w="$wall" 'BEGIN{printf "%.1f", b/w/1048576}') MiB/s; broker CPU $cpu s ($(per_gb "$cpu" "$bytes") s/GB, core busy $(awk -v c="$cpu" -v w="$wall" 'BEGIN{printf "%.2f", c/w}')), clients CPU $ccpu s; others took $bo of the broker core, $ko of the client core; broker threads waited for a CPU $qw × the wall time"
}

produce_perf() { # LABEL TOPIC CLIENTS RECORDS SIZE
    local label=$1 topic=$2 n=$3 recs=$4 size=$5 t0 c0 b0 k0 q0 wall cpu b1 k1 q1 i rc=0 pids=() hw
    "$HERE/hot-pages.sh" "$WORK" $((recs * size))
    begin
    for ((i = 0; i < n; i++)); do
        timed "$label" "$i" 600 "$POTOK" producer-perf-test --topic "$topic" --num-records "$((recs / n))" \
            --record-size "$size" --throughput -1 --producer-props "bootstrap.servers=$BS" "${PROPS[@]}" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=$?; done
    end
    hw=$(high_watermarks "$topic")
    [[ $hw == $(((recs / n) * n)) ]] || { step "$BROKER $label: the topic holds ${hw:-?} records, not $(((recs / n) * n))"; ((rc)) || rc=9; }
    finish "$label" produce "$n" "$(((recs / n) * n))" "$(((recs / n) * n * size))" "$rc"
}

produce_kcat() { # LABEL TOPIC CLIENTS [-K:] (1 KiB records, N in all; with -K:, keyed, one client)
    local label=$1 topic=$2 n=$3 keyed=${4:-} t0 c0 b0 k0 q0 wall cpu b1 k1 q1 i rc=0 pids=() hw file="$WORK/kcat-all.txt" per=$N
    ((n > 1)) && { file="$WORK/kcat-part.txt"; per=$((N / C)); }
    [[ -n $keyed ]] && file="$WORK/kcat-keyed.txt"
    "$HERE/hot-pages.sh" "$WORK" $((per * n * 1024))
    begin
    for ((i = 0; i < n; i++)); do
        timed "$label" "$i" 600 kcat -P -b "$BS" -t "$topic" -X acks=1 -X linger.ms=5 -X batch.size=65536 ${keyed:+"$keyed"} -l "$file" &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=$?; done
    end
    hw=$(high_watermarks "$topic")
    [[ $hw == $((per * n)) ]] || { step "$BROKER $label: the topic holds ${hw:-?} records, not $((per * n))"; ((rc)) || rc=9; }
    finish "$label" produce "$n" "$((per * n))" "$((per * n * 1024))" "$rc"
}

consume_perf() { # LABEL TOPIC CLIENTS: each its own group, each reads all N records
    local label=$1 topic=$2 n=$3 t0 c0 b0 k0 q0 wall cpu b1 k1 q1 i rc=0 pids=() got
    begin
    for ((i = 0; i < n; i++)); do
        timed "$label" "$i" 600 "$POTOK" consumer-perf-test --bootstrap-server "$BS" --topic "$topic" \
            --messages "$N" --group "ceil-$label-$i" --timeout 30000 &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=$?; done
    end
    # the CSV row's 5th column: records consumed
    got=$(cat "$LOGS/$BROKER-$label-"*.txt | awk -F', *' '/^[0-9][0-9][0-9][0-9]-/{s+=$5} END{print s+0}')
    [[ $got == $((N * n)) ]] || { step "$BROKER $label: consumed $got records, not $((N * n))"; ((rc)) || rc=9; }
    finish "$label" consume "$n" "$((N * n))" "$((N * n * 1024))" "$rc"
}

consume_kcat() { # LABEL TOPIC CLIENTS: kcat -C from offset 0 to the N-th record (-c; -e as a backstop), no group
    # (why -o 0 -c rather than -o beginning -e alone: see consume() in run.sh)
    local label=$1 topic=$2 n=$3 t0 c0 b0 k0 q0 wall cpu b1 k1 q1 i rc=0 pids=() got
    begin
    for ((i = 0; i < n; i++)); do
        timed "$label" "$i" 600 kcat -C -b "$BS" -t "$topic" -o 0 -c "$N" -e -q -f '%o\n' &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || rc=$?; done
    end
    got=$(cat "$LOGS/$BROKER-$label-"*.txt | wc -l)
    shrink "$LOGS/$BROKER-$label-"*.txt
    [[ $got == $((N * n)) ]] || { step "$BROKER $label: consumed $got records, not $((N * n))"; ((rc)) || rc=9; }
    finish "$label" consume "$n" "$((N * n))" "$((N * n * 1024))" "$rc"
}

run_broker() {
    start_broker "$1"
    create_topics warm:6 p1k-1:6 "p1k-$C:6" p100-1:6 "p100-$C:6" k1k-1:6 "k1k-$C:6" kc1k-1:6:cleanup.policy=compact ||
        die "$BROKER: creating topics (see $LOGS/$BROKER-topics.log)"
    # Warm-up (the JVM's JIT, potok's allocator and page cache): 200 MB through the Rust producer, not measured.
    timed warmup 0 300 "$POTOK" producer-perf-test --topic warm --num-records 200000 --record-size 1024 \
        --throughput -1 --producer-props "bootstrap.servers=$BS" "${PROPS[@]}"
    rec "$BROKER" memory - rss_idle_after_warmup "$(rss_kib VmRSS)" KiB
    local c0
    c0=$(cpu_ticks)
    produce_perf "rust-producer-1KiB-x1" p1k-1 1 "$N" 1024
    produce_perf "rust-producer-1KiB-x$C" "p1k-$C" "$C" "$N" 1024
    produce_perf "rust-producer-100B-x1" p100-1 1 "$N100" 100
    produce_perf "rust-producer-100B-x$C" "p100-$C" "$C" "$N100" 100
    produce_kcat "kcat-producer-1KiB-x1" k1k-1 1
    produce_kcat "kcat-producer-1KiB-x$C" "k1k-$C" "$C"
    produce_kcat "kcat-producer-1KiB-keyed-compacted-x1" kc1k-1 1 -K:
    consume_perf "rust-consumer-1KiB-x1" p1k-1 1
    consume_perf "rust-consumer-1KiB-x$C" p1k-1 "$C"
    consume_kcat "kcat-consumer-1KiB-x1" p1k-1 1
    consume_kcat "kcat-consumer-1KiB-x$C" p1k-1 "$C"
    rec "$BROKER" total - broker_cpu "$(cpu_since "$c0")" s
    rec "$BROKER" memory - rss_peak "$(rss_kib VmHWM)" KiB
    stop_broker
}

for b in $BROKERS; do
    run_broker "$b"
    sleep 3
done
{
    echo "load_after=$(load_avg)"
    echo "ceil_n=$N"
    echo "ceil_n100=$N100"
    echo "clients=$C"
    echo "props=${PROPS[*]}"
    echo "run_seconds=$(($(date +%s) - T_START))"
} >>"$OUT/ceiling-machine.txt"
step "load average after: $(load_avg)"
timeout 300 "$PY" "$HERE/curves_report.py" "$OUT" ceiling || die "curves_report.py ceiling"
step "done in $(($(date +%s) - T_START)) s: $OUT/ceiling.md"
