#!/usr/bin/env python3
"""The controller fails over (CURRICULUM.md §1): in a KRaft cluster one node of the controller quorum is the
active controller, which decides placements, leaders and ISRs. Three nodes here are each a broker and a voter of
the quorum (`process.roles=broker,controller`, as the course's three-node cluster). The program finds the active
controller, kills that node (as SIGKILL would), and watches the two remaining voters elect a new one, a majority
of the three; the topic stays available: its partitions get leaders on the live nodes and acks=all writes go on.

    python examples/python/controller_failover.py [--records 10]

It kills a node, so it always runs on an embedded cluster. The controller comes from each live broker's Metadata
answer (`AdminClient.list_topics().controller_id`); potok names the active controller there when it is a broker
too, as `kafka-metadata-quorum.sh describe --status` names it (LeaderId) on Kafka, whose brokers name a random
broker. Lines on stdout:
    active controller: node 1
    acks=all: 10 records delivered
    killed node 1, the active controller
    new active controller: node 2
    Topic: failover-topic  Partition: 0  Leader: 2  Replicas: 1,2,3  Isr: 2,3   (one line per partition)
    acks=all: 10 records delivered
    the topic holds 20 records
    node 1 started again: it rejoins the quorum, the active controller stays node 2
"""

from __future__ import annotations

import argparse
import time
from typing import Any, Dict, List, Optional

import potok
from potok.admin import AdminClient

import course

TOPIC = "failover-topic"


def controllers(cluster: potok.Cluster) -> Dict[str, int]:
    """Each running broker's answer (its address -> the controller id it names). A fresh client's first request
    goes to its bootstrap broker, so each answer is that broker's own view."""
    views = {}
    for address in cluster.bootstrap_servers.split(","):
        admin = AdminClient({"bootstrap.servers": address})
        try:
            views[address] = admin.list_topics(timeout=5).controller_id
        except potok.KafkaException:
            views[address] = -1
        finally:
            admin.close()
    return views


def agreed_controller(cluster: potok.Cluster, other_than: Optional[int] = None, timeout_s: float = 30) -> int:
    """Waits until every running broker names the same live node as the controller (a broker in the middle of an
    election names itself or no one, so agreement is what tells the election is over)."""
    deadline = time.monotonic() + timeout_s
    while True:
        views = controllers(cluster)
        named = set(views.values())
        if len(named) == 1:
            (controller,) = named
            if controller in cluster.running and controller != other_than:
                return controller
        if time.monotonic() > deadline:
            raise SystemExit(f"the brokers did not agree on a controller within {timeout_s:.0f} s: {views}")
        time.sleep(0.2)


def partitions(bootstrap: str) -> List[Any]:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    try:
        return list(admin.list_topics(TOPIC, timeout=10).topics[TOPIC].partitions.values())
    except potok.KafkaException:
        return []
    finally:
        admin.close()


def produce(bootstrap: str, records: int, start: int) -> None:
    producer = potok.Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0})
    errors: List[str] = []
    for i in range(start, start + records):
        producer.produce(TOPIC, f"record {i}".encode(), key=str(i).encode(),
                         on_delivery=lambda err, msg: errors.append(str(err)) if err is not None else None)
    producer.flush(60)
    producer.close()
    if errors:
        raise SystemExit(f"{len(errors)} of {records} records failed: {errors[0]}")
    print(f"acks=all: {records} records delivered", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--records", type=int, default=10, help="records sent before and after the failover")
    args = p.parse_args()
    with potok.Cluster(brokers=3) as cluster:
        course.log(f"embedded potok cluster: nodes 1-3 (broker and controller each) at {cluster.bootstrap_servers}")
        course.create_topic(cluster.bootstrap_servers, TOPIC, 3, 3, {"min.insync.replicas": 2})
        controller = agreed_controller(cluster)
        print(f"active controller: node {controller}", flush=True)
        produce(cluster.bootstrap_servers, args.records, 0)

        started = time.monotonic()
        cluster.kill_broker(controller)
        print(f"killed node {controller}, the active controller", flush=True)
        elected = agreed_controller(cluster, other_than=controller)
        course.log(f"  (elected {time.monotonic() - started:.1f} s after the kill)")
        print(f"new active controller: node {elected}", flush=True)

        # The new controller fences the dead node once its session times out and moves its leaderships.
        deadline = time.monotonic() + 30
        while True:
            found = partitions(cluster.bootstrap_servers)
            if len(found) == 3 and all(x.leader != controller and controller not in x.isrs for x in found):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"node {controller} still leads or is in sync after 30 s")
            time.sleep(0.2)
        lines = course.describe(cluster.bootstrap_servers, TOPIC)
        for line in lines:
            print(line, flush=True)
        produce(cluster.bootstrap_servers, args.records, args.records)
        total = sum(course.end_offsets(cluster.bootstrap_servers, TOPIC, 3))
        print(f"the topic holds {total} records", flush=True)

        cluster.start_broker(controller)
        after = agreed_controller(cluster)
        stays = "stays" if after == elected else "is now"
        print(f"node {controller} started again: it rejoins the quorum, the active controller {stays} node {after}",
              flush=True)


if __name__ == "__main__":
    main()
