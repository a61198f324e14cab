#!/usr/bin/env python3
"""Writes golden REST requests as botocore serializes them, for the protocol layer's wire tests.

    python3 xtask/golden.py     # rewrites crates/stratus-protocol/tests/golden/requests.json

Each entry: service, operation, params (as given to botocore) and the HTTP request botocore
builds from them (method, path, query, headers, base64 body).
"""

import base64
import json
from pathlib import Path

import botocore.model
import botocore.serialize
import botocore.session

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "crates" / "stratus-protocol" / "tests" / "golden" / "requests.json"

CASES = [
    ("lambda", "Invoke", {"FunctionName": "arn:aws:lambda:us-east-1:000000000000:function:echo", "Qualifier": "live",
                          "InvocationType": "Event", "LogType": "Tail", "ClientContext": "eyJhIjoxfQ==",
                          "Payload": b'{"name": "x"}'}),
    ("lambda", "Invoke", {"FunctionName": "my fn/odd", "Payload": b""}),
    ("lambda", "ListFunctions", {"MaxItems": 5, "Marker": "next token+/=", "FunctionVersion": "ALL"}),
    ("lambda", "GetFunction", {"FunctionName": "echo", "Qualifier": "3"}),
    ("lambda", "CreateFunction", {"FunctionName": "echo", "Runtime": "python3.12", "Role": "arn:aws:iam::000000000000:role/r",
                                  "Handler": "app.handler", "Code": {"ZipFile": b"PK\x03\x04zip"}, "Timeout": 30,
                                  "MemorySize": 256, "Environment": {"Variables": {"MODE": "1", "LEVEL": "two"}},
                                  "Tags": {"team": "core"}, "Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:l:1"],
                                  "Publish": True}),
    ("lambda", "DeleteFunction", {"FunctionName": "echo", "Qualifier": "2"}),
    ("lambda", "AddPermission", {"FunctionName": "echo", "StatementId": "s1", "Action": "lambda:InvokeFunction",
                                 "Principal": "s3.amazonaws.com", "SourceArn": "arn:aws:s3:::bucket"}),
    ("cloudfront", "CreateFunction", {"Name": "rewrite", "FunctionConfig": {"Comment": "a & b <c>", "Runtime": "cloudfront-js-2.0",
                                      "KeyValueStoreAssociations": {"Quantity": 2, "Items": [
                                          {"KeyValueStoreARN": "arn:aws:cloudfront::000000000000:key-value-store/4f4e1c38-0000-4000-8000-000000000001"},
                                          {"KeyValueStoreARN": "arn:aws:cloudfront::000000000000:key-value-store/4f4e1c38-0000-4000-8000-000000000002"}]}},
                                      "FunctionCode": b"function handler(event) { return event.request; }"}),
    ("cloudfront", "DescribeFunction", {"Name": "rewrite", "Stage": "LIVE"}),
    ("cloudfront", "ListFunctions", {"Marker": "m1", "MaxItems": "10", "Stage": "DEVELOPMENT"}),
    ("cloudfront", "DeleteFunction", {"Name": "rewrite", "IfMatch": "ETAG123"}),
]


def main():
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    out = []
    for service, op, params in CASES:
        model = botocore.model.ServiceModel(loader.load_service_model(service, "service-2"), service)
        opm = model.operation_model(op)
        req = botocore.serialize.create_serializer(model.metadata["protocol"], include_validation=True) \
            .serialize_to_request(params, opm)
        body = req["body"]
        if isinstance(body, str):
            body = body.encode()
        query = "&".join(f"{k}={v}" for k, v in sorted(req["query_string"].items())) if isinstance(req["query_string"], dict) else req["query_string"]
        from urllib.parse import urlencode
        if isinstance(req["query_string"], dict):
            pairs = []
            for k, v in req["query_string"].items():
                for item in (v if isinstance(v, list) else [v]):
                    pairs.append((k, item))
            query = urlencode(pairs)
        out.append({
            "service": service,
            "operation": op,
            "method": req["method"],
            "path": req["url_path"],
            "query": query,
            "headers": {k: v if isinstance(v, str) else v.decode() for k, v in req["headers"].items()},
            "body": base64.b64encode(body or b"").decode(),
        })
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)} ({len(out)} requests)")


if __name__ == "__main__":
    main()
