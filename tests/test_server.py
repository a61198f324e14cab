"""The server itself: health, persistence across kill -9, both store engines, configuration,
dev controls, limits and shutdown."""

import json
import os
import signal

import pytest
import requests

from conftest import error_of

PK = dict(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")


def test_health(stratus):
    r = requests.get(stratus.url + "/_stratus/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "running"
    assert set(body["services"]) >= {"sts", "dynamodb"}
    assert body["store"] == "embedded"
    assert body["version"]


@pytest.mark.parametrize("durability", ["log", "fsync"])
def test_tables_survive_kill_9(new_server, durability):
    s = new_server(["--durability", durability])
    ddb = s.client("dynamodb")
    for i in range(20):
        ddb.create_table(TableName=f"kept-{i:02d}", **PK)
    ddb.tag_resource(ResourceArn="arn:aws:dynamodb:us-east-1:000000000000:table/kept-00", Tags=[{"Key": "k", "Value": "v"}])
    s.kill9()
    s.start()
    ddb = s.client("dynamodb")
    assert ddb.list_tables()["TableNames"] == [f"kept-{i:02d}" for i in range(20)]
    assert ddb.list_tags_of_resource(ResourceArn="arn:aws:dynamodb:us-east-1:000000000000:table/kept-00")["Tags"] == \
        [{"Key": "k", "Value": "v"}]


def test_concurrent_creates_all_survive_kill_9(new_server):
    from concurrent.futures import ThreadPoolExecutor
    s = new_server()
    def make(i):
        return s.client("dynamodb").create_table(TableName=f"par-{i:03d}", **PK)["TableDescription"]["TableName"]
    with ThreadPoolExecutor(16) as pool:
        acknowledged = sorted(pool.map(make, range(64)))
    s.kill9()
    s.start()
    assert s.client("dynamodb").list_tables(Limit=100)["TableNames"] == acknowledged


def test_postgres_engine_round_trip_and_restart(new_server, pg_url):
    s = new_server(["--store", pg_url])
    assert requests.get(s.url + "/_stratus/health").json()["store"] == "postgres"
    ddb = s.client("dynamodb")
    ddb.create_table(TableName="pg-table", **PK)
    assert ddb.describe_table(TableName="pg-table")["Table"]["TableStatus"] == "ACTIVE"
    assert ddb.list_tables()["TableNames"] == ["pg-table"]
    creds = s.client("sts").assume_role(RoleArn="arn:aws:iam::000000000000:role/r", RoleSessionName="pg")["Credentials"]
    s.kill9()
    s.start()
    ddb = s.client("dynamodb")
    assert ddb.list_tables()["TableNames"] == ["pg-table"]
    assert s.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                    token=creds["SessionToken"]).get_caller_identity()["Arn"].endswith("assumed-role/r/pg")
    code = None
    try:
        ddb.create_table(TableName="pg-table", **PK)
    except Exception as e:  # noqa: BLE001
        code = e.response["Error"]["Code"]
    assert code == "ResourceInUseException"


def test_two_nodes_share_postgres(new_server, pg_url):
    a = new_server(["--store", pg_url])
    b = new_server(["--store", pg_url])
    a.client("dynamodb").create_table(TableName="shared", **PK)
    assert b.client("dynamodb").list_tables()["TableNames"] == ["shared"]
    creds = b.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    ident = a.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    assert ident.get_caller_identity()["Account"] == "000000000000"
    b.client("dynamodb").delete_table(TableName="shared")
    assert a.client("dynamodb").list_tables()["TableNames"] == []


def test_dev_controls_need_dev_mode(new_server):
    s = new_server(dev=False)
    for method, path in [("GET", "/_stratus/clock"), ("POST", "/_stratus/clock"), ("POST", "/_stratus/reset"),
                         ("POST", "/moto-api/reset")]:
        r = requests.request(method, s.url + path, json={"advance_seconds": 10})
        assert r.status_code == 403, (method, path)
        assert "--dev" in r.json()["message"]
    assert requests.get(s.url + "/_stratus/health").json()["dev"] is False


def test_clock_control(stratus):
    before = requests.get(stratus.url + "/_stratus/clock").json()
    after = stratus.advance_clock(3600)
    assert after["now_ms"] - before["now_ms"] >= 3_600_000
    assert after["offset_ms"] >= 3_600_000
    # Signed requests keep working: signatures use real time.
    assert stratus.client("sts").get_caller_identity()["Account"] == "000000000000"
    # Creation times follow the server clock.
    import datetime
    t = stratus.client("dynamodb").create_table(TableName="later", **PK)["TableDescription"]["CreationDateTime"]
    assert t > datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=55)
    r = requests.post(stratus.url + "/_stratus/clock", json={"set_ms": 1_000_000_000_000})
    assert abs(r.json()["now_ms"] - 1_000_000_000_000) < 5_000
    assert r.json()["now"].startswith("2001-09-09T")
    assert requests.post(stratus.url + "/_stratus/clock", json={"reset": True}).json()["offset_ms"] == 0
    r = requests.post(stratus.url + "/_stratus/clock", json={"jump": 1})
    assert r.status_code == 400
    r = requests.post(stratus.url + "/_stratus/clock", data=b"{bad")
    assert r.status_code == 400


def test_reset_wipes_state(stratus):
    ddb = stratus.client("dynamodb")
    ddb.create_table(TableName="gone-soon", **PK)
    assert requests.post(stratus.url + "/moto-api/reset").status_code == 200
    assert ddb.list_tables()["TableNames"] == []
    ddb.create_table(TableName="gone-too", **PK)
    assert requests.post(stratus.url + "/_stratus/reset").status_code == 200
    assert ddb.list_tables()["TableNames"] == []


def test_config_file_and_environment(new_server, tmp_path):
    cfg = tmp_path / "stratus.toml"
    cfg.write_text('region = "eu-west-1"\n[[access_keys]]\naccess_key_id = "AKIAFILE"\nsecret_access_key = "filesecret"\naccount_id = "222233334444"\n')
    s = new_server(env={"STRATUS_CONFIG": str(cfg)})
    assert s.client("sts", key="AKIAFILE", secret="filesecret").get_caller_identity()["Account"] == "222233334444"
    # Environment beats the file; flags beat the environment.
    s2 = new_server(["--access-key", "AKIAFLAG:flag"], env={"STRATUS_CONFIG": str(cfg), "STRATUS_ACCESS_KEYS": "AKIAENV:env:555566667777"})
    assert s2.client("sts", key="AKIAFLAG", secret="flag").get_caller_identity()["Account"] == "000000000000"
    s3 = new_server(env={"STRATUS_CONFIG": str(cfg), "STRATUS_ACCESS_KEYS": "AKIAENV:env:555566667777,AKIAENV2:env2"})
    assert s3.client("sts", key="AKIAENV", secret="env").get_caller_identity()["Account"] == "555566667777"
    assert s3.client("sts", key="AKIAENV2", secret="env2").get_caller_identity()["Account"] == "000000000000"


def test_bad_configuration_fails_fast(tmp_path):
    import subprocess
    from conftest import BIN
    for args in (["--listen", "not-an-address"], ["--access-key", "no-secret"], ["--store", "mysql://x"],
                 ["--durability", "maybe"]):
        out = subprocess.run([str(BIN), "serve", "--data-dir", str(tmp_path / "d"), *args], capture_output=True, text=True, timeout=30)
        assert out.returncode != 0, args
        assert out.stderr.strip(), args


def test_oversized_body_is_rejected(stratus):
    body = b'{"TableName": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    r = requests.post(stratus.url, data=body, headers={"X-Amz-Target": "DynamoDB_20120810.DescribeTable",
                                                        "Content-Type": "application/x-amz-json-1.0"})
    assert r.status_code == 413
    assert error_of(r)[0] == "RequestEntityTooLarge"


def test_unknown_services_and_paths(stratus):
    r = stratus.signed("sqs", body="Action=ListQueues", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 501 and error_of(r)[0] == "NotImplemented"
    r = stratus.signed("madeup", body="{}")
    assert r.status_code == 400 and error_of(r)[0] == "UnknownService"
    # An unsigned request no other service claims is S3's, which refuses anonymous listing.
    r = requests.get(stratus.url + "/")
    assert r.status_code == 403 and error_of(r)[0] == "AccessDenied"
    r = requests.get(stratus.url + "/_stratus/nothing")
    assert r.status_code == 404


def test_sigterm_stops_cleanly(new_server):
    s = new_server()
    s.client("dynamodb").create_table(TableName="before-stop", **PK)
    assert s.stop() == 0
    assert "shutting down" in s.read_log()
    s.start()
    assert s.client("dynamodb").list_tables()["TableNames"] == ["before-stop"]


def test_http2_prior_knowledge(stratus):
    import shutil
    import subprocess
    if not shutil.which("curl"):
        pytest.skip("curl not installed")
    out = subprocess.run(["curl", "-s", "--http2-prior-knowledge", stratus.url + "/_stratus/health", "-w", "%{http_version}"],
                         capture_output=True, text=True, timeout=30)
    assert out.stdout.endswith("2")
    assert json.loads(out.stdout[:-1])["status"] == "running"


def test_one_process_owns_a_data_directory(new_server, tmp_path):
    import subprocess
    from conftest import BIN
    s = new_server(data_dir=tmp_path / "owned")
    out = subprocess.run([str(BIN), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "owned")],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert "in use by another Stratus process" in out.stderr
    assert s.client("sts").get_caller_identity()["Account"] == "000000000000"
