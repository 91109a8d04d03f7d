#!/usr/bin/env python3
"""The course's "Twitter" producer (CURRICULUM.md §6): tweets into `twitter_tweets` (6 partitions, replication
factor 3, min.insync.replicas=2) with no key, a callback that logs failures, and a clean shutdown. The live
Twitter stream the course read is gone: the program replays a bundled file of tweet-like JSON
(examples/data/tweets.jsonl), optionally at a pace.

    python examples/python/twitter_producer.py [--bootstrap-servers HOST:PORT,...]
        [--profile safe|high-throughput] [--tweets FILE] [--rate TWEETS_PER_S]

The course's two steps of producer config:
  safe             enable.idempotence=true, acks=all, retries=MAX, max.in.flight.requests.per.connection=5
                   (with the topic's min.insync.replicas=2: an acknowledged tweet is on two brokers)
  high-throughput  safe, plus compression.type=snappy, linger.ms=20, batch.size=32768 (the default)
Ctrl-C stops reading, and the producer is flushed and closed before the program exits. Lines on stdout:
    producer config: acks=all batch.size=32768 compression.type=snappy enable.idempotence=true linger.ms=20 ...
    sent 200 tweets, failed 0
    read 200 tweets, every one as sent: yes
and on the embedded cluster (with $POTOK_BIN or potok on PATH), from `potok dump-log` on the partitions' segments:
    batches: 9, compresscodec snappy: 9
"""

from __future__ import annotations

import collections
import os
import re
import shutil
import signal
import subprocess
import time
from typing import Counter, Dict, List

import potok

import course

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "tweets.jsonl")
SAFE: Dict[str, object] = {"enable.idempotence": True, "acks": "all", "retries": 2147483647,
                           "max.in.flight.requests.per.connection": 5}
HIGH_THROUGHPUT: Dict[str, object] = {**SAFE, "compression.type": "snappy", "linger.ms": 20, "batch.size": 32768}


def compression_of_batches(setup: course.Setup, topic: str, potok_bin: str) -> None:
    """Counts the batches of every partition's first segment on the broker holding them, by codec."""
    assert setup.cluster is not None
    codecs: Counter[str] = collections.Counter()
    for p in range(6):
        for log_dir in setup.cluster.log_dirs.values():
            segment = os.path.join(log_dir, f"{topic}-{p}", "00000000000000000000.log")
            if os.path.exists(segment):
                out = subprocess.run([potok_bin, "dump-log", "--files", segment], capture_output=True, text=True,
                                     timeout=60).stdout
                codecs.update(re.findall(r"compresscodec: (\w+)", out))
                break
    print(f"batches: {sum(codecs.values())}, " + ", ".join(f"compresscodec {c}: {n}" for c, n in sorted(codecs.items())))


def main() -> None:
    p = course.parser(__doc__)
    p.add_argument("--topic", default="twitter_tweets")
    p.add_argument("--profile", choices=["safe", "high-throughput"], default="high-throughput")
    p.add_argument("--tweets", default=DATA, help="a file of JSON tweets, one a line")
    p.add_argument("--rate", type=float, default=0, help="tweets a second (0: as fast as the producer takes them)")
    p.add_argument("--replication-factor", type=int, default=3)
    p.add_argument("--min-insync-replicas", type=int, default=2)
    args = p.parse_args()
    with open(args.tweets) as f:
        tweets = [line.rstrip("\n") for line in f if line.strip()]
    config = SAFE if args.profile == "safe" else HIGH_THROUGHPUT
    with course.cluster(args, brokers=3) as setup:
        course.create_topic(setup.bootstrap, args.topic, 6, args.replication_factor,
                            {"min.insync.replicas": args.min_insync_replicas})
        print("producer config: " + " ".join(f"{k}={str(v).lower()}" for k, v in sorted(config.items())), flush=True)
        producer = potok.Producer({"bootstrap.servers": setup.bootstrap, "client.id": "TwitterProducer", **config})
        failed: List[str] = []

        def on_delivery(err, msg) -> None:  # type: ignore[no-untyped-def]
            if err is not None:
                course.log(f"Something bad happened: {err}")
                failed.append(str(err))

        stopping: List[bool] = []
        signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
        sent = 0
        started = time.monotonic()
        for tweet in tweets:
            if stopping:
                course.log("stopping: flushing and closing the producer")
                break
            producer.produce(args.topic, tweet, on_delivery=on_delivery)
            sent += 1
            producer.poll(0)
            if args.rate > 0:
                time.sleep(max(0.0, started + sent / args.rate - time.monotonic()))
        producer.flush(60)
        producer.close()
        print(f"sent {sent} tweets, failed {len(failed)}", flush=True)

        ends = course.end_offsets(setup.bootstrap, args.topic, 6)
        consumer = potok.Consumer({"bootstrap.servers": setup.bootstrap, "group.id": "twitter-reader",
                                   "enable.auto.commit": False})
        consumer.assign([potok.TopicPartition(args.topic, p, potok.OFFSET_BEGINNING) for p in range(6)])
        read: Counter[str] = collections.Counter()
        deadline = time.monotonic() + 30
        while sum(read.values()) < sum(ends) and time.monotonic() < deadline:
            for msg in consumer.consume(500, 1.0):
                read[msg.value().decode()] += 1
        consumer.close()
        same = read == collections.Counter(tweets[:sent])
        print(f"read {sum(read.values())} tweets, every one as sent: {'yes' if same else 'no'}", flush=True)
        potok_bin = os.environ.get("POTOK_BIN") or shutil.which("potok")
        if setup.embedded and potok_bin:
            compression_of_batches(setup, args.topic, potok_bin)


if __name__ == "__main__":
    main()
