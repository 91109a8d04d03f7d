#!/usr/bin/env python3
"""The course's Python exercise (CURRICULUM.md §7): a producer sends 100 fake names to the topic `names`, and a
consumer in the group `names-consumer-group` reads them back and prints partition, offset and name.

    python examples/python/names.py [BOOTSTRAP]     # default 127.0.0.1:9092; any Kafka-compatible broker

Uses potok's own clients (`pip install potok`); `run()` is also what the package's test suite calls.
"""

from __future__ import annotations

import random
import sys
import time
from typing import List, Optional

import potok
from potok.admin import NewTopic

TOPIC = "names"
GROUP = "names-consumer-group"
COUNT = 100

_FIRST = ["Anna", "Boris", "Chen", "Dana", "Emil", "Fatima", "Goran", "Hana", "Ivan", "Julia", "Kofi", "Lena",
          "Marek", "Nina", "Omar", "Petra", "Quinn", "Rosa", "Sven", "Tomas", "Uma", "Vera", "Wiktor", "Yara"]
_LAST = ["Novak", "Kowalski", "Ivanova", "Schmidt", "Rossi", "Garcia", "Okafor", "Tanaka", "Horvat", "Dubois",
         "Jensen", "Silva", "Petrov", "Larsen", "Moreau", "Costa", "Nowak", "Weber", "Haddad", "Kim"]


def fake_names(count: int, seed: Optional[int] = None) -> List[str]:
    """`count` random "First Last" names."""
    rng = random.Random(seed)
    return [f"{rng.choice(_FIRST)} {rng.choice(_LAST)}" for _ in range(count)]


def run(bootstrap: str, topic: str = TOPIC, group: str = GROUP, count: int = COUNT, timeout: float = 30.0,
        quiet: bool = False) -> List[str]:
    """Produces `count` names to `topic` and reads them back in `group`; returns the names read."""
    admin = potok.AdminClient({"bootstrap.servers": bootstrap})
    try:
        admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(timeout)
    except potok.TopicAlreadyExistsError:
        pass
    finally:
        admin.close()

    names = fake_names(count)
    producer = potok.Producer({"bootstrap.servers": bootstrap, "acks": "all"})
    for i, name in enumerate(names):
        producer.produce(topic, name.encode(), key=str(i).encode())
    if producer.flush(timeout) != 0:
        raise RuntimeError("not every name was delivered")
    producer.close()

    consumer = potok.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest"})
    read: List[str] = []
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + timeout
        while len(read) < count and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            value = message.value()
            name = value.decode() if isinstance(value, bytes) else str(value)
            read.append(name)
            if not quiet:
                print(f"partition={message.partition()} offset={message.offset()} name={name}")
        consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return read


if __name__ == "__main__":
    names = run(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:9092")
    print(f"read {len(names)} names", file=sys.stderr)
