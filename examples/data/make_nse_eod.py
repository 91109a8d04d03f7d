#!/usr/bin/env python3
"""Writes the synthetic NSE end-of-day files the multi-threaded producer exercise reads (CURRICULUM.md §3): the
course's columns (SYMBOL, SERIES, OPEN, HIGH, LOW, CLOSE, LAST, PREVCLOSE, TOTTRDQTY, TOTTRDVAL, TIMESTAMP,
TOTALTRADES, ISIN), made-up symbols and prices, one file per trading day. The same seed gives the same files.

    python examples/data/make_nse_eod.py [--rows 250] [--out examples/data]
"""

from __future__ import annotations

import argparse
import os
import random
import string

DAYS = ["05-NOV-2018", "06-NOV-2018"]
HEADER = "SYMBOL,SERIES,OPEN,HIGH,LOW,CLOSE,LAST,PREVCLOSE,TOTTRDQTY,TOTTRDVAL,TIMESTAMP,TOTALTRADES,ISIN"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=250, help="rows per file")
    p.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)))
    args = p.parse_args()
    rng = random.Random(2018)
    symbols = sorted({"".join(rng.choice(string.ascii_uppercase) for _ in range(rng.randint(3, 9)))
                      for _ in range(args.rows * 2)})[: args.rows]
    isins = {s: f"INE{rng.randint(0, 999):03d}{rng.choice(string.ascii_uppercase)}{rng.randint(1000, 9999)}"
             for s in symbols}
    prev = {s: round(rng.uniform(5, 5000), 2) for s in symbols}
    for day in DAYS:
        name = f"NSE{day.replace('-', '')}BHAV.csv"
        with open(os.path.join(args.out, name), "w") as f:
            f.write(HEADER + "\n")
            for s in symbols:
                open_ = round(prev[s] * rng.uniform(0.97, 1.03), 2)
                close = round(open_ * rng.uniform(0.95, 1.05), 2)
                high = round(max(open_, close) * rng.uniform(1.0, 1.02), 2)
                low = round(min(open_, close) * rng.uniform(0.98, 1.0), 2)
                last = round(close * rng.uniform(0.999, 1.001), 2)
                qty = rng.randint(100, 5_000_000)
                trades = rng.randint(10, 50_000)
                f.write(f"{s},EQ,{open_},{high},{low},{close},{last},{prev[s]},{qty},{round(qty * close, 2)},"
                        f"{day},{trades},{isins[s]}\n")
                prev[s] = close


if __name__ == "__main__":
    main()
