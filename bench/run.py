#!/usr/bin/env python3
"""Side-by-side benchmark of Stratus, its peers and the physical limit (a bare hyper server).

    cargo build --release --workspace --bins --examples
    python3 bench/run.py [--secs 10] [--only startup,describe_table,get_caller_identity,put_item,get_item,query,batch_write]

Peers are used when found on PATH: moto_server (pip), dynoxide and fakecloud
(`cargo install dynoxide-rs fakecloud`, built outside the repository). Load comes from
`target/release/examples/load` (crates/stratus-gateway/examples/load.rs): 16 persistent
connections, every request freshly SigV4-signed with its own random key. Prints Markdown tables
with ratios.
"""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials

ROOT = Path(__file__).resolve().parent.parent
RELEASE = ROOT / "target" / "release"
LOAD = RELEASE / "examples" / "load"

DYNAMODB_WORKLOADS = ["describe_table", "put_item", "get_item", "query", "batch_write"]
STS_WORKLOADS = ["get_caller_identity"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Target:
    def __init__(self, name, cmd, services):
        self.name, self.cmd, self.services = name, cmd, services
        self.proc = None
        self.port = None

    def start(self):
        self.port = free_port()
        cmd = [c.replace("{port}", str(self.port)) for c in self.cmd]
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
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


def probe(port, service):
    """One signed request (ListTables or GetCallerIdentity); True on a 200."""
    if service == "dynamodb":
        body, headers = "{}", {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}
    else:
        body, headers = "Action=GetCallerIdentity&Version=2011-06-15", {"Content-Type": "application/x-www-form-urlencoded"}
    req = botocore.awsrequest.AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), service, "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    conn.request("POST", "/", body=body, headers=dict(req.prepare().headers))
    ok = conn.getresponse().status == 200
    conn.close()
    return ok


def wait_ready(t, t0, timeout=60):
    service = "dynamodb" if "dynamodb" in t.services else "sts"
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if t.proc.poll() is not None:
            raise RuntimeError(f"{t.name} exited")
        try:
            if "any" in t.services:
                socket.create_connection(("127.0.0.1", t.port), timeout=1).close()
                return time.perf_counter() - t0
            if probe(t.port, service):
                return time.perf_counter() - t0
        except OSError:
            time.sleep(0.0005)
    raise RuntimeError(f"{t.name} never answered")


def setup_tables(port):
    ddb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")
    ddb.create_table(TableName="bench", AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    ddb.create_table(TableName="benchq", BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    pad = "x" * 150
    for start in range(0, 1000, 25):
        ddb.batch_write_item(RequestItems={
            "bench": [{"PutRequest": {"Item": {"pk": {"S": f"seed{i}"}, "pad": {"S": pad}}}} for i in range(start, start + 25)]})
        ddb.batch_write_item(RequestItems={
            "benchq": [{"PutRequest": {"Item": {"pk": {"S": "part"}, "sk": {"N": str(i)}, "pad": {"S": pad}}}}
                       for i in range(start, start + 25)]})


def load(port, workload, secs, conns=16):
    out = subprocess.run([str(LOAD), f"http://127.0.0.1:{port}", workload, str(conns), str(secs)],
                         capture_output=True, text=True, timeout=secs + 60).stdout
    return json.loads(out.strip().splitlines()[-1])


def wrk_replay(port, workload, secs, conns=16):
    """Server-bound variant: wrk replays one signed request (no signing cost on the client;
    the server still verifies the signature of every request)."""
    import re
    import tempfile as tf
    if workload == "describe_table":
        service, body, headers = "dynamodb", '{"TableName":"bench"}', {
            "X-Amz-Target": "DynamoDB_20120810.DescribeTable", "Content-Type": "application/x-amz-json-1.0"}
    else:
        service, body, headers = "sts", "Action=GetCallerIdentity&Version=2011-06-15", {
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    req = botocore.awsrequest.AWSRequest(method="POST", url=f"http://127.0.0.1:{port}/", data=body, headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), service, "us-east-1").add_auth(req)
    lua = "wrk.method = \"POST\"\nwrk.body = " + json.dumps(body) + "\n"
    for k, v in dict(req.prepare().headers).items():
        lua += f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}\n"
    with tf.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    out = subprocess.run(["wrk", "-t2", f"-c{conns}", f"-d{int(secs)}s", "--latency", "-s", f.name, f"http://127.0.0.1:{port}/"],
                         capture_output=True, text=True).stdout
    os.unlink(f.name)
    def lat(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)] if m else 0.0
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50": lat(50), "p99": lat(99),
            "errors": int(errors.group(1)) if errors else 0}


def serve_cmd(binary, data_dir):
    """The command line of `stratus serve` with its defaults, on `{port}`."""
    return [str(binary), "serve", "--listen", "127.0.0.1:{port}", "--data-dir", str(data_dir), "--log-level", "warn"]


def binary(arg):
    """A Stratus binary named on the command line of the A/B helpers: a path, or a name under
    /tmp/ab (where `cp target/release/stratus /tmp/ab/NAME` keeps a build to compare with)."""
    return Path(arg) if "/" in arg else Path("/tmp/ab") / arg


def targets(tmp):
    ts = [Target("stratus (embedded, SigV4 verified, durable)", serve_cmd(RELEASE / "stratus", tmp / "stratus"),
                 {"dynamodb", "sts"}),
          Target("bare hyper server (limit)", [str(RELEASE / "examples" / "hello"), "127.0.0.1:{port}"], {"any"})]
    if shutil.which("moto_server"):
        ts.append(Target("moto_server", ["moto_server", "-p", "{port}"], {"dynamodb", "sts"}))
    if shutil.which("dynoxide"):
        ts.append(Target("dynoxide (SQLite file)", ["dynoxide", "serve", "--port", "{port}", "--db-path", str(tmp / "dynoxide.db")],
                         {"dynamodb"}))
    if shutil.which("fakecloud"):
        ts.append(Target("fakecloud (in-memory)", ["fakecloud", "--addr", "127.0.0.1:{port}"], {"dynamodb", "sts"}))
        ts.append(Target("fakecloud (persistent, --verify-sigv4)",
                         ["fakecloud", "--addr", "127.0.0.1:{port}", "--storage-mode", "persistent",
                          "--data-path", str(tmp / "fakecloud"), "--verify-sigv4"], {"dynamodb", "sts"}))
    return ts


def reset_data(tmp):
    for p in ("stratus", "dynoxide.db", "fakecloud"):
        shutil.rmtree(tmp / p, ignore_errors=True)
        try:
            (tmp / p).unlink()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=float, default=10)
    ap.add_argument("--only", default="startup," + ",".join(STS_WORKLOADS + DYNAMODB_WORKLOADS))
    ap.add_argument("--startup-runs", type=int, default=5)
    ap.add_argument("--replay", action="store_true",
                    help="also measure describe_table/get_caller_identity with wrk replaying one signed request")
    args = ap.parse_args()
    only = args.only.split(",")
    tmp = Path(tempfile.mkdtemp(prefix="stratus-bench-"))
    ts = targets(tmp)
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} — {os.cpu_count()} cores, 16 connections, {args.secs:g} s per run\n")

    if "startup" in only:
        print("## Start-up (spawn → first successful signed API answer) and idle RSS\n")
        print("| server | start-up median (ms) | idle RSS (MiB) |")
        print("|---|---:|---:|")
        for t in ts:
            if "any" in t.services:
                continue
            times, rss = [], []
            for _ in range(args.startup_runs):
                reset_data(tmp)
                t0 = t.start()
                try:
                    times.append(wait_ready(t, t0) * 1000)
                    time.sleep(1.0)
                    rss.append(t.rss_mib())
                finally:
                    t.stop()
            print(f"| {t.name} | {statistics.median(times):.1f} | {statistics.median(rss):.1f} |")
        print()

    plan = [(w, False) for w in only if w in STS_WORKLOADS + DYNAMODB_WORKLOADS]
    if args.replay and shutil.which("wrk"):
        plan += [(w, True) for w in ("describe_table", "get_caller_identity") if w in only]
    for wl, replay in plan:
        service = "sts" if wl in STS_WORKLOADS else "dynamodb"
        rows = []
        for t in ts:
            if service not in t.services and "any" not in t.services:
                continue
            reset_data(tmp)
            t.start()
            try:
                wait_ready(t, time.perf_counter())
                if service == "dynamodb" and "any" not in t.services:
                    setup_tables(t.port)
                rows.append((t.name, wrk_replay(t.port, wl, args.secs) if replay else load(t.port, wl, args.secs)))
            except Exception as e:  # noqa: BLE001 — a peer that cannot run a workload is reported
                rows.append((t.name, {"rps": 0, "p50": 0, "p99": 0, "errors": f"failed: {type(e).__name__}"}))
            finally:
                t.stop()
        limit = next((r for n, r in rows if n.startswith("bare")), None)
        ours = next((r for n, r in rows if n.startswith("stratus")), None)
        how = "wrk replaying one signed request" if replay else "every request signed by the load generator"
        print(f"## {wl} at 16 connections ({how})\n")
        print("| server | req/s | p50 (ms) | p99 (ms) | errors | stratus ÷ this | this ÷ limit |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for n, r in rows:
            vs = f"{ours['rps'] / r['rps']:.2f}×" if ours and r["rps"] else "—"
            of_limit = f"{r['rps'] / limit['rps'] * 100:.0f}%" if limit and limit["rps"] else ""
            print(f"| {n} | {r['rps']:.0f} | {r['p50']:.3f} | {r['p99']:.3f} | {r['errors']} | {vs} | {of_limit} |")
        print()
    if "scale" in only:
        scale(tmp, args)
    shutil.rmtree(tmp, ignore_errors=True)


def scale(tmp, args, target_items=1_000_000):
    """Query latency and RSS with 1,000 items in the table, then with 1,000,000."""
    reset_data(tmp)
    t = targets(tmp)[0]
    t.start()
    try:
        wait_ready(t, time.perf_counter())
        setup_tables(t.port)
        small = load(t.port, "query", args.secs)
        small_rss = t.rss_mib()
        ddb = boto3.client("dynamodb", endpoint_url=f"http://127.0.0.1:{t.port}", region_name="us-east-1",
                           aws_access_key_id="test", aws_secret_access_key="test")
        started = time.perf_counter()
        while ddb.describe_table(TableName="benchq")["Table"]["ItemCount"] < target_items:
            load(t.port, "fill_q", 10)
        fill_secs = time.perf_counter() - started
        count = ddb.describe_table(TableName="benchq")["Table"]["ItemCount"]
        big = load(t.port, "query", args.secs)
        big_rss = t.rss_mib()
    finally:
        t.stop()
    print("## Query (25 of 1,000 items in a partition) as the table grows\n")
    print("| items in table | req/s | p50 (ms) | p99 (ms) | RSS (MiB) |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| 1,000 | {small['rps']:.0f} | {small['p50']:.3f} | {small['p99']:.3f} | {small_rss:.1f} |")
    print(f"| {count:,} | {big['rps']:.0f} | {big['p50']:.3f} | {big['p99']:.3f} | {big_rss:.1f} |")
    print(f"\np50 ratio {big['p50'] / small['p50']:.2f}× (aim ≤ 2×); loaded {count - 1000:,} items in {fill_secs:.0f} s\n")


if __name__ == "__main__":
    main()
