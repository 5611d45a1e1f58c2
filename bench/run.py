"""`make bench`: start the stack, run every scenario side by side, print one table.

python -m bench.run [--rounds 3] [--seconds 8] [--connections 16] [--only 1,2,3]
"""

from __future__ import annotations

import argparse
import os
import platform

from bench import console, gateway_overhead, growth, pruning, streaming, webhooks
from bench.harness import bench_stack, ensure_wrk


def machine() -> str:
    cpus = os.cpu_count()
    with open("/proc/meminfo") as meminfo:
        mem_kb = int(meminfo.readline().split()[1])
    memory = f"{mem_kb / 1024 / 1024:.0f} GiB"
    return f"{platform.machine()}, {cpus} cores, {memory}, Python {platform.python_version()}"


def stack_scenarios(args: argparse.Namespace, only: set[str]) -> list[str]:
    rows: list[str] = []
    with bench_stack(workers=args.workers) as bench:
        if only & {"1", "2"}:
            rows += gateway_overhead.run(
                bench, rounds=args.rounds, seconds=args.seconds, connections=args.connections
            )
        if "3" in only:
            rows += streaming.run(bench, rounds=args.rounds)
        if "4" in only:
            rows += growth.run(bench, rounds=args.rounds)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers per process")
    parser.add_argument("--only", default="1,2,3,4,5,6,7", help="scenarios to run")
    args = parser.parse_args()
    ensure_wrk()
    only = {s.strip() for s in args.only.split(",")}
    rows: list[str] = []
    if only & {"1", "2", "3", "4"}:
        rows += stack_scenarios(args, only)
    if "5" in only:
        rows += pruning.run()
    if "6" in only:
        rows += console.run(rounds=args.rounds, seconds=args.seconds, workers=args.workers)
    if "7" in only:
        rows += webhooks.run(rounds=args.rounds, workers=args.workers)
    print(
        f"Machine: {machine()}; {args.workers} gunicorn workers per process; "
        f"wrk {args.connections} connections x {args.seconds} s, {args.rounds} rounds "
        "(median, ± half the spread)"
    )
    print()
    print("| # | measure | result |")
    print("|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
