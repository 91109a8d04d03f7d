#!/usr/bin/env python3
"""The course's transactions (CURRICULUM.md §3): one transactional producer (`transactional.id=
Hello-Producer-Trans`) writes to two topics, `hello-producer-1` and `hello-producer-2` (5 partitions,
replication factor 3, min.insync.replicas=2). Transaction T1 sends keys 1-2 to both topics and commits;
transaction T2 sends the same and aborts. A consumer with isolation.level=read_committed sees T1's four records
only; one with read_uncommitted sees all eight.

    python examples/python/transactions.py [--bootstrap-servers HOST:PORT,...] [--count 2]

Lines on stdout: `read_committed: hello-producer-1 key 1 Simple Message-T1-1` ... for each record read, then
`read_committed saw 4 records (T1: 4, T2: 0)` and `read_uncommitted saw 8 records (T1: 4, T2: 4)`.
"""

from __future__ import annotations

import time
import uuid
from typing import List, Tuple

import potok
from potok.serialization import IntegerDeserializer, IntegerSerializer

import course


def send(producer: potok.Producer, topics: List[str], name: str, count: int) -> None:
    to_int = IntegerSerializer()
    for i in range(1, count + 1):
        for topic in topics:
            producer.produce(topic, f"Simple Message-{name}-{i}", key=to_int(i))


def read(bootstrap: str, topics: List[str], isolation: str, expected: int) -> List[Tuple[str, int, str]]:
    """Everything a fresh group reads from the topics' beginning, until `expected` records came and 1 s more."""
    consumer = potok.Consumer({"bootstrap.servers": bootstrap, "group.id": f"txn-reader-{uuid.uuid4()}",
                               "auto.offset.reset": "earliest", "isolation.level": isolation})
    consumer.subscribe(topics)
    from_int = IntegerDeserializer()
    got: List[Tuple[str, int, str]] = []
    deadline = time.monotonic() + 30
    extra = None
    while time.monotonic() < deadline and (extra is None or time.monotonic() < extra):
        for msg in consumer.consume(100, 0.2):
            got.append((msg.topic(), from_int(msg.key()), msg.value().decode()))
        if len(got) >= expected and extra is None:
            extra = time.monotonic() + 1.0
    consumer.close()
    return sorted(got)


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic-prefix", default="hello-producer")
    p.add_argument("--transactional-id", default="Hello-Producer-Trans")
    p.add_argument("--count", type=int, default=2, help="keys 1..COUNT per topic and transaction")
    p.add_argument("--replication-factor", type=int, default=3)
    p.add_argument("--min-insync-replicas", type=int, default=2)
    args = p.parse_args()
    topics = [f"{args.topic_prefix}-1", f"{args.topic_prefix}-2"]
    with course.cluster(args, brokers=3) as setup:
        for topic in topics:
            course.create_topic(setup.bootstrap, topic, 5, args.replication_factor,
                                {"min.insync.replicas": args.min_insync_replicas})
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap, "client.id": "HelloProducer",
                                   "transactional.id": args.transactional_id})
        producer.init_transactions(30)
        course.log("Starting First Transaction...")
        producer.begin_transaction()
        send(producer, topics, "T1", args.count)
        producer.commit_transaction(30)
        course.log("Starting Second Transaction...")
        producer.begin_transaction()
        send(producer, topics, "T2", args.count)
        producer.flush(30)
        producer.abort_transaction(30)
        course.log("Aborting Second Transaction...")
        producer.close()

        for isolation, expected in (("read_committed", 2 * args.count), ("read_uncommitted", 4 * args.count)):
            got = read(setup.bootstrap, topics, isolation, expected)
            for topic, key, value in got:
                print(f"{isolation}: {topic} key {key} {value}")
            t1 = sum("-T1-" in v for _, _, v in got)
            t2 = sum("-T2-" in v for _, _, v in got)
            print(f"{isolation} saw {len(got)} records (T1: {t1}, T2: {t2})", flush=True)


if __name__ == "__main__":
    main()
