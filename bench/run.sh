#!/usr/bin/env bash
# bench/run.sh — compare potok with Apache Kafka 4.1.1 on this machine, one broker at a time.
#
#   bench/run.sh            # ~4 minutes on 2 cores (plus build and jar fetch); writes bench/results/{results.md,raw.csv,machine.txt,*.png,logs/}
#
# Steps: fetch Kafka's jars (scripts/kafka.sh install), build potok (release), describe the machine
# (cores, memory, disk, dd disk/memcpy bandwidth), then for potok and then Kafka: start it on a fresh
# log dir under a temp dir (start-up time to the first acknowledged produce), run the workloads,
# record every figure into raw.csv, stop it and delete its data. bench/report.py turns raw.csv into
# results.md and the charts. Environment knobs (defaults in brackets):
#   BENCH_N_1K [1000000] records for the 1 KiB produce runs  BENCH_N_100 [3000000] records for 100 B runs
#   BENCH_E2E_N [3000] round trips of EndToEndLatency       BENCH_RATE [5000] records/s of the fixed-rate run
#   BENCH_RATE_SECONDS [10]  BENCH_PORT [29092] (potok; Kafka uses +100 and +101)  BENCH_OUT [bench/results]
#   BENCH_KCAT_RUNS [3] kcat reads of each consumed topic (the median is recorded)
#   BENCH_BROKERS ["potok kafka"]  CARGO_TARGET_DIR [repo target/]  BENCH_TMP [/tmp]
#   BENCH_CLUSTER [1] then runs bench/cluster.sh: three-node clusters, RF 3 acks=all, failover (cluster.md)
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
OUT="${BENCH_OUT:-$HERE/results}"
N_1K="${BENCH_N_1K:-1000000}"
N_100="${BENCH_N_100:-3000000}"
E2E_N="${BENCH_E2E_N:-3000}"
RATE="${BENCH_RATE:-5000}"
RATE_SECONDS="${BENCH_RATE_SECONDS:-10}"
KCAT_RUNS="${BENCH_KCAT_RUNS:-3}"
PORT_POTOK="${BENCH_PORT:-29092}"
PORT_KAFKA=$((PORT_POTOK + 100))
BROKERS="${BENCH_BROKERS:-potok kafka}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
VENV="${POTOK_CACHE:-$HOME/.cache/potok}/venv"
PY="$VENV/bin/python"
CLK_TCK="$(getconf CLK_TCK)"
PP_PROPS=(linger.ms=5 batch.size=65536) # on top of acks=; everything else is the Java producer default

# shellcheck source=../scripts/kafka.sh
source "$REPO/scripts/kafka.sh"
JAVA="$KAFKA_JAVA_HOME/bin/java"

T_START=$(date +%s)
step() { printf '[%s +%4ss] %s\n' "$(date +%T)" "$(($(date +%s) - T_START))" "$*" | tee -a "$OUT/logs/run.log"; }
die() { step "FAILED: $*"; exit 1; }
rec() { echo "$1,$2,$3,$4,$5" >>"$OUT/raw.csv"; } # broker,workload,metric,value,unit

WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/potok-bench.XXXXXX")"
PID="" BROKER="" DATA=""
cleanup() {
    [[ -n "$PID" ]] && stop_broker
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------- setup
mkdir -p "$OUT/logs"
# Only this script's own results: bench/ceiling.sh, curves.sh and bindings.sh keep theirs beside them.
rm -f "$OUT/raw.csv" "$OUT/results.md" "$OUT/machine.txt"
find "$OUT/logs" -maxdepth 1 -type f -delete
for chart in produce-throughput produce-latency broker-cpu consume-and-latency resources ratios; do
    rm -f "$OUT/$chart.png"
done
echo "broker,workload,metric,value,unit" >"$OUT/raw.csv"

step "fetching Kafka $KAFKA_VERSION jars (scripts/kafka.sh install)"
kafka_install >/dev/null || die "scripts/kafka.sh install"
CP="$(kafka_classpath)" || die "kafka classpath"
[[ -x "$JAVA" ]] || die "no java at $JAVA (set KAFKA_JAVA_HOME)"
command -v kcat >/dev/null || die "kcat not found"

step "python venv $VENV (confluent-kafka, matplotlib)"
[[ -x "$PY" ]] || { timeout 900 "$REPO/scripts/install-test-deps.sh" >"$OUT/logs/install-test-deps.log" 2>&1 || die "scripts/install-test-deps.sh"; }
"$PY" -c 'import confluent_kafka' 2>/dev/null || timeout 600 "$PY" -m pip install -q confluent-kafka >>"$OUT/logs/pip.log" 2>&1 || die "pip install confluent-kafka"
"$PY" -c 'import matplotlib' 2>/dev/null || timeout 600 "$PY" -m pip install -q matplotlib >>"$OUT/logs/pip.log" 2>&1 || die "pip install matplotlib"

# The profiling profile: release optimizations plus symbols and line tables, so a broker under benchmark can be
# profiled (perf record -p PID); release builds ship stripped.
step "building potok (cargo build --profile profiling -p potok-cli, target $TARGET)"
(cd "$REPO" && CARGO_TARGET_DIR="$TARGET" timeout 3600 cargo build --profile profiling -p potok-cli) >"$OUT/logs/build.log" 2>&1 || die "cargo build (see $OUT/logs/build.log)"
POTOK="$TARGET/profiling/potok"

# ------------------------------------------------------------------------------------- machine
step "describing the machine"
{
    echo "date_utc=$(date -u '+%Y-%m-%d %H:%M')"
    echo "cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor: *\(.*\)/ (virtual machine, \1)/p')"
    echo "cores=$(nproc)"
    echo "memory=$(free -g | awk '/^Mem:/{print $2 " GiB total, " $7 " GiB available"}')"
    dev="$(df --output=source "$WORK" | tail -1)"
    echo "disk=$dev, $(df --output=fstype "$WORK" | tail -1), $(df -h --output=size "$WORK" | tail -1 | tr -d ' ') (lsblk ROTA=$(lsblk -dno ROTA "$dev" 2>/dev/null | tr -d ' '))"
    echo "kernel=$(uname -sr)"
    echo "java=$("$JAVA" -version 2>&1 | head -1)"
    echo "kcat=$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/\1 (librdkafka \2)/p')"
    echo "librdkafka (python)=$("$PY" -c 'import confluent_kafka as c; print(c.libversion()[0])')"
    echo "potok_rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO" && git diff --quiet HEAD 2>/dev/null || echo ' (+uncommitted changes)')"
} >"$OUT/machine.txt"
step "disk write bandwidth: dd 1 GiB, oflag=direct conv=fdatasync"
dd_mbs() { awk '/copied/{for(i=1;i<=NF;i++) if($i ~ /^[0-9.]+$/ && $(i+1) ~ /^s,?$/) s=$i; print int(($1/1048576)/s)}'; }
DISK=$(timeout 300 dd if=/dev/zero of="$WORK/dd.test" bs=1M count=1024 oflag=direct conv=fdatasync 2>&1 | dd_mbs)
rm -f "$WORK/dd.test"
step "memcpy bandwidth: dd if=/dev/zero of=/dev/null bs=1M count=20000"
MEM=$(timeout 300 dd if=/dev/zero of=/dev/null bs=1M count=20000 2>&1 | dd_mbs)
{ echo "disk_write_MiB_s=$DISK"; echo "memcpy_MiB_s=$MEM"; } >>"$OUT/machine.txt"
rec machine machine disk_write "$DISK" MiB/s
rec machine machine memcpy "$MEM" MiB/s
step "machine: $(nproc) cores, disk $DISK MiB/s, memcpy $MEM MiB/s"

# ------------------------------------------------------------------------------------- helpers
cpu_ticks() { awk '{print $14+$15}' "/proc/$PID/stat"; } # utime+stime of the broker process
cpu_since() { awk -v a="$1" -v b="$(cpu_ticks)" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/t}'; }
rss_kib() { awk "/^$1:/{print \$2}" "/proc/$PID/status"; } # VmRSS or VmHWM
jrun() { timeout "$1" "$JAVA" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn -cp "$CP" "${@:2}"; }

start_broker() { # BROKER: starts it on a fresh dir, records the start-up time
    BROKER=$1
    DATA="$WORK/$BROKER"
    rm -rf "$DATA"
    mkdir -p "$DATA"
    local line
    if [[ $BROKER == potok ]]; then
        BS=127.0.0.1:$PORT_POTOK
        line=$(timeout 150 "$PY" "$HERE/startup.py" "$BS" bench-startup "$OUT/logs/potok.log" 0 -- \
            "$POTOK" broker --override "listeners=PLAINTEXT://$BS" --override "log.dirs=$DATA/logs")
        PID=$(sed -n 's/.* pid=\([0-9]*\).*/\1/p' <<<"$line")
    else
        BS=127.0.0.1:$PORT_KAFKA
        line=$(timeout 150 "$PY" "$HERE/startup.py" "$BS" bench-startup "$OUT/logs/kafka-start.log" 1 -- \
            "$REPO/scripts/kafka.sh" start "$DATA" "$PORT_KAFKA")
        PID=$(cat "$DATA/kafka.pid" 2>/dev/null)
    fi
    local s=${line#startup_s=}
    s=${s%% *}
    [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null || die "$BROKER did not start: $line"
    [[ $s == FAIL ]] && die "$BROKER: no produce acknowledged within 120 s"
    rec "$BROKER" startup startup_to_first_ack "$s" s
    step "$BROKER started (pid $PID, $BS): first produce acknowledged after $s s"
}

stop_broker() {
    step "stopping $BROKER (pid $PID)"
    if [[ $BROKER == kafka ]]; then
        tail -n 300 "$DATA/kafka.out" >"$OUT/logs/kafka.log" 2>/dev/null # last 300 lines of its info log
        kafka_stop "$DATA"
    else
        kill -TERM "$PID" 2>/dev/null
        for ((i = 0; i < 300; i++)); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$PID" 2>/dev/null && { step "potok ignored TERM for 30 s; KILL"; kill -KILL "$PID"; }
    fi
    PID=""
    rm -rf "$DATA"
}

create_topics() { # name:partitions...
    timeout 120 "$PY" - "$BS" "$@" <<'PYEOF' >>"$OUT/logs/$BROKER-topics.log" 2>&1
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1]})
specs = [s.split(":") for s in sys.argv[2:]]
fs = a.create_topics([NewTopic(n, int(p), 1) for n, p in specs], operation_timeout=30)
for n, f in fs.items():
    f.result(60)
    print("created", n)
PYEOF
}

pp() { # workload topic records size acks [extra producer props...] : ProducerPerformance, max throughput
    local w=$1 topic=$2 n=$3 size=$4 acks=$5 tput=-1
    shift 5
    [[ ${1:-} == --throughput ]] && { tput=$2; shift 2; }
    local c0 f="$OUT/logs/$BROKER-$w.txt"
    "$HERE/hot-pages.sh" "$WORK" $((n * size)) # see hot-pages.sh
    c0=$(cpu_ticks)
    jrun 600 org.apache.kafka.tools.ProducerPerformance --topic "$topic" --num-records "$n" --record-size "$size" \
        --throughput "$tput" --producer-props "bootstrap.servers=$BS" "acks=$acks" "$@" >"$f" 2>&1
    local rc=$? cpu
    cpu=$(cpu_since "$c0")
    local last
    last=$(grep -E 'records sent.*99\.9th' "$f" | tail -1)
    [[ $rc == 0 && -n $last ]] || { step "$BROKER $w FAILED (rc=$rc, see $f)"; rec "$BROKER" "$w" failed 1 -; return 1; }
    # N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, p50 ms 50th, p95 ms 95th, p99 ms 99th, p999 ms 99.9th.
    read -r rps mbs avg max p50 p95 p99 p999 < <(sed -E 's/^[0-9]+ records sent, ([0-9.]+) records\/sec \(([0-9.]+) MB\/sec\), ([0-9.]+) ms avg latency, ([0-9.]+) ms max latency, ([0-9]+) ms 50th, ([0-9]+) ms 95th, ([0-9]+) ms 99th, ([0-9]+) ms 99\.9th\./\1 \2 \3 \4 \5 \6 \7 \8/' <<<"$last")
    rec "$BROKER" "$w" records_per_s "$rps" rec/s
    rec "$BROKER" "$w" MB_per_s "$mbs" MB/s
    rec "$BROKER" "$w" lat_avg "$avg" ms
    rec "$BROKER" "$w" lat_p50 "$p50" ms
    rec "$BROKER" "$w" lat_p99 "$p99" ms
    rec "$BROKER" "$w" lat_p999 "$p999" ms
    rec "$BROKER" "$w" lat_max "$max" ms
    rec "$BROKER" "$w" broker_cpu "$cpu" s
    rec "$BROKER" "$w" bytes "$((n * size))" B
    local gb
    gb=$(awk -v c="$cpu" -v b="$((n * size))" 'BEGIN{printf "%.2f", c/(b/1e9)}')
    rec "$BROKER" "$w" broker_cpu_per_GB "$gb" s/GB
    step "$BROKER $w: $rps rec/s, $mbs MB/s, avg $avg ms, p50 $p50, p99 $p99, p99.9 $p999 ms; broker CPU $cpu s ($gb s/GB)"
}

# ------------------------------------------------------------------------------------ workloads
consume() { # topic suffix: ConsumerPerformance (group) and kcat read the whole topic
    local topic=$1 sfx=$2 c0 f="$OUT/logs/$BROKER-consumer-perf-$2.txt"
    c0=$(cpu_ticks)
    jrun 300 org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BS" --topic "$topic" \
        --messages "$N_1K" --group "bench-$BROKER-$sfx" --timeout 60000 >"$f" 2>&1
    local rc=$? cpu
    cpu=$(cpu_since "$c0")
    # start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
    local row
    row=$(grep -E '^[0-9]{4}-' "$f" | tail -1)
    if [[ $rc == 0 && -n $row ]]; then
        IFS=', ' read -r _ _ _ _ mb mbs nmsg nps reb fms fmbs fnps <<<"$row"
        rec "$BROKER" consume-java-group-$sfx MB_per_s "$mbs" MB/s
        rec "$BROKER" consume-java-group-$sfx records_per_s "$nps" rec/s
        rec "$BROKER" consume-java-group-$sfx fetch_MB_per_s "$fmbs" MB/s
        rec "$BROKER" consume-java-group-$sfx rebalance_ms "$reb" ms
        rec "$BROKER" consume-java-group-$sfx records "$nmsg" rec
        rec "$BROKER" consume-java-group-$sfx broker_cpu "$cpu" s
        step "$BROKER ConsumerPerformance $topic: $nmsg records, $mbs MB/s overall, $fmbs MB/s excluding the ${reb} ms group join; broker CPU $cpu s"
    else
        rec "$BROKER" consume-java-group-$sfx failed 1 -
        step "$BROKER ConsumerPerformance $topic FAILED (rc=$rc, see $f)"
    fi

    # kcat's one reader is bound by its own CPU (one fetch in flight, its core nearly full with either broker),
    # and on shared cores one run swings by tens of percent: the median of KCAT_RUNS runs is recorded, every run
    # is in the log. kcat stops at the topic's last record (-c), as ConsumerPerformance stops at --messages:
    # with -e alone its time would include the 500 ms the broker rightly holds the last, empty fetch
    # (librdkafka's fetch.wait.max.ms) before the end is known. It starts at offset 0 (the topic is fresh), not
    # "beginning": librdkafka's offset lookup for a logical offset sometimes waits out a 500 ms retry timer at
    # start-up (a client race, seen with both brokers).
    local i t0 t1 count el runs=()
    for ((i = 1; i <= KCAT_RUNS; i++)); do
        c0=$(cpu_ticks)
        t0=$(date +%s.%N)
        count=$(timeout 300 kcat -C -b "$BS" -t "$topic" -o 0 -c "$N_1K" -e -q -f '%o\n' 2>"$OUT/logs/$BROKER-kcat-$sfx.err" | wc -l)
        t1=$(date +%s.%N)
        cpu=$(cpu_since "$c0")
        runs+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", b-a}') $cpu $count")
    done
    read -r el cpu count <<<"$(printf '%s\n' "${runs[@]}" | sort -n | sed -n "$(((KCAT_RUNS + 1) / 2))p")"
    rec "$BROKER" consume-kcat-$sfx records "$count" rec
    rec "$BROKER" consume-kcat-$sfx seconds "$el" s
    rec "$BROKER" consume-kcat-$sfx records_per_s "$(awk -v n="$count" -v e="$el" 'BEGIN{printf "%.0f", n/e}')" rec/s
    rec "$BROKER" consume-kcat-$sfx MB_per_s "$(awk -v n="$count" -v e="$el" 'BEGIN{printf "%.1f", n*1024/e/1048576}')" MB/s
    rec "$BROKER" consume-kcat-$sfx broker_cpu "$cpu" s
    step "$BROKER kcat runs (seconds, broker CPU s, records): $(printf '%s; ' "${runs[@]}")"
    step "$BROKER kcat -C -o 0 -c $N_1K -e -q $topic (median of $KCAT_RUNS): $count records in $el s; broker CPU $cpu s"

}

run_broker() {
    start_broker "$1"
    sleep 2
    rec "$BROKER" memory rss_idle "$(rss_kib VmRSS)" KiB
    step "$BROKER idle RSS $(rss_kib VmRSS) KiB"

    local topics=() size acks parts
    for size in 100 1024; do for acks in 1 all; do for parts in 1 6; do
        topics+=("pp-$size-$acks-p$parts:$parts")
    done; done; done
    create_topics "${topics[@]}" e2e:1 rate:1 || die "$BROKER: creating topics (see $OUT/logs/$BROKER-topics.log)"
    step "$BROKER: created ${#topics[@]}+2 topics"

    local cpu0 bytes0=0 n
    cpu0=$(cpu_ticks)
    for size in 100 1024; do for acks in 1 all; do for parts in 1 6; do
        n=$N_1K; ((size == 100)) && n=$N_100
        pp "produce-${size}B-acks$acks-p$parts" "pp-$size-$acks-p$parts" "$n" "$size" "$acks" "${PP_PROPS[@]}" &&
            bytes0=$((bytes0 + n * size))
    done; done; done
    local cpu_all gb
    cpu_all=$(cpu_since "$cpu0")
    gb=$(awk -v c="$cpu_all" -v b="$bytes0" 'BEGIN{printf "%.2f", (b ? c/(b/1e9) : 0)}')
    rec "$BROKER" produce-all broker_cpu "$cpu_all" s
    rec "$BROKER" produce-all broker_cpu_per_GB "$gb" s/GB
    rec "$BROKER" memory rss_peak_produce "$(rss_kib VmHWM)" KiB
    rec "$BROKER" memory rss_after_produce "$(rss_kib VmRSS)" KiB
    step "$BROKER: all produce runs: broker CPU $cpu_all s for $bytes0 bytes = $gb s/GB; peak RSS $(rss_kib VmHWM) KiB"

    # Consumption of the 1 KiB acks=1 topics (6 partitions, then 1 partition).
    consume pp-1024-1-p6 p6
    consume pp-1024-1-p1 p1

    local f rc p50 p99 p999
    # End-to-end latency: one record in flight at a time, 1 KiB, acks=1 (EndToEndLatency from kafka-tools).
    f="$OUT/logs/$BROKER-end-to-end.txt"
    jrun 300 org.apache.kafka.tools.EndToEndLatency "$BS" e2e "$E2E_N" 1 1024 >"$f" 2>&1
    rc=$?
    local avg pct
    avg=$(sed -n 's/^Avg latency: \([0-9.]*\) ms.*/\1/p' "$f" | tail -1)
    pct=$(sed -n 's/^Percentiles: 50th = \([0-9]*\), 99th = \([0-9]*\), 99.9th = \([0-9]*\).*/\1 \2 \3/p' "$f" | tail -1)
    if [[ $rc == 0 && -n $avg && -n $pct ]]; then
        read -r p50 p99 p999 <<<"$pct"
        rec "$BROKER" end-to-end lat_avg "$avg" ms
        rec "$BROKER" end-to-end lat_p50 "$p50" ms
        rec "$BROKER" end-to-end lat_p99 "$p99" ms
        rec "$BROKER" end-to-end lat_p999 "$p999" ms
        step "$BROKER EndToEndLatency ($E2E_N round trips): avg $avg ms, p50 $p50, p99 $p99, p99.9 $p999 ms"
    else
        rec "$BROKER" end-to-end failed 1 -
        step "$BROKER EndToEndLatency FAILED (rc=$rc, see $f)"
    fi

    # Produce latency at a fixed moderate rate with the Java producer's defaults (acks=all, idempotent).
    pp "produce-1KiB-at-${RATE}-per-s" rate $((RATE * RATE_SECONDS)) 1024 all --throughput "$RATE"

    rec "$BROKER" memory rss_peak "$(rss_kib VmHWM)" KiB
    rec "$BROKER" memory rss_end "$(rss_kib VmRSS)" KiB
    rec "$BROKER" total broker_cpu_total "$(awk -v t="$CLK_TCK" '{printf "%.2f", ($14+$15)/t}' "/proc/$PID/stat")" s
    step "$BROKER: peak RSS $(rss_kib VmHWM) KiB, RSS at end $(rss_kib VmRSS) KiB"
    stop_broker
}

for b in $BROKERS; do
    run_broker "$b"
    sleep 3
done

{
    echo "n_1k=$N_1K"
    echo "n_100=$N_100"
    echo "e2e_n=$E2E_N"
    echo "rate=$RATE"
    echo "rate_seconds=$RATE_SECONDS"
    echo "pp_props=${PP_PROPS[*]}"
    echo "run_seconds=$(($(date +%s) - T_START))"
} >>"$OUT/machine.txt"
step "writing $OUT/results.md and charts"
timeout 300 "$PY" "$HERE/report.py" "$OUT" || die "report.py"
if [[ "${BENCH_CLUSTER:-1}" == 1 ]]; then
    # Three-node clusters, RF 3 acks=all and failover (bench/cluster.sh; BENCH_CLUSTER=0 skips it).
    step "three-node clusters (bench/cluster.sh)"
    BENCH_OUT="$OUT" CARGO_TARGET_DIR="$TARGET" timeout 3600 "$HERE/cluster.sh" >>"$OUT/logs/run.log" 2>&1 ||
        step "bench/cluster.sh FAILED (see $OUT/logs/cluster.log)"
fi
step "done in $(($(date +%s) - T_START)) s: $OUT/results.md"
