#!/usr/bin/env python3
"""Transactions across broker restarts (confluent-kafka), with the producer kept alive through them.

    txn_restart_check.py POTOK_BINARY

Starts `POTOK_BINARY broker` on a fixed free port with a fresh log.dirs and, with one transactional producer:
  1. writes 10 records in a transaction, stops the broker cleanly (SIGTERM) in the middle of it, starts it
     again, and commits: read_committed sees the 10;
  2. writes 5 more in a transaction, kills the broker (SIGKILL), starts it again, and aborts: read_committed
     still sees 10, read_uncommitted 15, and the last stable offset is the log end;
  3. leaves a transaction of 3 open across a clean restart; a new producer with the same transactional.id
     fences the old one, which aborts the open transaction, and commits one record of its own: 11 committed.
Prints "txn-restart-check: 1 passed, 0 failed" (exit 0) or the reason and "... 0 passed, 1 failed" (exit 1).
Needs the client-test venv's confluent-kafka (scripts/install-test-deps.sh). Every wait has a timeout.
"""

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

# librdkafka logs every connection this check breaks on purpose (%3|FAIL ... Connection refused). Its lines are
# kept here and printed only when the check fails, so a passing run leaves the test log clean.
LIBRDKAFKA_LINES = []


class _KeepLines(logging.Handler):
    def emit(self, record):
        LIBRDKAFKA_LINES.append(self.format(record))


LIBRDKAFKA = logging.getLogger("librdkafka")
LIBRDKAFKA.propagate = False
LIBRDKAFKA.setLevel(logging.DEBUG)
LIBRDKAFKA.addHandler(_KeepLines())

OP_TIMEOUT = 30.0
OVERALL_TIMEOUT_S = 170  # under the 200 s scripts/restart-check.sh allows


def on_alarm(signum, frame):
    raise TimeoutError(f"txn restart check did not finish in {OVERALL_TIMEOUT_S}s")


class Broker:
    def __init__(self, binary, data_dir):
        self.binary, self.data_dir = binary, data_dir
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.proc = None
        self.out = open(os.path.join(data_dir, "broker.out"), "ab")

    def start(self):
        self.proc = subprocess.Popen(
            [self.binary, "broker", "--override", f"listeners=PLAINTEXT://{self.address}",
             "--override", f"log.dirs={self.data_dir}/logs"],
            stdout=self.out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                assert self.proc.poll() is None, "the broker exited on start"
                time.sleep(0.05)
        raise AssertionError("the broker did not listen in 30 s")

    def stop(self, sig):
        self.proc.send_signal(sig)
        rc = self.proc.wait(timeout=30)
        if sig == signal.SIGTERM:
            assert rc == 0, f"clean stop exited {rc}"


def read_values(bootstrap, topic, isolation):
    c = Consumer({"bootstrap.servers": bootstrap, "logger": LIBRDKAFKA, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                  "isolation.level": isolation, "enable.partition.eof": True, "enable.auto.commit": False})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in (0, 1)])
        pending, out = {0, 1}, []
        deadline = time.monotonic() + OP_TIMEOUT
        while pending and time.monotonic() < deadline:
            m = c.poll(0.5)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    pending.discard(m.partition())
                    continue
                raise KafkaException(m.error())
            out.append(m.value().decode())
        assert not pending, f"partitions {pending} did not reach their end"
        return sorted(out)
    finally:
        c.close()


def check(binary):
    data = tempfile.mkdtemp(prefix="potok-txn-restart-")
    broker = Broker(binary, data)
    try:
        broker.start()
        bs = broker.address
        topic = f"txn-restart-{uuid.uuid4().hex[:8]}"
        admin = AdminClient({"bootstrap.servers": bs, "logger": LIBRDKAFKA})
        admin.create_topics([NewTopic(topic, 2, 1)])[topic].result(OP_TIMEOUT)
        txn_id = f"txn-restart-{uuid.uuid4().hex[:8]}"
        p = Producer({"bootstrap.servers": bs, "transactional.id": txn_id, "transaction.timeout.ms": 120000,
                      "reconnect.backoff.max.ms": 500, "logger": LIBRDKAFKA})
        p.init_transactions(OP_TIMEOUT)

        p.begin_transaction()
        for i in range(10):
            p.produce(topic, value=f"t1-{i}".encode(), partition=i % 2)
        assert p.flush(OP_TIMEOUT) == 0
        broker.stop(signal.SIGTERM)
        broker.start()
        p.commit_transaction(OP_TIMEOUT)
        committed = [f"t1-{i}" for i in range(10)]
        assert read_values(bs, topic, "read_committed") == sorted(committed)

        p.begin_transaction()
        for i in range(5):
            p.produce(topic, value=f"t2-{i}".encode(), partition=i % 2)
        assert p.flush(OP_TIMEOUT) == 0
        broker.stop(signal.SIGKILL)
        broker.start()
        p.abort_transaction(OP_TIMEOUT)
        assert read_values(bs, topic, "read_committed") == sorted(committed)
        assert len(read_values(bs, topic, "read_uncommitted")) == 15

        p.begin_transaction()
        for i in range(3):
            p.produce(topic, value=f"t3-{i}".encode(), partition=i % 2)
        assert p.flush(OP_TIMEOUT) == 0
        broker.stop(signal.SIGTERM)
        broker.start()
        p2 = Producer({"bootstrap.servers": bs, "transactional.id": txn_id, "logger": LIBRDKAFKA})
        p2.init_transactions(OP_TIMEOUT)
        p2.begin_transaction()
        p2.produce(topic, value=b"t4-0", partition=0)
        p2.commit_transaction(OP_TIMEOUT)
        assert read_values(bs, topic, "read_committed") == sorted(committed + ["t4-0"])
        assert len(read_values(bs, topic, "read_uncommitted")) == 19
        try:
            p.commit_transaction(10)
            raise AssertionError("the fenced producer committed")
        except KafkaException:
            pass
        broker.stop(signal.SIGTERM)
    except BaseException:
        with open(os.path.join(data, "broker.out"), "rb") as f:
            sys.stderr.write(f.read().decode(errors="replace")[-4000:])
        if broker.proc and broker.proc.poll() is None:
            broker.proc.kill()
        raise
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(OVERALL_TIMEOUT_S)
    try:
        check(sys.argv[1])
    except BaseException:
        traceback.print_exc()
        sys.stderr.write("".join(f"librdkafka: {line}\n" for line in LIBRDKAFKA_LINES[-200:]))
        print("txn-restart-check: 0 passed, 1 failed")
        return 1
    print("txn-restart-check: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
