#!/usr/bin/env python3
"""The course's storage demo (CURRICULUM.md §1): 500,000 Integer-keyed records into the topic `invoice`
(5 partitions, replication factor 3, segment.bytes=1000000), then a look at what the brokers keep on disk.

    python examples/python/storage_demo.py [--bootstrap-servers HOST:PORT,...] [--count 500000]
        [--segment-bytes 1000000] [--potok PATH]

Without --bootstrap-servers it starts an embedded potok cluster of three brokers and, once the records are in,
lists every broker's `invoice-N` directories (the segments `<20-digit base offset>.log` with their `.index` and
`.timeindex`), then runs `potok dump-log` on partition 0's first segment and its sparse offset index (one entry
per log.index.interval.bytes=4096 bytes of batches). Lines on stdout:

    produced 500000 records
    Topic: invoice	Partition: 0	Leader: 1	Replicas: 1,2,3	Isr: 1,2,3
    broker 1 invoice-0: 3 segments: 00000000000000000000.log 00000000000000033370.log ...
    dump-log invoice-0 00000000000000000000.log: 40 batches, offsets 0..33369
    dump-log invoice-0 00000000000000000000.index: 244 entries
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from typing import List, Optional

import potok

import course


def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = potok.Producer({"bootstrap.servers": bootstrap, "client.id": "StorageDemo", "acks": "all"})
    for i in range(1, count + 1):
        # Kafka's IntegerSerializer: four big-endian bytes (potok.serialization.IntegerSerializer writes the same).
        key = struct.pack(">i", i)
        value = f"Simple Message-{i}".encode()
        while True:
            try:
                producer.produce(topic, value, key=key)
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(120) != 0:
        raise SystemExit("not every record was acknowledged")
    producer.close()
    print(f"produced {count} records", flush=True)


def potok_binary(given: Optional[str]) -> Optional[str]:
    if given:
        return given
    return os.environ.get("POTOK_BIN") or shutil.which("potok")


def show_segments(setup: course.Setup, topic: str, partitions: int, potok_bin: Optional[str]) -> None:
    assert setup.cluster is not None
    first_log: Optional[str] = None
    for broker, log_dir in sorted(setup.cluster.log_dirs.items()):
        for p in range(partitions):
            d = os.path.join(log_dir, f"{topic}-{p}")
            if not os.path.isdir(d):
                continue
            files = sorted(os.listdir(d))
            logs = [f for f in files if f.endswith(".log")]
            print(f"broker {broker} {topic}-{p}: {len(logs)} segments: {' '.join(logs)}", flush=True)
            if p == 0 and first_log is None:
                first_log = os.path.join(d, logs[0])
                print(f"broker {broker} {topic}-{p} files: {' '.join(files)}", flush=True)
    if first_log is None:
        return
    if potok_bin is None:
        course.log("no potok binary found (--potok, $POTOK_BIN or PATH): skipping dump-log")
        return
    index = first_log[: -len(".log")] + ".index"
    name = f"{topic}-0"
    out = run([potok_bin, "dump-log", "--files", first_log])
    offsets = [int(m.group(1)) for m in re.finditer(r"lastOffset: (\d+)", out)]
    bases = [int(m.group(1)) for m in re.finditer(r"baseOffset: (\d+)", out)]
    print(f"dump-log {name} {os.path.basename(first_log)}: {len(bases)} batches, offsets {min(bases)}..{max(offsets)}")
    out = run([potok_bin, "dump-log", "--files", index])
    entries = re.findall(r"^offset: \d+ position: \d+", out, re.M)
    print(f"dump-log {name} {os.path.basename(index)}: {len(entries)} entries")
    for line in entries[:3]:
        print(f"  {line}")
    course.log(f"try: {potok_bin} dump-log --files {first_log} --print-data-log   (while the cluster runs)")


def run(command: List[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed: {done.stderr}")
    return done.stdout


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic", default="invoice")
    p.add_argument("--count", type=int, default=500_000)
    p.add_argument("--partitions", type=int, default=5)
    p.add_argument("--replication-factor", type=int, default=3)
    p.add_argument("--segment-bytes", type=int, default=1_000_000,
                   help="Kafka 4 refuses less than 1048576; potok keeps Kafka 3's minimum")
    p.add_argument("--potok", help="the potok binary for dump-log (default: $POTOK_BIN or potok on PATH)")
    args = p.parse_args()
    with course.cluster(args, brokers=3) as setup:
        try:
            course.create_topic(setup.bootstrap, args.topic, args.partitions, args.replication_factor,
                                {"segment.bytes": args.segment_bytes})
        except potok.InvalidConfigError as e:
            raise SystemExit(f"{e}\n(Kafka 4 refuses segment.bytes below 1048576: pass --segment-bytes 1048576)")
        produce(setup.bootstrap, args.topic, args.count)
        for line in course.describe(setup.bootstrap, args.topic):
            print(line, flush=True)
        if setup.embedded:
            show_segments(setup, args.topic, args.partitions, potok_binary(args.potok))
        else:
            course.log("look into each broker's log.dirs: <topic>-<partition>/ holds the segments; "
                       "kafka-dump-log.sh --files <segment>.log --print-data-log shows the batches")


if __name__ == "__main__":
    main()
