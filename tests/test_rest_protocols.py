"""Answers rendered by the generated rest-json and rest-xml encoders (written by the
`rest_golden` Rust test, which `cargo test` runs first) parse with botocore's own parsers into
the values the test encoded."""

import base64
import datetime
import json
from pathlib import Path

import botocore.model
import botocore.parsers
import botocore.session
import pytest
from requests.structures import CaseInsensitiveDict

RESPONSES = Path(__file__).resolve().parent.parent / "target" / "tmp" / "rest-responses.json"


@pytest.fixture(scope="module")
def parsed():
    assert RESPONSES.exists(), "run `cargo test -p stratus-protocol --test rest_golden` first (the test command does)"
    loader = botocore.session.get_session().get_component("data_loader")
    out = {}
    for r in json.loads(RESPONSES.read_text()):
        model = botocore.model.ServiceModel(loader.load_service_model(r["service"], "service-2"), r["service"])
        op = model.operation_model(r["operation"])
        parser = botocore.parsers.create_parser(model.metadata["protocol"])
        headers = CaseInsensitiveDict(r["headers"])  # as botocore's HTTP layer hands them over
        response = {"status_code": r["status"], "headers": headers, "body": base64.b64decode(r["body"])}
        if op.has_streaming_output:
            import io
            response["body"] = io.BytesIO(response["body"])
        out[(r["service"], r["operation"], r.get("label", "ok"))] = (r, parser.parse(response, op.output_shape))
    return out


def test_lambda_invoke_headers_status_and_payload(parsed):
    raw, p = parsed[("lambda", "Invoke", "ok")]
    assert raw["status"] == 200
    assert p["StatusCode"] == 200
    assert p["FunctionError"] == "Unhandled"
    assert p["LogResult"] == "U1RBUlQ="
    assert p["ExecutedVersion"] == "$LATEST"
    payload = p["Payload"].read() if hasattr(p["Payload"], "read") else p["Payload"]
    assert payload == b'{"errorMessage":"boom"}'


def test_lambda_json_bodies(parsed):
    raw, p = parsed[("lambda", "CreateFunction", "ok")]
    assert raw["status"] == 201
    assert p["FunctionName"] == "echo" and p["MemorySize"] == 256
    assert p["Environment"]["Variables"] == {"A": "1"}
    _, p = parsed[("lambda", "ListFunctions", "ok")]
    assert p["NextMarker"] == "m2"
    assert [f["FunctionName"] for f in p["Functions"]] == ["echo"]


def test_cloudfront_xml_payload_and_headers(parsed):
    raw, p = parsed[("cloudfront", "CreateFunction", "ok")]
    assert raw["status"] == 201
    assert p["ETag"] == "ETVPDKIKX0DER"
    assert p["Location"].endswith("/function/rewrite")
    s = p["FunctionSummary"]
    assert s["Name"] == "rewrite" and s["Status"] == "UNPUBLISHED"
    assert s["FunctionConfig"]["Comment"] == "a & b <c>"
    assert s["FunctionConfig"]["KeyValueStoreAssociations"]["Items"][0]["KeyValueStoreARN"].endswith("/4f4e1c38-0000-4000-8000-000000000001")
    created = s["FunctionMetadata"]["CreatedTime"]
    assert created == datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc)
    _, p = parsed[("cloudfront", "ListFunctions", "ok")]
    assert p["FunctionList"]["Quantity"] == 1
    assert p["FunctionList"]["Items"][0]["FunctionMetadata"]["Stage"] == "DEVELOPMENT"


def test_errors_parse_in_both_rest_protocols(parsed):
    raw, p = parsed[("lambda", "GetFunction", "error")]
    assert raw["status"] == 404
    assert p["Error"]["Code"] == "ResourceNotFoundException"
    assert p["Error"]["Message"].startswith("Function not found")
    raw, p = parsed[("cloudfront", "DescribeFunction", "error")]
    assert p["Error"]["Code"] == "NoSuchFunctionExists"
    assert p["Error"]["Message"] == "The function does not exist."
    assert p["ResponseMetadata"]["RequestId"] == "rid-2"
