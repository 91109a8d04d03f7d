#!/usr/bin/env python3
"""The course's custom partitioner (CURRICULUM.md §2): a topic of 2 partitions where a record's partition is
its Integer key modulo 2, so odd keys land in partition 1 and even keys in partition 0.

    python examples/python/key_partitioner.py [--bootstrap-servers HOST:PORT,...] [--count 10]

Java plugs a Partitioner class into `partitioner.class`; confluent-kafka's API has no such hook, so the
program computes the partition itself and passes it to produce(partition=...), which is what the Java
partitioner's return value does. Lines on stdout: `key K -> partition P` (from the delivery reports) and then
what a consumer reads back from each partition: `partition P holds keys ...`.
"""

from __future__ import annotations

import time

import potok
from potok.serialization import IntegerDeserializer, IntegerSerializer

import course


def odd_even(key: int, partitions: int) -> int:
    """The course's partitioner: the key modulo 2 (the topic has 2 partitions)."""
    return key % 2


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic", default="odd-even-topic")
    p.add_argument("--count", type=int, default=10)
    p.add_argument("--replication-factor", type=int, default=3)
    args = p.parse_args()
    with course.cluster(args, brokers=3) as setup:
        course.create_topic(setup.bootstrap, args.topic, 2, args.replication_factor)
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap, "client.id": "OddEvenProducer"})
        to_int, from_int = IntegerSerializer(), IntegerDeserializer()
        landed = {}
        for key in range(1, args.count + 1):
            producer.produce(args.topic, f"Simple Message-{key}", key=to_int(key), partition=odd_even(key, 2),
                             on_delivery=lambda err, msg, key=key: landed.__setitem__(key, msg.partition()))
        if producer.flush(30) != 0:
            raise SystemExit("not every record was acknowledged")
        producer.close()
        for key in sorted(landed):
            print(f"key {key} -> partition {landed[key]}")

        consumer = potok.Consumer({"bootstrap.servers": setup.bootstrap, "group.id": "odd-even-reader",
                                   "enable.auto.commit": False})
        consumer.assign([potok.TopicPartition(args.topic, p, potok.OFFSET_BEGINNING) for p in (0, 1)])
        held = {0: [], 1: []}  # type: dict
        deadline = time.monotonic() + 30
        while sum(map(len, held.values())) < args.count and time.monotonic() < deadline:
            for msg in consumer.consume(100, 1.0):
                held[msg.partition()].append(from_int(msg.key()))
        consumer.close()
        for partition in (0, 1):
            print(f"partition {partition} holds keys {' '.join(map(str, sorted(held[partition])))}")


if __name__ == "__main__":
    main()
