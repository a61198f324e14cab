#!/usr/bin/env python3
"""Alternate several Stratus binaries (and the bare server) on one workload, round after round,
so that a change is compared with its base under the same machine conditions.

    python3 bench/ab.py WORKLOAD SECS ROUNDS BINARY|hello [BINARY|hello ...]

`hello` is the bare hyper server (target/release/examples/hello); any other argument is the path
of a `stratus` binary, or the name of one under /tmp/ab (so `cp target/release/stratus /tmp/ab/base`
keeps a base to compare with after a rebuild). Each run prints req/s, p50/p99 (ms), the server's
CPU time per request (µs, from /proc) and its RSS. Uses bench/run.py's Target, setup_tables and
load (16 connections, every request freshly signed).
"""

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_secs(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def target(arg, tmp, round_):
    if arg == "hello":
        return run.Target("hello", [str(run.RELEASE / "examples" / "hello"), "127.0.0.1:{port}"], {"any"})
    path = run.binary(arg)
    return run.Target(arg, run.serve_cmd(path, tmp / f"{path.name}-{round_}"), {"dynamodb", "sts"})


def main():
    workload, secs, rounds, names = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    tmp = Path(tempfile.mkdtemp(prefix="stratus-ab-"))
    for r in range(rounds):
        for name in names:
            t = target(name, tmp, r)
            t.start()
            try:
                run.wait_ready(t, time.perf_counter())
                if "any" not in t.services:
                    run.setup_tables(t.port)
                before = cpu_secs(t.proc.pid)
                res = run.load(t.port, workload, secs)
                used = cpu_secs(t.proc.pid) - before
                per = used / max(res["rps"] * secs, 1) * 1e6
                print(f"round {r} {name:>12}: {res['rps']:8.0f}/s  p50 {res['p50']:.3f}  p99 {res['p99']:.3f}  "
                      f"cpu {per:5.1f} µs/req  rss {t.rss_mib():.0f} MiB  errors {res['errors']}", flush=True)
            finally:
                t.stop()


if __name__ == "__main__":
    main()
