#!/usr/bin/env python3
"""Writes the raw events of the Glue benchmark (bench/glue/run.sh): newline-delimited JSON,
deterministic (a fixed seed), split into several files of about the same size.

  gen_events.py --out DIR [--mb 100] [--files N] [--seed 20250801] [--days 30]

Each line is one event of four fields, in the same order and style everywhere:
  {"user_id": "u004211", "action": "purchase", "amount": 37.25, "timestamp": "2025-08-14T07:21:09.123Z"}
- user_id: one of 50,000 users, skewed (a few users make many events);
- action: one of 8, weighted (views far more often than purchases);
- amount: a double with two decimals, always written with a decimal point (0.00 for
  actions that carry no amount), so that the JSON reader infers DOUBLE;
- timestamp: ISO-8601 UTC with milliseconds, uniform over --days days from 2025-08-01, in
  random order (every file holds every day, as raw ingestion does).
The files are events-0001.json ... events-NNNN.json; the last may be a little shorter.
Prints one JSON object on stdout: {"files": [...], "bytes": B, "events": E, "days": D}.
"""

import argparse
import json
import os
import random
import sys
import time

START = 1754006400  # 2025-08-01T00:00:00Z
ACTIONS = [("page_view", 50), ("search", 15), ("click", 12), ("add_to_cart", 8), ("remove_from_cart", 3),
           ("checkout", 5), ("purchase", 5), ("refund", 2)]
WITH_AMOUNT = {"add_to_cart", "remove_from_cart", "checkout", "purchase", "refund"}
USERS = 50_000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder for the files (created)")
    ap.add_argument("--mb", type=float, default=100, help="total size in MB (10^6 bytes)")
    ap.add_argument("--files", type=int, default=0, help="number of files (default: about 16 MB each)")
    ap.add_argument("--seed", type=int, default=20250801)
    ap.add_argument("--days", type=int, default=30)
    args = ap.parse_args()
    total = int(args.mb * 1e6)
    nfiles = args.files or max(1, round(args.mb / 16))
    per_file = -(-total // nfiles)
    os.makedirs(args.out, exist_ok=True)
    rng = random.Random(args.seed)
    actions = [a for a, _ in ACTIONS]
    weights = [w for _, w in ACTIONS]
    span_ms = args.days * 86400 * 1000
    written, events, files = 0, 0, []
    t0 = time.monotonic()
    for i in range(nfiles):
        path = os.path.join(args.out, f"events-{i + 1:04d}.json")
        target = min(per_file, total - written)
        size = 0
        lines = []
        with open(path, "w", encoding="ascii", newline="\n") as f:
            while size < target:
                # Skewed users: the square of a uniform number favours the low ids.
                user = int(USERS * rng.random() ** 2)
                action = rng.choices(actions, weights)[0]
                amount = round(rng.uniform(1, 500), 2) if action in WITH_AMOUNT else 0.0
                ms = rng.randrange(span_ms)
                sec, milli = divmod(START * 1000 + ms, 1000)
                ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)) + f".{milli:03d}Z"
                line = (f'{{"user_id": "u{user:06d}", "action": "{action}", "amount": {amount:.2f}, '
                        f'"timestamp": "{ts}"}}\n')
                lines.append(line)
                size += len(line)
                if len(lines) >= 10_000:
                    f.write("".join(lines))
                    events += len(lines)
                    lines.clear()
            f.write("".join(lines))
            events += len(lines)
        written += size
        files.append(path)
    print(f"gen_events: {events:,} events, {written / 1e6:.1f} MB in {nfiles} files, "
          f"{time.monotonic() - t0:.1f} s", file=sys.stderr)
    print(json.dumps({"files": files, "bytes": written, "events": events, "days": args.days, "seed": args.seed}))


if __name__ == "__main__":
    main()
