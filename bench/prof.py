#!/usr/bin/env python3
"""Where a Stratus binary's CPU goes under one workload: `perf record --call-graph dwarf` of the
server while the load generator drives it (16 connections), then two views of the samples.

    python3 bench/prof.py WORKLOAD SECS BINARY [--under SYMBOL] [--top N]

BINARY is a path, or a name under /tmp/ab (as in bench/ab.py). Prints the share of the server's
samples by where they end (kernel, SQLite, allocator, libc's mem* functions, else the innermost
crate on the stack), then the inclusive share of every `stratus_*` function. With `--under
SYMBOL`, prints instead what the frames directly below a function whose name contains SYMBOL
take. Needs `perf` (Debian package linux-perf) and a release build with debug info (the
workspace's release profile has it). The raw samples stay in /tmp/stratus-prof.txt for other
questions.
"""

import argparse
import collections
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

SAMPLES = Path("/tmp/stratus-prof.txt")
SQLITE = re.compile(r"(sqlite3|pcache|btree|vdbe|getPage|pager|wal|unix|getCell|fetchPayload|columnMem|releaseMem|allocateCursor)")


def record(binary, workload, secs):
    tmp = Path(tempfile.mkdtemp(prefix="stratus-prof-"))
    t = run.Target(binary.name, run.serve_cmd(binary, tmp / "data"), {"dynamodb", "sts"})
    t.start()
    try:
        run.wait_ready(t, time.perf_counter())
        run.setup_tables(t.port)
        result = {}
        load = threading.Thread(target=lambda: result.update(run.load(t.port, workload, secs + 2)))
        load.start()
        time.sleep(1)
        data = tmp / "perf.data"
        subprocess.run(["perf", "record", "-F", "2000", "--call-graph", "dwarf,16384", "-p", str(t.proc.pid),
                        "-o", str(data), "--", "sleep", str(secs)], check=True, capture_output=True)
        load.join()
    finally:
        t.stop()
    with SAMPLES.open("w") as out:
        subprocess.run(["perf", "script", "-i", str(data), "-F", "ip,sym", "--inline"], stdout=out,
                       stderr=subprocess.DEVNULL, check=True)
    print(f"{workload}: {result.get('rps', 0):.0f} req/s while recording", flush=True)


def samples():
    """Each sample as (address, symbol) frames, innermost first."""
    out, cur = [], []
    for line in SAMPLES.open(errors="replace"):
        line = line.strip()
        if not line:
            if cur:
                out.append(cur)
            cur = []
            continue
        addr, _, sym = line.partition(" ")
        cur.append((addr, re.sub(r"\+0x[0-9a-f]+$", "", sym.strip() or addr)))
    if cur:
        out.append(cur)
    return out


def crate_of(sym):
    m = re.match(r"^<?(?:&mut |&)?([a-z_0-9]+)::", sym)
    return m.group(1) if m and m.group(1) not in ("core", "alloc", "std") else None


def by_place(all_samples, top):
    counts = collections.Counter()
    for s in all_samples:
        addr, leaf = s[0]
        if addr.startswith("ffffffff"):
            place = "kernel"
        elif SQLITE.match(leaf):
            place = "sqlite"
        elif leaf.startswith(("mi_", "_mi_")) or "mimalloc" in leaf:
            place = "allocator"
        elif re.search(r"mem(cpy|cmp|set|move)", leaf):
            place = "libc mem*"
        else:
            place = next((c for c in map(crate_of, (sym for _, sym in s)) if c), "other")
        counts[place] += 1
    print("\n## Share of samples by where they end\n")
    for place, n in counts.most_common(top):
        print(f"{n / len(all_samples) * 100:6.2f} %  {place}")


def inclusive(all_samples, top):
    counts = collections.Counter()
    for s in all_samples:
        counts.update({sym for _, sym in s if sym.lstrip("<").startswith("stratus_")})
    print("\n## Inclusive share of stratus functions\n")
    for sym, n in counts.most_common(top):
        print(f"{n / len(all_samples) * 100:6.2f} %  {sym[:160]}")


def under(all_samples, symbol, top):
    counts, hit = collections.Counter(), 0
    for s in all_samples:
        at = next((i for i in range(len(s) - 1, -1, -1) if symbol in s[i][1]), None)
        if at is None:
            continue
        hit += 1
        counts[s[at - 1][1] if at > 0 else "(itself)"] += 1
    print(f"\n## Below {symbol}: {hit / len(all_samples) * 100:.2f} % of samples\n")
    for sym, n in counts.most_common(top):
        print(f"{n / len(all_samples) * 100:6.2f} %  {sym[:160]}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("workload")
    ap.add_argument("secs", type=float)
    ap.add_argument("binary")
    ap.add_argument("--under")
    ap.add_argument("--top", type=int, default=40)
    args = ap.parse_args()
    record(run.binary(args.binary).resolve(), args.workload, args.secs)
    all_samples = samples()
    if args.under:
        under(all_samples, args.under, args.top)
    else:
        by_place(all_samples, args.top)
        inclusive(all_samples, args.top)


if __name__ == "__main__":
    main()
