#!/usr/bin/env python3
"""The Python package's figures: embedded broker start-up, and producer throughput through potok's Producer and
confluent-kafka's Producer against the same embedded broker, in one run.

usage: bench/python.py [--records N] [--size BYTES] [--starts N] [--rounds N] [--out FILE]

Needs the `potok` wheel installed in release mode (`pip install ./bindings-python`) and confluent-kafka, as in
the venv of scripts/install-test-deps.sh. Writes a Markdown table to --out (default: stdout only).

* start-up: `potok.Broker()` constructor time (bound, log directory open, accepting connections), and the time
  from the constructor call until a first librdkafka produce to a new topic is acknowledged; `--starts` runs,
  median and extremes reported. Stop time is reported too.
* throughput: N records of BYTES bytes each (default 1,000,000 × 100), acks=1, to a fresh single-partition
  topic, produced in a tight loop and flushed; records/s and MB/s from the first produce call to the end of
  flush. Both producers write to one embedded broker (in this process), each to its own topic, with the same
  batching settings as bench/bindings.py (which measures them against a broker in a process of its own);
  `--rounds` rounds with the order swapped every round, the median reported.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
import uuid

from bindings import producer
from confluent_kafka import Producer as ConfluentProducer

import potok

LINGER_MS = 5
BATCH_SIZE = 65536


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
        del producer  # closed before the broker stops, so that it does not log the disconnect
        t3 = time.perf_counter()
        broker.stop()
        t4 = time.perf_counter()
        construct.append(t1 - t0)
        first_ack.append(t2 - t0)
        stop.append(t4 - t3)
    return {"construct": construct, "first_ack": first_ack, "stop": stop}


def produce_seconds(client: str, bootstrap: str, topic: str, records: int, value: bytes) -> float:
    """From the first produce() call until flush() returns, with bench/bindings.py's settings for that client."""
    p = producer(client, bootstrap, LINGER_MS, BATCH_SIZE)
    p.produce(topic, value)  # metadata and connection before the clock starts
    assert p.flush(30) == 0
    t0 = time.perf_counter()
    for _ in range(records):
        p.produce(topic, value)
    remaining = p.flush(300)
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
    parser.add_argument("--rounds", type=int, default=3)
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
            f"Both producers with linger.ms={LINGER_MS} and batch.size={BATCH_SIZE} (librdkafka's batch.num.messages "
            f"lifted so that batch.size decides), as in bench/bindings.py; {args.rounds} rounds, the order swapped "
            "every round, the median reported.",
            "",
            "| producer | seconds | records/s | MB/s |",
            "|---|---|---|---|",
        ]
        seconds: dict[str, list[float]] = {"potok": [], "confluent": []}
        with potok.Broker() as broker:
            for round_ in range(args.rounds):
                for client in ("potok", "confluent") if round_ % 2 == 0 else ("confluent", "potok"):
                    topic = f"bench-{uuid.uuid4().hex[:8]}"
                    seconds[client].append(produce_seconds(client, broker.bootstrap_servers, topic, args.records, value))
        for label, client in [("potok.Producer", "potok"), ("confluent_kafka.Producer", "confluent")]:
            elapsed = statistics.median(seconds[client])
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
