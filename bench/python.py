#!/usr/bin/env python3
"""The Python package's figures: embedded broker start-up, and producer throughput through potok's Producer and
confluent-kafka's Producer against the same embedded broker, in one run.

usage: bench/python.py [--records N] [--size BYTES] [--starts N] [--out FILE]

Needs the `potok` wheel installed in release mode (`pip install ./bindings-python`) and confluent-kafka, as in
the venv of scripts/install-test-deps.sh. Writes a Markdown table to --out (default: stdout only).

* start-up: `potok.Broker()` constructor time (bound, log directory open, accepting connections), and the time
  from the constructor call until a first librdkafka produce to a new topic is acknowledged; `--starts` runs,
  median and extremes reported. Stop time is reported too.
* throughput: N records of BYTES bytes each (default 1,000,000 × 100), acks=1, to a fresh single-partition
  topic, produced in a tight loop and flushed; records/s and MB/s from the first produce call to the end of
  flush. Both producers write to one embedded broker (in this process), each to its own topic.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import uuid

from confluent_kafka import Producer as ConfluentProducer

import potok


def measure_startup(starts: int) -> dict:
    construct, first_ack, stop = [], [], []
    for _ in range(starts):
        t0 = time.perf_counter()
        broker = potok.Broker()
        t1 = time.perf_counter()
        acked = {}
        producer = ConfluentProducer({"bootstrap.servers": broker.bootstrap_servers, "acks": 1})
        producer.produce(f"startup-{uuid.uuid4().hex[:8]}", b"x", on_delivery=lambda err, _m: acked.setdefault("err", err))
        producer.flush(30)
        t2 = time.perf_counter()
        assert acked.get("err", "missing") is None, acked
        t3 = time.perf_counter()
        broker.stop()
        t4 = time.perf_counter()
        construct.append(t1 - t0)
        first_ack.append(t2 - t0)
        stop.append(t4 - t3)
    return {"construct": construct, "first_ack": first_ack, "stop": stop}


def produce_confluent(bootstrap: str, topic: str, records: int, value: bytes) -> float:
    producer = ConfluentProducer(
        {"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5, "queue.buffering.max.messages": 1_000_000}
    )
    producer.produce(topic, value)  # metadata and connection before the clock starts
    producer.flush(30)
    t0 = time.perf_counter()
    for _ in range(records):
        while True:
            try:
                producer.produce(topic, value)
                break
            except BufferError:
                producer.poll(0.01)
    remaining = producer.flush(300)
    elapsed = time.perf_counter() - t0
    assert remaining == 0, f"{remaining} records not delivered"
    return elapsed


def produce_potok(bootstrap: str, topic: str, records: int, value: bytes) -> float:
    producer = potok.Producer({"bootstrap.servers": bootstrap, "acks": 1, "linger.ms": 5})
    producer.produce(topic, value)
    producer.flush(30)
    t0 = time.perf_counter()
    for _ in range(records):
        producer.produce(topic, value)
    remaining = producer.flush(300)
    elapsed = time.perf_counter() - t0
    assert remaining == 0, f"{remaining} records not delivered"
    return elapsed


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--starts", type=int, default=20)
    parser.add_argument("--out")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    lines = [
        "# Python package figures (bench/python.py)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"potok {potok.__version__}.",
        "",
    ]
    startup = measure_startup(args.starts)
    lines += [
        f"## Embedded broker start-up ({args.starts} runs)",
        "",
        "| measure | median ms | min ms | max ms |",
        "|---|---|---|---|",
    ]
    for label, key in [
        ("`potok.Broker()` returns (listening)", "construct"),
        ("constructor → first produce acknowledged (librdkafka)", "first_ack"),
        ("`stop()` (flush, checkpoints, clean-shutdown marker)", "stop"),
    ]:
        values = startup[key]
        lines.append(f"| {label} | {ms(statistics.median(values))} | {ms(min(values))} | {ms(max(values))} |")
    lines.append("")

    if not args.skip_throughput:
        value = b"v" * args.size
        lines += [
            f"## Producer throughput: {args.records:,} records × {args.size} B, acks=1, one partition, same broker",
            "",
            "| producer | seconds | records/s | MB/s |",
            "|---|---|---|---|",
        ]
        with potok.Broker() as broker:
            for label, run in [("potok.Producer", produce_potok), ("confluent_kafka.Producer", produce_confluent)]:
                elapsed = run(broker.bootstrap_servers, f"bench-{uuid.uuid4().hex[:8]}", args.records, value)
                rate = args.records / elapsed
                lines.append(f"| {label} | {elapsed:.2f} | {rate:,.0f} | {rate * args.size / 1e6:.1f} |")
        lines.append("")

    text = "\n".join(lines)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
