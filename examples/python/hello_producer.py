#!/usr/bin/env python3
"""The course's HelloProducer (CURRICULUM.md §2): 1,000,000 records, key `i` (an Integer) and value
`"Simple Message-i"`, into `hello-producer-topic` (5 partitions, replication factor 3).

    python examples/python/hello_producer.py [--bootstrap-servers HOST:PORT,...] [--count 1000000]

Keys are serialized as Kafka's IntegerSerializer does (four big-endian bytes) and placed by the default
partitioner, murmur2(key) & 0x7fffffff % 5, as Kafka's Java client places them: key 1 on partition 0, 2 on 3,
3 on 1, 4 on 3, 5 on 4. Lines on stdout: `key K -> partition P` for the first keys (from the delivery
reports), then `partition P: N records` per partition (the log end offsets) and `sent N records in S s`.
"""

from __future__ import annotations

import struct
import time
from typing import Callable, Dict, Optional

import potok
from potok.serialization import IntegerSerializer, MessageField, SerializationContext, StringSerializer

import course


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic", default="hello-producer-topic")
    p.add_argument("--count", type=int, default=1_000_000)
    p.add_argument("--partitions", type=int, default=5)
    p.add_argument("--replication-factor", type=int, default=3)
    p.add_argument("--show", type=int, default=10, help="print where the first SHOW keys landed")
    p.add_argument("--fast", action="store_true", help="serialize with struct/str.encode instead of the "
                   "serializer objects (the same bytes; the serializer calls dominate a million-record run)")
    args = p.parse_args()
    with course.cluster(args, brokers=3) as setup:
        course.create_topic(setup.bootstrap, args.topic, args.partitions, args.replication_factor)
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap, "client.id": "HelloProducer"})
        # Kafka's IntegerSerializer and StringSerializer, from potok.serialization. For a million records the
        # same bytes come faster from Python itself: struct.pack(">i", i) and str.encode() (--fast).
        key_ctx = SerializationContext(args.topic, MessageField.KEY)
        value_ctx = SerializationContext(args.topic, MessageField.VALUE)
        keys: Callable[[int, SerializationContext], Optional[bytes]] = IntegerSerializer()
        values: Callable[[str, SerializationContext], Optional[bytes]] = StringSerializer()
        if args.fast:
            keys = lambda i, _ctx: struct.pack(">i", i)  # noqa: E731
            values = lambda s, _ctx: s.encode()  # noqa: E731
        landed: Dict[int, int] = {}

        def report(err, msg) -> None:  # type: ignore[no-untyped-def]
            if err is not None:
                raise SystemExit(f"delivery failed: {err}")
            landed[int.from_bytes(msg.key(), "big", signed=True)] = msg.partition()

        started = time.monotonic()
        course.log("Start sending messages...")
        for i in range(1, args.count + 1):
            key = keys(i, key_ctx)
            value = values(f"Simple Message-{i}", value_ctx)
            while True:
                try:
                    producer.produce(args.topic, value, key=key, on_delivery=report if i <= args.show else None)
                    break
                except BufferError:
                    producer.poll(0.1)
        if producer.flush(300) != 0:
            raise SystemExit("not every record was acknowledged")
        producer.close()
        elapsed = time.monotonic() - started
        course.log("Finished - Closing Kafka Producer.")
        for k in sorted(landed):
            print(f"key {k} -> partition {landed[k]}")
        for partition, end in enumerate(course.end_offsets(setup.bootstrap, args.topic, args.partitions)):
            print(f"partition {partition}: {end} records")
        print(f"sent {args.count} records in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
