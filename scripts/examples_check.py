#!/usr/bin/env python3
"""Runs the quick variant of every course exercise in examples/ (Python, Node.js, Java) and asserts what each
chapter's README says the learner observes, from the lines the programs print (which they take from the
brokers: delivery reports, consumed records, end offsets, segment files).

    scripts/examples_check.py --python PY [--node NODE] [--java-cp CLASSPATH] [--java JAVA]
        [--potok POTOK_BIN] [--kafka HOST:PORT] [--only SUBSTRING] [--jobs 2]

Without --bootstrap-servers every program starts its own embedded potok cluster; with --kafka a sample of them
also runs against that Apache Kafka (a single broker: replication factor 1, fresh topic names). Called by
scripts/examples-check.sh, which provides the venv, the Node addon, the Java classpath and Apache Kafka.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLES = os.path.join(ROOT, "examples")


class Failed(AssertionError):
    pass


def check(condition: bool, message: str) -> None:
    if not condition:
        raise Failed(message)


def murmur2(data: bytes) -> int:
    """Kafka's Utils.murmur2 (the Java client's default partitioner hashes key bytes with it), unsigned."""
    m, r = 0x5BD1E995, 24
    h = (0x9747B28C ^ len(data)) & 0xFFFFFFFF
    for i in range(len(data) // 4):
        k = int.from_bytes(data[4 * i : 4 * i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = ((h * m) & 0xFFFFFFFF) ^ k
    tail, rest = len(data) & ~3, len(data) % 4
    if rest == 3:
        h ^= data[tail + 2] << 16
    if rest >= 2:
        h ^= data[tail + 1] << 8
    if rest >= 1:
        h ^= data[tail]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def java_partition(key: int, partitions: int) -> int:
    """Where Kafka's Java producer puts an Integer key (IntegerSerializer: 4 big-endian bytes)."""
    return (murmur2(key.to_bytes(4, "big", signed=True)) & 0x7FFFFFFF) % partitions


# --- what each exercise's README says the learner sees -----------------------------------------------------


def expect_storage(out: str, count: int, embedded: bool, rf: int) -> None:
    check(f"produced {count} records" in out, "the producer did not report every record")
    described = re.findall(r"^Topic: \S+\tPartition: (\d+)\tLeader: (\d+)\tReplicas: ([\d,]+)\tIsr: ([\d,]+)$",
                           out, re.M)
    check(len(described) == 5, f"5 partitions described, got {described}")
    for _, leader, replicas, isr in described:
        check(len(replicas.split(",")) == rf and sorted(isr.split(",")) == sorted(replicas.split(",")),
              f"every replica in sync: replicas {replicas} isr {isr}")
        check(leader == replicas.split(",")[0], f"the preferred replica leads: {leader} of {replicas}")
    if not embedded:
        return
    segments: Dict[str, List[str]] = {}
    for broker, partition, n, names in re.findall(r"^broker (\d) (\S+): (\d+) segments: (.*)$", out, re.M):
        names_list = names.split()
        check(int(n) == len(names_list) >= 2, f"broker {broker} {partition}: segments rolled ({names})")
        check(all(re.fullmatch(r"\d{20}\.log", s) for s in names_list), f"20-digit base offsets: {names}")
        check(names_list[0] == "0" * 20 + ".log", "the first segment starts at offset 0")
        # Every replica holds the same segments: followers copy the leader's batches, offsets and all.
        check(segments.setdefault(partition, names_list) == names_list, f"{partition}: replicas differ")
    check(len(segments) == 5 and len(re.findall(r"^broker \d \S+: ", out, re.M)) == 15,
          "3 brokers x 5 partition directories")
    files = re.search(r"^broker \d \S+-0 files: (.*)$", out, re.M)
    check(files is not None, "the files of partition 0 are listed")
    assert files is not None
    for name in ("00000000000000000000.log", "00000000000000000000.index", "00000000000000000000.timeindex",
                 "leader-epoch-checkpoint"):
        check(name in files.group(1).split(), f"{name} in {files.group(1)}")
    dump = re.search(r"^dump-log (\S+) 0{20}\.log: (\d+) batches, offsets 0\.\.(\d+)$", out, re.M)
    check(dump is not None and dump.group(1) in segments, "dump-log printed the first segment's batches")
    assert dump is not None
    next_base = int(segments[dump.group(1)][1][:20])
    check(int(dump.group(2)) > 0 and int(dump.group(3)) == next_base - 1,
          f"the first segment's batches end just before the next segment ({next_base})")
    index = re.search(r"^dump-log \S+ 0{20}\.index: (\d+) entries$", out, re.M)
    check(index is not None, "dump-log printed the offset index")
    assert index is not None
    entries = int(index.group(1))
    check(0 < entries < int(dump.group(2)), f"the index is sparse: {entries} entries for {dump.group(2)} batches")


def expect_broker_failure(out: str) -> None:
    def isrs(section: str) -> List[Tuple[int, List[int]]]:
        rows = re.findall(r"^Topic: \S+\tPartition: \d+\tLeader: (\d+)\tReplicas: [\d,]+\tIsr: ([\d,]+)$",
                          section, re.M)
        check(len(rows) == 3, f"3 partitions described: {section!r}")
        return [(int(leader), sorted(int(i) for i in isr.split(","))) for leader, isr in rows]

    parts = re.split(r"^(?:stopped broker 1|stopped broker 2|started brokers 1 and 2)$", out, flags=re.M)
    check(len(parts) == 4, f"the steps: stop 1, stop 2, start both: {out!r}")
    check(all(isr == [1, 2, 3] for _, isr in isrs(parts[0])), "all three in sync at first")
    check(all(isr == [2, 3] and leader != 1 for leader, isr in isrs(parts[1])),
          "broker 1 left every ISR and leads nothing")
    check(all(isr == [3] and leader == 3 for leader, isr in isrs(parts[2])), "only broker 3 in sync, leading all")
    check(all(isr == [1, 2, 3] for _, isr in isrs(parts[3])), "the restarted brokers rejoined the ISR")
    check("acks=all with 3 in sync: delivered" in parts[0] and "acks=all with 2 in sync: delivered" in parts[1],
          "acks=all succeeds with 3 and with 2 replicas in sync")
    check("acks=all with 1 in sync, retries=0: NOT_ENOUGH_REPLICAS" in parts[2], "NOT_ENOUGH_REPLICAS below min ISR")
    check(re.search(r"^acks=all with 1 in sync, retrying: _TIMED_OUT after \d+ ms$", parts[2], re.M) is not None,
          "a retrying producer gives up at delivery.timeout.ms")
    check("acks=all with 3 in sync: delivered" in parts[3], "acks=all succeeds again")


def expect_controller_failover(out: str) -> None:
    first = re.search(r"^active controller: node ([123])$", out, re.M)
    check(first is not None, f"the active controller named: {out!r}")
    assert first is not None
    old = int(first.group(1))
    killed = out.find(f"killed node {old}, the active controller")
    check(killed > first.start(), "the active controller's node was killed")
    elected = re.search(r"^new active controller: node ([123])$", out, re.M)
    check(elected is not None and elected.start() > killed, "a new controller elected after the kill")
    assert elected is not None
    new = int(elected.group(1))
    check(new != old, f"the new controller is another node: {old} -> {new}")
    rows = re.findall(r"^Topic: failover-topic\tPartition: \d\tLeader: (\d)\tReplicas: [\d,]+\tIsr: ([\d,]+)$", out, re.M)
    check(len(rows) == 3, f"3 partitions described: {rows}")
    check(all(int(leader) != old and str(old) not in isr.split(",") and len(isr.split(",")) == 2
              for leader, isr in rows), f"the dead node leads nothing and left every ISR: {rows}")
    check(out.count("acks=all: 10 records delivered") == 2, "acks=all writes before and after the failover")
    check("the topic holds 20 records" in out, "every record is in the topic")
    check(re.search(rf"^node {old} started again: it rejoins the quorum, the active controller (stays|is now) node \d$",
                    out, re.M) is not None, "the killed node came back")


def expect_hello(out: str, count: int, show: int) -> None:
    landed = {int(k): int(p) for k, p in re.findall(r"^key (\d+) -> partition (\d+)$", out, re.M)}
    check(sorted(landed) == list(range(1, show + 1)), f"keys 1..{show} reported: {sorted(landed)}")
    check([landed[k] for k in range(1, 6)] == [0, 3, 1, 3, 4], f"keys 1..5 on partitions 0,3,1,3,4: {landed}")
    for key, partition in landed.items():
        java = java_partition(key, 5)
        check(partition == java, f"key {key} on partition {partition}, Java's producer puts it on {java}")
    ends = [int(n) for n in re.findall(r"^partition \d: (\d+) records$", out, re.M)]
    check(len(ends) == 5 and sum(ends) == count, f"{count} records in the 5 partitions: {ends}")
    check(f"sent {count} records in " in out, "the summary line")


def expect_callback(out: str, count: int) -> None:
    lines = re.findall(r"^Message (\d+) persisted with offset (\d+) and timestamp (\d+)$", out, re.M)
    check(len(lines) == count, f"{count} acknowledgements: {out!r}")
    by_message = {int(i): int(o) for i, o, _ in lines}
    base = min(by_message.values())
    check(all(by_message[i] == base + i - 1 for i in range(1, count + 1)), f"offsets in send order: {by_message}")
    now = time.time() * 1000
    check(all(now - 600_000 < int(t) <= now for _, _, t in lines), "timestamps are the send time")


def expect_partitioner(out: str, count: int) -> None:
    landed = {int(k): int(p) for k, p in re.findall(r"^key (\d+) -> partition (\d+)$", out, re.M)}
    check(sorted(landed) == list(range(1, count + 1)), f"every key reported: {landed}")
    check(all(p == k % 2 for k, p in landed.items()), f"key % 2: {landed}")
    held = {int(p): [int(k) for k in keys.split()]
            for p, keys in re.findall(r"^partition (\d) holds keys (.*)$", out, re.M)}
    check(held.get(0) == [k for k in range(1, count + 1) if k % 2 == 0], f"partition 0 holds the even keys: {held}")
    check(held.get(1) == [k for k in range(1, count + 1) if k % 2 == 1], f"partition 1 holds the odd keys: {held}")


def expect_timestamps(out: str, count: int) -> None:
    rows = re.findall(r"^(\S+)-(create-time|log-append-time) offset (\d+): (\w+) (\d+)$", out, re.M)
    create = [(kind, int(t)) for _, topic, _, kind, t in rows if topic == "create-time"]
    append = [(kind, int(t)) for _, topic, _, kind, t in rows if topic == "log-append-time"]
    check(create == [("CreateTime", 1_600_000_000_000)] * count, f"CreateTime keeps the producer's time: {create}")
    check(len(append) == count and all(k == "LogAppendTime" and t != 1_600_000_000_000 for k, t in append),
          f"LogAppendTime replaces it: {append}")
    check("log append times within the run: yes" in out, "the broker's append times lie within the run")


def expect_idempotent(out: str, count: int, embedded: bool) -> None:
    check(f"sent {count} records, read {count}, duplicates 0, missing 0, out of order 0" in out,
          "every record exactly once and in order")
    if embedded:
        check(re.search(r"^stopped broker \d after \d+ records$", out, re.M) is not None, "a leader was stopped")


def expect_multithreaded(out: str, per_file: int, files: int) -> None:
    dispatched = re.findall(r"^dispatcher (\S+\.csv): sent (\d+) lines$", out, re.M)
    check(len(dispatched) == files and all(int(n) == per_file for _, n in dispatched),
          f"{files} dispatchers of {per_file} lines: {dispatched}")
    ends = [int(n) for n in re.findall(r"^partition \d: (\d+) records$", out, re.M)]
    check(len(ends) == 5 and sum(ends) == per_file * files, f"{per_file * files} records in 5 partitions: {ends}")
    check(f"read {per_file * files} lines, each sent line once: yes" in out, "every line arrived once")


def expect_transactions(out: str, count: int) -> None:
    check(f"read_committed saw {2 * count} records (T1: {2 * count}, T2: 0)" in out, "read_committed sees T1 only")
    check(f"read_uncommitted saw {4 * count} records (T1: {2 * count}, T2: {2 * count})" in out,
          "read_uncommitted sees both")
    committed = re.findall(r"^read_committed: (\S+) key (\d+) Simple Message-T1-(\d+)$", out, re.M)
    check(len(committed) == 2 * count and all(k == v for _, k, v in committed), f"T1's keys and values: {committed}")


def expect_twitter(out: str, profile: str, count: int, embedded: bool) -> None:
    config = re.search(r"^producer config: (.*)$", out, re.M)
    check(config is not None, "the producer config is printed")
    assert config is not None
    settings = dict(kv.split("=", 1) for kv in config.group(1).split())
    safe = {"acks": "all", "enable.idempotence": "true", "retries": "2147483647",
            "max.in.flight.requests.per.connection": "5"}
    fast = {"compression.type": "snappy", "linger.ms": "20", "batch.size": "32768"}
    want = safe if profile == "safe" else {**safe, **fast}
    check(settings == want, f"the {profile} settings: {settings}")
    check(f"sent {count} tweets, failed 0" in out, "every tweet sent")
    check(f"read {count} tweets, every one as sent: yes" in out, "every tweet read back as sent")
    if embedded:
        batches = re.search(r"^batches: (\d+), compresscodec (\w+): (\d+)$", out, re.M)
        codec = "none" if profile == "safe" else "snappy"
        check(batches is not None and batches.group(2) == codec and batches.group(1) == batches.group(3),
              f"every batch on disk has compresscodec {codec}")


def expect_key_hashing(out: str) -> None:
    for partitions in (3, 4):
        landed = {int(k): int(p) for k, p in
                  re.findall(rf"^{partitions} partitions: key id_(\d) -> partition (\d)$", out, re.M)}
        want = {i: (murmur2(f"id_{i}".encode()) & 0x7FFFFFFF) % partitions for i in range(10)}
        check(landed == want, f"{partitions} partitions: keys where Java's partitioner puts them: {landed}")
    check([(murmur2(f"id_{i}".encode()) & 0x7FFFFFFF) % 3 for i in range(10)] == [1, 0, 2, 0, 2, 2, 0, 2, 1, 2],
          "the course's table")
    check("keys that moved: 7 of 10" in out, "adding a partition remaps keys")


def expect_buffer_full(out: str) -> None:
    full = re.search(r"^buffer full after (\d+) records of 1000 bytes \(buffer.memory=65536\): (.*)$", out, re.M)
    check(full is not None and 0 < int(full.group(1)) <= 66, f"the buffer fills at about 64 KB: {out!r}")
    assert full is not None
    blocked = re.search(r"(?:send\(\) blocked|gave up after) (\d+) ms", out)
    check(blocked is not None and int(blocked.group(1)) >= 1000, "max.block.ms=1000 was waited out")
    check(out.index("broker 1 stopped") < full.start() < out.index("broker 1 started"), "the order of the steps")
    delivered = re.search(r"^delivered (\d+) buffered records, failed 0$", out, re.M)
    check(delivered is not None and int(delivered.group(1)) >= int(full.group(1)),
          "the buffered records were delivered once the broker was back")


def expect_pos_simulator(out: str, threads: int, count: int) -> None:
    sent = [int(n) for n in re.findall(r"^producer thread \d+: sent (\d+) invoices$", out, re.M)]
    check(len(sent) == threads and sum(sent) == count and min(sent) > 0, f"{threads} threads sent {count}: {sent}")
    check(f"sent {count} invoices, failed 0" in out, "every invoice acknowledged")
    check(f"read {count} invoices, every one keyed by its StoreID and valid: yes" in out, "read back, keyed, valid")


def expect_avro_simulator(out: str) -> None:
    expect_pos_simulator(out, 3, 60)
    registered = re.search(r"^subject pos-value: schema id (\d+)$", out, re.M)
    check(registered is not None, "the schema registered as pos-value")
    assert registered is not None
    check(re.search(r"^subject pos-value: versions \[1\]$", out, re.M) is not None, "one version of pos-value")
    check(f"every value in the Confluent wire format with schema id {registered.group(1)}: yes" in out,
          "every value framed with magic byte 0 and the registered schema's id")


def expect_validator(out: str, count: int) -> None:
    produced = re.search(r"^produced (\d+) invoices \(invalid: (\d+)\)$", out, re.M)
    check(produced is not None and int(produced.group(1)) == count, "the invoices were produced")
    assert produced is not None
    invalid = int(produced.group(2))
    check(0 < invalid < count, f"some invoices are invalid: {invalid}")
    check(f"validated {count} invoices: valid {count - invalid}, invalid {invalid}" in out, "every invoice validated")
    check(re.search(rf"^\S+: {count - invalid} records, every one passes the rule: yes$", out, re.M) is not None,
          "valid-pos holds the valid ones")
    check(re.search(rf"^\S+: {invalid} records, every one HOME-DELIVERY without ContactNumber: yes$", out, re.M)
          is not None, "invalid-pos holds the invalid ones")


def expect_groups(out: str, count: int, instances: int) -> None:
    for n in range(1, instances + 1):
        line = re.search(rf"^{n} instance\(s\): (.*)$", out, re.M)
        check(line is not None, f"the assignment with {n} instance(s)")
        assert line is not None
        shares = dict(part.split("=") for part in line.group(1).split())
        check(len(shares) == n and all(shares.values()), f"{n} instances share the partitions: {shares}")
        owned = sorted(p for s in shares.values() for p in s.split(","))
        check(len(owned) == 3 and len(set(owned)) == 3, f"each partition assigned once: {owned}")
    check(f"validated {count} invoices" in out, "every invoice validated")
    rows = re.findall(r"^\S+ \S+ (\d) CURRENT-OFFSET (\d+) LOG-END-OFFSET (\d+) LAG (\d+) CONSUMER-ID (\S+)$",
                      out, re.M)
    check(len(rows) == 3, f"3 partitions described: {rows}")
    check(all(lag == "0" and cur == end for _, cur, end, lag, _ in rows), f"no lag once validated: {rows}")
    check(sum(int(cur) for _, cur, _, _, _ in rows) == count, f"the committed offsets add up to {count}: {rows}")
    if instances > 1:
        left = re.search(r"^after validator-\d left: (.*)$", out, re.M)
        check(left is not None, "the assignment after one instance left")
        assert left is not None
        shares = dict(part.split("=") for part in left.group(1).split())
        check(len(shares) == instances - 1, f"{instances - 1} instances remain: {shares}")
        check(sorted(p for s in shares.values() for p in s.split(",")) == ["pos-0", "pos-1", "pos-2"],
              f"the leaver's partition moved: {shares}")


def expect_seek(out: str) -> None:
    rows = re.findall(r"^partition 0 offset (\d+): record (\d+)$", out, re.M)
    check([(int(o), int(v)) for o, v in rows] == [(o, o) for o in range(15, 20)], f"offsets 15..19: {rows}")
    check("read 5 records from offset 15" in out, "the summary line")


# --- running ---------------------------------------------------------------------------------------------


class Case:
    def __init__(self, name: str, command: Sequence[str], expect: Callable[[str], None], timeout: float = 90) -> None:
        self.name = name
        self.command = list(command)
        self.expect = expect
        self.timeout = timeout


def run_case(case: Case, env: Dict[str, str]) -> Optional[str]:
    started = time.monotonic()
    # Each run's embedded cluster keeps its data under TMPDIR: a directory of its own, removed afterwards, so a
    # run killed at its timeout leaves nothing behind.
    tmp = tempfile.mkdtemp(prefix="potok-examples-")
    try:
        done = subprocess.run(case.command, capture_output=True, text=True, timeout=case.timeout,
                              env=dict(env, TMPDIR=tmp), cwd=ROOT)
    except subprocess.TimeoutExpired as e:  # run() has killed the program
        output = "".join(o.decode(errors="replace") if isinstance(o, bytes) else o or "" for o in (e.stdout, e.stderr))
        return f"FAIL {case.name}: timed out after {case.timeout} s\n{output}"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        return f"FAIL {case.name}: exit {done.returncode} ({elapsed:.1f} s)\n{done.stdout}{done.stderr}"
    try:
        case.expect(done.stdout)
    except Failed as e:
        return f"FAIL {case.name}: {e} ({elapsed:.1f} s)\n--- stdout\n{done.stdout}--- stderr\n{done.stderr}"
    print(f"ok   {case.name} ({elapsed:.1f} s)", flush=True)
    return None


# Exercise -> Java class (examples/java).
JAVA_CLASSES = {
    "storage_demo": "StorageDemo",
    "broker_failure": "BrokerFailure",
    "controller_failover": "ControllerFailover",
    "hello_producer": "HelloProducer",
    "callback_producer": "CallbackProducer",
    "key_partitioner": "KeyPartitioner",
    "timestamps": "Timestamps",
    "idempotent_producer": "IdempotentProducer",
    "transactions": "Transactions",
    "multithreaded_producer": "MultiThreadedProducer",
    "assign_seek": "AssignSeek",
    "pos_validator": "PosValidator",
    "pos_simulator": "PosSimulator",
    "consumer_groups": "ConsumerGroups",
    "key_hashing": "KeyHashing",
    "twitter_producer": "TwitterProducer",
    "buffer_full": "BufferFull",
    "avro_pos_simulator": "AvroPosSimulator",
}

Runner = Callable[[str], Optional[List[str]]]


def potok_cases(lang: str, run: Runner) -> List[Case]:
    """The quick variant of every exercise the language has, each on its own embedded potok cluster."""
    table = [
        ("storage_demo", "", ["--count", "50000", "--segment-bytes", "100000"],
         lambda out: expect_storage(out, 50_000, True, 3)),
        ("broker_failure", "", [], expect_broker_failure),
        ("controller_failover", "", [], expect_controller_failover),
        ("hello_producer", "", ["--count", "20000"], lambda out: expect_hello(out, 20_000, 10)),
        ("callback_producer", "", ["--count", "10"], lambda out: expect_callback(out, 10)),
        ("callback_producer", " --sync", ["--count", "5", "--sync"], lambda out: expect_callback(out, 5)),
        ("key_partitioner", "", [], lambda out: expect_partitioner(out, 10)),
        ("timestamps", "", [], lambda out: expect_timestamps(out, 3)),
        ("idempotent_producer", "", ["--count", "20000"], lambda out: expect_idempotent(out, 20_000, True)),
        ("multithreaded_producer", "", [], lambda out: expect_multithreaded(out, 250, 2)),
        ("transactions", "", [], lambda out: expect_transactions(out, 2)),
        ("key_hashing", "", [], expect_key_hashing),
        ("twitter_producer", "", [], lambda out: expect_twitter(out, "high-throughput", 200, True)),
        ("twitter_producer", " --profile safe", ["--profile", "safe"],
         lambda out: expect_twitter(out, "safe", 200, True)),
        ("buffer_full", "", [], expect_buffer_full),
        ("pos_simulator", "", ["pos", "3", "50"], lambda out: expect_pos_simulator(out, 3, 60)),
        ("avro_pos_simulator", "", ["pos", "3", "20"], expect_avro_simulator),
        ("pos_validator", "", ["--produce", "300", "--idle", "1.5"], lambda out: expect_validator(out, 300)),
        ("consumer_groups", "", ["--instances", "3", "--produce", "200", "--heartbeat-interval-ms", "500"],
         lambda out: expect_groups(out, 200, 3)),
        ("assign_seek", "", [], expect_seek),
    ]
    cases = []
    for name, label, extra, expect in table:
        command = run(name)
        if command is not None:
            cases.append(Case(f"{lang} {name}{label}", command + extra, expect))
    return cases


def kafka_cases(lang: str, run: Runner, kafka: str) -> List[Case]:
    """A sample on Apache Kafka (one broker): fresh topic names, replication factor 1, no embedded cluster."""
    tag = f"ex-{lang}-{uuid.uuid4().hex[:8]}"
    common = ["--bootstrap-servers", kafka, "--replication-factor", "1"]
    table = [
        ("hello_producer", ["--topic", f"{tag}-hello", "--count", "5000"], lambda out: expect_hello(out, 5_000, 10)),
        ("transactions", ["--topic-prefix", f"{tag}-txn", "--transactional-id", f"{tag}-trans",
                          "--min-insync-replicas", "1"], lambda out: expect_transactions(out, 2)),
        ("timestamps", ["--topic-prefix", f"{tag}-ts"], lambda out: expect_timestamps(out, 3)),
        ("key_partitioner", ["--topic", f"{tag}-odd-even"], lambda out: expect_partitioner(out, 10)),
        ("key_hashing", ["--topic", f"{tag}-first"], expect_key_hashing),
    ]
    cases = []
    for name, extra, expect in table:
        command = run(name)
        if command is not None:
            cases.append(Case(f"{lang} {name} on Kafka", command + common + extra, expect))
    return cases


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--python", required=True, help="the interpreter with the potok package installed")
    p.add_argument("--node", default="node")
    p.add_argument("--java-cp", help="classpath of examples/java (its classes and dependencies)")
    p.add_argument("--java", default="java")
    p.add_argument("--potok", help="the potok binary (dump-log, consumer-groups)")
    p.add_argument("--kafka", help="HOST:PORT of an Apache Kafka for the sample")
    p.add_argument("--only", help="run the cases whose name contains this")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()

    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    if args.potok:
        env["POTOK_BIN"] = args.potok

    def py(name: str) -> Optional[List[str]]:
        path = os.path.join(EXAMPLES, "python", f"{name}.py")
        return [args.python, path] if os.path.exists(path) else None

    def node(name: str) -> Optional[List[str]]:
        path = os.path.join(EXAMPLES, "node", f"{name}.mjs")
        return [args.node, path] if os.path.exists(path) else None

    def java(name: str) -> Optional[List[str]]:
        if not args.java_cp or name not in JAVA_CLASSES:
            return None
        return [args.java, "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", args.java_cp,
                f"io.potok.examples.{JAVA_CLASSES[name]}"]

    runners: Dict[str, Runner] = {"python": py, "node": node, "java": java}
    cases = [c for lang, run in runners.items() for c in potok_cases(lang, run)]
    if args.kafka:
        cases += [c for lang, run in runners.items() for c in kafka_cases(lang, run, args.kafka)]
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        failures = [f for f in pool.map(lambda c: run_case(c, env), cases) if f is not None]
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"examples: {len(cases) - len(failures)} of {len(cases)} passed in {time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
