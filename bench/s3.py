#!/usr/bin/env python3
"""S3 side by side: Stratus, its peers and the physical limit.

    cargo build --release --workspace --bins --examples
    python3 bench/s3.py [--secs 8] [--rounds 3] [--rss]

- PUT and GET of 1 KiB objects at 16 connections (every request freshly SigV4-signed by
  `target/release/examples/load`) against Stratus (signatures verified, stored durably),
  moto_server, and fakecloud in memory and persistent with --verify-sigv4 (when on PATH).
- GET of a 1 MiB object against the same servers and nginx serving the same bytes from local
  disk (the limit). nginx's rate swings widely between runs on these machines, so Stratus and
  nginx then take turns for --rounds more runs of the 1 MiB GET each, and the ratio is the
  median of the per-round ratios.
- With --rss: peak RSS of Stratus while the AWS CLI uploads a 2 GiB file (multipart).
Prints Markdown tables with ratios.
"""

import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
import botocore.config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import LOAD, RELEASE, Target, free_port, load  # noqa: E402

import socket  # noqa: E402

SEEDS = 1000


def wait_port(t, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if t.proc.poll() is not None:
            raise RuntimeError(f"{t.name} exited")
        try:
            socket.create_connection(("127.0.0.1", t.port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{t.name} never listened")


def client(port):
    return boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=botocore.config.Config(max_pool_connections=16, retries={"max_attempts": 3}))


def seed(port):
    s3 = client(port)
    for _ in range(100):
        try:
            s3.create_bucket(Bucket="bench")
            break
        except Exception:  # noqa: BLE001 - the server may still be starting its S3 side
            time.sleep(0.1)
    body = b"x" * 1024
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket="bench", Key=f"seed{i}", Body=body), range(SEEDS)))
    s3.put_object(Bucket="bench", Key="big", Body=os.urandom(1 << 20))


def nginx(tmp):
    """nginx serving a 1 MiB file from local disk; returns (proc, port)."""
    root = tmp / "nginx"
    root.mkdir(exist_ok=True)
    # nginx's workers must be able to read the file.
    os.chmod(tmp, 0o755)
    os.chmod(root, 0o755)
    (root / "big").write_bytes(os.urandom(1 << 20))
    port = free_port()
    conf = root / "nginx.conf"
    conf.write_text(f"""
worker_processes 2;
pid {root}/nginx.pid;
error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
""")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    proc = subprocess.Popen([nginx_bin, "-c", str(conf), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = Target("nginx", [], {"any"})
    t.proc, t.port = proc, port
    wait_port(t)
    return t


def targets(tmp):
    ts = [Target("stratus (embedded, SigV4 verified, durable)",
                 [str(RELEASE / "stratus"), "serve", "--listen", "127.0.0.1:{port}", "--data-dir",
                  str(tmp / "stratus"), "--log-level", "warn"], {"s3"})]
    if shutil.which("moto_server"):
        ts.append(Target("moto_server", ["moto_server", "-p", "{port}"], {"s3"}))
    if shutil.which("fakecloud"):
        ts.append(Target("fakecloud (in-memory)", ["fakecloud", "--addr", "127.0.0.1:{port}"], {"s3"}))
        ts.append(Target("fakecloud (persistent, --verify-sigv4)",
                         ["fakecloud", "--addr", "127.0.0.1:{port}", "--storage-mode", "persistent",
                          "--data-path", str(tmp / "fakecloud"), "--verify-sigv4"], {"s3"}))
    return ts


def alternate_1m(tmp, secs):
    """One round: the 1 MiB GET against a fresh Stratus, then against nginx; returns both rates."""
    t = targets(tmp)[0]
    shutil.rmtree(tmp / "stratus", ignore_errors=True)
    t.start()
    try:
        wait_port(t)
        seed(t.port)
        ours = load(t.port, "s3_get_1m", secs)["rps"]
    finally:
        t.stop()
    ng = nginx(tmp)
    try:
        limit = load(ng.port, "file_1m", secs)["rps"]
    finally:
        ng.stop()
    return ours, limit


def peak_rss_upload(tmp):
    """Peak RSS of Stratus while the CLI uploads a 2 GiB file."""
    t = targets(tmp)[0]
    t.cmd = [c.replace(str(tmp / "stratus"), str(tmp / "stratus-rss")) for c in t.cmd]
    t.start()
    try:
        wait_port(t)
        client(t.port).create_bucket(Bucket="big")
        f = tmp / "2g.bin"
        with open(f, "wb") as out:
            chunk = os.urandom(1 << 20)
            for _ in range(2048):
                out.write(chunk)
        before = hwm(t.proc.pid)
        t0 = time.perf_counter()
        env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
        subprocess.run(["aws", "--endpoint-url", f"http://127.0.0.1:{t.port}", "s3", "cp", str(f), "s3://big/2g.bin"],
                       check=True, env=env, stdout=subprocess.DEVNULL)
        secs = time.perf_counter() - t0
        f.unlink()
        return before, hwm(t.proc.pid), secs
    finally:
        t.stop()


def hwm(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--secs", type=float, default=8)
    ap.add_argument("--rounds", type=int, default=3, help="alternating Stratus/nginx rounds of the 1 MiB GET")
    ap.add_argument("--rss", action="store_true")
    args = ap.parse_args()
    if not LOAD.exists():
        sys.exit("build first: cargo build --release --workspace --bins --examples")
    tmp = Path(tempfile.mkdtemp(prefix="stratus-s3-bench-"))
    results = {}
    try:
        for t in targets(tmp):
            t.start()
            try:
                wait_port(t)
                seed(t.port)
                for w in ("s3_put", "s3_get", "s3_get_1m"):
                    results[(t.name, w)] = load(t.port, w, args.secs)
                    print(t.name, w, results[(t.name, w)], file=sys.stderr)
            finally:
                t.stop()
        ng = nginx(tmp)
        try:
            results[("nginx (limit)", "s3_get_1m")] = load(ng.port, "file_1m", args.secs)
            print("nginx", results[("nginx (limit)", "s3_get_1m")], file=sys.stderr)
        finally:
            ng.stop()

        stratus = targets(tmp)[0].name
        print("\n| server | PUT 1 KiB/s | p50 ms | p99 ms | GET 1 KiB/s | p50 ms | p99 ms | GET 1 MiB/s | p50 ms | errors |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        names = [t.name for t in targets(tmp)] + ["nginx (limit)"]
        for n in names:
            cells = []
            errors = 0
            for w in ("s3_put", "s3_get", "s3_get_1m"):
                r = results.get((n, w))
                if r is None:
                    cells += ["–", "–", "–"] if w != "s3_get_1m" else ["–", "–"]
                    continue
                errors += r["errors"]
                cells += [f"{r['rps']:,.0f}", f"{r['p50']:.2f}"] + ([f"{r['p99']:.2f}"] if w != "s3_get_1m" else [])
            print(f"| {n} | " + " | ".join(cells) + f" | {errors} |")
        print("\nRatios (Stratus ÷ other; above 1 = Stratus faster):\n")
        print("| other | PUT 1 KiB | GET 1 KiB | GET 1 MiB |")
        print("|---|---|---|---|")
        for n in names[1:]:
            row = []
            for w in ("s3_put", "s3_get", "s3_get_1m"):
                a, b = results.get((stratus, w)), results.get((n, w))
                row.append(f"{a['rps'] / b['rps']:.2f}×" if a and b and b["rps"] else "–")
            print(f"| {n} | " + " | ".join(row) + " |")
        if args.rounds:
            print(f"\nGET 1 MiB, Stratus and nginx taking turns ({args.rounds} rounds of {args.secs:g} s):\n")
            print("| round | stratus GET 1 MiB/s | nginx GET 1 MiB/s | stratus ÷ nginx |")
            print("|---|---|---|---|")
            ratios = []
            for i in range(args.rounds):
                ours, limit = alternate_1m(tmp, args.secs)
                ratios.append(ours / limit if limit else 0.0)
                print(f"| {i + 1} | {ours:,.0f} | {limit:,.0f} | {ratios[-1]:.2f}× |")
            print(f"\nMedian Stratus ÷ nginx on the 1 MiB GET: **{sorted(ratios)[len(ratios) // 2]:.2f}×**")
        if args.rss:
            before, peak, secs = peak_rss_upload(tmp)
            print(f"\nPeak RSS while `aws s3 cp` uploads 2 GiB: {peak:.0f} MiB (before the upload: {before:.0f} MiB); "
                  f"upload took {secs:.1f} s ({2048 / secs:.0f} MiB/s).")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
