#!/usr/bin/env python3
"""Instructions per request of a Stratus binary under one workload, counted by callgrind:
repeatable whatever else the machine is doing, so it compares two builds when throughput runs
are too noisy to.

    python3 bench/cg.py WORKLOAD SECS BINARY [BINARY ...]

A BINARY is a path, or a name under /tmp/ab (as in bench/ab.py). The server runs under
`valgrind --tool=callgrind --instr-atstart=no`; the tables are seeded first, then counting is on
only while the load generator drives it over one connection for SECS seconds. Prints the
instructions (Ir) per request. Needs valgrind (`apt-get install valgrind`).
"""

import glob
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402


def measure(binary, workload, secs, tmp):
    out = tmp / f"callgrind.{binary.name}"
    valgrind = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}.%p"]
    t = run.Target(binary.name, valgrind + run.serve_cmd(binary, tmp / binary.name), {"dynamodb", "sts"})
    t.start()
    try:
        run.wait_ready(t, time.perf_counter(), timeout=300)
        run.setup_tables(t.port)
        pid = str(t.proc.pid)
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-i", "on", pid], check=True, capture_output=True)
        res = run.load(t.port, workload, secs, conns=1)
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True, capture_output=True)
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        time.sleep(1)
    finally:
        t.stop()
    total = 0
    for f in glob.glob(f"{out}.*"):
        for line in Path(f).read_text(errors="replace").splitlines():
            m = re.match(r"totals: (\d+)", line)
            if m:
                total += int(m.group(1))
    return total / max(res["requests"], 1), res["requests"], res["errors"]


def main():
    workload, secs = sys.argv[1], float(sys.argv[2])
    tmp = Path(tempfile.mkdtemp(prefix="stratus-cg-"))
    for arg in sys.argv[3:]:
        per, n, errors = measure(run.binary(arg), workload, secs, tmp)
        print(f"{arg:>12}: {per / 1000:8.1f}k Ir per request ({n} requests, {errors} errors)", flush=True)


if __name__ == "__main__":
    main()
