#!/usr/bin/env python3
"""Lambda invocation benchmark: Stratus's Invoke side by side with the physical limit, the
same runtime client fed by a bare in-process Runtime API (no HTTP front door, signature, store,
sandbox or logs: crates/stratus-runtime/examples/runtime_limit.rs).

    cargo build --release --bin stratus --example load --example runtime_limit
    python3 bench/lambda.py [--secs 8] [--rounds 3]

Warm: 16 callers, each with its own persistent connection; every Invoke freshly SigV4-signed
(crates/stratus-gateway/examples/load.rs, workload `invoke`), in rounds alternating with the
limit; medians, and the CPU time each call cost the server and the runtime processes. Then one
caller, for the latency Stratus adds without queueing. Cold: a function invoked for the
first time (a new instance: sandbox, interpreter start, client import, init), p50 of 10.
Prints Markdown tables with ratios.
"""

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import LOAD, RELEASE, Target, wait_ready  # noqa: E402

LIMIT = RELEASE / "examples" / "runtime_limit"
ROLE = "arn:aws:iam::000000000000:role/r"
PY = "def handler(event, context):\n    return event\n"
JS = "exports.handler = async (event) => event;\n"


def zip_of(name, text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, text)
    return buf.getvalue()


def lambda_client(port):
    import boto3
    import botocore.config
    return boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=botocore.config.Config(retries={"max_attempts": 1}))


def limit(*args):
    out = subprocess.run([str(LIMIT), *map(str, args)], capture_output=True, text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


def cold_stratus(lam, runtime, i):
    """Milliseconds from Invoke to answer for a function that has never run."""
    name, text, handler = ("app.py", PY, "app.handler") if runtime.startswith("python") else ("index.js", JS, "index.handler")
    fn = f"cold-{runtime.replace('.', '-')}-{i}"
    lam.create_function(FunctionName=fn, Runtime=runtime, Role=ROLE, Handler=handler,
                        Code={"ZipFile": zip_of(name, text)})
    t0 = time.perf_counter()
    r = lam.invoke(FunctionName=fn, Payload=b'{"n":1}')
    r["Payload"].read()
    ms = (time.perf_counter() - t0) * 1000
    lam.delete_function(FunctionName=fn)
    return ms


def cold_pairs(lam, runtime, runs=10):
    """Medians of cold starts on Stratus and on the limit, taken in turns."""
    ours, bare = [], []
    for i in range(runs):
        ours.append(cold_stratus(lam, runtime, i))
        bare.append(limit("cold", runtime, 1)["p50_ms"])
    return statistics.median(ours), statistics.median(bare)


def proc_cpu_secs(pid):
    """CPU time (user + system) a process has used, from /proc (100 ticks per second)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / 100
    except (OSError, IndexError, ValueError):
        return 0.0


def runtime_cpu_secs():
    """CPU time of every Python runtime process on the machine (the sandboxed instances)."""
    total = 0.0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if open(f"/proc/{pid}/comm").read().startswith("python3"):
                total += proc_cpu_secs(pid)
        except OSError:
            pass
    return total


def warm_stratus(port, pid, callers, secs):
    """One timed round of signed Invokes, with the CPU each call cost the server and the runtime."""
    before = (proc_cpu_secs(pid), runtime_cpu_secs())
    out = subprocess.run([str(LOAD), f"http://127.0.0.1:{port}", "invoke", str(callers), str(secs)],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    n = max(r["requests"], 1)
    r["api_cpu_us"] = 1e6 * (proc_cpu_secs(pid) - before[0]) / n
    r["runtime_cpu_us"] = 1e6 * (runtime_cpu_secs() - before[1]) / n
    return r


def median_of(rounds, key):
    return statistics.median(r[key] for r in rounds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Target("stratus", [str(RELEASE / "stratus"), "serve", "--listen", "127.0.0.1:{port}",
                               "--data-dir", f"{tmp}/data", "--log-level", "warn"], ["sts"])
        wait_ready(t, t.start())
        port = t.port
        try:
            lam = lambda_client(port)
            lam.create_function(FunctionName="bench-echo", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": zip_of("app.py", PY)})
            # Warm up: the first calls start the 16 instances.
            subprocess.run([str(LOAD), f"http://127.0.0.1:{port}", "invoke", "16", "2"], capture_output=True, check=True)
            # Rounds alternate between Stratus and the limit: single runs on 2 shared cores
            # spread more than the difference being measured.
            warm, bare = [], []
            for _ in range(args.rounds):
                warm.append(warm_stratus(port, t.proc.pid, 16, args.secs))
                bare.append(limit("warm", "python3.12", 16, args.secs))
            one = warm_stratus(port, t.proc.pid, 1, args.secs)
            one_bare = limit("warm", "python3.12", 1, args.secs)
            cold = {rt: cold_pairs(lam, rt) for rt in ("python3.12", "nodejs20.x")}
        finally:
            t.stop()
    print(f"\n### Warm invoke, Python echo, 16 concurrent callers (median of {args.rounds} alternating rounds)\n")
    print("| target | invokes/s | p50 ms | p99 ms | errors | CPU per call: API side µs | CPU per call: runtime µs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    m = {k: (median_of(warm, k), median_of(bare, k)) for k in ("rps", "p50", "p99", "api_cpu_us", "runtime_cpu_us")}
    errors = sum(r["errors"] for r in warm)
    print(f"| Stratus (signed Invoke → sandboxed instance, logs written) | {m['rps'][0]:.0f} | {m['p50'][0]:.3f} | "
          f"{m['p99'][0]:.3f} | {errors} | {m['api_cpu_us'][0]:.0f} | {m['runtime_cpu_us'][0]:.0f} |")
    print(f"| limit: runtime client + bare Runtime API | {m['rps'][1]:.0f} | {m['p50'][1]:.3f} | {m['p99'][1]:.3f} | 0 | "
          f"{m['api_cpu_us'][1]:.0f} | {m['runtime_cpu_us'][1]:.0f} |")
    ratios = sorted(w["rps"] / b["rps"] for w, b in zip(warm, bare))
    print(f"\nStratus/limit throughput {m['rps'][0] / m['rps'][1]:.2f}× (aim ≥ 0.70; per round "
          f"{', '.join(f'{x:.2f}' for x in ratios)})\n")
    print("### Warm invoke, one caller (latency without queueing)\n")
    print("| target | invokes/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    print(f"| Stratus | {one['rps']:.0f} | {one['p50']:.3f} | {one['p99']:.3f} |")
    print(f"| limit | {one_bare['rps']:.0f} | {one_bare['p50']:.3f} | {one_bare['p99']:.3f} |")
    print(f"\nadded p50 {1000 * (one['p50'] - one_bare['p50']):.0f} µs (aim < 300 µs); at 16 callers "
          f"{1000 * (m['p50'][0] - m['p50'][1]):.0f} µs\n")
    print("### Cold start (first invoke of a new function, p50 of 10, in turns with the limit)\n")
    print("| runtime | Stratus ms | limit ms | ratio |")
    print("|---|---:|---:|---:|")
    for rt, (ours, bare_ms) in cold.items():
        print(f"| {rt} | {ours:.1f} | {bare_ms:.1f} | {ours / bare_ms:.2f}× |")
    print("\n(aim: within 1.3× of the limit)")


if __name__ == "__main__":
    main()
