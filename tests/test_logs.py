"""CloudWatch Logs as AWS shapes it: groups, streams, events, filter patterns, retention and
tags, with AWS's errors and messages, through boto3 and the AWS CLI."""

import json
import time

import botocore.exceptions
import pytest

from conftest import error_of

ACCOUNT = "000000000000"
REGION = "us-east-1"
DAY_MS = 86_400_000


def client_error(fn, *a, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*a, **kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], \
        e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def now_ms():
    return int(time.time() * 1000)


def put(logs, group, stream, messages, start=None, step=1):
    """Puts `messages` one millisecond (`step`) apart, returns their timestamps."""
    t0 = start if start is not None else now_ms() - 60_000
    events = [{"timestamp": t0 + i * step, "message": m} for i, m in enumerate(messages)]
    logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=events)
    return [e["timestamp"] for e in events]


def make(logs, group, *streams):
    logs.create_log_group(logGroupName=group)
    for s in streams:
        logs.create_log_stream(logGroupName=group, logStreamName=s)


def test_create_describe_delete_group(stratus):
    logs = stratus.client("logs")
    before = now_ms()
    logs.create_log_group(logGroupName="/app/web", tags={"team": "core"})
    groups = logs.describe_log_groups()["logGroups"]
    assert len(groups) == 1
    g = groups[0]
    assert g["logGroupName"] == "/app/web"
    assert g["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/app/web:*"
    assert g["logGroupArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/app/web"
    assert g["metricFilterCount"] == 0 and g["storedBytes"] == 0
    assert g["logGroupClass"] == "STANDARD"
    assert "retentionInDays" not in g
    assert before - 5000 <= g["creationTime"] <= now_ms() + 5000
    logs.delete_log_group(logGroupName="/app/web")
    assert logs.describe_log_groups()["logGroups"] == []
    assert client_error(logs.delete_log_group, logGroupName="/app/web") == \
        ("ResourceNotFoundException", "The specified log group does not exist.", 400)


def test_duplicates_and_missing(stratus):
    logs = stratus.client("logs")
    make(logs, "dup", "s")
    assert client_error(logs.create_log_group, logGroupName="dup") == \
        ("ResourceAlreadyExistsException", "The specified log group already exists", 400)
    assert client_error(logs.create_log_stream, logGroupName="dup", logStreamName="s") == \
        ("ResourceAlreadyExistsException", "The specified log stream already exists", 400)
    assert client_error(logs.create_log_stream, logGroupName="nope", logStreamName="s")[:2] == \
        ("ResourceNotFoundException", "The specified log group does not exist.")
    assert client_error(logs.delete_log_stream, logGroupName="dup", logStreamName="x")[:2] == \
        ("ResourceNotFoundException", "The specified log stream does not exist.")
    assert client_error(logs.describe_log_streams, logGroupName="nope")[:2] == \
        ("ResourceNotFoundException", "The specified log group does not exist.")
    assert client_error(logs.get_log_events, logGroupName="dup", logStreamName="x")[:2] == \
        ("ResourceNotFoundException", "The specified log stream does not exist.")
    assert client_error(logs.put_log_events, logGroupName="dup", logStreamName="x",
                        logEvents=[{"timestamp": now_ms(), "message": "m"}])[:2] == \
        ("ResourceNotFoundException", "The specified log stream does not exist.")
    assert client_error(logs.put_log_events, logGroupName="nope", logStreamName="x",
                        logEvents=[{"timestamp": now_ms(), "message": "m"}])[:2] == \
        ("ResourceNotFoundException", "The specified log group does not exist.")
    assert client_error(logs.filter_log_events, logGroupName="nope")[0] == "ResourceNotFoundException"


def test_model_validation(stratus):
    logs = stratus.client("logs", validate=False)
    code, msg, status = client_error(logs.create_log_group, logGroupName="bad name!")
    assert (code, status) == ("ValidationException", 400)
    assert "logGroupName" in msg
    assert client_error(logs.describe_log_groups, limit=51)[0] == "ValidationException"
    assert client_error(logs.describe_log_groups, limit=0)[0] == "ValidationException"
    assert client_error(logs.create_log_stream, logGroupName="g", logStreamName="a:b")[0] == "ValidationException"
    # A body that is not JSON is a 4xx, not a crash.
    r = stratus.signed("logs", body=b"{not json", headers={"X-Amz-Target": "Logs_20140328.DescribeLogGroups",
                                                          "Content-Type": "application/x-amz-json-1.1"})
    assert r.status_code == 400
    assert error_of(r)[0] == "SerializationException"
    # An operation of the model that is not implemented answers 501 NotImplemented.
    r = stratus.signed("logs", body=b"{}", headers={"X-Amz-Target": "Logs_20140328.StartQuery",
                                                     "Content-Type": "application/x-amz-json-1.1"})
    assert r.status_code == 501


def test_describe_groups_prefix_pattern_pagination(stratus):
    logs = stratus.client("logs")
    names = [f"/svc/a{i:02d}" for i in range(7)] + ["/other/x", "/svc/B-upper"]
    for n in names:
        logs.create_log_group(logGroupName=n)
    got = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePrefix="/svc/")["logGroups"]]
    assert got == sorted(n for n in names if n.startswith("/svc/"))
    # Pattern: case-insensitive substring.
    got = [g["logGroupName"] for g in logs.describe_log_groups(logGroupNamePattern="b-UP")["logGroups"]]
    assert got == ["/svc/B-upper"]
    assert client_error(logs.describe_log_groups, logGroupNamePrefix="/svc", logGroupNamePattern="a")[0] == \
        "InvalidParameterException"
    # Pagination by hand and through the paginator.
    seen, token = [], None
    while True:
        kw = {"limit": 3, "logGroupNamePrefix": "/svc/a"}
        if token:
            kw["nextToken"] = token
        page = logs.describe_log_groups(**kw)
        assert len(page["logGroups"]) <= 3
        seen += [g["logGroupName"] for g in page["logGroups"]]
        token = page.get("nextToken")
        if not token:
            break
    assert seen == [f"/svc/a{i:02d}" for i in range(7)]
    pages = logs.get_paginator("describe_log_groups").paginate(PaginationConfig={"PageSize": 2})
    assert [g["logGroupName"] for p in pages for g in p["logGroups"]] == sorted(names)


def test_describe_streams_prefix_order_pagination(stratus):
    logs = stratus.client("logs")
    make(logs, "g", "s3", "s1", "s2", "t1")
    names = lambda r: [s["logStreamName"] for s in r["logStreams"]]  # noqa: E731
    assert names(logs.describe_log_streams(logGroupName="g")) == ["s1", "s2", "s3", "t1"]
    assert names(logs.describe_log_streams(logGroupName="g", logStreamNamePrefix="s")) == ["s1", "s2", "s3"]
    assert names(logs.describe_log_streams(logGroupName="g", descending=True)) == ["t1", "s3", "s2", "s1"]
    # The group ARN works as logGroupIdentifier.
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g"
    assert names(logs.describe_log_streams(logGroupIdentifier=arn)) == ["s1", "s2", "s3", "t1"]
    assert client_error(logs.describe_log_streams, logGroupName="g", logGroupIdentifier=arn)[0] == \
        "InvalidParameterException"
    # Pagination, both directions.
    for desc, want in ((False, ["s1", "s2", "s3", "t1"]), (True, ["t1", "s3", "s2", "s1"])):
        seen, token = [], None
        while True:
            kw = dict(logGroupName="g", limit=3, descending=desc)
            if token:
                kw["nextToken"] = token
            page = logs.describe_log_streams(**kw)
            seen += names(page)
            token = page.get("nextToken")
            if not token:
                break
        assert seen == want
    # LastEventTime order.
    t = now_ms() - 10_000
    put(logs, "g", "s2", ["x"], start=t)
    put(logs, "g", "s1", ["x"], start=t + 100)
    put(logs, "g", "t1", ["x"], start=t + 50)
    by_time = names(logs.describe_log_streams(logGroupName="g", orderBy="LastEventTime", descending=True))
    assert by_time[:3] == ["s1", "t1", "s2"]
    pages = logs.get_paginator("describe_log_streams").paginate(
        logGroupName="g", orderBy="LastEventTime", descending=True, PaginationConfig={"PageSize": 1})
    assert [s["logStreamName"] for p in pages for s in p["logStreams"]] == by_time
    assert client_error(logs.describe_log_streams, logGroupName="g", orderBy="LastEventTime",
                        logStreamNamePrefix="s")[:2] == \
        ("InvalidParameterException", "Cannot order by LastEventTime with a logStreamNamePrefix.")
    s1 = logs.describe_log_streams(logGroupName="g", logStreamNamePrefix="s1")["logStreams"][0]
    assert s1["arn"] == f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g:log-stream:s1"
    assert s1["firstEventTimestamp"] == s1["lastEventTimestamp"] == t + 100
    assert s1["storedBytes"] == 1 and s1["uploadSequenceToken"]
    assert "lastIngestionTime" in s1 and "creationTime" in s1
    logs.delete_log_stream(logGroupName="g", logStreamName="s1")
    assert "s1" not in names(logs.describe_log_streams(logGroupName="g"))


def test_put_and_get_events_both_directions(stratus):
    logs = stratus.client("logs")
    make(logs, "g", "s")
    ts = put(logs, "g", "s", [f"line {i}" for i in range(25)])
    full = logs.get_log_events(logGroupName="g", logStreamName="s")
    assert [e["message"] for e in full["events"]] == [f"line {i}" for i in range(25)]
    assert [e["timestamp"] for e in full["events"]] == ts
    assert all("ingestionTime" in e for e in full["events"])
    assert full["nextForwardToken"].startswith("f/") and full["nextBackwardToken"].startswith("b/")

    # Default (startFromHead false): the latest events; then walk backwards to the start.
    page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=10)
    assert [e["message"] for e in page["events"]] == [f"line {i}" for i in range(15, 25)]
    collected = page["events"]
    token = page["nextBackwardToken"]
    while True:
        page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=10, nextToken=token)
        if page["nextBackwardToken"] == token:
            assert page["events"] == []
            break
        collected = page["events"] + collected
        token = page["nextBackwardToken"]
    assert [e["message"] for e in collected] == [f"line {i}" for i in range(25)]

    # startFromHead: the first events; walk forwards until the token repeats.
    page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=10, startFromHead=True)
    assert [e["message"] for e in page["events"]] == [f"line {i}" for i in range(10)]
    collected, token, calls = list(page["events"]), page["nextForwardToken"], 0
    while calls < 10:
        calls += 1
        page = logs.get_log_events(logGroupName="g", logStreamName="s", limit=10, nextToken=token)
        if page["nextForwardToken"] == token:
            assert page["events"] == []
            break
        collected += page["events"]
        token = page["nextForwardToken"]
    assert calls == 3
    assert [e["message"] for e in collected] == [f"line {i}" for i in range(25)]

    # The repeated forward token picks up events appended later.
    put(logs, "g", "s", ["late"], start=ts[-1] + 1)
    page = logs.get_log_events(logGroupName="g", logStreamName="s", nextToken=token)
    assert [e["message"] for e in page["events"]] == ["late"]

    # Time window: startTime inclusive, endTime exclusive.
    page = logs.get_log_events(logGroupName="g", logStreamName="s", startTime=ts[5], endTime=ts[8], startFromHead=True)
    assert [e["message"] for e in page["events"]] == ["line 5", "line 6", "line 7"]
    # An empty stream still hands out tokens; a bad token is an InvalidParameterException.
    logs.create_log_stream(logGroupName="g", logStreamName="empty")
    page = logs.get_log_events(logGroupName="g", logStreamName="empty")
    assert page["events"] == [] and page["nextForwardToken"].startswith("f/")
    assert client_error(logs.get_log_events, logGroupName="g", logStreamName="s", nextToken="garbage")[0] == \
        "InvalidParameterException"


def test_equal_timestamps_keep_ingestion_order(stratus):
    logs = stratus.client("logs")
    make(logs, "g", "s")
    t = now_ms() - 1000
    put(logs, "g", "s", ["a", "b", "c"], start=t, step=0)
    put(logs, "g", "s", ["d"], start=t)
    got = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in got] == ["a", "b", "c", "d"]


def test_put_log_events_rules(stratus):
    logs = stratus.client("logs")
    make(logs, "g", "s")
    t = now_ms()
    code, msg, status = client_error(logs.put_log_events, logGroupName="g", logStreamName="s",
                                     logEvents=[{"timestamp": t, "message": "b"}, {"timestamp": t - 1, "message": "a"}])
    assert (code, msg, status) == ("InvalidParameterException",
                                   "Log events in a single PutLogEvents request must be in chronological order.", 400)
    big = "x" * 300_000
    code, msg, _ = client_error(logs.put_log_events, logGroupName="g", logStreamName="s",
                                logEvents=[{"timestamp": t, "message": big} for _ in range(4)])
    assert code == "InvalidParameterException"
    # Too old / too new events are rejected into rejectedLogEventsInfo, the rest accepted.
    resp = logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": t - 14 * DAY_MS - 3600_000, "message": "old"},
        {"timestamp": t - 14 * DAY_MS - 3600_000 + 1, "message": "old2"},
        {"timestamp": t - 14 * DAY_MS + 60_000, "message": "ok1"},
        {"timestamp": t - 14 * DAY_MS + 60_001, "message": "ok2"},
    ])
    assert resp["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 2}
    assert resp["nextSequenceToken"]
    resp = logs.put_log_events(logGroupName="g", logStreamName="s", sequenceToken="whatever", logEvents=[
        {"timestamp": t, "message": "now"},
        {"timestamp": t + 3 * 3600_000, "message": "future"},
    ])
    assert resp["rejectedLogEventsInfo"] == {"tooNewLogEventStartIndex": 1}
    got = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)["events"]
    assert [e["message"] for e in got] == ["ok1", "ok2", "now"]
    # Without rejections there is no rejectedLogEventsInfo.
    resp = logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[{"timestamp": t, "message": "m"}])
    assert "rejectedLogEventsInfo" not in resp
    # storedBytes adds up in the group.
    g = logs.describe_log_groups(logGroupNamePrefix="g")["logGroups"][0]
    assert g["storedBytes"] == len("ok1ok2nowm")


def test_filter_patterns(stratus):
    logs = stratus.client("logs")
    make(logs, "app", "web-1", "web-2", "worker")
    t = now_ms() - 60_000
    put(logs, "app", "web-1", ["INFO started", "ERROR disk full", "WARN slow request"], start=t)
    put(logs, "app", "web-2", ["ERROR timeout retry", "DEBUG noise"], start=t + 10)
    put(logs, "app", "worker", [json.dumps({"level": "error", "latency": 700, "user": {"id": "u1"}}),
                                json.dumps({"level": "info", "latency": 20, "user": {"id": "u2"}}),
                                "not json ERROR"], start=t + 20)

    def msgs(**kw):
        events = logs.filter_log_events(logGroupName="app", **kw)["events"]
        return [e["message"] for e in events]

    assert len(msgs()) == 8
    assert msgs(filterPattern="ERROR") == ["ERROR disk full", "ERROR timeout retry", "not json ERROR"]
    assert msgs(filterPattern="Error") == []  # case-sensitive
    assert msgs(filterPattern="ERROR full") == ["ERROR disk full"]
    assert msgs(filterPattern='"disk full"') == ["ERROR disk full"]
    assert msgs(filterPattern='"full disk"') == []
    assert msgs(filterPattern="?WARN ?DEBUG") == ["WARN slow request", "DEBUG noise"]
    assert msgs(filterPattern="ERROR -retry") == ["ERROR disk full", "not json ERROR"]
    assert msgs(filterPattern='{ $.level = "error" }') == [json.dumps({"level": "error", "latency": 700, "user": {"id": "u1"}})]
    assert len(msgs(filterPattern="{ $.latency > 5 }")) == 2
    assert len(msgs(filterPattern='{ $.latency > 100 && $.level = "error" }')) == 1
    assert len(msgs(filterPattern='{ $.latency > 100 || $.user.id = "u2" }')) == 2
    assert len(msgs(filterPattern='{ $.user.id = "u*" }')) == 2
    # Stream selection.
    assert msgs(filterPattern="ERROR", logStreamNamePrefix="web") == ["ERROR disk full", "ERROR timeout retry"]
    assert msgs(logStreamNames=["web-2"]) == ["ERROR timeout retry", "DEBUG noise"]
    resp = logs.filter_log_events(logGroupName="app", logStreamNames=["web-2"])
    e = resp["events"][0]
    assert e["logStreamName"] == "web-2" and e["timestamp"] == t + 10
    assert len(e["eventId"]) == 56 and "ingestionTime" in e
    assert resp["searchedLogStreams"] == [{"logStreamName": "web-2", "searchedCompletely": True}]
    # Time window.
    assert msgs(startTime=t + 10, endTime=t + 12) == ["ERROR timeout retry", "DEBUG noise"]
    code, _, status = client_error(logs.filter_log_events, logGroupName="app", filterPattern="{ $.a = ")
    assert (code, status) == ("InvalidParameterException", 400)
    assert client_error(logs.filter_log_events, logGroupName="app", logStreamNames=["a"],
                        logStreamNamePrefix="a")[0] == "InvalidParameterException"


def test_filter_events_ordering_and_pagination(stratus):
    logs = stratus.client("logs")
    make(logs, "g", "a", "b")
    t = now_ms() - 60_000
    # Interleaved timestamps across two streams, with ties.
    put(logs, "g", "a", [f"a{i}" for i in range(30)], start=t, step=2)
    put(logs, "g", "b", [f"b{i}" for i in range(30)], start=t + 1, step=2)
    put(logs, "g", "b", ["tie"], start=t)
    everything = logs.filter_log_events(logGroupName="g")["events"]
    assert len(everything) == 61
    assert [e["timestamp"] for e in everything] == sorted(e["timestamp"] for e in everything)
    assert [e["message"] for e in everything[:4]] == ["a0", "tie", "b0", "a1"]
    seen, token, pages = [], None, 0
    while True:
        kw = dict(logGroupName="g", limit=7)
        if token:
            kw["nextToken"] = token
        page = logs.filter_log_events(**kw)
        pages += 1
        assert len(page["events"]) <= 7
        seen += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    assert [e["eventId"] for e in seen] == [e["eventId"] for e in everything]
    assert pages >= 9
    paged = logs.get_paginator("filter_log_events").paginate(logGroupName="g", filterPattern="?a1 ?b1",
                                                            PaginationConfig={"PageSize": 3})
    got = [e["message"] for p in paged for e in p["events"]]
    assert got == [e["message"] for e in everything if "a1" in e["message"] or "b1" in e["message"]]


def test_delete_group_removes_streams_and_events(stratus):
    logs = stratus.client("logs")
    make(logs, "g", "s")
    put(logs, "g", "s", ["one", "two"])
    logs.delete_log_group(logGroupName="g")
    make(logs, "g", "s")
    assert logs.get_log_events(logGroupName="g", logStreamName="s")["events"] == []
    assert logs.filter_log_events(logGroupName="g")["events"] == []
    assert logs.describe_log_streams(logGroupName="g")["logStreams"][0]["storedBytes"] == 0
    # A group whose name extends another's keeps its own events.
    make(logs, "g2", "s")
    put(logs, "g2", "s", ["kept"])
    logs.delete_log_group(logGroupName="g")
    assert [e["message"] for e in logs.filter_log_events(logGroupName="g2")["events"]] == ["kept"]


def test_retention_policy(stratus):
    logs = stratus.client("logs")
    make(logs, "g")
    logs.put_retention_policy(logGroupName="g", retentionInDays=14)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 14
    code, msg, status = client_error(logs.put_retention_policy, logGroupName="g", retentionInDays=2)
    assert (code, status) == ("InvalidParameterException", 400)
    assert "retentionInDays" in msg and "[1, 3, 5, 7, 14, 30," in msg
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 14
    for days in (1, 3653, 400):
        logs.put_retention_policy(logGroupName="g", retentionInDays=days)
    assert logs.describe_log_groups()["logGroups"][0]["retentionInDays"] == 400
    logs.delete_retention_policy(logGroupName="g")
    assert "retentionInDays" not in logs.describe_log_groups()["logGroups"][0]
    assert client_error(logs.put_retention_policy, logGroupName="nope", retentionInDays=1)[:2] == \
        ("ResourceNotFoundException", "The specified log group does not exist.")
    # Events older than the retention period are rejected as expired.
    logs.put_retention_policy(logGroupName="g", retentionInDays=1)
    logs.create_log_stream(logGroupName="g", logStreamName="s")
    t = now_ms()
    resp = logs.put_log_events(logGroupName="g", logStreamName="s", logEvents=[
        {"timestamp": t - DAY_MS - 3600_000, "message": "expired"},
        {"timestamp": t - DAY_MS + 3600_000, "message": "fresh"}])
    assert resp["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 1}


def test_tags(stratus):
    logs = stratus.client("logs")
    logs.create_log_group(logGroupName="/t/g", tags={"a": "1", "b": "2"})
    arn = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/t/g"
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "1", "b": "2"}
    logs.tag_resource(resourceArn=arn, tags={"c": "3", "a": "one"})
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "one", "b": "2", "c": "3"}
    logs.untag_resource(resourceArn=arn, tagKeys=["b", "zzz"])
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"a": "one", "c": "3"}
    missing = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:nope"
    assert client_error(logs.list_tags_for_resource, resourceArn=missing)[0] == "ResourceNotFoundException"
    assert client_error(logs.tag_resource, resourceArn="not-an-arn", tags={"a": "b"})[0] == "InvalidParameterException"


def test_regions_are_separate(stratus):
    east, west = stratus.client("logs"), stratus.client("logs", region="us-west-2")
    east.create_log_group(logGroupName="g")
    assert west.describe_log_groups()["logGroups"] == []
    west.create_log_group(logGroupName="g")
    assert west.describe_log_groups()["logGroups"][0]["arn"].startswith("arn:aws:logs:us-west-2:")


def test_cli_get_and_filter(stratus):
    logs = stratus.client("logs")
    make(logs, "/cli/g", "s")
    put(logs, "/cli/g", "s", [f"msg {i}" + (" ERROR" if i % 3 == 0 else "") for i in range(12)])
    out = json.loads(stratus.cli("logs", "get-log-events", "--log-group-name", "/cli/g",
                                 "--log-stream-name", "s", "--start-from-head").stdout)
    assert [e["message"] for e in out["events"]][:2] == ["msg 0 ERROR", "msg 1"]
    assert len(out["events"]) == 12
    assert out["nextForwardToken"].startswith("f/")
    out = json.loads(stratus.cli("logs", "filter-log-events", "--log-group-name", "/cli/g",
                                 "--filter-pattern", "ERROR", "--page-size", "2").stdout)
    assert [e["message"] for e in out["events"]] == ["msg 0 ERROR", "msg 3 ERROR", "msg 6 ERROR", "msg 9 ERROR"]
    out = json.loads(stratus.cli("logs", "describe-log-groups").stdout)
    assert [g["logGroupName"] for g in out["logGroups"]] == ["/cli/g"]
    out = stratus.cli("logs", "create-log-group", "--log-group-name", "/cli/g", check=False)
    assert out.returncode != 0 and "ResourceAlreadyExistsException" in out.stderr


def test_concurrent_puts_to_one_stream_keep_every_event(stratus):
    from concurrent.futures import ThreadPoolExecutor
    logs = stratus.client("logs")
    make(logs, "g", "s")
    t = now_ms() - 1000

    def worker(w):
        c = stratus.client("logs")
        for i in range(15):
            c.put_log_events(logGroupName="g", logStreamName="s",
                             logEvents=[{"timestamp": t + i, "message": f"w{w}-{i}"}])

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(worker, range(12)))
    events = logs.get_log_events(logGroupName="g", logStreamName="s", startFromHead=True)["events"]
    assert sorted(e["message"] for e in events) == sorted(f"w{w}-{i}" for w in range(12) for i in range(15))
    assert logs.describe_log_streams(logGroupName="g")["logStreams"][0]["lastEventTimestamp"] == t + 14
