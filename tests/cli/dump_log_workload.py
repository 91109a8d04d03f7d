"""Writes what `scripts/dump-log-check.sh` dumps: keyed records with headers from an idempotent producer (producer
snapshots, sparse index entries over several segments), a committed and an aborted transaction (markers and a
.txnindex entry), gzip batches, a consumer group that commits and is then deleted (offsets and group metadata
records, then tombstones) and a transactional id left to expire (a __transaction_state tombstone when the broker
expires ids quickly). Usage: dump_log_workload.py BOOTSTRAP TOPIC"""

import sys

import confluent_kafka as ck
from confluent_kafka.admin import AdminClient

bootstrap, topic = sys.argv[1], sys.argv[2]
# Quiet: librdkafka logs retries ("Coordinator load in progress") that are expected here.
common = {"bootstrap.servers": bootstrap, "error_cb": lambda e: None, "log_level": 0}


def check(errors, err, msg):
    if err is not None:
        errors.append(err)


errors = []
p = ck.Producer(dict(common, **{"enable.idempotence": True, "linger.ms": 5}))
for i in range(300):
    p.produce(topic, value=("value-%d" % i).encode() * 3, key=("k%d" % (i % 7)).encode(), headers=[("h", b"x")],
              on_delivery=lambda e, m: check(errors, e, m))
    if i % 50 == 0:
        p.flush(30)
p.flush(30)
z = ck.Producer(dict(common, **{"compression.type": "gzip", "linger.ms": 20}))
for i in range(40):
    z.produce(topic, value=b"compressed-%d" % i, on_delivery=lambda e, m: check(errors, e, m))
z.flush(30)
t = ck.Producer(dict(common, **{"transactional.id": topic + "-txn"}))
t.init_transactions(30)
t.begin_transaction()
for _ in range(3):
    t.produce(topic, b"committed")
t.commit_transaction(30)
t.begin_transaction()
for _ in range(3):
    t.produce(topic, b"aborted")
t.flush(30)
t.abort_transaction(30)
t.begin_transaction()
t.produce(topic, None, key=b"tombstone-in-txn")
t.commit_transaction(30)
group = topic + "-group"
c = ck.Consumer(dict(common, **{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
c.subscribe([topic])
n = 0
while n < 50:
    m = c.poll(10)
    if m is None or m.error():
        continue
    n += 1
c.commit(asynchronous=False)
c.close()
admin = AdminClient(common)
for future in admin.delete_consumer_groups([group], request_timeout=30).values():
    future.result()
if errors:
    sys.exit("delivery failed: %s" % errors[0])
