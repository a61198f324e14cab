#!/usr/bin/env python3
"""Lambda at scale: asynchronous throughput and a concurrency soak.

    cargo build --release --bin stratus --example load --example runtime_limit
    python3 bench/lambda_scale.py async [--secs 6]
    python3 bench/lambda_scale.py soak [--n 1000]

async: 16 callers send signed `InvocationType=Event` invokes of a Python echo function for
`--secs` (crates/stratus-gateway/examples/load.rs, workload `invoke_event`); every 202 means the
event is durably queued. Reports events accepted per second, and events completed per second
(from the first accepted to the last run, read from Stratus's own metrics), side by side with
warm synchronous invokes and the physical limit (the runtime client's own loop against a bare
Runtime API, crates/stratus-runtime/examples/runtime_limit.rs). No peer runs a function without
Docker, so there is no peer column.

soak: `--n` concurrent synchronous invocations of a function that sleeps 1 s, with the default
account limit (1000): successes, wall time, the server's peak RSS, the peak RSS of all instances
together, and after shutdown the processes and cgroups left behind (should be none).
"""

import argparse
import io
import json
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import LOAD, RELEASE, Target, wait_ready  # noqa: E402

LIMIT = RELEASE / "examples" / "runtime_limit"
ROLE = "arn:aws:iam::000000000000:role/r"
ECHO = "def handler(event, context):\n    return event\n"
SLEEP = "import time\ndef handler(event, context):\n    time.sleep(1)\n    return {'ok': True}\n"


def lambda_client(port, pool=10, read_timeout=60):
    import boto3
    import botocore.config
    config = botocore.config.Config(retries={"max_attempts": 1}, max_pool_connections=pool,
                                    read_timeout=read_timeout)
    return boto3.client("lambda", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test", config=config)


def zip_of(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", text)
    return buf.getvalue()


def metrics(port, function):
    url = f"http://127.0.0.1:{port}/_stratus/lambda/metrics?function={function}"
    req = botocore.awsrequest.AWSRequest(method="GET", url=url)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), "lambda", "us-east-1").add_auth(req)
    r = requests.get(url, headers=dict(req.prepare().headers), timeout=10)
    r.raise_for_status()
    return r.json()["Functions"][0]


def start(tmp, *extra):
    t = Target("stratus", [str(RELEASE / "stratus"), "serve", "--listen", "127.0.0.1:{port}",
                           "--data-dir", f"{tmp}/data", "--log-level", "warn", *extra], ["sts"])
    wait_ready(t, t.start())
    return t


def load(port, workload, conns, secs):
    out = subprocess.run([str(LOAD), f"http://127.0.0.1:{port}", workload, str(conns), str(secs)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_async(secs):
    with tempfile.TemporaryDirectory() as tmp:
        t = start(tmp)
        try:
            lam = lambda_client(t.port)
            lam.create_function(FunctionName="bench-echo", Runtime="python3.12", Role=ROLE,
                                Handler="app.handler", Code={"ZipFile": zip_of(ECHO)})
            load(t.port, "invoke", 16, 2)  # warm instances
            sync = load(t.port, "invoke", 16, secs)
            before = metrics(t.port, "bench-echo")["Invocations"]
            t0 = time.perf_counter()
            accepted = load(t.port, "invoke_event", 16, secs)
            received = metrics(t.port, "bench-echo")["AsyncEventsReceived"]
            while metrics(t.port, "bench-echo")["Invocations"] - before < received:
                time.sleep(0.05)
            done = time.perf_counter() - t0
        finally:
            t.stop()
    bare = json.loads(subprocess.run([str(LIMIT), "warm", "python3.12", "16", str(secs)], capture_output=True,
                                     text=True, check=True).stdout.strip().splitlines()[-1])
    print("\n### Asynchronous invocation, Python echo, 16 callers\n")
    print("| what | events/s | p50 ms | p99 ms |")
    print("|---|---:|---:|---:|")
    print(f"| accepted (202 after the durable queue write) | {accepted['rps']:.0f} | {accepted['p50']:.3f} | {accepted['p99']:.3f} |")
    print(f"| completed ({received} events, first accepted → last run) | {received / done:.0f} | | |")
    print(f"| synchronous warm invoke, same function | {sync['rps']:.0f} | {sync['p50']:.3f} | {sync['p99']:.3f} |")
    print(f"| limit: runtime client + bare Runtime API | {bare['rps']:.0f} | {bare['p50']:.3f} | {bare['p99']:.3f} |")
    print(f"\ncompleted/limit {received / done / bare['rps']:.2f}×, accepted/sync {accepted['rps'] / sync['rps']:.2f}×")


def tree_rss_mib(pid):
    """RSS of a process and all its descendants, MiB."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid=,rss="], capture_output=True, text=True).stdout
    kids, rss = {}, {}
    for line in out.splitlines():
        p, pp, r = map(int, line.split())
        kids.setdefault(pp, []).append(p)
        rss[p] = r
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(kids.get(p, []))
    return total / 1024


def mem_available_mib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024
    return 0.0


def status_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def sandboxed_processes():
    out = subprocess.run(["ps", "-e", "-o", "uid="], capture_output=True, text=True).stdout
    return sum(1 for u in out.split() if 200_000 <= int(u) < 300_000)


def stratus_cgroups():
    base = Path("/sys/fs/cgroup/memory/stratus")
    if not base.exists():
        base = Path("/sys/fs/cgroup/stratus")
    return sum(1 for p in base.iterdir() if p.is_dir()) if base.exists() else 0


def bench_soak(n):
    with tempfile.TemporaryDirectory() as tmp:
        t = start(tmp)
        peak_tree = 0.0
        baseline = mem_available_mib()
        low = baseline
        stop = threading.Event()

        def sample():
            nonlocal peak_tree, low
            while not stop.is_set():
                peak_tree = max(peak_tree, tree_rss_mib(t.proc.pid))
                low = min(low, mem_available_mib())
                time.sleep(0.5)

        try:
            lam = lambda_client(t.port, pool=n, read_timeout=600)
            lam.create_function(FunctionName="sleeper", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                Code={"ZipFile": zip_of(SLEEP)}, Timeout=60)
            sampler = threading.Thread(target=sample)
            sampler.start()
            barrier = threading.Barrier(n)

            def one(_):
                barrier.wait()
                try:
                    r = lam.invoke(FunctionName="sleeper", Payload=b"{}")
                    body = r["Payload"].read()
                    return True if "FunctionError" not in r and json.loads(body) == {"ok": True} else body[:160]
                except Exception as e:  # noqa: BLE001 - counted
                    return repr(e)[:120]

            t0 = time.perf_counter()
            with ThreadPoolExecutor(n) as pool:
                results = list(pool.map(one, range(n)))
            wall = time.perf_counter() - t0
            stop.set()
            sampler.join()
            server_peak = status_kib(t.proc.pid, "VmHWM") / 1024
            m = metrics(t.port, "sleeper")
        finally:
            stop.set()
            t.proc.send_signal(15)
            t.proc.wait(60)
        deadline = time.time() + 10  # SIGKILLed processes may take a moment to be reaped
        while sandboxed_processes() and time.time() < deadline:
            time.sleep(0.2)
        leaked, cgroups = sandboxed_processes(), stratus_cgroups()
    ok = sum(1 for r in results if r is True)
    errors = sorted({r for r in results if r is not True})
    print(f"\n### {n} concurrent invocations of a function that sleeps 1 s (default account limit)\n")
    used = baseline - low
    print("| succeeded | wall s | server peak RSS MiB | sum of RSS, server + instances, MiB |"
          " machine memory used at peak MiB (per instance) | max concurrent (metrics) | processes left | cgroups left |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {ok}/{n} | {wall:.1f} | {server_peak:.0f} | {peak_tree:.0f} | {used:.0f} ({used / n:.1f}) |"
          f" {m['ConcurrentExecutions']} | {leaked} | {cgroups} |")
    if errors:
        print("\nerrors:", errors[:5])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["async", "soak"])
    ap.add_argument("--secs", type=int, default=6)
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()
    if args.what == "async":
        bench_async(args.secs)
    else:
        bench_soak(args.n)


if __name__ == "__main__":
    main()
