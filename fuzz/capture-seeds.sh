#!/usr/bin/env bash
# fuzz/capture-seeds.sh POTOK_BINARY — records the request frames real clients send (kcat/librdkafka, kafka-python,
# confluent-kafka, Kafka's Java client, potok's own CLI) to a potok broker, through capture_proxy.py, into
# fuzz/seeds/request/. Run by hand when clients change; the seeds are committed. Ports: $POTOK_FUZZ_PORT (the
# proxy, default 41600) and the next one (the broker).
set -euo pipefail
potok="$(realpath "$1")"
cd "$(dirname "$0")/.."
port="${POTOK_FUZZ_PORT:-41600}"
out=fuzz/seeds/request
mkdir -p "$out"
work="$(mktemp -d)"
py="${POTOK_CACHE:-$HOME/.cache/potok}/venv/bin/python"
"$potok" broker --override "listeners=PLAINTEXT://127.0.0.1:$((port + 1))" \
    --override "advertised.listeners=PLAINTEXT://127.0.0.1:$port" --override "log.dirs=$work/logs" >"$work/broker.out" 2>&1 &
broker=$!
python3 fuzz/capture_proxy.py "$port" "127.0.0.1:$((port + 1))" "$out" "$work/label" &
proxy=$!
trap 'kill $broker $proxy 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
sleep 2
b="127.0.0.1:$port"
label() { echo "$1" >"$work/label"; }

label kcat
kcat -b "$b" -L >/dev/null
seq 1 100 | sed 's/^/k&:v/' | kcat -b "$b" -t seeds -P -K: -X acks=all -z snappy
seq 1 100 | kcat -b "$b" -t seeds-gzip -P -z gzip -X enable.idempotence=true
timeout 20 kcat -b "$b" -G seeds-group seeds -c 50 -e -q >/dev/null || true
timeout 20 kcat -b "$b" -t seeds -C -o beginning -e -q -X isolation.level=read_committed >/dev/null || true

label confluent
"$py" - "$b" <<'PY'
import sys
from confluent_kafka import Producer, Consumer
from confluent_kafka.admin import AdminClient, NewTopic, NewPartitions, ConfigResource
b = sys.argv[1]
a = AdminClient({"bootstrap.servers": b})
for f in a.create_topics([NewTopic("ck", 3, 1, config={"retention.ms": "60000"})]).values(): f.result()
for f in a.create_partitions([NewPartitions("ck", 4)]).values(): f.result()
for f in a.describe_configs([ConfigResource("topic", "ck")]).values(): f.result()
p = Producer({"bootstrap.servers": b, "transactional.id": "seed-txn", "compression.type": "zstd"})
p.init_transactions(); p.begin_transaction()
for i in range(50): p.produce("ck", key=str(i), value="v" * i)
p.commit_transaction()
p.begin_transaction(); p.produce("ck", value="aborted"); p.abort_transaction()
c = Consumer({"bootstrap.servers": b, "group.id": "ck-group", "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
c.subscribe(["ck"])
n = 0
while n < 50:
    m = c.poll(5)
    if m is None: break
    n += 1
c.commit(asynchronous=False); c.close()
for f in a.delete_topics(["ck"]).values(): f.result()
PY

label kafka-python
"$py" - "$b" <<'PY'
import sys
from kafka import KafkaProducer, KafkaConsumer, KafkaAdminClient
from kafka.admin import NewTopic
b = sys.argv[1]
a = KafkaAdminClient(bootstrap_servers=b)
a.create_topics([NewTopic("kp", 2, 1)]); a.list_consumer_groups(); a.describe_consumer_groups(["ck-group"])
p = KafkaProducer(bootstrap_servers=b, compression_type="gzip", acks="all")
for i in range(50): p.send("kp", b"x" * i, key=str(i).encode())
p.flush(); p.close()
c = KafkaConsumer("kp", bootstrap_servers=b, group_id="kp-group", auto_offset_reset="earliest", consumer_timeout_ms=5000)
for _ in c: pass
c.commit(); c.close(); a.close()
PY

label java
source scripts/kafka.sh
kafka_java org.apache.kafka.tools.ProducerPerformance --topic java --num-records 200 --record-size 100 \
    --throughput -1 --producer-props "bootstrap.servers=$b" compression.type=gzip >/dev/null
kafka_java org.apache.kafka.tools.ConsumerPerformance --bootstrap-server "$b" --topic java --messages 200 \
    --group java-group >/dev/null || true
kafka_java org.apache.kafka.tools.TopicCommand --bootstrap-server "$b" --describe >/dev/null

label potok
"$potok" topics --bootstrap-server "$b" --create --topic pt --partitions 2 --config retention.ms=1000000 >/dev/null
seq 1 20 | "$potok" console-producer --bootstrap-server "$b" --topic pt >/dev/null
"$potok" console-consumer --bootstrap-server "$b" --topic pt --from-beginning --max-messages 20 --group pt-group >/dev/null
"$potok" consumer-groups --bootstrap-server "$b" --describe --group pt-group >/dev/null
ls "$out" | wc -l
