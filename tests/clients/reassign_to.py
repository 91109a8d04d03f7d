"""Starts a partition reassignment with a raw AlterPartitionReassignments request (kafka-python's protocol classes),
for a move that kafka-reassign-partitions --execute refuses: to a broker that is registered but not running (the
tool checks the target brokers against DescribeCluster, which lists live brokers only). Any broker forwards the
request to the active controller.

usage: reassign_to.py BOOTSTRAP TOPIC PARTITION REPLICAS   (REPLICAS as 1,2,3)
Prints each partition's error code and message; exits 1 if any partition was refused.
"""
import sys

from kafka import KafkaAdminClient
from kafka.protocol.admin import AlterPartitionReassignmentsRequest_v0


def main():
    bootstrap, topic, partition, replicas = sys.argv[1:5]
    admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), request_timeout_ms=20000)
    try:
        request = AlterPartitionReassignmentsRequest_v0(
            timeout_ms=30000,
            topics=[(topic, [(int(partition), [int(r) for r in replicas.split(",")], {})], {})],
            tags={},
        )
        response = admin.send_request(request)
    finally:
        admin.close()
    failed = response.error_code != 0
    print(f"error_code={response.error_code} error_message={response.error_message}")
    for name, partitions, _ in response.responses:
        for index, code, message, _ in partitions:
            print(f"{name}-{index}: error_code={code} error_message={message}")
            failed = failed or code != 0
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
