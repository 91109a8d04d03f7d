#!/usr/bin/env python3
"""One measurement of a Python Kafka client against a running broker, printed as one JSON line (bench/bindings.sh
runs these alternately for potok and confluent-kafka and writes the report).

usage: bench/bindings.py produce|consume --client potok|confluent --bootstrap HOST:PORT --topic T
           [--records N] [--size BYTES] [--linger-ms MS] [--batch-size BYTES] [--broker-pid PID]
           [--mode poll|consume]

produce: N records of BYTES bytes (one value object, no key) to a one-partition topic, acks=1, with the same
  linger.ms and batch.size for both clients and a buffer large enough that produce() never raises BufferError.
  Reports the calling thread's CPU time inside the produce() loop per call (`call_cpu_us`: the per-call
  overhead, little disturbed by other processes), the loop's wall time per call, the records/s from the first
  produce() to the end of flush(), and the process's CPU per record (the client's own threads included).
consume: reads N records of partition 0 of TOPIC from the beginning (assign, no group management) and touches
  each message's value; `--mode poll` is one message per poll() call, `consume` batches of 1000 (consume()).
  Records/s from the first message to the N-th, and CPU per record.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def broker_cpu(pid: int | None) -> float:
    """The broker's CPU seconds so far (utime + stime from /proc), 0 when no pid was given."""
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def producer(client: str, bootstrap: str, linger_ms: int, batch_size: int):
    common = {"bootstrap.servers": bootstrap, "acks": "1", "linger.ms": str(linger_ms), "batch.size": str(batch_size)}
    if client == "potok":
        import potok

        return potok.Producer({**common, "buffer.memory": str(1 << 30)})
    from confluent_kafka import Producer

    return Producer(
        {
            **common,
            # batch.size is the limit in both; librdkafka's own count limit (10,000 by default) is lifted.
            "batch.num.messages": 1_000_000,
            "queue.buffering.max.messages": 10_000_000,
            "queue.buffering.max.kbytes": 2_097_151,
        }
    )


def consumer(client: str, bootstrap: str):
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": f"bench-{os.getpid()}",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }
    if client == "potok":
        import potok

        return potok.Consumer(config), potok.TopicPartition, potok.OFFSET_BEGINNING
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    return Consumer(config), TopicPartition, OFFSET_BEGINNING


def run_produce(args: argparse.Namespace) -> dict:
    p = producer(args.client, args.bootstrap, args.linger_ms, args.batch_size)
    value = b"v" * args.size
    topic = args.topic
    # Metadata and connection before the clock starts.
    p.produce(topic, value)
    assert p.flush(30) == 0
    produce = p.produce
    records = args.records
    cpu0, broker0 = process_cpu(), broker_cpu(args.broker_pid)
    t0, thread0 = time.perf_counter(), time.thread_time()
    for _ in range(records):
        produce(topic, value)
    t1, thread1 = time.perf_counter(), time.thread_time()
    remaining = p.flush(300)
    t2 = time.perf_counter()
    cpu = process_cpu() - cpu0
    assert remaining == 0, f"{remaining} records not delivered"
    return {
        "call_cpu_us": (thread1 - thread0) / records * 1e6,
        "call_wall_us": (t1 - t0) / records * 1e6,
        "records_per_s": records / (t2 - t0),
        "cpu_us_per_record": cpu / records * 1e6,
        "broker_cpu_us_per_record": (broker_cpu(args.broker_pid) - broker0) / records * 1e6,
    }


def run_consume(args: argparse.Namespace) -> dict:
    c, TopicPartition, beginning = consumer(args.client, args.bootstrap)
    c.assign([TopicPartition(args.topic, 0, beginning)])
    records = args.records
    seen = 0
    total_bytes = 0
    # The first message starts the clock (connection, metadata and the first fetch are left out).
    while True:
        m = c.poll(10.0)
        if m is not None:
            assert m.error() is None, m.error()
            seen, total_bytes = 1, len(m.value())
            break
    cpu0, broker0 = process_cpu(), broker_cpu(args.broker_pid)
    t0 = time.perf_counter()
    deadline = time.monotonic() + 300
    if args.mode == "poll":
        poll = c.poll
        while seen < records and time.monotonic() < deadline:
            m = poll(1.0)
            if m is None:
                continue
            total_bytes += len(m.value())
            seen += 1
    else:
        consume = c.consume
        while seen < records and time.monotonic() < deadline:
            for m in consume(min(1000, records - seen), 1.0):
                total_bytes += len(m.value())
                seen += 1
    t1 = time.perf_counter()
    cpu = process_cpu() - cpu0
    c.close()
    assert seen == records, f"read {seen} of {records}"
    assert total_bytes == records * args.size, total_bytes
    n = records - 1
    return {
        "records_per_s": n / (t1 - t0),
        "cpu_us_per_record": cpu / n * 1e6,
        "broker_cpu_us_per_record": (broker_cpu(args.broker_pid) - broker0) / n * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("test", choices=["produce", "consume"])
    parser.add_argument("--client", choices=["potok", "confluent"], required=True)
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=65536)
    parser.add_argument("--broker-pid", type=int)
    parser.add_argument("--mode", choices=["poll", "consume"], default="consume")
    args = parser.parse_args()
    result = run_produce(args) if args.test == "produce" else run_consume(args)
    mode = args.mode if args.test == "consume" else "loop"
    print(json.dumps({"client": args.client, "test": args.test, "mode": mode, **result}))


if __name__ == "__main__":
    main()
