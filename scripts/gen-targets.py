#!/usr/bin/env python3
"""Writes N static exposition files of S series each for scripts/bench-peers.sh.

Shaped like an instrumented service: half request counters over handler/method/code,
a third latency histograms (12 buckets, _sum, _count), the rest gauges. Deterministic
(seeded per target) so that runs compare.

Usage: gen-targets.py DIR N S   (writes DIR/t0.prom .. DIR/t<N-1>.prom)
"""
import os
import random
import sys

HANDLERS = [f"/api/v1/item{i}" for i in range(40)]
METHODS = ["GET", "POST", "PUT", "DELETE"]
CODES = ["200", "201", "400", "404", "500"]
BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]


def exposition(series, seed):
    rnd = random.Random(seed)
    lines = []
    count = 0

    def sample(line):
        nonlocal count
        lines.append(line)
        count += 1

    lines.append("# HELP http_requests_total Requests served.")
    lines.append("# TYPE http_requests_total counter")
    i = 0
    while count < series * 0.5:
        h, m, c = HANDLERS[i % 40], METHODS[(i // 40) % 4], CODES[(i // 160) % 5]
        sample(f'http_requests_total{{handler="{h}",method="{m}",code="{c}",shard="{i // 800}"}} '
               f"{rnd.randint(0, 10**7)}")
        i += 1
    lines.append("# HELP http_request_duration_seconds Request latency.")
    lines.append("# TYPE http_request_duration_seconds histogram")
    j = 0
    while count < series * 0.85:
        h, total = HANDLERS[j % 40], 0
        labels = f'handler="{h}",method="GET",shard="{j // 40}"'
        for b in BUCKETS:
            total += rnd.randint(0, 1000)
            sample(f'http_request_duration_seconds_bucket{{{labels},le="{b}"}} {total}')
        sample(f"http_request_duration_seconds_sum{{{labels}}} {rnd.random() * 1e4:.6f}")
        sample(f"http_request_duration_seconds_count{{{labels}}} {total}")
        j += 1
    lines.append("# HELP app_queue_depth Items waiting.")
    lines.append("# TYPE app_queue_depth gauge")
    k = 0
    while count < series:
        sample(f'app_queue_depth{{queue="q{k}",priority="{k % 3}"}} {rnd.random() * 100:.3f}')
        k += 1
    return "\n".join(lines) + "\n", count


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    root, n, s = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    os.makedirs(root, exist_ok=True)
    for t in range(n):
        text, count = exposition(s, t)
        with open(os.path.join(root, f"t{t}.prom"), "w") as f:
            f.write(text)
    print(f"{n} targets x {count} series in {root}")


main()
