# bench/lib.sh — what bench/ceiling.sh and bench/curves.sh share (sourced, not run): the potok build, Kafka's
# jars, the venv, the machine's description and bandwidths, broker start/stop pinned to one core, CPU and RSS from
# /proc, and the raw CSV. The caller sets NAME (log and file prefix) before sourcing it.
#   BENCH_PORT [39092] (potok; Kafka uses +100 and +101)  BENCH_OUT [bench/results]  BENCH_TMP [/tmp]
#   CARGO_TARGET_DIR [repo target/]  BENCH_BROKERS ["potok kafka"]  BENCH_POTOK [built here]: a potok binary to use instead
#   BENCH_BROKER_CPU [0] and BENCH_CLIENT_CPU [1]: the cores (taskset -c lists) of the broker and of the clients
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
OUT="${BENCH_OUT:-$HERE/results}"
PORT_POTOK="${BENCH_PORT:-39092}"
PORT_KAFKA=$((PORT_POTOK + 100))
BROKERS="${BENCH_BROKERS:-potok kafka}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
VENV="${POTOK_CACHE:-$HOME/.cache/potok}/venv"
PY="$VENV/bin/python"
CLK_TCK="$(getconf CLK_TCK)"
BROKER_CPU="${BENCH_BROKER_CPU:-0}"
CLIENT_CPU="${BENCH_CLIENT_CPU:-1}"
CSV="$OUT/$NAME.csv"
LOGS="$OUT/logs/$NAME"

# shellcheck source=../scripts/kafka.sh
source "$REPO/scripts/kafka.sh"
JAVA="$KAFKA_JAVA_HOME/bin/java"

T_START=$(date +%s)
step() { printf '[%s +%4ss] %s\n' "$(date +%T)" "$(($(date +%s) - T_START))" "$*" | tee -a "$LOGS/run.log"; }
die() { step "FAILED: $*"; exit 1; }
# broker,series,x,metric,value,unit — series names the curve or the ceiling run, x its sample point
rec() { echo "$1,$2,$3,$4,$5,$6" >>"$CSV"; }

WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/potok-$NAME.XXXXXX")"
PID="" BROKER="" DATA="" BS=""
cleanup() {
    [[ -n "$PID" ]] && stop_broker
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bench_setup() { # [APPEND]: fresh CSV and logs (APPEND=1: keep them and add), Kafka's jars, the venv, the potok build
    mkdir -p "$LOGS"
    if [[ ${1:-0} != 1 || ! -f $CSV ]]; then
        rm -f "$CSV" "$LOGS"/*
        echo "broker,series,x,metric,value,unit" >"$CSV"
    fi
    step "fetching Kafka $KAFKA_VERSION jars (scripts/kafka.sh install)"
    kafka_install >/dev/null || die "scripts/kafka.sh install"
    CP="$(kafka_classpath)" || die "kafka classpath"
    command -v kcat >/dev/null || die "kcat not found"
    command -v taskset >/dev/null || die "taskset not found (util-linux)"
    [[ -x /usr/bin/time ]] || die "/usr/bin/time not found (GNU time)"
    [[ -x "$PY" ]] || { timeout 900 "$REPO/scripts/install-test-deps.sh" >"$LOGS/install-test-deps.log" 2>&1 || die "scripts/install-test-deps.sh"; }
    "$PY" -c 'import confluent_kafka' 2>/dev/null || timeout 600 "$PY" -m pip install -q confluent-kafka >>"$LOGS/pip.log" 2>&1 || die "pip install confluent-kafka"
    "$PY" -c 'import matplotlib' 2>/dev/null || timeout 600 "$PY" -m pip install -q matplotlib >>"$LOGS/pip.log" 2>&1 || die "pip install matplotlib"
    if [[ -n "${BENCH_POTOK:-}" ]]; then
        POTOK="$(realpath "$BENCH_POTOK")"
        step "potok binary given: $POTOK (not built)"
    else
        step "building potok (cargo build --profile profiling -p potok-cli, target $TARGET)"
        (cd "$REPO" && CARGO_TARGET_DIR="$TARGET" timeout 3600 cargo build --profile profiling -p potok-cli) >"$LOGS/build.log" 2>&1 || die "cargo build (see $LOGS/build.log)"
        POTOK="$TARGET/profiling/potok"
    fi
}

load_avg() { cut -d' ' -f1-3 /proc/loadavg; }

describe_machine() { # FILE: the machine, its load, and dd's disk and memcpy bandwidth
    local f=$1 dev
    dev="$(df --output=source "$WORK" | tail -1)"
    {
        echo "date_utc=$(date -u '+%Y-%m-%d %H:%M')"
        echo "cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)$(lscpu 2>/dev/null | sed -n 's/^Hypervisor vendor: *\(.*\)/ (virtual machine, \1)/p')"
        echo "cores=$(nproc)"
        echo "memory=$(free -g | awk '/^Mem:/{print $2 " GiB total, " $7 " GiB available"}')"
        echo "disk=$dev, $(df --output=fstype "$WORK" | tail -1), $(df -h --output=size "$WORK" | tail -1 | tr -d ' ')"
        echo "kernel=$(uname -sr)"
        echo "java=$("$JAVA" -version 2>&1 | head -1)"
        echo "kcat=$(kcat -V 2>&1 | sed -n 's/^Version \([^ ]*\) .*librdkafka \([^ ]*\) .*/\1 (librdkafka \2)/p')"
        echo "potok_rev=$(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null)$(cd "$REPO" && git diff --quiet HEAD 2>/dev/null || echo ' (+uncommitted changes)')"
        echo "broker_cpus=$BROKER_CPU"
        echo "client_cpus=$CLIENT_CPU"
        echo "load_before=$(load_avg)"
    } >"$f"
    step "disk write bandwidth: dd 1 GiB, oflag=direct conv=fdatasync"
    local dd_mbs='/copied/{for(i=1;i<=NF;i++) if($i ~ /^[0-9.]+$/ && $(i+1) ~ /^s,?$/) s=$i; print int(($1/1048576)/s)}'
    DISK=$(timeout 300 dd if=/dev/zero of="$WORK/dd.test" bs=1M count=1024 oflag=direct conv=fdatasync 2>&1 | awk "$dd_mbs")
    rm -f "$WORK/dd.test"
    step "memcpy bandwidth: dd if=/dev/zero of=/dev/null bs=1M count=20000 (on the client core)"
    MEM=$(timeout 300 taskset -c "$CLIENT_CPU" dd if=/dev/zero of=/dev/null bs=1M count=20000 2>&1 | awk "$dd_mbs")
    { echo "disk_write_MiB_s=$DISK"; echo "memcpy_MiB_s=$MEM"; } >>"$f"
    rec machine machine - disk_write "$DISK" MiB/s
    rec machine machine - memcpy "$MEM" MiB/s
    step "machine: $(nproc) cores, disk $DISK MiB/s, memcpy $MEM MiB/s, load $(load_avg)"
}

cpu_ticks() { awk '{print $14+$15}' "/proc/$PID/stat"; } # utime+stime of the broker process
cpu_since() { awk -v a="$1" -v b="$(cpu_ticks)" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/t}'; }
# runq_wait_ns: how long the broker's threads waited runnable for a CPU (the 2nd field of each thread's
# /proc/PID/task/TID/schedstat), summed: time it wanted its core and something else had it.
runq_wait_ns() { cat /proc/"$PID"/task/*/schedstat 2>/dev/null | awk '{s += $2} END{printf "%.0f", s}'; }
rss_kib() { awk "/^$1:/{print \$2}" "/proc/$PID/status"; } # VmRSS or VmHWM
now() { date +%s.%N; }
# core_ticks CPULIST: busy jiffies (user, nice, system, irq, softirq, steal) of those cores, from /proc/stat. Less the
# broker's (or clients') own CPU, it is what other processes took from the pinned core.
core_ticks() { awk -v l=",$1," '$1 ~ /^cpu[0-9]/ && index(l, "," substr($1, 4) ",") {s += $2+$3+$4+$7+$8+$9} END{print s}' /proc/stat; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.3f", b-a}'; }
per_gb() { awk -v c="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0 ? c/(b/1e9) : 0)}'; }
pinned() { taskset -c "$CLIENT_CPU" "$@"; } # a client, on the client core(s)

start_broker() { # BROKER: starts it pinned to BROKER_CPU on a fresh dir; waits until a produce is acknowledged
    BROKER=$1
    DATA="$WORK/$BROKER"
    rm -rf "$DATA"
    mkdir -p "$DATA"
    local line
    if [[ $BROKER == potok ]]; then
        BS=127.0.0.1:$PORT_POTOK
        line=$(timeout 150 "$PY" "$HERE/startup.py" "$BS" bench-startup "$LOGS/potok.log" 0 -- \
            taskset -c "$BROKER_CPU" "$POTOK" broker --override "listeners=PLAINTEXT://$BS" --override "log.dirs=$DATA/logs")
        PID=$(sed -n 's/.* pid=\([0-9]*\).*/\1/p' <<<"$line")
    else
        BS=127.0.0.1:$PORT_KAFKA
        line=$(timeout 150 "$PY" "$HERE/startup.py" "$BS" bench-startup "$LOGS/kafka-start.log" 1 -- \
            taskset -c "$BROKER_CPU" "$REPO/scripts/kafka.sh" start "$DATA" "$PORT_KAFKA")
        PID=$(cat "$DATA/kafka.pid" 2>/dev/null)
    fi
    [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null || die "$BROKER did not start: $line"
    [[ $line == startup_s=FAIL* ]] && die "$BROKER: no produce acknowledged within 120 s"
    step "$BROKER started (pid $PID, $BS, cores $(taskset -pc "$PID" | sed 's/.*: //')): ${line%% pid=*}"
}

# stop_broker [keep]: stops the broker and deletes its data dir; with "keep", moves the dir aside in $WORK (deleted
# when the run ends) instead. Deleting thousands of files just before the next broker creates thousands makes
# those creations slow on this machine's ext4 (without a journal, ext4 skips inodes freed in the last half
# minute, or up to five, and scans past each of them for every new inode), and unevenly so: whichever broker
# starts sooner after the deletion pays more.
stop_broker() {
    step "stopping $BROKER (pid $PID)"
    if [[ $BROKER == kafka ]]; then
        tail -n 300 "$DATA/kafka.out" >>"$LOGS/kafka.log" 2>/dev/null
        kafka_stop "$DATA"
    else
        kill -TERM "$PID" 2>/dev/null
        for ((i = 0; i < 600; i++)); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$PID" 2>/dev/null && { step "potok ignored TERM for 60 s; KILL"; kill -KILL "$PID"; }
    fi
    PID=""
    if [[ ${1:-} == keep ]]; then
        mv "$DATA" "$(mktemp -d "$WORK/kept.XXXXXX")/"
    else
        rm -rf "$DATA"
    fi
}

create_topics() { # name:partitions[:config=value,...]...
    timeout 900 "$PY" - "$BS" "$@" <<'PYEOF' >>"$LOGS/$BROKER-topics.log" 2>&1
import sys
from confluent_kafka.admin import AdminClient, NewTopic
a = AdminClient({"bootstrap.servers": sys.argv[1], "socket.timeout.ms": 300000})
specs = [s.split(":") for s in sys.argv[2:]]
new = [NewTopic(s[0], int(s[1]), 1, config=dict(c.split("=", 1) for c in s[2].split(",")) if len(s) > 2 else {})
       for s in specs]
fs = a.create_topics(new, operation_timeout=600, request_timeout=620)
for n, f in fs.items():
    f.result(700)
    print("created", n)
PYEOF
}

# Client runs. Each writes its output to $LOGS/$BROKER-LABEL-I.txt and GNU time's "wall user sys" to .time.
# client_cpu LABEL COUNT: the clients' CPU seconds (user+sys) summed.
client_cpu() { cat "$LOGS/$BROKER-$1-"*.time 2>/dev/null | awk '{s+=$2+$3} END{printf "%.2f", s}'; }
shrink() { # FILE...: kcat -C's output (one offset a line) once counted: replaced by its line count
    local f
    for f in "$@"; do echo "$(wc -l <"$f") lines of offsets (removed once counted)" >"$f.tmp" && mv "$f.tmp" "$f"; done
}
timed() { # LABEL I TIMEOUT CMD...: one pinned client, timed
    local label=$1 i=$2 t=$3
    shift 3
    timeout "$t" /usr/bin/time -f '%e %U %S' -o "$LOGS/$BROKER-$label-$i.time" taskset -c "$CLIENT_CPU" "$@" \
        >"$LOGS/$BROKER-$label-$i.txt" 2>"$LOGS/$BROKER-$label-$i.err"
}
