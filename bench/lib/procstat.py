#!/usr/bin/env python3
"""procstat -- what the kernel accounts to a relay's processes, for bench/run.

  procstat.py cpu PID [--tree]       CPU seconds used so far (user + system)
  procstat.py pss PID [--tree]       proportional set size now, KiB
  procstat.py peak PID [--tree] OUT  sample PSS every 100 ms until SIGTERM, then write the
                                     highest sum (KiB) to OUT

--tree: PID and its live children (Postfix's master and the daemons it forks); for cpu it
also adds the CPU of children that already exited (the master's cutime + cstime), so a
daemon that exits mid-run keeps its share. PSS, not RSS: Postfix's processes share their
libraries, and summing RSS would count those pages once per process.
"""
import os
import signal
import sys
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def children(pid):
    out = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def pids(root, tree):
    return [root] + (children(root) if tree else [])


def stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    # The command name may hold spaces: the fields that follow start after its ')'.
    return text[text.rindex(")") + 2:].split()


def cpu_seconds(root, tree):
    ticks = 0
    for pid in pids(root, tree):
        try:
            fields = stat_fields(pid)
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
        if tree and pid == root:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime (fields 16, 17)
    return ticks / CLOCK_TICKS


def pss_kib(root, tree):
    total = 0
    for pid in pids(root, tree):
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def peak(root, tree, out):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    highest = pss_kib(root, tree)
    while not stop:
        time.sleep(0.1)
        highest = max(highest, pss_kib(root, tree))
    with open(out, "w") as f:
        f.write(f"{highest}\n")


def main(argv):
    if len(argv) < 3 or argv[1] not in ("cpu", "pss", "peak"):
        sys.stderr.write(__doc__)
        return 2
    root = int(argv[2])
    tree = "--tree" in argv[3:]
    rest = [a for a in argv[3:] if a != "--tree"]
    if argv[1] == "cpu":
        print(f"{cpu_seconds(root, tree):.3f}")
    elif argv[1] == "pss":
        print(pss_kib(root, tree))
    else:
        if not rest:
            sys.stderr.write("procstat: peak needs an output file\n")
            return 2
        peak(root, tree, rest[0])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
