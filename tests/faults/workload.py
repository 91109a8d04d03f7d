"""The workloads, each run as its own process (`python -m faults.workload KIND ARGS...`) so that a client stuck
inside librdkafka is ended by the harness with a signal and never hangs the run. Each writes one JSON object a
line to its output file, flushed as it goes, so what it recorded survives its own SIGKILL:

    producer  idempotent acks=all; {"ack": [partition, offset, seq]} per acknowledged record,
              {"fail": seq, "err": ...} per record the client gave up on (it may or may not be in the log)
    txn       one transactional producer; {"txn": n, "outcome": "committed"|"aborted"|"unknown",
              "values": [[partition, value, offset|null], ...]} per transaction
    consumer  a group member, read_committed, manual synchronous commits; {"seen": [topic, partition, offset,
              value]} per record, {"commit": [[topic, partition, offset], ...]} per acknowledged commit
    monitor   polls the group's committed offsets (OffsetFetch); {"t": time, "offsets": [[topic, partition, offset], ...]}

SIGTERM asks a workload to finish: producers stop producing and wait (bounded) for their outstanding records,
consumers leave the group. The harness sends SIGKILL to whatever has not exited in time.
"""

from __future__ import annotations

import faulthandler
import json
import os
import random
import signal
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

STOP = threading.Event()
# Past this many seconds after SIGTERM a workload exits on its own, whatever its client is waiting for.
EXIT_AFTER_STOP_S = 50


def _on_term(*_):
    if not STOP.is_set():
        STOP.set()
        threading.Timer(EXIT_AFTER_STOP_S, lambda: (faulthandler.dump_traceback(), os._exit(3))).start()


signal.signal(signal.SIGTERM, _on_term)
faulthandler.register(signal.SIGUSR1)


class Out:
    def __init__(self, path: str) -> None:
        self.f = open(path, "a", buffering=1)
        self.lock = threading.Lock()

    def write(self, **record) -> None:
        with self.lock:
            self.f.write(json.dumps(record) + "\n")


def common(bootstrap: str) -> dict:
    return {
        "bootstrap.servers": bootstrap,
        "socket.connection.setup.timeout.ms": 5000,
        "topic.metadata.refresh.interval.ms": 2000,
        "log_level": 3,
    }


def producer(bootstrap: str, topic: str, partitions: int, wid: str, rate: float, out_path: str) -> None:
    out = Out(out_path)
    fatal = threading.Event()

    def on_error(err):
        out.write(event="fatal" if err.fatal() else "error", err=str(err))
        if err.fatal():
            fatal.set()

    conf = dict(common(bootstrap), **{
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        # No local timeout: when an in-flight message times out librdkafka bumps the producer epoch and sends
        # what it still holds again under new sequence numbers, so a batch the broker had persisted before
        # the bump is written twice. Kafka shows those duplicates too (trial seed 1695753998, three copies of
        # one batch after 305 timeouts), and the idempotence promise is for retries, not for that case.
        "message.timeout.ms": 0,
        "request.timeout.ms": 10000,
        # librdkafka's log of its idempotence state machine and of each batch's outcome (to stderr, kept with a
        # failed trial's work directory): which answers made it bump its epoch, should a duplicate appear
        # again (trial seed 1807272002 of run 20261204 left that unknown; 1552802484 of run 20261207 had
        # only the eos log).
        "debug": "eos,msg",
        "log_level": 7,
        "error_cb": on_error,
    })
    p = Producer(conf)
    seq = 0
    pending = 0

    def report(err, msg, seq):
        nonlocal pending
        pending -= 1
        if err is None:
            out.write(ack=[msg.partition(), msg.offset(), seq])
        else:
            out.write(fail=seq, err=str(err))

    interval = 1.0 / rate
    next_at = time.monotonic()
    while not STOP.is_set():
        try:
            p.produce(topic, value=f"{wid}-{seq}".encode(), partition=seq % partitions,
                      on_delivery=lambda err, msg, s=seq: report(err, msg, s))
            pending += 1
            seq += 1
        except BufferError:
            pass
        except KafkaException as e:
            out.write(event="produce-error", err=str(e))
        if fatal.is_set():
            # A fatal idempotence error ends this producer's identity: what it still holds fails (reported as
            # "fail"), and a new producer carries on with the next sequence numbers.
            p.purge()
            p.flush(5)
            p = Producer(conf)
            fatal.clear()
            out.write(event="new-producer", at_seq=seq)
        next_at += interval
        p.poll(max(0.0, next_at - time.monotonic()))
    left = p.flush(40)
    out.write(event="done", produced=seq, unflushed=left)


def retrying(call, attempts: int = 6) -> None:
    """Calls a transactional API again while it fails with a retriable error (a timeout: librdkafka resumes
    the same operation), so a commit spans a fault of up to a minute."""
    for attempt in range(attempts):
        try:
            return call()
        except KafkaException as e:
            # Once asked to stop, one more attempt only: the harness waits a bounded time for the workload.
            if not e.args[0].retriable() or attempt == attempts - 1 or (STOP.is_set() and attempt > 0):
                raise


def txn(bootstrap: str, topic: str, partitions: int, wid: str, seed: int, out_path: str) -> None:
    out = Out(out_path)
    rng = random.Random(seed)
    conf = dict(common(bootstrap), **{
        "transactional.id": f"{wid}-txid",
        "acks": "all",
        "linger.ms": 5,
        "transaction.timeout.ms": 15000,
        "message.timeout.ms": 15000,
        "request.timeout.ms": 10000,
    })

    def new_producer():
        while not STOP.is_set():
            p = Producer(conf)
            try:
                p.init_transactions(30)
                return p
            except KafkaException as e:
                out.write(event="init-error", err=str(e))
                time.sleep(0.5)
        return None

    p = new_producer()
    n = 0
    while p is not None and not STOP.is_set():
        n += 1
        values = []  # [partition, value, offset] in produce order; the offset filled by the delivery report
        outcome = "unknown"
        want_commit = rng.random() >= 0.3
        try:
            p.begin_transaction()
            for k in range(rng.randint(1, 8)):
                rec = [rng.randrange(partitions), f"{wid}-t{n}-{k}", None]
                values.append(rec)

                def report(err, msg, rec=rec):
                    if err is None:
                        rec[2] = msg.offset()

                p.produce(topic, value=rec[1].encode(), partition=rec[0], on_delivery=report)
            if want_commit:
                retrying(lambda: p.commit_transaction(10))
                outcome = "committed"
            else:
                retrying(lambda: p.abort_transaction(10))
                outcome = "aborted"
        except KafkaException as e:
            err = e.args[0]
            out.write(event="txn-error", txn=n, err=str(err), fatal=err.fatal(), abortable=err.txn_requires_abort())
            if err.txn_requires_abort():
                try:
                    retrying(lambda: p.abort_transaction(10))
                    outcome = "aborted"
                except KafkaException as e2:
                    out.write(event="abort-error", txn=n, err=str(e2))
            if outcome == "unknown":
                # Fatal, or the abort failed: a new producer with the same transactional.id fences this one
                # and the coordinator aborts its open transaction (if it did not commit it).
                p = new_producer()
        except BufferError:
            pass
        out.write(txn=n, outcome=outcome, values=values)
        time.sleep(rng.uniform(0.02, 0.15))
    if p is not None:
        p.flush(15)


def consumer(bootstrap: str, topics: str, group: str, wid: str, out_path: str) -> None:
    out = Out(out_path)
    c = Consumer(dict(common(bootstrap), **{
        "group.id": group,
        "client.id": wid,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
        "max.poll.interval.ms": 30000,
        "error_cb": lambda err: out.write(event="error", err=str(err)),
    }))
    c.subscribe(topics.split(","))
    since_commit = 0
    last_commit = time.monotonic()
    while not STOP.is_set():
        msg = c.poll(0.2)
        if msg is not None:
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    out.write(event="consume-error", err=str(msg.error()))
            else:
                out.write(seen=[msg.topic(), msg.partition(), msg.offset(), msg.value().decode()])
                since_commit += 1
        if since_commit and (since_commit >= 20 or time.monotonic() - last_commit > 1):
            try:
                committed = c.commit(asynchronous=False)
                out.write(commit=[[tp.topic, tp.partition, tp.offset] for tp in committed or []
                                  if tp.error is None and tp.offset >= 0])
            except KafkaException as e:
                out.write(event="commit-error", err=str(e))
            since_commit = 0
            last_commit = time.monotonic()
    c.close()


def monitor(bootstrap: str, group: str, topics: str, partitions: int, out_path: str) -> None:
    """Asks the group coordinator (OffsetFetch, as a client outside the group that never joins it) for the
    committed offsets, twice a second."""
    out = Out(out_path)
    c = Consumer(dict(common(bootstrap), **{"group.id": group, "enable.auto.commit": False}))
    tps = [TopicPartition(t, p) for t in topics.split(",") for p in range(partitions)]
    while not STOP.is_set():
        try:
            res = c.committed(tps, timeout=5)
            out.write(t=time.time(), offsets=[[tp.topic, tp.partition, tp.offset] for tp in res
                                              if tp.error is None and tp.offset >= 0])
        except KafkaException as e:
            out.write(event="poll-error", err=str(e))
        STOP.wait(0.5)
    c.close()


if __name__ == "__main__":
    kind, args = sys.argv[1], sys.argv[2:]
    if kind == "producer":
        producer(args[0], args[1], int(args[2]), args[3], float(args[4]), args[5])
    elif kind == "txn":
        txn(args[0], args[1], int(args[2]), args[3], int(args[4]), args[5])
    elif kind == "consumer":
        consumer(args[0], args[1], args[2], args[3], args[4])
    elif kind == "monitor":
        monitor(args[0], args[1], args[2], int(args[3]), args[4])
    else:
        sys.exit(f"unknown workload {kind}")
    os._exit(0)
