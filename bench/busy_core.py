#!/usr/bin/env python3
"""Keep one core partly busy, to measure how a benchmark copes with an unevenly loaded machine.

Spins for BUSY_MS, sleeps for IDLE_MS, forever (stop it with a signal). Pin it to a core with
taskset, e.g. `taskset -c 0 python3 bench/busy_core.py 3 7 &` takes about 30% of core 0, as
another process or a VM neighbour would.
"""
import sys
import time


def main() -> None:
    try:
        busy, idle = (float(a) / 1000 for a in sys.argv[1:3]) if len(sys.argv) == 3 else (None, None)
    except ValueError:
        busy = idle = None
    if busy is None or not (0 < busy <= 10 and 0 <= idle <= 10):
        print("busy_core.py: usage: busy_core.py BUSY_MS IDLE_MS (milliseconds, busy 0-10000, idle 0-10000)",
              file=sys.stderr)
        sys.exit(2)
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < busy:
            pass
        time.sleep(idle)


if __name__ == "__main__":
    main()
