#!/usr/bin/env python3
"""The course's broker failure and min ISR (CURRICULUM.md §1): a topic with replication factor 3 and
min.insync.replicas=2 on three brokers. Stopping one broker shrinks the ISR and moves its leaderships, and
acks=all still succeeds with two replicas in sync; stopping a second leaves one in sync, below the minimum, and
acks=all is refused with NOT_ENOUGH_REPLICAS (a producer with retries keeps trying until delivery.timeout.ms).
Started again, the brokers catch up and rejoin the ISR.

    python examples/python/broker_failure.py [--delivery-timeout-ms 3000]

It needs brokers it can stop, so it always runs on an embedded cluster: three brokers beside a dedicated
controller (`potok.Cluster(brokers=3, controllers=1)`), so that the controller quorum survives two brokers
going down, as a production KRaft cluster's does. Lines on stdout: the partitions' leader, replicas and ISR
after each step, and
    acks=all with 3 in sync: delivered
    stopped broker 1
    acks=all with 2 in sync: delivered
    stopped broker 2
    acks=all with 1 in sync, retries=0: NOT_ENOUGH_REPLICAS
    acks=all with 1 in sync, retrying: _TIMED_OUT after 3000 ms
    started brokers 1 and 2
    acks=all with 3 in sync: delivered
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Callable, Dict, List

import potok
from potok.admin import AdminClient

import course

TOPIC = "min-isr-topic"


def partitions(bootstrap: str) -> List[Any]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        meta = admin.list_topics(TOPIC, timeout=10).topics[TOPIC]
        return sorted(meta.partitions.values(), key=lambda p: p.id)
    finally:
        admin.close()


def wait_for(bootstrap: str, what: str, ok: Callable[[List[Any]], bool]) -> None:
    """Waits (30 s at most) until the topic's partitions satisfy `ok`, then prints them as kafka-topics does."""
    deadline = time.monotonic() + 30
    while True:
        try:
            found = partitions(bootstrap)
            if ok(found):
                break
        except potok.KafkaException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"not within 30 s: {what}")
        time.sleep(0.2)
    for line in course.describe(bootstrap, TOPIC):
        print(line, flush=True)


def produce(bootstrap: str, label: str, **conf: Any) -> None:
    settings: Dict[str, Any] = {"bootstrap.servers": bootstrap, "acks": "all"}
    settings.update({k.replace("_", "."): v for k, v in conf.items()})
    producer = potok.Producer(settings)
    errors: List[Any] = []
    started = time.monotonic()
    producer.produce(TOPIC, b"a record", partition=0, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(60)
    producer.close()
    elapsed_ms = (time.monotonic() - started) * 1000
    error = errors[0] if errors else None
    if error is None:
        print(f"acks=all with {label}: delivered", flush=True)
    elif error.name() == "_TIMED_OUT":
        print(f"acks=all with {label}: {error.name()} after {round(elapsed_ms, -3):.0f} ms", flush=True)
    else:
        print(f"acks=all with {label}: {error.name()}", flush=True)
    if error is not None:
        course.log(f"  ({error})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--delivery-timeout-ms", type=int, default=3000,
                   help="how long the retrying producer keeps trying (Kafka's default is 120000)")
    args = p.parse_args()
    with potok.Cluster(brokers=3, controllers=1) as cluster:
        bootstrap = cluster.bootstrap_servers
        course.log(f"embedded potok cluster: brokers 1-3 at {bootstrap}, controller 4")
        course.create_topic(bootstrap, TOPIC, 3, 3, {"min.insync.replicas": 2})
        wait_for(bootstrap, "3 in sync", lambda ps: all(len(x.isrs) == 3 for x in ps))
        produce(bootstrap, "3 in sync")

        cluster.stop_broker(1)
        print("stopped broker 1", flush=True)
        wait_for(bootstrap, "broker 1 out of every ISR",
                 lambda ps: all(1 not in x.isrs and x.leader != 1 for x in ps))
        produce(bootstrap, "2 in sync")

        cluster.stop_broker(2)
        print("stopped broker 2", flush=True)
        wait_for(bootstrap, "only broker 3 in sync", lambda ps: all(x.isrs == [3] for x in ps))
        produce(bootstrap, "1 in sync, retries=0", retries=0)
        timeout = args.delivery_timeout_ms
        produce(bootstrap, "1 in sync, retrying", delivery_timeout_ms=timeout,
                request_timeout_ms=max(1, timeout - 5), linger_ms=0)

        cluster.start_broker(1)
        cluster.start_broker(2)
        print("started brokers 1 and 2", flush=True)
        wait_for(bootstrap, "3 in sync again", lambda ps: all(sorted(x.isrs) == [1, 2, 3] for x in ps))
        produce(bootstrap, "3 in sync")


if __name__ == "__main__":
    main()
