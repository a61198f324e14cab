"""Lambda through boto3 and the AWS CLI: functions run their own code in sandboxed processes."""

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import botocore.exceptions
import pytest
import requests

ROLE = "arn:aws:iam::000000000000:role/r"


def zip_of(files, modes=None):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = ((modes or {}).get(name, 0o644) & 0xFFFF) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return buf.getvalue()


ECHO = """
import os
calls = 0
def handler(event, context):
    global calls
    calls += 1
    print("event", event.get("name"))
    return {"hello": event.get("name"), "calls": calls, "fn": context.function_name,
            "rid": context.aws_request_id, "arn": context.invoked_function_arn}
"""


def create(lam, name, code=ECHO, runtime="python3.12", handler="app.handler", files=None, modes=None, **kw):
    files = files or {"app.py": code}
    return lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                               Code={"ZipFile": zip_of(files, modes)}, **kw)


def call(lam, name, payload=None, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}), **kw)
    body = r["Payload"].read()
    return r, json.loads(body) if body else None


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status_of(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_cli_walkthrough(stratus, tmp_path):
    (tmp_path / "app.py").write_text('def handler(event, context):\n    return {"hello": event["name"]}\n')
    with zipfile.ZipFile(tmp_path / "f.zip", "w") as z:
        z.write(tmp_path / "app.py", "app.py")
    out = stratus.cli("lambda", "create-function", "--function-name", "f", "--runtime", "python3.12",
                      "--handler", "app.handler", "--role", ROLE, "--zip-file", f"fileb://{tmp_path / 'f.zip'}")
    created = json.loads(out.stdout)
    assert created["State"] == "Active" and created["LastUpdateStatus"] == "Successful"
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:f"
    stratus.cli("lambda", "wait", "function-active", "--function-name", "f")
    out = stratus.cli("lambda", "invoke", "--function-name", "f", "--payload", '{"name":"x"}',
                      str(tmp_path / "out.json"))
    assert json.loads(out.stdout)["StatusCode"] == 200
    assert json.loads((tmp_path / "out.json").read_text()) == {"hello": "x"}


def test_logs_tail_follow_with_cli_v2(stratus, tmp_path):
    """`aws logs tail --follow` (AWS CLI v2 only) prints a function's output as it runs."""
    import threading
    cli2 = "/usr/bin/aws"
    version = subprocess.run([cli2, "--version"], capture_output=True, text=True) if os.path.exists(cli2) else None
    assert version is not None and version.stdout.startswith("aws-cli/2"), \
        "the AWS CLI v2 is needed at /usr/bin/aws (apt-get install awscli; .ci/run does)"
    lam = stratus.client("lambda")
    create(lam, "tailed", code="def handler(e, c):\n    print('line', e['n'])\n    return {}\n")
    call(lam, "tailed", {"n": 1})
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1")
    out = subprocess.run([cli2, "--endpoint-url", stratus.url, "logs", "tail", "/aws/lambda/tailed", "--since", "1h"],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "line 1" in out.stdout and "REPORT RequestId" in out.stdout
    follow = subprocess.Popen([cli2, "--endpoint-url", stratus.url, "logs", "tail", "/aws/lambda/tailed", "--follow",
                               "--since", "1h"], stdout=subprocess.PIPE, text=True, env=env)
    seen = []
    reader = threading.Thread(target=lambda: seen.extend(iter(follow.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not any("line 1" in s for s in seen):
            time.sleep(0.1)
        call(lam, "tailed", {"n": 2})
        while time.monotonic() < deadline and not any("line 2" in s for s in seen):
            time.sleep(0.1)
    finally:
        follow.kill()
        follow.wait()
    assert any("line 2" in s for s in seen), seen


def test_control_plane(stratus):
    lam = stratus.client("lambda")
    c = create(lam, "ctl", Environment={"Variables": {"AA": "1"}}, MemorySize=256, Timeout=10,
               Tags={"team": "x"}, Description="d")
    assert c["MemorySize"] == 256 and c["Timeout"] == 10 and c["Environment"]["Variables"] == {"AA": "1"}
    assert c["CodeSize"] > 0 and len(base64.b64decode(c["CodeSha256"])) == 32
    g = lam.get_function(FunctionName="ctl")
    assert g["Configuration"]["FunctionName"] == "ctl" and g["Tags"] == {"team": "x"}
    # The code can be downloaded back, byte for byte.
    zipped = requests.get(g["Code"]["Location"], timeout=10)
    assert zipped.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(zipped.content)).read("app.py").decode() == ECHO
    assert requests.get(g["Code"]["Location"].split("?")[0] + "?token=forged", timeout=10).status_code == 403
    # The same function by ARN and by partial ARN.
    assert lam.get_function_configuration(
        FunctionName="arn:aws:lambda:us-east-1:000000000000:function:ctl")["Description"] == "d"
    assert lam.get_function_configuration(FunctionName="000000000000:function:ctl")["FunctionName"] == "ctl"
    u = lam.update_function_configuration(FunctionName="ctl", MemorySize=512, Environment={"Variables": {"BB": "2"}})
    assert u["MemorySize"] == 512 and u["Environment"]["Variables"] == {"BB": "2"}
    assert u["RevisionId"] != c["RevisionId"]
    lam.get_waiter("function_updated_v2").wait(FunctionName="ctl")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_configuration(FunctionName="ctl", Timeout=5, RevisionId="stale")
    assert code_of(e) == "PreconditionFailedException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, "ctl")
    assert code_of(e) == "ResourceConflictException" and status_of(e) == 409
    for n in range(5):
        create(lam, f"page-{n}")
    names, marker = [], None
    while True:
        kw = {"Marker": marker} if marker else {}
        page = lam.list_functions(MaxItems=2, **kw)
        assert len(page["Functions"]) <= 2
        names += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert sorted(names) == sorted(["ctl"] + [f"page-{n}" for n in range(5)])
    settings = lam.get_account_settings()
    assert settings["AccountUsage"]["FunctionCount"] == 6
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    lam.delete_function(FunctionName="ctl")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function(FunctionName="ctl")
    assert code_of(e) == "ResourceNotFoundException" and status_of(e) == 404
    assert "Function not found: arn:aws:lambda:us-east-1:000000000000:function:ctl" in str(e.value)


@pytest.mark.parametrize("kw,code,fragment", [
    ({"MemorySize": 64}, "ValidationException", "greater than or equal to 128"),
    ({"MemorySize": 10241}, "InvalidParameterValueException", "less than or equal to 10240"),
    ({"Timeout": 0}, "ValidationException", "greater than or equal to 1"),
    ({"Timeout": 901}, "ValidationException", "less than or equal to 900"),
    ({"EphemeralStorage": {"Size": 256}}, "ValidationException", "greater than or equal to 512"),
    ({"Environment": {"Variables": {"BIG": "x" * 5000}}}, "InvalidParameterValueException", "exceeded the 4KB limit"),
    ({"Environment": {"Variables": {"AWS_REGION": "x"}}}, "InvalidParameterValueException", "reserved keys"),
    ({"Runtime": "python2.7"}, "InvalidParameterValueException", "no longer supported"),
    ({"Runtime": "java21"}, "InvalidParameterValueException", "not supported by Stratus"),
    ({"Runtime": "cobol"}, "ValidationException", "enum value set"),
])
def test_create_limits(stratus, kw, code, fragment):
    lam = stratus.client("lambda", validate=False)
    args = {"FunctionName": "lim", "Runtime": "python3.12", "Role": ROLE, "Handler": "app.handler",
            "Code": {"ZipFile": zip_of({"app.py": ECHO})}}
    args.update(kw)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(**args)
    assert code_of(e) == code, e.value.response
    assert fragment in e.value.response["Error"]["Message"]
    assert status_of(e) == 400


def test_bad_packages(stratus):
    lam = stratus.client("lambda")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName="bad", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": b"not a zip file"})
    assert code_of(e) == "InvalidParameterValueException"
    assert "Could not unzip uploaded file" in str(e.value)
    big = os.urandom(51 * 1024 * 1024)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName="big", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": big})
    assert code_of(e) == "RequestEntityTooLargeException" and status_of(e) == 413


def test_invoke_behaviour(stratus):
    lam = stratus.client("lambda")
    create(lam, "echo")
    r, out = call(lam, "echo", {"name": "a"}, LogType="Tail")
    assert r["StatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST" and "FunctionError" not in r
    assert out["hello"] == "a" and out["fn"] == "echo" and out["calls"] == 1
    assert out["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:echo"
    assert out["rid"] == r["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(r["LogResult"]).decode()
    assert f"START RequestId: {out['rid']} Version: $LATEST" in log
    assert "event a" in log and f"END RequestId: {out['rid']}" in log
    assert "Billed Duration:" in log and "Memory Size: 128 MB" in log and "Init Duration:" in log
    # The instance stays warm: module state survives and no init runs again.
    r, out = call(lam, "echo", {"name": "b"}, LogType="Tail")
    assert out["calls"] == 2
    assert "Init Duration" not in base64.b64decode(r["LogResult"]).decode()
    dry = lam.invoke(FunctionName="echo", InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="echo", Payload=b"{not json")
    assert code_of(e) == "InvalidRequestContentException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="echo", Payload=json.dumps({"x": "y" * (6 * 1024 * 1024)}))
    assert code_of(e) == "RequestEntityTooLargeException" and status_of(e) == 413
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="missing")
    assert code_of(e) == "ResourceNotFoundException"
    ctx = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    create(lam, "ctx", code="def handler(e, c):\n    return c.client_context\n")
    _, out = call(lam, "ctx", ClientContext=ctx)
    assert out == {"custom": {"k": "v"}}


def test_function_errors(stratus):
    lam = stratus.client("lambda")
    create(lam, "raise", code="def handler(e, c):\n    raise ValueError('bad input ' + str(e['n']))\n")
    r, out = call(lam, "raise", {"n": 7})
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "ValueError" and out["errorMessage"] == "bad input 7"
    assert isinstance(out["stackTrace"], list) and out["stackTrace"]
    create(lam, "slow", code="import time\ndef handler(e, c):\n    time.sleep(5)\n", Timeout=1)
    r, out = call(lam, "slow")
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in out["errorMessage"]
    create(lam, "hog", MemorySize=128,
           code="def handler(e, c):\n    blocks = [bytearray(1024 * 1024) for _ in range(400)]\n    return len(blocks)\n")
    r, out = call(lam, "hog")
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "Runtime.OutOfMemory", out
    # After a timeout or an OOM kill the next call gets a fresh instance.
    create(lam, "flaky", code="import time\nn = 0\ndef handler(e, c):\n    global n\n    n += 1\n"
                              "    if e.get('hang'):\n        time.sleep(5)\n    return n\n", Timeout=1)
    assert call(lam, "flaky")[1] == 1
    assert call(lam, "flaky")[1] == 2
    assert call(lam, "flaky", {"hang": True})[1]["errorType"] == "Sandbox.Timedout"
    assert call(lam, "flaky")[1] == 1
    create(lam, "crash", code="import os\ndef handler(e, c):\n    os._exit(3)\n")
    r, out = call(lam, "crash")
    assert out["errorType"] == "Runtime.ExitError" and "exit status 3" in out["errorMessage"]
    create(lam, "huge", code="def handler(e, c):\n    return 'x' * (7 * 1024 * 1024)\n")
    r, out = call(lam, "huge")
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "Function.ResponseSizeTooLarge"


def test_init_errors(stratus):
    lam = stratus.client("lambda")
    create(lam, "noimport", code="import no_such_module\ndef handler(e, c):\n    return 1\n")
    r, out = call(lam, "noimport")
    assert r["FunctionError"] == "Unhandled"
    assert out["errorType"] == "Runtime.ImportModuleError"
    assert "Unable to import module 'app'" in out["errorMessage"]
    create(lam, "nohandler", code="def other(e, c):\n    return 1\n")
    assert call(lam, "nohandler")[1]["errorType"] == "Runtime.HandlerNotFound"
    create(lam, "exits", code="import sys\nsys.exit(4)\n")
    out = call(lam, "exits")[1]
    assert out["errorType"] == "Runtime.ExitError" and "exit status 4" in out["errorMessage"]


def test_node_and_provided_runtimes(stratus):
    lam = stratus.client("lambda")
    node = ("exports.handler = async (event, context) => {\n  console.log('node log line');\n"
            "  if (event.fail) throw new TypeError('nope');\n"
            "  return { name: event.name, fn: context.functionName };\n};\n")
    create(lam, "node", runtime="nodejs20.x", handler="index.handler", files={"index.js": node})
    r, out = call(lam, "node", {"name": "n"}, LogType="Tail")
    assert out == {"name": "n", "fn": "node"}
    assert "node log line" in base64.b64decode(r["LogResult"]).decode()
    r, out = call(lam, "node", {"fail": True})
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "TypeError" and out["errorMessage"] == "nope"
    bootstrap = """#!/bin/bash
set -euo pipefail
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  HEADERS="$(mktemp)"
  EVENT=$(curl -sS -LD "$HEADERS" "$API/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  echo "shell got $EVENT"
  curl -sS -X POST "$API/$ID/response" -d "{\\"shell\\": $EVENT, \\"handler\\": \\"$_HANDLER\\"}" > /dev/null
done
"""
    create(lam, "shell", runtime="provided.al2023", handler="x.y",
           files={"bootstrap": bootstrap}, modes={"bootstrap": 0o755})
    r, out = call(lam, "shell", {"k": 1}, LogType="Tail")
    assert out == {"shell": {"k": 1}, "handler": "x.y"}, out
    assert 'shell got {"k": 1}' in base64.b64decode(r["LogResult"]).decode()


def test_provided_bootstrap_must_be_executable(stratus):
    lam = stratus.client("lambda")
    lam.create_function(FunctionName="noexec", Runtime="provided.al2023", Role=ROLE, Handler="x",
                        Code={"ZipFile": zip_of({"bootstrap": "#!/bin/sh\nexit 0\n"}, {"bootstrap": 0o644})})
    r, out = call(lam, "noexec")
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "Runtime.InvalidEntrypoint"


SANDBOX_PROBE = """
import json, os, socket, urllib.request
def handler(event, context):
    out = {"uid": os.getuid(), "cwd": os.getcwd(), "pid": os.getpid(),
           "api": os.environ["AWS_LAMBDA_RUNTIME_API"], "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
           "env": {k: os.environ.get(k) for k in ("AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                   "AWS_LAMBDA_FUNCTION_VERSION", "AWS_REGION", "LAMBDA_TASK_ROOT", "_HANDLER", "MY_VAR")}}
    data_dir = event.get("data_dir")
    out["sees_data_dir"] = bool(data_dir) and os.path.exists(data_dir) and bool(os.listdir(data_dir))
    try:
        open("/var/task/new-file", "w").write("x")
        out["task_writable"] = True
    except OSError:
        out["task_writable"] = False
    try:
        open("/etc/stratus-probe", "w").write("x")
        out["etc_writable"] = True
    except OSError:
        out["etc_writable"] = False
    with open("/tmp/scratch", "w") as f:
        f.write("ok")
    out["tmp_ok"] = open("/tmp/scratch").read() == "ok"
    st = os.statvfs("/tmp")
    out["tmp_mb"] = st.f_blocks * st.f_frsize // (1024 * 1024)
    out["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    other = event.get("steal_from")
    if other:
        try:
            with urllib.request.urlopen(f"http://{other}/2018-06-01/runtime/invocation/next", timeout=3) as r:
                out["stolen"] = r.read().decode()
        except Exception as e:
            out["stolen"] = None
    return out
"""


def test_sandbox_isolation(stratus):
    lam = stratus.client("lambda")
    create(lam, "probe-a", code=SANDBOX_PROBE, Environment={"Variables": {"MY_VAR": "v"}},
           EphemeralStorage={"Size": 600}, MemorySize=256)
    create(lam, "probe-b", code=SANDBOX_PROBE)
    _, a = call(lam, "probe-a", {"data_dir": str(stratus.data_dir)})
    assert a["uid"] != 0 and a["cwd"] == "/var/task"
    assert a["sees_data_dir"] is False
    assert a["task_writable"] is False and a["etc_writable"] is False and a["tmp_ok"] is True
    assert 590 <= a["tmp_mb"] <= 610
    assert a["env"] == {"AWS_LAMBDA_FUNCTION_NAME": "probe-a", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "us-east-1",
                        "LAMBDA_TASK_ROOT": "/var/task", "_HANDLER": "app.handler", "MY_VAR": "v"}
    assert a["endpoint"] == stratus.url
    # Its own process tree: the runtime is PID 1 and sees nothing else of the host.
    assert a["pid"] == 1 and len(a["pids"]) < 5
    # Another instance cannot take events from probe-a's Runtime API.
    _, b = call(lam, "probe-b", {"steal_from": a["api"]})
    assert b["api"] != a["api"] and b["uid"] != a["uid"]
    assert b["stolen"] is None
    # probe-a still works afterwards: nothing was taken from it.
    assert call(lam, "probe-a", {})[1]["uid"] == a["uid"]


def test_function_calls_back_into_stratus(stratus):
    lam = stratus.client("lambda")
    code = ("import boto3\ndef handler(e, c):\n    sts = boto3.client('sts')\n"
            "    return sts.get_caller_identity()['Account']\n")
    create(lam, "caller", code=code, runtime="python3.11", Timeout=30)
    r, out = call(lam, "caller")
    assert "FunctionError" not in r, out
    assert out == "000000000000"


def test_versions_and_aliases(stratus):
    lam = stratus.client("lambda")
    create(lam, "ver", code="def handler(e, c):\n    return 'one'\n")
    v1 = lam.publish_version(FunctionName="ver", Description="first")
    assert v1["Version"] == "1" and v1["FunctionArn"].endswith(":ver:1")
    assert lam.publish_version(FunctionName="ver")["Version"] == "1"  # nothing changed
    lam.update_function_code(FunctionName="ver", ZipFile=zip_of({"app.py": "def handler(e, c):\n    return 'two'\n"}))
    assert call(lam, "ver")[1] == "two"
    assert call(lam, "ver", Qualifier="1")[1] == "one"
    v2 = lam.publish_version(FunctionName="ver")
    assert v2["Version"] == "2"
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="ver")["Versions"]]
    assert versions == ["$LATEST", "1", "2"]
    alias = lam.create_alias(FunctionName="ver", Name="live", FunctionVersion="1")
    assert alias["AliasArn"].endswith(":ver:live")
    r, out = call(lam, "ver", Qualifier="live")
    assert out == "one" and r["ExecutedVersion"] == "1"
    lam.update_alias(FunctionName="ver", Name="live", FunctionVersion="1",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    seen = {call(lam, "ver", Qualifier="live")[1] for _ in range(40)}
    assert seen == {"one", "two"}
    assert [a["Name"] for a in lam.list_aliases(FunctionName="ver")["Aliases"]] == ["live"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_alias(FunctionName="ver", Name="live", FunctionVersion="2")
    assert code_of(e) == "ResourceConflictException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_alias(FunctionName="ver", Name="bad", FunctionVersion="9")
    assert code_of(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.delete_function(FunctionName="ver", Qualifier="1")
    assert code_of(e) == "ResourceConflictException"
    lam.delete_alias(FunctionName="ver", Name="live")
    lam.delete_function(FunctionName="ver", Qualifier="1")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call(lam, "ver", Qualifier="1")
    assert code_of(e) == "ResourceNotFoundException"


def test_permissions_and_tags(stratus):
    lam = stratus.client("lambda")
    arn = create(lam, "perm")["FunctionArn"]
    st = lam.add_permission(FunctionName="perm", StatementId="s3", Action="lambda:InvokeFunction",
                            Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket")
    statement = json.loads(st["Statement"])
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"} and statement["Resource"] == arn
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.add_permission(FunctionName="perm", StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
    assert code_of(e) == "ResourceConflictException"
    policy = json.loads(lam.get_policy(FunctionName="perm")["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["s3"]
    assert policy["Statement"][0]["Condition"]["ArnLike"]["AWS:SourceArn"] == "arn:aws:s3:::bucket"
    lam.remove_permission(FunctionName="perm", StatementId="s3")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_policy(FunctionName="perm")
    assert code_of(e) == "ResourceNotFoundException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.remove_permission(FunctionName="perm", StatementId="s3")
    assert code_of(e) == "ResourceNotFoundException"
    lam.tag_resource(Resource=arn, Tags={"a": "1", "b": "2"})
    lam.untag_resource(Resource=arn, TagKeys=["a"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"b": "2"}


def test_function_logs_reach_cloudwatch(stratus):
    lam = stratus.client("lambda")
    logs = stratus.client("logs")
    create(lam, "logged")
    _, out = call(lam, "logged", {"name": "to-logs"})
    rid = out["rid"]
    deadline = time.monotonic() + 10
    messages = []
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName="/aws/lambda/logged")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        messages = [e["message"] for e in events]
        if any(m.startswith("REPORT") for m in messages):
            break
        time.sleep(0.05)
    assert f"START RequestId: {rid} Version: $LATEST" in messages
    assert "event to-logs" in messages
    assert any(m.startswith(f"REPORT RequestId: {rid}\tDuration: ") for m in messages)
    streams = logs.describe_log_streams(logGroupName="/aws/lambda/logged")["logStreams"]
    assert len(streams) == 1
    assert streams[0]["logStreamName"].split("/")[3].startswith("[$LATEST]")


CHATTY = """
import sys
def handler(event, context):
    for i in range(event["lines"]):
        print(f"line {i} " + "x" * 100)
    sys.stderr.write("last words\\n")
    return {"printed": event["lines"]}
"""


def test_output_larger_than_a_pipe_is_logged_whole(stratus):
    # ~3 MB of output in one call: far more than the pipe between the instance and the server
    # holds, so the function only finishes if the server keeps reading while it runs.
    lam = stratus.client("lambda")
    create(lam, "chatty", code=CHATTY, Timeout=60)
    r, out = call(lam, "chatty", {"lines": 30000}, LogType="Tail")
    assert out == {"printed": 30000}
    tail = base64.b64decode(r["LogResult"]).decode()
    assert "line 29999 " in tail and "last words" in tail
    assert tail.rstrip("\n").splitlines()[-1].startswith("REPORT RequestId: ")
    # The next call's log starts clean: nothing of the previous call's output is left over.
    r, out = call(lam, "chatty", {"lines": 1}, LogType="Tail")
    tail = base64.b64decode(r["LogResult"]).decode()
    assert "line 0 " in tail and "line 29999" not in tail


def _descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                children = open(f"/proc/{p}/task/{t}/children").read().split()
            except OSError:
                continue
            for c in children:
                out.append(int(c))
                todo.append(int(c))
    return out


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_no_function_process_outlives_the_server(new_server, how):
    s = new_server()
    lam = s.client("lambda")
    create(lam, "a")
    create(lam, "b", runtime="nodejs20.x", handler="index.handler",
           files={"index.js": "exports.handler = async () => 1;\n"})
    call(lam, "a")
    call(lam, "b")
    procs = _descendants(s.proc.pid)
    assert len(procs) >= 4  # two launchers and their runtimes
    if how == "sigterm":
        assert s.stop() == 0
    else:
        s.kill9()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(_alive(p) for p in procs):
        time.sleep(0.05)
    assert not [p for p in procs if _alive(p)]


def test_layers(stratus):
    lam = stratus.client("lambda")
    l1 = lam.publish_layer_version(LayerName="shared", Content={"ZipFile": zip_of({
        "python/shared_lib.py": "WHO = 'layer one'\n", "data/a.txt": "from layer 1"})},
        CompatibleRuntimes=["python3.12"], Description="first")
    assert l1["Version"] == 1 and l1["LayerVersionArn"].endswith(":layer:shared:1")
    l2 = lam.publish_layer_version(LayerName="shared", Content={"ZipFile": zip_of({
        "data/a.txt": "from layer 2", "data/b.txt": "only in 2"})})
    assert l2["Version"] == 2
    got = lam.get_layer_version(LayerName="shared", VersionNumber=1)
    assert got["Description"] == "first" and got["CompatibleRuntimes"] == ["python3.12"]
    assert requests.get(got["Content"]["Location"], timeout=10).status_code == 200
    assert [v["Version"] for v in lam.list_layer_versions(LayerName="shared")["LayerVersions"]] == [2, 1]
    assert [v["Version"] for v in lam.list_layer_versions(
        LayerName="shared", CompatibleRuntime="python3.12")["LayerVersions"]] == [1]
    layers = lam.list_layers()["Layers"]
    assert [(x["LayerName"], x["LatestMatchingVersion"]["Version"]) for x in layers] == [("shared", 2)]
    code = ("import shared_lib\ndef handler(e, c):\n    return [shared_lib.WHO, open('/opt/data/a.txt').read(),"
            " open('/opt/data/b.txt').read()]\n")
    fn = create(lam, "layered", code=code, Layers=[l1["LayerVersionArn"], l2["LayerVersionArn"]])
    assert [x["Arn"] for x in fn["Layers"]] == [l1["LayerVersionArn"], l2["LayerVersionArn"]]
    # Unpacked under /opt in order: the later layer wins.
    assert call(lam, "layered")[1] == ["layer one", "from layer 2", "only in 2"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        create(lam, "badlayer", Layers=[l1["LayerVersionArn"][:-1] + "9"])
    assert code_of(e) == "InvalidParameterValueException"
    lam.delete_layer_version(LayerName="shared", VersionNumber=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_layer_version(LayerName="shared", VersionNumber=1)
    assert code_of(e) == "ResourceNotFoundException"
    # Numbers are never reused, and functions keep the layer they were given.
    assert lam.publish_layer_version(LayerName="shared", Content={"ZipFile": zip_of({"x": "y"})})["Version"] == 3
    assert call(lam, "layered")[1][0] == "layer one"


def test_function_url_configs(stratus):
    lam = stratus.client("lambda")
    create(lam, "web")
    u = lam.create_function_url_config(FunctionName="web", AuthType="NONE",
                                       Cors={"AllowOrigins": ["*"], "MaxAge": 60})
    assert u["FunctionUrl"].startswith("http://") and "lambda-url" in u["FunctionUrl"]
    assert u["AuthType"] == "NONE" and u["Cors"]["MaxAge"] == 60
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function_url_config(FunctionName="web", AuthType="NONE")
    assert code_of(e) == "ResourceConflictException"
    lam.update_function_url_config(FunctionName="web", AuthType="AWS_IAM")
    assert lam.get_function_url_config(FunctionName="web")["AuthType"] == "AWS_IAM"
    assert len(lam.list_function_url_configs(FunctionName="web")["FunctionUrlConfigs"]) == 1
    lam.delete_function_url_config(FunctionName="web")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_url_config(FunctionName="web")
    assert code_of(e) == "ResourceNotFoundException"


def test_official_python_runtime_client(stratus, tmp_path):
    """`awslambdaric` from PyPI, unchanged, started through AWS_LAMBDA_EXEC_WRAPPER."""
    target = tmp_path / "pkg"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--target", str(target),
                    "--only-binary=:all:", "awslambdaric"], check=True, capture_output=True, timeout=300)
    files, modes = {}, {}
    for path in target.rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            files[str(path.relative_to(target))] = path.read_bytes()
    files["app.py"] = "def handler(event, context):\n    print('ric says hi')\n    return {'ric': event['x'], 'rid': context.aws_request_id}\n"
    files["wrapper.sh"] = '#!/bin/sh\nexec "$1" -m awslambdaric "$_HANDLER"\n'
    modes["wrapper.sh"] = 0o755
    lam = stratus.client("lambda")
    py = f"python{sys.version_info.major}.{sys.version_info.minor}"
    lam.create_function(FunctionName="ric", Runtime=py, Role=ROLE, Handler="app.handler", Timeout=30,
                        Code={"ZipFile": zip_of(files, modes)},
                        Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"}})
    r, out = call(lam, "ric", {"x": 42}, LogType="Tail")
    assert "FunctionError" not in r, out
    assert out == {"ric": 42, "rid": r["ResponseMetadata"]["RequestId"]}
    assert "ric says hi" in base64.b64decode(r["LogResult"]).decode()
    create(lam, "ric-err", code="def handler(e, c):\n    raise KeyError('k')\n")
    r, out = call(lam, "ric", {"y": 1})
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "KeyError"


def test_init_phase_is_limited_to_ten_seconds(stratus):
    lam = stratus.client("lambda")
    create(lam, "slowinit", code="import time\ntime.sleep(30)\ndef handler(e, c):\n    return 1\n", Timeout=60)
    r, out = call(lam, "slowinit")
    assert r["FunctionError"] == "Unhandled" and out["errorType"] == "Sandbox.Timedout"
    assert "Phase: init" in out["errorMessage"]


def test_code_from_s3(stratus):
    """CreateFunction, UpdateFunctionCode and PublishLayerVersion take code from S3Bucket/S3Key."""
    s3 = stratus.client("s3")
    lam = stratus.client("lambda")
    s3.create_bucket(Bucket="code")
    s3.put_object(Bucket="code", Key="v1.zip", Body=zip_of({"app.py": "def handler(e, c):\n    return 'v1'\n"}))
    s3.put_object(Bucket="code", Key="v2.zip", Body=zip_of({"app.py": "def handler(e, c):\n    return 'v2'\n"}))
    lam.create_function(FunctionName="froms3", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"S3Bucket": "code", "S3Key": "v1.zip"})
    assert json.loads(lam.invoke(FunctionName="froms3")["Payload"].read()) == "v1"
    lam.update_function_code(FunctionName="froms3", S3Bucket="code", S3Key="v2.zip")
    lam.get_waiter("function_updated_v2").wait(FunctionName="froms3")
    assert json.loads(lam.invoke(FunctionName="froms3")["Payload"].read()) == "v2"
    layer = lam.publish_layer_version(LayerName="fromS3", Content={"S3Bucket": "code", "S3Key": "v1.zip"})
    assert layer["Version"] == 1 and layer["Content"]["CodeSize"] > 0
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName="missing", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"S3Bucket": "code", "S3Key": "nope.zip"})
    assert code_of(e) == "InvalidParameterValueException"
    assert "S3 Error Code: NoSuchKey" in e.value.response["Error"]["Message"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.create_function(FunctionName="missing", Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"S3Bucket": "no-such-bucket-here", "S3Key": "v1.zip"})
    assert "S3 Error Code: NoSuchBucket" in e.value.response["Error"]["Message"]


def test_invoke_with_response_stream(stratus):
    lam = stratus.client("lambda")
    create(lam, "streamer")
    r = lam.invoke_with_response_stream(FunctionName="streamer", Payload=json.dumps({"name": "s"}), LogType="Tail")
    assert r["StatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST"
    events = list(r["EventStream"])
    chunks = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    assert json.loads(chunks)["hello"] == "s"
    complete = [e["InvokeComplete"] for e in events if "InvokeComplete" in e]
    assert len(complete) == 1 and "ErrorCode" not in complete[0]
    assert "REPORT RequestId" in base64.b64decode(complete[0]["LogResult"]).decode()

    create(lam, "streamer-fails", "def handler(event, context):\n    raise KeyError('nope')\n")
    r = lam.invoke_with_response_stream(FunctionName="streamer-fails", Payload=b"{}")
    complete = [e["InvokeComplete"] for e in r["EventStream"] if "InvokeComplete" in e]
    assert complete[0]["ErrorCode"] == "Unhandled"
    assert json.loads(complete[0]["ErrorDetails"])["errorType"] == "KeyError"

    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke_with_response_stream(FunctionName="missing", Payload=b"{}")
    assert code_of(e) == "ResourceNotFoundException"


STREAMING_BOOTSTRAP = """#!/usr/bin/env python3
# A custom runtime that answers in the Runtime API's streaming mode: chunked, errors in trailers.
import base64, http.client, json, os, time
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
conn = http.client.HTTPConnection(host, int(port))
while True:
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    r = conn.getresponse()
    rid = r.getheader("Lambda-Runtime-Aws-Request-Id")
    event = json.loads(r.read())
    opts = event.get("queryStringParameters") or event  # a function URL's query, or the event
    conn.putrequest("POST", "/2018-06-01/runtime/invocation/%s/response" % rid)
    conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Trailer", "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body")
    conn.endheaders()
    if opts.get("prelude"):
        head = json.dumps({"statusCode": 201, "headers": {"x-a": "b", "content-type": "text/plain"}}).encode()
        head += bytes(8)
        conn.send(b"%x\\r\\n%s\\r\\n" % (len(head), head))
    for i in range(int(opts.get("n", 3))):
        data = ("chunk %d\\n" % i).encode()
        conn.send(b"%x\\r\\n%s\\r\\n" % (len(data), data))
        time.sleep(0.2)
    if opts.get("fail"):
        body = base64.b64encode(json.dumps({"errorMessage": "half way", "errorType": "Boom"}).encode())
        conn.send(b"0\\r\\nLambda-Runtime-Function-Error-Type: Boom\\r\\nLambda-Runtime-Function-Error-Body: " + body + b"\\r\\n\\r\\n")
    else:
        conn.send(b"0\\r\\n\\r\\n")
    conn.getresponse().read()
"""


def test_response_streaming_runtime(stratus):
    """A function answering in the Runtime API's streaming mode: InvokeWithResponseStream gets
    its chunks as separate PayloadChunk events; plain Invoke gets the whole answer; an error
    sent in the trailers ends the stream with InvokeComplete's error."""
    lam = stratus.client("lambda")
    lam.create_function(FunctionName="chunky", Runtime="provided.al2023", Role=ROLE, Handler="x",
                        Code={"ZipFile": zip_of({"bootstrap": STREAMING_BOOTSTRAP}, {"bootstrap": 0o755})})
    r = lam.invoke_with_response_stream(FunctionName="chunky", Payload=json.dumps({"n": 3}))
    assert r["StatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST"
    events = list(r["EventStream"])
    chunks = [e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e]
    assert b"".join(chunks) == b"chunk 0\nchunk 1\nchunk 2\n"
    assert len(chunks) >= 2, chunks  # streamed, not gathered into one
    complete = [e["InvokeComplete"] for e in events if "InvokeComplete" in e]
    assert len(complete) == 1 and "ErrorCode" not in complete[0]

    out = lam.invoke(FunctionName="chunky", Payload=json.dumps({"n": 2}))
    assert out["Payload"].read() == b"chunk 0\nchunk 1\n" and "FunctionError" not in out

    r = lam.invoke_with_response_stream(FunctionName="chunky", Payload=json.dumps({"n": 1, "fail": True}))
    events = list(r["EventStream"])
    assert b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e) == b"chunk 0\n"
    complete = [e["InvokeComplete"] for e in events if "InvokeComplete" in e][0]
    assert complete["ErrorCode"] == "Unhandled"
    assert json.loads(complete["ErrorDetails"])["errorType"] == "Boom"


def test_rust_lambda_runtime_client(stratus):
    """A function built with the official Rust runtime client (`lambda_runtime`) runs as a
    `provided.al2023` bootstrap."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    project = os.path.join(root, "tests", "functions", "rust-echo")
    target = os.path.join(root, "target", "functions")
    subprocess.run(["cargo", "build", "--release", "--locked", "--quiet", "--target-dir", target],
                   cwd=project, check=True, timeout=1800)
    with open(os.path.join(target, "release", "bootstrap"), "rb") as f:
        binary = f.read()
    lam = stratus.client("lambda")
    create(lam, "rusty", runtime="provided.al2023", handler="bootstrap",
           files={"bootstrap": binary}, modes={"bootstrap": 0o755})
    r, body = call(lam, "rusty", {"name": "ferris"})
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert body["echo"] == {"name": "ferris"}
    assert body["rid"] == r["ResponseMetadata"]["RequestId"]
    assert body["arn"] == "arn:aws:lambda:us-east-1:000000000000:function:rusty"
    assert body["fn"] == "rusty"
    r, body = call(lam, "rusty", {"fail": True})
    assert r["FunctionError"] == "Unhandled" and body["errorMessage"] == "asked to fail"


def test_node_aws_lambda_ric_client(stratus, tmp_path):
    """A function packaged with the official Node runtime interface client (`aws-lambda-ric`
    from npm) runs unchanged as a `provided.al2023` bootstrap."""
    # Its install script builds the native client (cmake and the autotools: .ci/run installs them).
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent",
                    "--prefix", str(tmp_path), "aws-lambda-ric@3.3.0"], check=True, timeout=900)
    (tmp_path / "index.js").write_text(
        "exports.handler = async (event, context) => {\n"
        "  if (event.fail) throw new TypeError('asked to fail');\n"
        "  return { echo: event, rid: context.awsRequestId, fn: context.functionName };\n"
        "};\n")
    (tmp_path / "bootstrap").write_text(
        '#!/bin/sh\ncd "$LAMBDA_TASK_ROOT"\nexec node node_modules/aws-lambda-ric/bin/index.mjs index.handler\n')
    (tmp_path / "bootstrap").chmod(0o755)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(tmp_path.rglob("*")):
            if path.is_file() and path.name not in ("package.json", "package-lock.json"):
                info = zipfile.ZipInfo(str(path.relative_to(tmp_path)))
                info.external_attr = (path.stat().st_mode & 0xFFFF) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(info, path.read_bytes())
    lam = stratus.client("lambda")
    lam.create_function(FunctionName="noderic", Runtime="provided.al2023", Role=ROLE, Handler="index.handler",
                        Code={"ZipFile": buf.getvalue()}, Timeout=30)
    r, body = call(lam, "noderic", {"name": "ric"}, LogType="Tail")
    assert "FunctionError" not in r, base64.b64decode(r["LogResult"]).decode()
    assert body == {"echo": {"name": "ric"}, "rid": r["ResponseMetadata"]["RequestId"], "fn": "noderic"}
    r, body = call(lam, "noderic", {"fail": True})
    assert r["FunctionError"] == "Unhandled"
    assert body["errorType"] == "TypeError" and body["errorMessage"] == "asked to fail"
