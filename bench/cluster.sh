#!/usr/bin/env bash
# bench/cluster.sh — potok and Apache Kafka 4.1.1 as three-node clusters on this machine, side by side with the
# same clients: acks=all produce to a replicated topic (RF 3, min.insync.replicas=2) and its consumption, then a
# failover: the leader of a partition is SIGKILLed while a producer writes to it, and the time until the first
# record acknowledged by the new leader is measured.
#
#   bench/cluster.sh          # ~3 minutes on 2 cores after the release build; bench/run.sh runs it last
#
# Each node is started from Kafka's KRaft properties (process.roles=broker,controller, as scripts/cluster-check.sh
# writes them), with Kafka's default broker.session.timeout.ms (9 s) and heartbeat (2 s): the failover time is
# dominated by how soon the controller fences the dead broker, for both. Figures go to
# $BENCH_OUT/cluster.md and raw-cluster.csv. Knobs: BENCH_CLUSTER_N [300000] records of 1 KiB,
# BENCH_BROKERS ["potok kafka"], BENCH_OUT [bench/results], CARGO_TARGET_DIR [repo target/].
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(dirname "$HERE")"
OUT="${BENCH_OUT:-$HERE/results}"
N="${BENCH_CLUSTER_N:-300000}"
BROKERS="${BENCH_BROKERS:-potok kafka}"
TARGET="${CARGO_TARGET_DIR:-$REPO/target}"
# bench/run.sh's profiling build if there is one, else a release build.
POTOK="${BENCH_POTOK:-$TARGET/profiling/potok}"
[[ -x "$POTOK" ]] || POTOK="$TARGET/release/potok"
# shellcheck source=../scripts/kafka.sh
source "$REPO/scripts/kafka.sh"
VENV="$("$REPO/scripts/install-test-deps.sh")"
JAVA="$KAFKA_JAVA_HOME/bin/java"
CP="$(kafka_classpath)" || { echo "no Kafka jars" >&2; exit 1; }
mkdir -p "$OUT/logs"
CSV="$OUT/raw-cluster.csv"
echo "broker,workload,metric,value,unit" >"$CSV"
rec() { echo "$1,$2,$3,$4,$5" >>"$CSV"; }
step() { printf '[%s] %s\n' "$(date +%T)" "$*" | tee -a "$OUT/logs/cluster.log"; }
jrun() { timeout "$1" "$JAVA" -Xms256m -Xmx1g -cp "$CP" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn "${@:2}"; }

[[ -x "$POTOK" ]] || (cd "$REPO" && cargo build --release --locked -p potok-cli >/dev/null) || exit 1

WORK="$(mktemp -d "${BENCH_TMP:-/tmp}/potok-cluster-bench.XXXXXX")"
declare -a PIDS=("" "" "" "")
stop_all() {
    for i in 1 2 3; do
        if [[ -n "${PIDS[$i]}" ]]; then kill -9 "${PIDS[$i]}" 2>/dev/null; wait "${PIDS[$i]}" 2>/dev/null; fi
        PIDS[$i]=""
    done
}
trap 'stop_all; rm -rf "$WORK"' EXIT

read -r -a ports <<<"$("$VENV/bin/python" -c '
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')"
BS="127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}"

run_cluster() { # broker
    local broker=$1 dir="$WORK/$1" voters="1@127.0.0.1:${ports[3]},2@127.0.0.1:${ports[4]},3@127.0.0.1:${ports[5]}"
    mkdir -p "$dir"
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
offsets.topic.replication.factor=3
transaction.state.log.replication.factor=3
group.initial.rebalance.delay.ms=0
PROPS
    done
    if [[ $broker == kafka ]]; then
        local id
        id="$(jrun 60 kafka.tools.StorageTool random-uuid)"
        for i in 1 2 3; do jrun 60 kafka.tools.StorageTool format -t "$id" -c "$dir/server-$i.properties" >/dev/null; done
    fi
    for i in 1 2 3; do
        if [[ $broker == kafka ]]; then
            "$JAVA" -Xms512m -Xmx1g -cp "$CP" -Dorg.slf4j.simpleLogger.defaultLogLevel=warn kafka.Kafka \
                "$dir/server-$i.properties" >"$OUT/logs/cluster-$broker-$i.out" 2>&1 </dev/null &
        else
            "$POTOK" broker "$dir/server-$i.properties" >"$OUT/logs/cluster-$broker-$i.out" 2>&1 </dev/null &
        fi
        PIDS[$i]=$!
    done
    local t
    for ((t = 0; t < 240; t++)); do
        timeout 10 kcat -b "$BS" -m 5 -L 2>/dev/null | grep -q "^ 3 brokers:" && break
        sleep 0.5
    done
    ((t < 240)) || { step "$broker: the cluster did not come up"; stop_all; return 1; }
    jrun 120 org.apache.kafka.tools.TopicCommand --bootstrap-server "$BS" --create --topic bench-rf3 --partitions 6 \
        --replication-factor 3 --config min.insync.replicas=2 >/dev/null || { step "$broker: topic creation failed"; stop_all; return 1; }

    local f="$OUT/logs/cluster-$broker-producer.txt" last
    jrun 900 org.apache.kafka.tools.ProducerPerformance --topic bench-rf3 --num-records "$N" --record-size 1024 \
        --throughput -1 --producer-props "bootstrap.servers=$BS" acks=all linger.ms=5 batch.size=65536 >"$f" 2>&1
    last=$(grep -E 'records sent.*99\.9th' "$f" | tail -1)
    if [[ -n $last ]]; then
        read -r rps mbs avg p99 < <(sed -E 's/^[0-9]+ records sent, ([0-9.]+) records\/sec \(([0-9.]+) MB\/sec\), ([0-9.]+) ms avg latency, .* ([0-9]+) ms 99th, .*/\1 \2 \3 \4/' <<<"$last")
        rec "$broker" produce-rf3-acks-all records_per_s "$rps" rec/s
        rec "$broker" produce-rf3-acks-all MB_per_s "$mbs" MB/s
        rec "$broker" produce-rf3-acks-all lat_avg "$avg" ms
        rec "$broker" produce-rf3-acks-all lat_p99 "$p99" ms
        step "$broker RF 3 acks=all produce: $rps rec/s, $mbs MB/s, avg $avg ms, p99 $p99 ms"
    else
        step "$broker RF 3 acks=all produce FAILED (see $f)"
    fi

    f="$OUT/logs/cluster-$broker-consumer.txt"
    jrun 600 org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$BS" --topic bench-rf3 --messages "$N" \
        --group "bench-$broker" --timeout 60000 >"$f" 2>&1
    local row
    row=$(grep -E '^[0-9]{4}-' "$f" | tail -1)
    if [[ -n $row ]]; then
        IFS=', ' read -r _ _ _ _ _ mbs _ nps _ _ _ _ <<<"$row"
        rec "$broker" consume-rf3 MB_per_s "$mbs" MB/s
        rec "$broker" consume-rf3 records_per_s "$nps" rec/s
        step "$broker RF 3 consume: $nps rec/s, $mbs MB/s"
    else
        step "$broker RF 3 consume FAILED (see $f)"
    fi

    # Failover: kill a partition's leader while writing to it; time to the first record the new leader acks. The
    # partition is the first one led by a node that is not the active controller (kafka-metadata-quorum's
    # LeaderId), so that both clusters are timed on the same case. Killing the active controller as well adds
    # the quorum's election, and then a whole session timeout: a new active controller starts every broker's
    # session afresh, in Kafka (BrokerHeartbeatManager) as in potok.
    local pids="1=${PIDS[1]},2=${PIDS[2]},3=${PIDS[3]}" result controller
    controller="$(jrun 60 org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-server "$BS" describe --status |
        sed -n 's/^LeaderId: *\([0-9]*\)$/\1/p')"
    [[ -n "$controller" ]] || step "$broker: kafka-metadata-quorum named no active controller"
    result="$(timeout 120 "$VENV/bin/python" - "$BS" "$pids" "${controller:--1}" <<'PYEOF'
import os, signal, sys, time
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient
bootstrap, pids, controller = sys.argv[1], dict(p.split("=") for p in sys.argv[2].split(",")), int(sys.argv[3])
parts = AdminClient({"bootstrap.servers": bootstrap}).list_topics("bench-rf3", timeout=10).topics["bench-rf3"].partitions
partition = next((i for i in sorted(parts) if parts[i].leader != controller), 0)
leader = parts[partition].leader
p = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True, "linger.ms": 0,
              "message.timeout.ms": 60000, "topic.metadata.refresh.interval.ms": 500})
acked = []
def done(err, msg):
    if err is None:
        acked.append(time.monotonic())
for _ in range(20):
    p.produce("bench-rf3", b"before", partition=partition, on_delivery=done)
    p.flush(10)
os.kill(int(pids[str(leader)]), signal.SIGKILL)
killed = time.monotonic()
n = len(acked)
while len(acked) == n and time.monotonic() - killed < 60:
    p.produce("bench-rf3", b"after", partition=partition, on_delivery=done)
    p.poll(0.05)
    p.flush(0.2)
if len(acked) == n:
    print("failed")
else:
    print(f"{leader} {(acked[n] - killed) * 1000:.0f} {partition}")
PYEOF
)"
    if [[ $result =~ ^([1-3])\ ([0-9]+)\ ([0-9]+)$ ]]; then
        PIDS[${BASH_REMATCH[1]}]=""
        rec "$broker" failover first_ack_after_leader_kill_ms "${BASH_REMATCH[2]}" ms
        rec "$broker" failover killed_node_was_controller "$([[ ${BASH_REMATCH[1]} == "$controller" ]] && echo 1 || echo 0)" -
        step "$broker failover: partition ${BASH_REMATCH[3]}'s leader ${BASH_REMATCH[1]} SIGKILLed (active controller: ${controller:-unknown}), first acks=all record on the new leader after ${BASH_REMATCH[2]} ms"
    else
        step "$broker failover FAILED: $result"
    fi
    stop_all
}

for b in $BROKERS; do
    step "=== $b: three-node cluster"
    run_cluster "$b"
    rm -rf "${WORK:?}/$b"
done

"$VENV/bin/python" - "$CSV" >"$OUT/cluster.md" <<'PYEOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
figures = {}
for r in rows:
    figures.setdefault((r["workload"], r["metric"], r["unit"]), {})[r["broker"]] = float(r["value"])
print("# Three-node clusters: potok vs Apache Kafka 4.1.1 (same machine, same clients, one run)\n")
print("| workload | metric | potok | Kafka | potok / Kafka |")
print("|---|---|---|---|---|")
for (w, m, u), v in figures.items():
    p, k = v.get("potok"), v.get("kafka")
    ratio = f"{p / k:.2f}" if p is not None and k else "-"
    fmt = lambda x: "-" if x is None else f"{x:g} {u}"
    print(f"| {w} | {m} | {fmt(p)} | {fmt(k)} | {ratio} |")
PYEOF
cat "$OUT/cluster.md"
