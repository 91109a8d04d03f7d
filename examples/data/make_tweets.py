#!/usr/bin/env python3
"""Writes the tweet-like JSON lines the "Twitter" producer replays (CURRICULUM.md §6): the course read a live
Twitter stream, which is gone, so the exercise replays a bundled file instead. Each line is one made-up tweet
with the fields the course's consumers looked at (id_str, created_at, text, user, lang, entities, counts).
The same seed gives the same file.

    python examples/data/make_tweets.py [--count 200] [--out examples/data/tweets.jsonl]
"""

from __future__ import annotations

import argparse
import json
import os
import random

WORDS = ("kafka stream broker partition replica offset consumer producer topic cluster latency throughput "
         "batch compression idempotent transaction schema registry avro json event log segment index leader "
         "follower isr quorum controller rebalance group commit lag retention compaction").split()
TAGS = ["kafka", "streaming", "bigdata", "eventdriven", "dataengineering", "java", "python", "nodejs"]
LANGS = ["en", "en", "en", "de", "fr", "es", "pt", "hi"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "tweets.jsonl"))
    args = p.parse_args()
    rng = random.Random(6)
    users = [f"user{n:03d}" for n in range(40)]
    tweet_id = 1_060_000_000_000_000_000
    with open(args.out, "w") as f:
        for n in range(args.count):
            tweet_id += rng.randint(1_000, 900_000_000)
            tags = rng.sample(TAGS, rng.randint(0, 2))
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 18)))
            text += "".join(f" #{t}" for t in tags)
            user = rng.choice(users)
            tweet = {
                "id_str": str(tweet_id),
                "created_at": f"Mon Nov 05 {10 + n // 60 % 12:02d}:{n % 60:02d}:{rng.randint(0, 59):02d} +0000 2018",
                "text": text,
                "lang": rng.choice(LANGS),
                "user": {"screen_name": user, "followers_count": rng.randint(0, 50_000)},
                "entities": {"hashtags": [{"text": t} for t in tags]},
                "retweet_count": rng.randint(0, 500),
                "favorite_count": rng.randint(0, 2_000),
            }
            f.write(json.dumps(tweet, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
