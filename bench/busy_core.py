#!/usr/bin/env python3
"""Keep one core partly busy, to measure how a benchmark copes with an unevenly loaded machine.

Spins for BUSY_MS, sleeps for IDLE_MS, forever (stop it with a signal). Pin it to a core with
taskset, e.g. `taskset -c 0 python3 bench/busy_core.py 3 7 &` takes about 30% of core 0, as
another process or a VM neighbour would.
"""
import sys
import time


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit("usage: busy_core.py BUSY_MS IDLE_MS")
    busy, idle = float(sys.argv[1]) / 1000, float(sys.argv[2]) / 1000
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < busy:
            pass
        time.sleep(idle)


if __name__ == "__main__":
    main()
