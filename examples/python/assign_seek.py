#!/usr/bin/env python3
"""The course's assign and seek (CURRICULUM.md §5): a consumer without a group assigns itself partition 0 of a
topic, seeks to offset 15 and reads 5 records, offsets 15 to 19, then stops.

    python examples/python/assign_seek.py [--bootstrap-servers HOST:PORT,...] [--offset 15] [--read 5]

It first writes `--produce` records (default 30) to partition 0 of `assign-seek-topic` (3 partitions), values
`record N`, so that the partition has offsets to seek into. Lines on stdout:
    partition 0 offset 15: record 15
    ...
    read 5 records from offset 15 (no group, nothing committed)
"""

from __future__ import annotations

import time

import potok

import course


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic", default="assign-seek-topic")
    p.add_argument("--produce", type=int, default=30)
    p.add_argument("--offset", type=int, default=15)
    p.add_argument("--read", type=int, default=5)
    p.add_argument("--replication-factor", type=int, default=3)
    args = p.parse_args()
    with course.cluster(args, brokers=3) as setup:
        course.create_topic(setup.bootstrap, args.topic, 3, args.replication_factor)
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap})
        base = course.end_offsets(setup.bootstrap, args.topic, 3)[0]
        for i in range(args.produce):
            producer.produce(args.topic, f"record {base + i}", partition=0)
        if producer.flush(30) != 0:
            raise SystemExit("not every record was acknowledged")
        producer.close()

        # No group.id: assign() and seek() need none, and nothing is committed.
        consumer = potok.Consumer({"bootstrap.servers": setup.bootstrap, "enable.auto.commit": False})
        partition = potok.TopicPartition(args.topic, 0)
        consumer.assign([partition])
        consumer.seek(potok.TopicPartition(args.topic, 0, args.offset))
        read = 0
        deadline = time.monotonic() + 30
        while read < args.read and time.monotonic() < deadline:
            for msg in consumer.consume(args.read - read, 1.0):
                print(f"partition {msg.partition()} offset {msg.offset()}: {msg.value().decode()}")
                read += 1
        consumer.close()
        print(f"read {read} records from offset {args.offset} (no group, nothing committed)")


if __name__ == "__main__":
    main()
