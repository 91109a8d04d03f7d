#!/usr/bin/env python3
"""The course's key hashing (CURRICULUM.md §6): records with the String keys id_0..id_9 on a topic of 3
partitions land where Kafka's default partitioner puts them, murmur2(key) & 0x7fffffff % 3: id_0 on 1, id_1 on 0,
id_2 on 2, id_3 on 0, id_4 on 2, id_5 on 2, id_6 on 0, id_7 on 2, id_8 on 1, id_9 on 2, in every client. Then the
topic grows to 4 partitions and the same keys are sent again: the modulus changed, so some keys move, and a
consumer no longer finds all of a key's records in one partition.

    python examples/python/key_hashing.py [--bootstrap-servers HOST:PORT,...] [--topic first_topic]

Lines on stdout: `3 partitions: key id_0 -> partition 1` ..., then `4 partitions: key id_0 -> partition ...` and
`keys that moved: N of 10`.
"""

from __future__ import annotations

from typing import Dict

import potok
from potok.admin import AdminClient, NewPartitions

import course


def send_keys(bootstrap: str, topic: str) -> Dict[str, int]:
    producer = potok.Producer({"bootstrap.servers": bootstrap})
    landed: Dict[str, int] = {}
    for i in range(10):
        key = f"id_{i}"
        producer.produce(topic, f"hello world {i}", key=key,
                         on_delivery=lambda err, msg, key=key: landed.__setitem__(key, msg.partition()))
    if producer.flush(30) != 0:
        raise SystemExit("not every record was acknowledged")
    producer.close()
    return landed


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic", default="first_topic")
    p.add_argument("--replication-factor", type=int, default=3)
    args = p.parse_args()
    with course.cluster(args, brokers=3) as setup:
        course.create_topic(setup.bootstrap, args.topic, 3, args.replication_factor)
        before = send_keys(setup.bootstrap, args.topic)
        for key in sorted(before):
            print(f"3 partitions: key {key} -> partition {before[key]}")
        admin = AdminClient({"bootstrap.servers": setup.bootstrap})
        admin.create_partitions([NewPartitions(args.topic, 4)])[args.topic].result(30)
        admin.close()
        course.create_topic(setup.bootstrap, args.topic, 4, args.replication_factor)  # waits for the 4th leader
        # A new producer asks for the topic's metadata at once (a running one would learn of the new partition
        # with its next metadata refresh, metadata.max.age.ms).
        after = send_keys(setup.bootstrap, args.topic)
        for key in sorted(after):
            print(f"4 partitions: key {key} -> partition {after[key]}")
        moved = sum(before[k] != after[k] for k in before)
        print(f"keys that moved: {moved} of {len(before)}")


if __name__ == "__main__":
    main()
