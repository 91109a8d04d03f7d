"""kafka-python's admin client against a three-node cluster (potok or Apache Kafka, the same checks).

usage: cluster_check.py PHASE BOOTSTRAP
  three   every broker registered; a 5-partition RF 3 topic spread with balanced leaders
  two     one node is down: two live brokers, no partition led by it, a new topic can still be created
"""
import sys
import time

from kafka import KafkaAdminClient
from kafka.admin import NewTopic


def wait(what, check, timeout=60):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception as e:  # the cluster is still settling: retry until the deadline
            last = e
        time.sleep(0.5)
    raise SystemExit(f"timed out waiting for {what} (last error: {last})")


def main():
    phase, bootstrap = sys.argv[1], sys.argv[2]
    # kafka-python asks the controller named in Metadata at once; right after a node dies, Kafka may still name
    # it (it names a random broker), so the client is built again until that works.
    admin = wait("an admin client", lambda: KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=20000))
    if phase == "three":
        cluster = wait("three brokers", lambda: (c := admin.describe_cluster()) and len(c["brokers"]) == 3 and c)
        print("brokers:", sorted(b["node_id"] for b in cluster["brokers"]))
        admin.create_topics([NewTopic("hello-producer-topic", 5, 3)])
        topic = wait("hello-producer-topic", lambda: next(
            (t for t in admin.describe_topics(["hello-producer-topic"]) if t["error_code"] == 0 and len(t["partitions"]) == 5), None))
        leaders = {}
        for p in topic["partitions"]:
            assert len(p["replicas"]) == 3, p
            assert sorted(p["isr"]) == sorted(p["replicas"]), p
            leaders[p["leader"]] = leaders.get(p["leader"], 0) + 1
        assert sorted(leaders) == [1, 2, 3], f"leaders are spread over every broker: {leaders}"
        print("hello-producer-topic leaders per broker:", dict(sorted(leaders.items())))
    elif phase == "two":
        down = int(sys.argv[3])
        wait("two live brokers", lambda: len(admin.describe_cluster()["brokers"]) == 2)

        def moved():
            (t,) = admin.describe_topics(["hello-producer-topic"])
            return all(p["leader"] != down and down not in p["isr"] for p in t["partitions"])

        wait(f"leaderships off broker {down}", moved)
        admin.create_topics([NewTopic("after-failover", 2, 2)])
        wait("after-failover", lambda: any(t["error_code"] == 0 for t in admin.describe_topics(["after-failover"])))
        print(f"broker {down} down: its leaderships moved and a new topic was created")
    else:
        raise SystemExit(f"unknown phase {phase}")
    admin.close()


main()
