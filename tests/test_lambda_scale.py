"""Lambda at scale through boto3 and the AWS CLI: reserved and account concurrency, provisioned
concurrency, asynchronous invocation with AWS's retry policy (driven by the clock control),
metrics and cost."""

import json
import subprocess
import threading
import time

import botocore.exceptions
import pytest

from conftest import BIN
from test_lambda import call, code_of, create, status_of

SLOW = """
import os, time
def handler(event, context):
    if event.get("crash"):
        os._exit(3)
    time.sleep(event.get("sleep", 0))
    return {"init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"), "rid": context.aws_request_id}
"""

FAILING = """
def handler(event, context):
    print("attempt for", context.aws_request_id)
    raise ValueError("always fails")
"""

RECORDER = """
import json
def handler(event, context):
    print("RECORD " + json.dumps(event))
    return {}
"""


def until(what, check, timeout=30):
    """Polls `check` until it returns something truthy (a condition, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def in_background(fn, *args, **kw):
    out = {}

    def run():
        try:
            out["value"] = fn(*args, **kw)
        except Exception as e:  # noqa: BLE001 - reported by the caller
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, out


def admitted_call(lam, name, payload, **kw):
    """Invokes until the call is admitted (a probe may hold the last slot for a moment)."""
    while True:
        try:
            return call(lam, name, payload, **kw)
        except botocore.exceptions.ClientError as e:
            if e.response["Error"]["Code"] != "TooManyRequestsException":
                raise
            time.sleep(0.05)


def throttle_of(lam, name, payload):
    """Invokes once: the throttle reason, or None when the call ran."""
    try:
        call(lam, name, payload)
        return None
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "TooManyRequestsException", e.response
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 429
        return e.response["Reason"]


def log_messages(stratus, name):
    logs = stratus.client("logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    return [e["message"] for e in events]


def starts_of(stratus, name, request_id):
    return [m for m in log_messages(stratus, name) if m.startswith(f"START RequestId: {request_id}")]


def signed_json(stratus, path, query=""):
    r = stratus.signed("lambda", method="GET", path=path, query=query)
    assert r.status_code == 200, r.text
    return r.json()


def test_reserved_concurrency_throttles_only_that_function(stratus):
    lam = stratus.client("lambda")
    create(lam, "slow", SLOW, Timeout=30)
    create(lam, "other", SLOW)
    assert lam.put_function_concurrency(FunctionName="slow", ReservedConcurrentExecutions=1)[
        "ReservedConcurrentExecutions"] == 1
    assert lam.get_function_concurrency(FunctionName="slow")["ReservedConcurrentExecutions"] == 1
    assert lam.get_function(FunctionName="slow")["Concurrency"] == {"ReservedConcurrentExecutions": 1}
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 1000
    assert settings["UnreservedConcurrentExecutions"] == 999

    busy, out = in_background(admitted_call, lam, "slow", {"sleep": 4})
    reason = until("a throttle", lambda: throttle_of(lam, "slow", {}))
    assert reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    # Another function keeps working while this one is saturated.
    _, body = call(lam, "other", {})
    assert body["init"] == "on-demand"
    busy.join()
    assert "error" not in out and out["value"][1]["init"] == "on-demand"

    # At least 100 must stay unreserved.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=900)
    assert code_of(e) == "InvalidParameterValueException"
    assert "below its minimum value of [100]" in e.value.response["Error"]["Message"]
    lam.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=899)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100

    # Zero reserved: every call is throttled, until the reservation is removed.
    lam.put_function_concurrency(FunctionName="slow", ReservedConcurrentExecutions=0)
    assert throttle_of(lam, "slow", {}) == "ReservedFunctionConcurrentInvocationLimitExceeded"
    lam.delete_function_concurrency(FunctionName="slow")
    assert lam.get_function_concurrency(FunctionName="slow").get("ReservedConcurrentExecutions") is None
    assert "Concurrency" not in lam.get_function(FunctionName="slow")
    assert throttle_of(lam, "slow", {}) is None

    # The CLI speaks the same API.
    out = stratus.cli("lambda", "put-function-concurrency", "--function-name", "slow",
                      "--reserved-concurrent-executions", "1")
    assert json.loads(out.stdout) == {"ReservedConcurrentExecutions": 1}
    metrics = signed_json(stratus, "/_stratus/lambda/metrics", "function=slow")["Functions"][0]
    assert metrics["Throttles"] >= 2  # the client may retry a throttled call itself


def test_account_limit_throttles_across_functions(new_server):
    s = new_server(args=["--lambda-concurrency", "2"])
    lam = s.client("lambda")
    for name in ("a", "b", "c"):
        create(lam, name, SLOW, Timeout=30)
    settings = lam.get_account_settings()["AccountLimit"]
    assert settings["ConcurrentExecutions"] == 2 and settings["UnreservedConcurrentExecutions"] == 2
    first, out_a = in_background(admitted_call, lam, "a", {"sleep": 5})
    second, out_b = in_background(admitted_call, lam, "b", {"sleep": 5})
    reason = until("a throttle", lambda: throttle_of(lam, "c", {}))
    assert reason == "ConcurrentInvocationLimitExceeded"
    first.join()
    second.join()
    assert "error" not in out_a and "error" not in out_b
    assert throttle_of(lam, "c", {}) is None
    # With a limit below 100 nothing can be reserved.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_function_concurrency(FunctionName="a", ReservedConcurrentExecutions=1)
    assert code_of(e) == "InvalidParameterValueException"


def test_provisioned_concurrency(stratus):
    lam = stratus.client("lambda")
    create(lam, "pc", SLOW, Timeout=30)
    version = lam.publish_version(FunctionName="pc")["Version"]
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="$LATEST",
                                               ProvisionedConcurrentExecutions=1)
    assert code_of(e) == "InvalidParameterValueException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName="pc", Qualifier=version)
    assert code_of(e) == "ProvisionedConcurrencyConfigNotFoundException" and status_of(e) == 404
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="9",
                                               ProvisionedConcurrentExecutions=1)
    assert code_of(e) == "ResourceNotFoundException"

    put = lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier=version,
                                                 ProvisionedConcurrentExecutions=2)
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")
    ready = until("READY", lambda: (lambda c: c if c["Status"] == "READY" else None)(
        lam.get_provisioned_concurrency_config(FunctionName="pc", Qualifier=version)))
    assert ready["AvailableProvisionedConcurrentExecutions"] == 2
    assert ready["AllocatedProvisionedConcurrentExecutions"] == 2

    # Served by an instance initialized ahead of time: no init phase in the call.
    r, body = call(lam, "pc", {}, Qualifier=version, LogType="Tail")
    assert body["init"] == "provisioned-concurrency"
    tail = __import__("base64").b64decode(r["LogResult"]).decode()
    assert "REPORT RequestId" in tail and "Init Duration" not in tail
    # $LATEST has no provisioned instances.
    _, body = call(lam, "pc", {})
    assert body["init"] == "on-demand"

    # A provisioned instance that dies is replaced.
    r = lam.invoke(FunctionName="pc", Qualifier=version, Payload=json.dumps({"crash": True}))
    assert r["FunctionError"] == "Unhandled"
    until("READY again", lambda: lam.get_provisioned_concurrency_config(
        FunctionName="pc", Qualifier=version)["AvailableProvisionedConcurrentExecutions"] == 2)

    # Aliases can be provisioned too, and listed.
    lam.create_alias(FunctionName="pc", Name="live", FunctionVersion=version)
    lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier="live", ProvisionedConcurrentExecutions=1)
    until("alias READY", lambda: lam.get_provisioned_concurrency_config(
        FunctionName="pc", Qualifier="live")["Status"] == "READY")
    listed = lam.list_provisioned_concurrency_configs(FunctionName="pc")["ProvisionedConcurrencyConfigs"]
    assert sorted(c["FunctionArn"].rsplit(":", 1)[1] for c in listed) == [version, "live"]
    _, body = call(lam, "pc", {}, Qualifier="live")
    assert body["init"] == "provisioned-concurrency"

    lam.delete_provisioned_concurrency_config(FunctionName="pc", Qualifier=version)
    lam.delete_provisioned_concurrency_config(FunctionName="pc", Qualifier="live")
    assert lam.list_provisioned_concurrency_configs(FunctionName="pc")["ProvisionedConcurrencyConfigs"] == []

    # More than the reservation allows is refused.
    lam.put_function_concurrency(FunctionName="pc", ReservedConcurrentExecutions=1)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="pc", Qualifier=version,
                                               ProvisionedConcurrentExecutions=2)
    assert code_of(e) == "InvalidParameterValueException"


def test_provisioned_spill_over_uses_on_demand(stratus):
    lam = stratus.client("lambda")
    create(lam, "spill", SLOW, Timeout=30)
    version = lam.publish_version(FunctionName="spill")["Version"]
    lam.put_provisioned_concurrency_config(FunctionName="spill", Qualifier=version,
                                           ProvisionedConcurrentExecutions=1)
    until("READY", lambda: lam.get_provisioned_concurrency_config(
        FunctionName="spill", Qualifier=version)["Status"] == "READY")
    busy, out = in_background(call, lam, "spill", {"sleep": 4}, Qualifier=version)
    # While the one provisioned instance is busy, calls start on-demand instances. (Which call
    # gets the provisioned instance depends on who arrives first, so every kind is collected.)
    kinds = []

    def probe():
        kinds.append(call(lam, "spill", {}, Qualifier=version)[1]["init"])
        # If a probe got there first, the slow call itself ran on demand: once it is done, the
        # instance kinds seen so far are complete.
        slow_on_demand = not busy.is_alive() and out.get("value", (None, {}))[1].get("init") == "on-demand"
        return kinds[-1] == "on-demand" or slow_on_demand

    until("an on-demand call", probe)
    busy.join()
    kinds.append(out["value"][1]["init"])
    assert "provisioned-concurrency" in kinds and "on-demand" in kinds


def test_event_invoke_config_api(stratus):
    lam = stratus.client("lambda")
    create(lam, "cfg")
    create(lam, "dest")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.get_function_event_invoke_config(FunctionName="cfg")
    assert code_of(e) == "ResourceNotFoundException"
    dest = "arn:aws:lambda:us-east-1:000000000000:function:dest"
    put = lam.put_function_event_invoke_config(
        FunctionName="cfg", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=120,
        DestinationConfig={"OnFailure": {"Destination": dest}})
    assert put["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:cfg:$LATEST"
    assert put["MaximumRetryAttempts"] == 1 and put["MaximumEventAgeInSeconds"] == 120
    assert put["DestinationConfig"]["OnFailure"]["Destination"] == dest
    upd = lam.update_function_event_invoke_config(FunctionName="cfg", MaximumRetryAttempts=0)
    assert upd["MaximumRetryAttempts"] == 0 and upd["MaximumEventAgeInSeconds"] == 120
    # Put replaces everything it is not given.
    put = lam.put_function_event_invoke_config(FunctionName="cfg", MaximumRetryAttempts=2)
    assert "MaximumEventAgeInSeconds" not in put
    got = lam.get_function_event_invoke_config(FunctionName="cfg")
    assert got["MaximumRetryAttempts"] == 2
    listed = lam.list_function_event_invoke_configs(FunctionName="cfg")["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in listed] == [put["FunctionArn"]]
    raw = stratus.client("lambda", validate=False)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        raw.put_function_event_invoke_config(FunctionName="cfg", MaximumRetryAttempts=3)
    assert code_of(e) == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        raw.put_function_event_invoke_config(FunctionName="cfg", MaximumEventAgeInSeconds=59)
    assert code_of(e) == "ValidationException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.update_function_event_invoke_config(FunctionName="dest", MaximumRetryAttempts=0)
    assert code_of(e) == "ResourceNotFoundException"
    lam.delete_function_event_invoke_config(FunctionName="cfg")
    assert lam.list_function_event_invoke_configs(FunctionName="cfg")["FunctionEventInvokeConfigs"] == []


def test_async_invocation_runs_and_limits_payload(stratus):
    lam = stratus.client("lambda")
    create(lam, "bg", RECORDER)
    r = lam.invoke(FunctionName="bg", InvocationType="Event", Payload=json.dumps({"n": 1}))
    assert r["StatusCode"] == 202
    rid = r["ResponseMetadata"]["RequestId"]
    until("the event to run", lambda: starts_of(stratus, "bg", rid))
    until("its output", lambda: any(m.startswith('RECORD {"n": 1}') for m in log_messages(stratus, "bg")))
    legacy = lam.invoke_async(FunctionName="bg", InvokeArgs=json.dumps({"n": 2}))
    assert legacy["Status"] == 202
    until("the legacy event", lambda: any(m.startswith('RECORD {"n": 2}') for m in log_messages(stratus, "bg")))
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="bg", InvocationType="Event", Payload=json.dumps({"x": "y" * 262_144}))
    assert code_of(e) == "RequestEntityTooLargeException" and status_of(e) == 413
    with pytest.raises(botocore.exceptions.ClientError) as e:
        lam.invoke(FunctionName="missing", InvocationType="Event", Payload=b"{}")
    assert code_of(e) == "ResourceNotFoundException"
    metrics = signed_json(stratus, "/_stratus/lambda/metrics", "function=bg")["Functions"][0]
    assert metrics["AsyncEventsReceived"] == 2 and metrics["Invocations"] == 2


def test_async_retries_follow_aws_schedule_on_the_clock(stratus):
    lam = stratus.client("lambda")
    create(lam, "flaky", FAILING)
    create(lam, "sink", RECORDER)
    lam.put_function_event_invoke_config(
        FunctionName="flaky",
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:sink"}})
    r = lam.invoke(FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"job": 7}))
    rid = r["ResponseMetadata"]["RequestId"]
    until("the first attempt", lambda: len(starts_of(stratus, "flaky", rid)) == 1)
    # Not retried before a minute has passed on the server clock.
    stratus.advance_clock(50)
    time.sleep(1)
    assert len(starts_of(stratus, "flaky", rid)) == 1
    stratus.advance_clock(11)
    until("the second attempt, a minute later", lambda: len(starts_of(stratus, "flaky", rid)) == 2)
    stratus.advance_clock(61)
    time.sleep(1)
    assert len(starts_of(stratus, "flaky", rid)) == 2
    stratus.advance_clock(60)
    until("the third attempt, two minutes later", lambda: len(starts_of(stratus, "flaky", rid)) == 3)

    failed = until("the event to be given up", lambda: signed_json(
        stratus, "/_stratus/lambda/failed-events", "function=flaky")["FailedEvents"])
    assert len(failed) == 1
    record = failed[0]
    assert record["requestContext"]["requestId"] == rid
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"job": 7}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "always fails"
    # The OnFailure destination (a function) received the same record.
    delivered = until("the destination's record", lambda: [
        json.loads(m[len("RECORD "):]) for m in log_messages(stratus, "sink") if m.startswith("RECORD ")])
    assert delivered[0]["requestContext"]["condition"] == "RetriesExhausted"
    assert delivered[0]["requestPayload"] == {"job": 7}
    metrics = signed_json(stratus, "/_stratus/lambda/metrics", "function=flaky")["Functions"][0]
    assert metrics["Invocations"] == 3 and metrics["Errors"] == 3
    assert metrics["AsyncEventsReceived"] == 1 and metrics["AsyncEventsDropped"] == 1

    # With MaximumRetryAttempts 0 an error is final at once.
    lam.put_function_event_invoke_config(FunctionName="flaky", MaximumRetryAttempts=0)
    r = lam.invoke(FunctionName="flaky", InvocationType="Event", Payload=b"{}")
    rid2 = r["ResponseMetadata"]["RequestId"]
    until("the single attempt to be given up", lambda: len(signed_json(
        stratus, "/_stratus/lambda/failed-events", "function=flaky")["FailedEvents"]) == 2)
    # Function output reaches CloudWatch Logs shortly after the call, as on AWS.
    until("the single attempt's log", lambda: len(starts_of(stratus, "flaky", rid2)) == 1)
    time.sleep(1)
    assert len(starts_of(stratus, "flaky", rid2)) == 1


def test_throttled_async_events_back_off_and_expire_by_age(stratus):
    lam = stratus.client("lambda")
    create(lam, "held", RECORDER)
    lam.put_function_concurrency(FunctionName="held", ReservedConcurrentExecutions=0)
    lam.put_function_event_invoke_config(FunctionName="held", MaximumEventAgeInSeconds=60)
    r = lam.invoke(FunctionName="held", InvocationType="Event", Payload=json.dumps({"late": True}))
    rid = r["ResponseMetadata"]["RequestId"]
    until("a throttle", lambda: signed_json(stratus, "/_stratus/lambda/metrics", "function=held")[
        "Functions"][0]["Throttles"] >= 1)
    for _ in range(8):
        stratus.advance_clock(10)
        time.sleep(0.3)
    failed = until("the event to expire", lambda: signed_json(
        stratus, "/_stratus/lambda/failed-events", "function=held")["FailedEvents"])
    assert failed[0]["requestContext"]["condition"] == "EventAgeExceeded"
    assert failed[0]["requestContext"]["requestId"] == rid
    assert starts_of(stratus, "held", rid) == []


def test_async_events_survive_kill9(new_server, tmp_path):
    s = new_server(data_dir=tmp_path / "data")
    lam = s.client("lambda")
    create(lam, "later", RECORDER)
    # Held back by a zero reservation so that they are still queued when the server dies.
    lam.put_function_concurrency(FunctionName="later", ReservedConcurrentExecutions=0)
    ids = []
    for n in range(5):
        r = lam.invoke(FunctionName="later", InvocationType="Event", Payload=json.dumps({"n": n}))
        assert r["StatusCode"] == 202
        ids.append(r["ResponseMetadata"]["RequestId"])
    s.kill9()
    s.start()
    lam = s.client("lambda")
    lam.delete_function_concurrency(FunctionName="later")
    s.advance_clock(300)
    for rid in ids:
        until(f"event {rid} to run after the restart", lambda: starts_of(s, "later", rid), timeout=60)
    outputs = sorted(m for m in log_messages(s, "later") if m.startswith("RECORD "))
    assert outputs == [f'RECORD {{"n": {n}}}' for n in range(5)]


def report_lines(stratus, name):
    return [m for m in log_messages(stratus, name) if m.startswith("REPORT ")]


def test_metrics_and_cost_match_the_invocations(stratus):
    lam = stratus.client("lambda")
    create(lam, "metered", SLOW, MemorySize=256)
    for _ in range(5):
        call(lam, "metered", {})
    r = lam.invoke(FunctionName="metered", Payload=json.dumps({"crash": True}))
    assert r["FunctionError"] == "Unhandled"
    reports = until("six REPORT lines", lambda: (lambda x: x if len(x) == 6 else None)(report_lines(stratus, "metered")))
    billed_ms = 0
    for line in reports:
        fields = dict(f.split(": ", 1) for f in line.split("\t")[1:] if ": " in f)
        assert fields["Memory Size"] == "256 MB"
        billed_ms += int(fields["Billed Duration"].split()[0])
    gb_seconds = billed_ms * 256 / 1024 / 1000

    m = signed_json(stratus, "/_stratus/lambda/metrics", "function=metered")["Functions"][0]
    assert m["FunctionName"] == "metered"
    assert m["Invocations"] == 6 and m["Errors"] == 1 and m["Throttles"] == 0
    assert m["Versions"]["$LATEST"]["Invocations"] == 6
    assert m["GBSeconds"] == pytest.approx(gb_seconds, rel=1e-9)
    assert 0 < m["Duration"]["p50"] <= m["Duration"]["p99"] <= m["Duration"]["Maximum"]
    assert m["ConcurrentExecutions"] == 1

    # Unsigned requests get nothing.
    r = __import__("requests").get(stratus.url + "/_stratus/lambda/metrics", timeout=10)
    assert r.status_code in (400, 403)

    env = {"STRATUS_ENDPOINT": stratus.url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    out = subprocess.run([str(BIN), "cost", "--json"], capture_output=True, text=True, env=env, timeout=30)
    assert out.returncode == 0, out.stderr
    cost = json.loads(out.stdout)
    row = next(f for f in cost["Functions"] if f["FunctionName"] == "metered")
    assert row["Requests"] == 6
    assert row["GBSeconds"] == pytest.approx(gb_seconds, rel=1e-9)
    expected = 6 / 1e6 * 0.20 + gb_seconds * 0.0000166667
    assert row["Cost"] == pytest.approx(expected, rel=1e-9)
    assert cost["Total"]["Due"] == 0  # well inside the monthly free tier
    table = subprocess.run([str(BIN), "cost"], capture_output=True, text=True, env=env, timeout=30)
    assert table.returncode == 0, table.stderr
    line = next(line for line in table.stdout.splitlines() if line.startswith("metered"))
    assert line.split()[1] == "6"


def test_cost_uses_the_configured_prices(new_server, tmp_path):
    toml = tmp_path / "stratus.toml"
    toml.write_text("[lambda_prices]\nper_million_requests = 1000000.0\nfree_requests = 0\n")
    s = new_server(args=["--config", str(toml)])
    lam = s.client("lambda")
    create(lam, "pricey", SLOW)
    for _ in range(3):
        call(lam, "pricey", {})
    env = {"STRATUS_ENDPOINT": s.url, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
    out = subprocess.run([str(BIN), "cost", "--json"], capture_output=True, text=True, env=env, timeout=30)
    cost = json.loads(out.stdout)
    assert cost["Functions"][0]["RequestCost"] == pytest.approx(3.0)
    assert cost["Total"]["Due"] >= 3.0


def test_dead_letter_queue_is_recorded_until_sqs_exists(stratus):
    lam = stratus.client("lambda")
    dlq = "arn:aws:sqs:us-east-1:000000000000:dlq"
    create(lam, "dlq-fn", FAILING, DeadLetterConfig={"TargetArn": dlq})
    assert lam.get_function_configuration(FunctionName="dlq-fn")["DeadLetterConfig"] == {"TargetArn": dlq}
    lam.put_function_event_invoke_config(FunctionName="dlq-fn", MaximumRetryAttempts=0)
    lam.invoke(FunctionName="dlq-fn", InvocationType="Event", Payload=b"{}")
    m = until("the event to be given up", lambda: (lambda f: f if f["AsyncEventsDropped"] == 1 else None)(
        signed_json(stratus, "/_stratus/lambda/metrics", "function=dlq-fn")["Functions"][0]))
    assert m["DeadLetterErrors"] == 1 and m["Errors"] == 1
    lam.update_function_configuration(FunctionName="dlq-fn", DeadLetterConfig={"TargetArn": ""})
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName="dlq-fn")
