#!/usr/bin/env python3
"""Side-by-side benchmark of Stratus, its peers and the physical limit (a bare hyper server).

    cargo build --release --workspace --bins --examples
    python3 bench/run.py [--secs 10] [--only startup,describe_table,get_caller_identity]

Peers are used when found on PATH: moto_server (pip), dynoxide and fakecloud
(`cargo install dynoxide-rs fakecloud`). Load comes from wrk (Debian package) at 16 connections,
replaying one SigV4-signed request (signatures stay valid for 15 minutes; the server still
verifies every request). Prints Markdown tables with ratios.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import boto3

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def signed_headers(port, service, body, headers):
    req = botocore.awsrequest.AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), service, "us-east-1").add_auth(req)
    return dict(req.prepare().headers)


WORKLOADS = {
    "describe_table": ("dynamodb", '{"TableName":"bench"}',
                       {"X-Amz-Target": "DynamoDB_20120810.DescribeTable", "Content-Type": "application/x-amz-json-1.0"}),
    "list_tables": ("dynamodb", "{}",
                    {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}),
    "get_caller_identity": ("sts", "Action=GetCallerIdentity&Version=2011-06-15",
                            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}),
}


class Target:
    def __init__(self, name, cmd, services, env=None, cwd=None):
        self.name, self.cmd, self.services, self.env, self.cwd = name, cmd, services, env, cwd
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        cmd = [c.replace("{port}", str(self.port)) for c in self.cmd]
        env = dict(os.environ, **(self.env or {}))
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=self.cwd)
        return t0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def rss_mib(self):
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")


def first_answer(target, t0, workload, timeout=60):
    """Seconds from spawn to the first 200 answer of `workload`."""
    service, body, headers = WORKLOADS[workload]
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if target.proc.poll() is not None:
            raise RuntimeError(f"{target.name} exited")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=2)
            conn.request("POST", "/", body=body, headers=signed_headers(target.port, service, body, headers))
            status = conn.getresponse().status
            conn.close()
            if status == 200:
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.0005)
    raise RuntimeError(f"{target.name} never answered")


def wrk(port, workload, secs, conns=16):
    service, body, headers = WORKLOADS[workload]
    h = signed_headers(port, service, body, headers)
    lua = "wrk.method = \"POST\"\nwrk.body = " + json.dumps(body) + "\n"
    for k, v in h.items():
        lua += f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{secs}s", "--latency", "-s", f.name, f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True).stdout
    os.unlink(f.name)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    def lat(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": lat(50), "p99": lat(99), "errors": int(errors.group(1)) if errors else 0}


def targets(tmp):
    ts = [Target("stratus (embedded, SigV4 verified, durable)",
                 [str(RELEASE / "stratus"), "serve", "--listen", "127.0.0.1:{port}", "--data-dir", str(tmp / "stratus"),
                  "--log-level", "warn"], {"dynamodb", "sts"})]
    ts.append(Target("bare hyper server (limit)", [str(RELEASE / "examples" / "hello"), "127.0.0.1:{port}"], {"any"}))
    if shutil.which("moto_server"):
        ts.append(Target("moto_server", ["moto_server", "-p", "{port}"], {"dynamodb", "sts"}))
    if shutil.which("dynoxide"):
        ts.append(Target("dynoxide (SQLite file)", ["dynoxide", "--port", "{port}", "--db-path", str(tmp / "dynoxide.db")],
                         {"dynamodb"}))
    if shutil.which("fakecloud"):
        ts.append(Target("fakecloud (in-memory)", ["fakecloud", "--addr", "127.0.0.1:{port}"], {"dynamodb", "sts"}))
        ts.append(Target("fakecloud (persistent, --verify-sigv4)",
                         ["fakecloud", "--addr", "127.0.0.1:{port}", "--storage-mode", "persistent",
                          "--data-path", str(tmp / "fakecloud"), "--verify-sigv4"], {"dynamodb", "sts"}))
    return ts


def setup_table(port):
    ddb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    try:
        ddb.create_table(TableName="bench", AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    except ddb.exceptions.ResourceInUseException:
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=int, default=10)
    ap.add_argument("--only", default="startup,describe_table,get_caller_identity")
    ap.add_argument("--startup-runs", type=int, default=5)
    args = ap.parse_args()
    only = args.only.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    ts = targets(tmp)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} — {os.cpu_count()} cores, wrk -t2 -c16 -d{args.secs}s\n")

    if "startup" in only:
        print("## Start-up (spawn → first successful API answer) and idle RSS\n")
        print("| server | start-up median (ms) | idle RSS (MiB) |")
        print("|---|---:|---:|")
        for t in ts:
            if "any" in t.services:
                continue
            wl = "list_tables" if "dynamodb" in t.services else "get_caller_identity"
            times, rss = [], []
            for i in range(args.startup_runs):
                shutil.rmtree(tmp / "stratus", ignore_errors=True)
                t0 = t.start()
                try:
                    times.append(first_answer(t, t0, wl) * 1000)
                    time.sleep(1.0)
                    rss.append(t.rss_mib())
                finally:
                    t.stop()
            print(f"| {t.name} | {statistics.median(times):.1f} | {statistics.median(rss):.1f} |")
        print()

    results = {}
    for wl in [w for w in only if w in WORKLOADS]:
        service = WORKLOADS[wl][0]
        for t in ts:
            if service not in t.services and "any" not in t.services:
                continue
            t.start()
            try:
                first_answer(t, time.perf_counter(), "list_tables" if "dynamodb" in t.services else
                             ("get_caller_identity" if "sts" in t.services else wl)) if "any" not in t.services else time.sleep(0.3)
                if service == "dynamodb" and "any" not in t.services:
                    setup_table(t.port)
                results[(wl, t.name)] = wrk(t.port, wl, args.secs)
            finally:
                t.stop()
        limit = next((r for (w, n), r in results.items() if w == wl and n.startswith("bare")), None)
        ours = next((r for (w, n), r in results.items() if w == wl and n.startswith("stratus")), None)
        print(f"## {wl} at 16 connections\n")
        print("| server | req/s | p50 (ms) | p99 (ms) | non-2xx | stratus ÷ this | this ÷ limit |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for (w, n), r in results.items():
            if w != wl:
                continue
            vs = f"{ours['rps'] / r['rps']:.2f}×" if ours else ""
            of_limit = f"{r['rps'] / limit['rps'] * 100:.0f}%" if limit else ""
            print(f"| {n} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | {r['errors']} | {vs} | {of_limit} |")
        print()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
