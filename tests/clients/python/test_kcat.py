"""kcat (librdkafka's command-line client) against the broker: metadata, keyed produce/consume,
and Java-compatible murmur2 partitioning. kcat -C without -G is librdkafka's legacy consumer: it
fetches the given partitions from the given offsets and uses no consumer group."""

import json
import re
import subprocess
from collections import defaultdict

from conftest import BOOTSTRAP

KCAT_TIMEOUT = 30


def kcat(*args, stdin=None):
    """Runs kcat against the broker and returns its stdout; fails the test on a non-zero exit."""
    cmd = ["kcat", "-b", BOOTSTRAP, "-q", "-X", "socket.timeout.ms=10000", "-X", "client.id=potok-test-kcat", *args]
    p = subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, timeout=KCAT_TIMEOUT, check=False
    )
    assert p.returncode == 0, f"{cmd} exited {p.returncode}: {p.stderr}"
    return p.stdout


def consume(topic, fmt, *extra):
    """Everything in `topic` (or the partition chosen by `-p N` in extra) from the beginning, then
    exit at the end of the partition(s)."""
    return kcat("-C", "-t", topic, "-o", "beginning", "-e", "-f", fmt, *extra)


def murmur2(data: bytes) -> int:
    """Kafka's org.apache.kafka.common.utils.Utils.murmur2, as a signed 32-bit int."""
    m, r = 0x5BD1E995, 24
    length = len(data)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    for i in range(length // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length & ~3
    rem = length % 4
    if rem == 3:
        h ^= data[tail + 2] << 16
    if rem >= 2:
        h ^= data[tail + 1] << 8
    if rem >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


def java_partition(key: bytes, partitions: int) -> int:
    """The Java client's default partition for a keyed record: toPositive(murmur2(key)) % n."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_murmur2_matches_java_reference_values():
    # Values from Kafka's UtilsTest.testMurmur2 (Java) for these inputs.
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"a-little-bit-long-string") == -985981536
    assert murmur2(b"a-little-bit-longer-string") == -1486304829
    assert murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8") == -58897971
    assert murmur2(b"abc") == 479470107


def test_metadata_lists_broker_and_topic(topic_factory):
    topic = topic_factory(partitions=3)
    host, port = BOOTSTRAP.rsplit(":", 1)

    text = kcat("-L", "-t", topic)
    assert re.search(rf"^\s*broker \d+ at {re.escape(host)}:{port}\b", text, re.M), text
    assert f'topic "{topic}" with 3 partitions:' in text, text
    for p in range(3):
        assert re.search(rf"^\s*partition {p}, leader \d+, replicas: \d+, isrs: \d+$", text, re.M), text

    md = json.loads(kcat("-L", "-J", "-t", topic))
    assert [b["name"] for b in md["brokers"]] == [f"{host}:{port}"]
    broker_id = md["brokers"][0]["id"]
    assert md["controllerid"] == broker_id
    [t] = md["topics"]
    assert t["topic"] == topic and "error" not in t
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1, 2]
    for p in t["partitions"]:
        assert p["leader"] == broker_id
        assert p["replicas"] == [{"id": broker_id}]
        assert p["isrs"] == [{"id": broker_id}]

    # The full listing (no -t) has the topic too.
    full = json.loads(kcat("-L", "-J"))
    assert topic in [t["topic"] for t in full["topics"]]


def test_keyed_produce_then_consume(topic_factory):
    topic = topic_factory()
    lines = ["k1:v1", "k2:value two", "k1:v3", "unicode-ключ:значение", "k5:"]
    kcat("-P", "-t", topic, "-K:", "-p", "0", stdin="\n".join(lines) + "\n")

    out = consume(topic, "%k=%s\n")
    assert out.splitlines() == [line.replace(":", "=", 1) for line in lines]

    # Offsets are contiguous from 0 and partition is 0.
    out = consume(topic, "%p/%o\n")
    assert out.splitlines() == [f"0/{i}" for i in range(len(lines))]

    # -o with an absolute offset and -c count.
    out = kcat("-C", "-t", topic, "-p", "0", "-o", "2", "-c", "2", "-e", "-f", "%o:%k=%s\n")
    assert out.splitlines() == ["2:k1=v3", "3:unicode-ключ=значение"]


def test_murmur2_partitioning(topic_factory):
    partitions = 5
    topic = topic_factory(partitions=partitions)
    keys = [f"key-{i}" for i in range(25)] + ["a", "bb", "ccc", "user_42"]
    rounds = 3
    lines = [f"{k}:{k}/{r}" for r in range(rounds) for k in keys]
    kcat("-P", "-t", topic, "-K:", "-X", "partitioner=murmur2_random", stdin="\n".join(lines) + "\n")

    # Consume everything: each key lands in exactly one partition, the one Java's partitioner picks,
    # and within a partition a key's records keep their order.
    where = defaultdict(set)
    per_key_values = defaultdict(list)
    for line in consume(topic, "%p %k %s\n").splitlines():
        p, k, v = line.split(" ")
        where[k].add(int(p))
        per_key_values[k].append(v)
    assert set(where) == set(keys)
    for k in keys:
        assert where[k] == {java_partition(k.encode(), partitions)}, k
        assert per_key_values[k] == [f"{k}/{r}" for r in range(rounds)], k

    # Consuming one partition with -p returns exactly that partition's keys, in produce order.
    for p in range(partitions):
        got = consume(topic, "%k=%s\n", "-p", str(p)).splitlines()
        want = [f"{k}={k}/{r}" for r in range(rounds) for k in keys if java_partition(k.encode(), partitions) == p]
        assert got == want, f"partition {p}"
    assert len({java_partition(k.encode(), partitions) for k in keys}) > 1
