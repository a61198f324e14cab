#!/usr/bin/env python3
"""Lambda invocation benchmark: Stratus's Invoke side by side with the physical limit, the
same runtime client fed by a bare in-process Runtime API (no HTTP front door, signature, store,
sandbox or logs: crates/stratus-runtime/examples/runtime_limit.rs).

    cargo build --release --bin stratus --example load --example runtime_limit
    python3 bench/lambda.py [--secs 8]

Warm: 16 callers, each with its own persistent connection; every Invoke freshly SigV4-signed
(crates/stratus-gateway/examples/load.rs, workload `invoke`). Cold: a function invoked for the
first time (a new instance: sandbox, interpreter start, client import, init), p50 of 10.
Prints Markdown tables with ratios.
"""

import argparse
import io
import json
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


def cold_stratus(lam, runtime, runs=10):
    name, text, handler = ("app.py", PY, "app.handler") if runtime.startswith("python") else ("index.js", JS, "index.handler")
    ms = []
    for i in range(runs):
        fn = f"cold-{runtime.replace('.', '-')}-{i}"
        lam.create_function(FunctionName=fn, Runtime=runtime, Role=ROLE, Handler=handler,
                            Code={"ZipFile": zip_of(name, text)})
        t0 = time.perf_counter()
        r = lam.invoke(FunctionName=fn, Payload=b'{"n":1}')
        r["Payload"].read()
        ms.append((time.perf_counter() - t0) * 1000)
        lam.delete_function(FunctionName=fn)
    return statistics.median(ms)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=8)
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
            out = subprocess.run([str(LOAD), f"http://127.0.0.1:{port}", "invoke", "16", str(args.secs)],
                                 capture_output=True, text=True, check=True)
            warm = json.loads(out.stdout.strip().splitlines()[-1])
            bare = limit("warm", "python3.12", 16, args.secs)
            cold = {rt: cold_stratus(lam, rt) for rt in ("python3.12", "nodejs20.x")}
        finally:
            t.stop()
        cold_limit = {rt: limit("cold", rt, 10)["p50_ms"] for rt in ("python3.12", "nodejs20.x")}
    print("\n### Warm invoke, Python echo, 16 concurrent callers\n")
    print("| target | invokes/s | p50 ms | p99 ms | errors |")
    print("|---|---:|---:|---:|---:|")
    print(f"| Stratus (signed Invoke → sandboxed instance, logs written) | {warm['rps']:.0f} | {warm['p50']:.3f} | {warm['p99']:.3f} | {warm['errors']} |")
    print(f"| limit: runtime client + bare Runtime API | {bare['rps']:.0f} | {bare['p50']:.3f} | {bare['p99']:.3f} | 0 |")
    print(f"\nStratus/limit throughput {warm['rps'] / bare['rps']:.2f}× (aim ≥ 0.70); "
          f"added p50 {1000 * (warm['p50'] - bare['p50']):.0f} µs (aim < 300 µs)\n")
    print("### Cold start (first invoke of a new function, p50 of 10)\n")
    print("| runtime | Stratus ms | limit ms | ratio |")
    print("|---|---:|---:|---:|")
    for rt in cold:
        print(f"| {rt} | {cold[rt]:.1f} | {cold_limit[rt]:.1f} | {cold[rt] / cold_limit[rt]:.2f}× |")
    print("\n(aim: within 1.3× of the limit)")


if __name__ == "__main__":
    main()
