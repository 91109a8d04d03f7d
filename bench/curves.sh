#!/usr/bin/env bash
# bench/curves.sh — cost curves (issue 23): how throughput, broker CPU per GB and memory grow with the work, for
# potok and then Kafka 4.1.1 (never both at once), broker pinned to core 0 and clients to core 1 as in
# bench/ceiling.sh.
#
#   bench/curves.sh      # ~30 minutes on 2 cores after the build (half of it at 10,000 partitions); writes bench/results/curves.{md,csv}, curve-*.png
#
# Four curves:
#   size        record size 10 B, 100 B, 1 KiB, 10 KiB, 100 KiB, 1 MiB: potok producer-perf-test (1 client, acks=1,
#               linger.ms=5, batch.size=65536) writes CURVES_BYTES of values (at most CURVES_MAX_RECORDS records)
#               to a 6-partition topic, then potok consumer-perf-test reads it back. Throughput and broker CPU/GB.
#   partitions  1, 10, 100, 1,000, 10,000 partitions, a fresh broker for each: one topic of P partitions is
#               created (timed until answered and until the broker has made every partition's log); then idle
#               RSS and idle broker CPU over 10 s; then the same unmeasured warm-up as the
#               size curve's (another topic); then kcat -P writes CURVES_PART_RECORDS
#               1 KiB records spread at random over all P partitions (librdkafka's partitioner with stickiness
#               off: sticky.partitioning.linger.ms=0), then kcat -C -o 0 -c N reads them all back.
#   conns       1, 10, 100, 1,000 connections: bench/conns.py opens them all (one ApiVersions each), the
#               broker's RSS and CPU with them idle, then all of them produce at once (Produce v7, acks=1,
#               16 × 1 KiB records per request, 5 in flight each) CURVES_CONN_BYTES in all. Throughput, CPU/GB.
#   (idle RSS vs partitions comes from the partitions curve)
# Knobs: CURVES_BYTES [536870912] CURVES_MAX_RECORDS [5000000] CURVES_SIZES ["10 100 1024 10240 102400 1048576"]
#   CURVES_PARTITIONS ["1 10 100 1000 10000"] CURVES_PART_RECORDS [200000] CURVES_CONNS ["1 10 100 1000"]
#   CURVES_CONN_BYTES [268435456] CURVES_WHICH ["size conns partitions"], and bench/lib.sh's.
#   CURVES_APPEND [0]: 1 keeps curves.csv and adds to it (re-running some points), and appends to the machine file
NAME=curves
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BYTES="${CURVES_BYTES:-536870912}"
MAXREC="${CURVES_MAX_RECORDS:-5000000}"
SIZES="${CURVES_SIZES:-10 100 1024 10240 102400 1048576}"
PARTS="${CURVES_PARTITIONS:-1 10 100 1000 10000}"
PART_RECORDS="${CURVES_PART_RECORDS:-200000}"
CONNS="${CURVES_CONNS:-1 10 100 1000}"
CONN_BYTES="${CURVES_CONN_BYTES:-268435456}"
WHICH="${CURVES_WHICH:-size conns partitions}"
MAXMSG=4194304 # topics of the size curve take 1 MiB records with their batch overhead
PROPS=(acks=1 linger.ms=5 batch.size=65536 max.request.size=$MAXMSG)

bench_setup "${CURVES_APPEND:-0}"
MFILE="$OUT/curves-machine.txt"
if [[ ${CURVES_APPEND:-0} == 1 ]]; then # curves-machine-rerun1.txt, -rerun2.txt, ...
    i=1
    while [[ -e $OUT/curves-machine-rerun$i.txt ]]; do i=$((i + 1)); done
    MFILE="$OUT/curves-machine-rerun$i.txt"
fi
describe_machine "$MFILE"
forget() { sed -i "/^$BROKER,$1,$2,/d" "$CSV"; } # SERIES X: a point's earlier rows (CURVES_APPEND re-runs)
wants() { [[ " $WHICH " == *" $1 "* ]]; }

# one figure set of a run: rec_run SERIES X KIND RECORDS BYTES SECONDS CPU
rec_run() {
    local s=$1 x=$2 k=$3 r=$4 b=$5 w=$6 c=$7
    rec "$BROKER" "$s" "$x" "${k}_records_per_s" "$(awk -v r="$r" -v w="$w" 'BEGIN{printf "%.0f", r/w}')" rec/s
    rec "$BROKER" "$s" "$x" "${k}_MiB_per_s" "$(awk -v b="$b" -v w="$w" 'BEGIN{printf "%.1f", b/w/1048576}')" MiB/s
    rec "$BROKER" "$s" "$x" "${k}_broker_cpu" "$c" s
    rec "$BROKER" "$s" "$x" "${k}_broker_cpu_per_GB" "$(per_gb "$c" "$b")" s/GB
    rec "$BROKER" "$s" "$x" "${k}_bytes" "$b" B
    step "$BROKER $s=$x $k: $r records, $b B in $w s = $(awk -v b="$b" -v w="$w" 'BEGIN{printf "%.1f", b/w/1048576}') MiB/s; broker CPU $c s = $(per_gb "$c" "$b") s/GB"
}

warm_up() { # the JVM's JIT, potok's allocator: 200 MB through the Rust producer, not measured
    create_topics warm:6
    timed warmup 0 300 "$POTOK" producer-perf-test --topic warm --num-records 200000 --record-size 1024 \
        --throughput -1 --producer-props "bootstrap.servers=$BS" "${PROPS[@]}"
}

size_curve() {
    local s topics=() n t0 c0 w c got
    for s in $SIZES; do topics+=("size-$s:6:max.message.bytes=$MAXMSG"); done
    create_topics "${topics[@]}" || die "$BROKER: creating the size topics (see $LOGS/$BROKER-topics.log)"
    for s in $SIZES; do
        forget size "$s"
        n=$((BYTES / s))
        ((n > MAXREC)) && n=$MAXREC
        "$HERE/hot-pages.sh" "$WORK" $((n * s))
        c0=$(cpu_ticks) t0=$(now)
        if timed "size-$s-produce" 0 900 "$POTOK" producer-perf-test --topic "size-$s" --num-records "$n" \
            --record-size "$s" --throughput -1 --producer-props "bootstrap.servers=$BS" "${PROPS[@]}"; then
            w=$(elapsed "$t0") c=$(cpu_since "$c0")
            rec_run size "$s" produce "$n" "$((n * s))" "$w" "$c"
        else
            rec "$BROKER" size "$s" produce_failed 1 -
            step "$BROKER size $s produce FAILED (see $LOGS/$BROKER-size-$s-produce-0.*)"
            continue
        fi
        c0=$(cpu_ticks) t0=$(now)
        timed "size-$s-consume" 0 900 "$POTOK" consumer-perf-test --bootstrap-server "$BS" --topic "size-$s" \
            --messages "$n" --group "size-$s" --timeout 30000 --fetch-size $MAXMSG
        local rc=$?
        w=$(elapsed "$t0") c=$(cpu_since "$c0")
        got=$(awk -F', *' '/^[0-9][0-9][0-9][0-9]-/{print $5}' "$LOGS/$BROKER-size-$s-consume-0.txt")
        if [[ $rc == 0 && $got == "$n" ]]; then
            rec_run size "$s" consume "$n" "$((n * s))" "$w" "$c"
        else
            rec "$BROKER" size "$s" consume_failed 1 -
            step "$BROKER size $s consume FAILED (rc $rc, $got of $n records)"
        fi
    done
}

conns_curve() {
    create_topics conns:6 || die "$BROKER: creating conns (see $LOGS/$BROKER-topics.log)"
    local n f kv
    for n in $CONNS; do
        forget conns "$n"
        f="$LOGS/$BROKER-conns-$n.txt"
        step "$BROKER: $n connections"
        "$HERE/hot-pages.sh" "$WORK" "$CONN_BYTES"
        if timeout 900 taskset -c "$CLIENT_CPU" "$PY" "$HERE/conns.py" "$BS" conns 6 "$n" "$CONN_BYTES" 1024 16 "$PID" \
            >"$f" 2>"$LOGS/$BROKER-conns-$n.err"; then
            for kv in $(cat "$f"); do
                case ${kv%%=*} in
                connect_s | produce_s | broker_cpu_s | cpu_idle_3s) rec "$BROKER" conns "$n" "${kv%%=*}" "${kv#*=}" s ;;
                *_kib) rec "$BROKER" conns "$n" "${kv%%=*}" "${kv#*=}" KiB ;;
                records_per_s) rec "$BROKER" conns "$n" produce_records_per_s "${kv#*=}" rec/s ;;
                MB_per_s) rec "$BROKER" conns "$n" produce_MiB_per_s "${kv#*=}" MiB/s ;;
                broker_cpu_per_GB) rec "$BROKER" conns "$n" produce_broker_cpu_per_GB "${kv#*=}" s/GB ;;
                bytes) rec "$BROKER" conns "$n" produce_bytes "${kv#*=}" B ;;
                esac
            done
            step "$BROKER conns=$n: $(tr '\n' ' ' <"$f")"
        else
            rec "$BROKER" conns "$n" failed 1 -
            step "$BROKER conns=$n FAILED (see $f, $LOGS/$BROKER-conns-$n.err): $(tr '\n' ' ' <"$f")"
        fi
    done
}

# Kafka's controller (and potok) refuse one operation that makes more than max.records.per.user.op (10,000)
# metadata records (POLICY_VIOLATION), and a topic of 10,000 partitions is 10,001: the topic is created with at most
# 5,000 partitions and grown with CreatePartitions, 5,000 at a time.
create_parts() { # P
    timeout 1800 "$PY" - "$BS" "$1" <<'PYEOF' >>"$LOGS/$BROKER-topics.log" 2>&1
import sys
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions
# socket.timeout.ms (60 s by default; 300 s at most) would cut a creation of thousands of partitions short
a = AdminClient({"bootstrap.servers": sys.argv[1], "socket.timeout.ms": 300000})
total, step = int(sys.argv[2]), 5000
n = min(total, step)
a.create_topics([NewTopic("parts", n, 1)], operation_timeout=600, request_timeout=620)["parts"].result(700)
print("created parts with", n)
while n < total:
    n = min(total, n + step)
    a.create_partitions([NewPartitions("parts", n)], operation_timeout=600, request_timeout=620)["parts"].result(700)
    print("grew parts to", n)
PYEOF
}

# logs_made: how many partitions of topic "parts" have their first segment file in the broker's log dir.
logs_made() { find "$DATA/logs" -mindepth 2 -maxdepth 2 -path '*/parts-*' -name 00000000000000000000.log 2>/dev/null | wc -l; }

# A topic is ready when the broker has made every partition's log, which is not when the admin call is answered:
# Kafka's controller answers CreateTopics once its records are committed, and the broker then makes the logs on
# its own (seconds later for thousands of partitions); potok makes them before it answers. Both are recorded:
# create_s when answered, ready_s when the last log file exists, and the broker's CPU from the request to ready.
partitions_point() { # P: a fresh broker with one topic of P partitions
    local p=$1 t0 c0 w c got hw i made answered ready create_cpu idle_cpu rss
    start_broker "$BROKER"
    forget partitions "$p"
    rec "$BROKER" partitions "$p" rss_fresh "$(rss_kib VmRSS)" KiB
    c0=$(cpu_ticks) t0=$(now)
    create_parts "$p" || { rec "$BROKER" partitions "$p" failed 1 -; step "$BROKER: creating $p partitions FAILED"; stop_broker; return; }
    answered=$(elapsed "$t0")
    rec "$BROKER" partitions "$p" create_s "$answered" s
    for ((i = 0; i < 12000; i++)); do
        made=$(logs_made)
        ((made >= p)) && break
        sleep 0.05
    done
    if ((made < p)); then
        rec "$BROKER" partitions "$p" failed 1 -
        step "$BROKER: only $made of $p partition logs exist 600 s after the topic was created"
        stop_broker keep
        return
    fi
    ready=$(elapsed "$t0") create_cpu=$(cpu_since "$c0")
    rec "$BROKER" partitions "$p" ready_s "$ready" s
    rec "$BROKER" partitions "$p" create_cpu "$create_cpu" s
    sleep 5
    c0=$(cpu_ticks)
    sleep 10
    idle_cpu=$(cpu_since "$c0") rss=$(rss_kib VmRSS)
    rec "$BROKER" partitions "$p" idle_cpu_10s "$idle_cpu" s
    rec "$BROKER" partitions "$p" rss_idle "$rss" KiB
    step "$BROKER $p partitions: answered in $answered s, every log made in $ready s (broker CPU $create_cpu s); idle RSS $rss KiB, idle CPU over 10 s $idle_cpu s"
    warm_up # after the idle figures: so that Kafka's produce below is not its JIT's first work
    c0=$(cpu_ticks) t0=$(now)
    if timed "parts-$p-produce" 0 600 kcat -P -b "$BS" -t parts -X acks=1 -X linger.ms=5 -X batch.size=65536 \
        -X sticky.partitioning.linger.ms=0 -l "$WORK/lines.txt"; then
        w=$(elapsed "$t0") c=$(cpu_since "$c0")
        rec_run partitions "$p" produce "$PART_RECORDS" "$((PART_RECORDS * 1024))" "$w" "$c"
    else
        rec "$BROKER" partitions "$p" produce_failed 1 -
    fi
    c0=$(cpu_ticks) t0=$(now)
    timed "parts-$p-consume" 0 600 kcat -C -b "$BS" -t parts -o 0 -c "$PART_RECORDS" -e -q -f '%o\n' # as run.sh's consume()
    w=$(elapsed "$t0") c=$(cpu_since "$c0")
    got=$(wc -l <"$LOGS/$BROKER-parts-$p-consume-0.txt")
    shrink "$LOGS/$BROKER-parts-$p-consume-0.txt"
    if [[ $got == "$PART_RECORDS" ]]; then
        rec_run partitions "$p" consume "$got" "$((got * 1024))" "$w" "$c"
    else
        rec "$BROKER" partitions "$p" consume_failed 1 -
        step "$BROKER $p partitions: kcat read $got records, not $PART_RECORDS"
    fi
    rec "$BROKER" partitions "$p" rss_peak "$(rss_kib VmHWM)" KiB
    stop_broker keep # deleted at the end: see stop_broker
}

if wants partitions; then
    head -c 1024 /dev/zero | tr '\0' x >"$WORK/line"
    echo >>"$WORK/line"
    yes "$(cat "$WORK/line")" | head -n "$PART_RECORDS" >"$WORK/lines.txt"
fi
for b in $BROKERS; do
    if wants size || wants conns; then
        start_broker "$b"
        rec "$BROKER" memory - rss_fresh "$(rss_kib VmRSS)" KiB
        warm_up
        wants size && size_curve
        wants conns && conns_curve
        stop_broker
        sleep 2
    fi
    if wants partitions; then
        for p in $PARTS; do
            BROKER=$b
            partitions_point "$p"
            sleep 2
        done
    fi
done
{
    echo "load_after=$(load_avg)"
    echo "bytes=$BYTES"
    echo "max_records=$MAXREC"
    echo "part_records=$PART_RECORDS"
    echo "conn_bytes=$CONN_BYTES"
    echo "props=${PROPS[*]}"
    echo "which=$WHICH"
    echo "points=sizes $SIZES; partitions $PARTS; connections $CONNS"
    echo "run_seconds=$(($(date +%s) - T_START))"
} >>"$MFILE"
step "load average after: $(load_avg)"
timeout 300 "$PY" "$HERE/curves_report.py" "$OUT" curves || die "curves_report.py curves"
step "done in $(($(date +%s) - T_START)) s: $OUT/curves.md"
