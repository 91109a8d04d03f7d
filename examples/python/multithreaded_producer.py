#!/usr/bin/env python3
"""The course's multi-threaded producer (CURRICULUM.md §3): one producer shared by a dispatcher thread per CSV
file of NSE end-of-day prices; each dispatcher sends its file's lines (the header left out) as values with no
key to `nse-eod-topic` (5 partitions, replication factor 3).

    python examples/python/multithreaded_producer.py [--bootstrap-servers HOST:PORT,...]
        [--files examples/data/NSE05NOV2018BHAV.csv,examples/data/NSE06NOV2018BHAV.csv]

A Kafka producer is thread-safe, and one is cheaper than several: the threads' records share its batches and
connections. Keyless records go to partitions by the sticky partitioner (Kafka 3.3 and later): one partition
until its batch is full or sent, then another. Then the topic is read back. Lines on stdout:
    dispatcher NSE05NOV2018BHAV.csv: sent 250 lines
    dispatcher NSE06NOV2018BHAV.csv: sent 250 lines
    partition 0: 103 records
    ...
    read 500 lines, each sent line once: yes
The files are synthetic, with the course's columns (examples/data/make_nse_eod.py makes them).
"""

from __future__ import annotations

import collections
import os
import sys
import threading
import time
from typing import Counter, List

import potok

import course

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
FILES = ",".join(os.path.join(DATA, f) for f in ("NSE05NOV2018BHAV.csv", "NSE06NOV2018BHAV.csv"))


def lines_of(path: str) -> List[str]:
    with open(path) as f:
        return [line.rstrip("\n") for line in f.readlines()[1:] if line.strip()]


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic", default="nse-eod-topic")
    p.add_argument("--files", default=FILES, help="comma-separated CSV files, one dispatcher thread each")
    p.add_argument("--replication-factor", type=int, default=3)
    args = p.parse_args()
    files = args.files.split(",")
    with course.cluster(args, brokers=3) as setup:
        course.create_topic(setup.bootstrap, args.topic, 5, args.replication_factor)
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap, "client.id": "MultiThreadProducer"})
        sent: Counter[str] = collections.Counter()
        failures: List[BaseException] = []

        def dispatch(path: str) -> None:
            try:
                lines = lines_of(path)
                for line in lines:
                    while True:
                        try:
                            producer.produce(args.topic, line)
                            break
                        except BufferError:
                            time.sleep(0.01)
                sent.update(lines)
                # One write per line: print() from two threads could interleave a line with its newline.
                sys.stdout.write(f"dispatcher {os.path.basename(path)}: sent {len(lines)} lines\n")
                sys.stdout.flush()
            except BaseException as e:  # reported by the main thread
                failures.append(e)

        dispatchers = [threading.Thread(target=dispatch, args=(f,), name=os.path.basename(f)) for f in files]
        for d in dispatchers:
            d.start()
        for d in dispatchers:
            d.join()
        if failures:
            raise failures[0]
        if producer.flush(60) != 0:
            raise SystemExit("not every line was acknowledged")
        producer.close()
        ends = course.end_offsets(setup.bootstrap, args.topic, 5)
        for partition, end in enumerate(ends):
            print(f"partition {partition}: {end} records")

        consumer = potok.Consumer({"bootstrap.servers": setup.bootstrap, "group.id": "nse-reader",
                                   "enable.auto.commit": False})
        consumer.assign([potok.TopicPartition(args.topic, p, potok.OFFSET_BEGINNING) for p in range(5)])
        read: Counter[str] = collections.Counter()
        deadline = time.monotonic() + 30
        while sum(read.values()) < sum(ends) and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 1.0):
                read[msg.value().decode()] += 1
        consumer.close()
        print(f"read {sum(read.values())} lines, each sent line once: {'yes' if read == sent else 'no'}")


if __name__ == "__main__":
    main()
