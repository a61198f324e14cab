"""Integration test harness: starts the real `stratus` binary on a free port with a temporary
data directory and drives it with boto3, the AWS CLI and raw signed HTTP requests."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("STRATUS_BIN", ROOT / "target" / "debug" / "stratus"))
PG_URL = os.environ.get("STRATUS_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test")

os.environ.setdefault("AWS_ACCESS_KEY_ID", "test")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "test")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(var, None)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One `stratus serve` process."""

    def __init__(self, data_dir, args=(), env=None, dev=True, port=None):
        self.data_dir = Path(data_dir)
        self.args = list(args)
        self.env = env or {}
        self.dev = dev
        self.port = port or free_port()
        self.proc = None
        self.log_path = self.data_dir.parent / f"stratus-{self.port}-{uuid.uuid4().hex[:6]}.log"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        cmd = [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir)]
        if self.dev:
            cmd.append("--dev")
        cmd += self.args
        env = {k: v for k, v in os.environ.items() if not k.startswith("STRATUS_")}
        env.update(self.env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stratus exited with {self.proc.returncode}:\n{self.read_log()}")
            try:
                if requests.get(self.url + "/_stratus/health", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.02)
        raise RuntimeError("stratus did not become healthy:\n" + self.read_log())

    def read_log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode if self.proc else None

    def restart(self):
        self.stop() if self.proc.poll() is None else None
        return self.start()

    def reset(self):
        r = requests.post(self.url + "/_stratus/reset", timeout=10)
        assert r.status_code == 200, r.text

    def client(self, service, region="us-east-1", key="test", secret="test", token=None, validate=True):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            aws_session_token=token,
            config=botocore.config.Config(parameter_validation=validate, retries={"max_attempts": 1}),
        )

    def resource(self, service, region="us-east-1"):
        return boto3.resource(service, endpoint_url=self.url, region_name=region,
                              aws_access_key_id="test", aws_secret_access_key="test")

    def cli(self, *args, check=True, env=None):
        e = dict(os.environ)
        e.update(env or {})
        out = subprocess.run(["aws", "--endpoint-url", self.url, "--output", "json", *args],
                             capture_output=True, text=True, env=e, timeout=60)
        if check and out.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {out.stderr}")
        return out

    def signed(self, service, body=b"", headers=None, method="POST", path="/", query="",
               key="test", secret="test", token=None, region="us-east-1", when=None):
        """A raw request signed with botocore's own SigV4 signer."""
        url = self.url + path + (("?" + query) if query else "")
        req = botocore.awsrequest.AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
        creds = botocore.credentials.Credentials(key, secret, token)
        signer = botocore.auth.SigV4Auth(creds, service, region)
        if when is None:
            signer.add_auth(req)
        else:
            original = botocore.auth.get_current_datetime
            botocore.auth.get_current_datetime = lambda: when
            try:
                signer.add_auth(req)
            finally:
                botocore.auth.get_current_datetime = original
        prepared = req.prepare()
        return requests.request(method, prepared.url, data=prepared.body, headers=dict(prepared.headers), timeout=30)

    def dynamodb_raw(self, operation, payload, **kw):
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        headers = {"X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0"}
        return self.signed("dynamodb", body=body, headers=headers, **kw)

    def sts_raw(self, params, **kw):
        body = "&".join(f"{k}={requests.utils.quote(str(v), safe='')}" for k, v in params.items())
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        return self.signed("sts", body=body, headers=headers, **kw)

    def advance_clock(self, seconds):
        r = requests.post(self.url + "/_stratus/clock", json={"advance_seconds": seconds}, timeout=10)
        assert r.status_code == 200, r.text
        return r.json()


def pytest_sessionstart(session):
    if not BIN.exists():
        raise pytest.UsageError(f"{BIN} does not exist: run `cargo build` first (the README's test command does)")


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("stratus") / "data").start()
    yield s
    s.stop()


@pytest.fixture
def stratus(server):
    """The shared embedded-store server, wiped clean before the test."""
    server.reset()
    return server


@pytest.fixture
def new_server(tmp_path):
    """Starts extra servers of the test's own (stopped at the end)."""
    started = []

    def start(args=(), env=None, dev=True, data_dir=None, port=None):
        s = Server(data_dir or tmp_path / f"data{len(started)}", args, env, dev, port).start()
        started.append(s)
        return s

    yield start
    for s in started:
        if s.proc and s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()


@pytest.fixture
def pg_url():
    schema = f"it_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    return f"{PG_URL}?stratus_schema={schema}"


def error_of(resp):
    """(code, message) of an AWS error answer in JSON or XML form."""
    ctype = resp.headers.get("content-type", "")
    if "json" in ctype:
        body = resp.json()
        return body.get("__type", "").split("#")[-1], body.get("message") or body.get("Message")
    import xml.etree.ElementTree as ET
    root = ET.fromstring(resp.content)
    ns = {"a": root.tag.split("}")[0].strip("{")} if root.tag.startswith("{") else {}
    find = (lambda tag: root.find(f".//a:{tag}", ns)) if ns else (lambda tag: root.find(f".//{tag}"))
    return find("Code").text, (find("Message").text if find("Message") is not None else None)
