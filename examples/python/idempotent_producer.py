#!/usr/bin/env python3
"""The course's idempotent producer (CURRICULUM.md §3): `enable.idempotence=true` (which implies acks=all,
retries=MAX and max.in.flight.requests.per.connection<=5) makes the broker drop a batch it already has when the
producer retries it, so a retry never writes a record twice.

    python examples/python/idempotent_producer.py [--bootstrap-servers HOST:PORT,...] [--count 100000]

Records with keys 0..count-1 go to `idempotent-topic` (3 partitions, replication factor 3). On the embedded
cluster the program stops the broker leading partition 0 halfway through, so that requests in flight fail
(NOT_LEADER_OR_FOLLOWER, a broken connection) and are retried to the new leader. Then it reads the topic back:
    stopped broker 1 after 50000 records
    sent 100000 records, read 100000, duplicates 0, missing 0, out of order 0
"""

from __future__ import annotations

import time
from typing import Dict, Set

import potok

import course


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic", default="idempotent-topic")
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--partitions", type=int, default=3)
    p.add_argument("--replication-factor", type=int, default=3)
    args = p.parse_args()
    with course.cluster(args, brokers=3) as setup:
        course.create_topic(setup.bootstrap, args.topic, args.partitions, args.replication_factor)
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap, "enable.idempotence": True,
                                   "linger.ms": 5, "client.id": "IdempotentProducer"})
        stopped = None
        for i in range(args.count):
            if setup.cluster is not None and i == args.count // 2:
                producer.poll(0)
                admin = potok.AdminClient({"bootstrap.servers": setup.bootstrap})
                stopped = admin.list_topics(args.topic, timeout=10).topics[args.topic].partitions[0].leader
                admin.close()
                setup.cluster.stop_broker(stopped)
                print(f"stopped broker {stopped} after {i} records", flush=True)
            while True:
                try:
                    producer.produce(args.topic, f"record {i}", key=str(i))
                    break
                except BufferError:
                    producer.poll(0.1)
        if producer.flush(120) != 0:
            raise SystemExit("not every record was acknowledged")
        producer.close()

        consumer = potok.Consumer({"bootstrap.servers": setup.bootstrap, "group.id": "idempotent-reader",
                                   "enable.auto.commit": False})
        consumer.assign([potok.TopicPartition(args.topic, p, potok.OFFSET_BEGINNING)
                         for p in range(args.partitions)])
        seen: Set[int] = set()
        last: Dict[int, int] = {}
        read = duplicates = out_of_order = 0
        deadline = time.monotonic() + 60
        while read < args.count and time.monotonic() < deadline:
            for msg in consumer.consume(1000, 1.0):
                key = int(msg.key())
                read += 1
                duplicates += key in seen
                seen.add(key)
                out_of_order += last.get(msg.partition(), -1) > key
                last[msg.partition()] = key
        # Anything more (a duplicate past the count) would show within a second.
        for msg in consumer.consume(1000, 1.0):
            read += 1
            duplicates += 1
        consumer.close()
        missing = args.count - len(seen)
        print(f"sent {args.count} records, read {read}, duplicates {duplicates}, missing {missing}, "
              f"out of order {out_of_order}")


if __name__ == "__main__":
    main()
