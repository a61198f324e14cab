"""Every API request is authenticated with SigV4; each failure answers with its protocol's error."""

import datetime

import botocore.exceptions
import pytest
import requests

from conftest import error_of

LIST_TABLES = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}
STS_FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
STS_BODY = "Action=GetCallerIdentity&Version=2011-06-15"


def test_missing_authentication_json_and_query(stratus):
    r = requests.post(stratus.url, data="{}", headers=LIST_TABLES)
    assert r.status_code == 400
    assert error_of(r) == ("MissingAuthenticationTokenException", "Request is missing Authentication Token")
    assert r.headers["x-amzn-RequestId"]
    r = requests.post(stratus.url, data=STS_BODY, headers=STS_FORM)
    assert r.status_code == 403
    assert error_of(r) == ("MissingAuthenticationToken", "Request is missing Authentication Token")


def test_unknown_access_key(stratus):
    r = stratus.dynamodb_raw("ListTables", {}, key="AKIANOTAKEY", secret="x")
    assert r.status_code == 400
    assert error_of(r) == ("UnrecognizedClientException", "The security token included in the request is invalid.")
    r = stratus.sts_raw({"Action": "GetCallerIdentity", "Version": "2011-06-15"}, key="AKIANOTAKEY", secret="x")
    assert r.status_code == 403
    assert error_of(r)[0] == "InvalidClientTokenId"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        stratus.client("sts", key="AKIANOTAKEY", secret="x").get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_wrong_secret(stratus):
    r = stratus.dynamodb_raw("ListTables", {}, secret="wrong")
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "InvalidSignatureException"
    assert message.startswith("The request signature we calculated does not match the signature you provided.")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        stratus.client("sts", secret="wrong").get_caller_identity()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_body_changed_after_signing_is_rejected(stratus):
    import botocore.auth, botocore.awsrequest, botocore.credentials
    req = botocore.awsrequest.AWSRequest(method="POST", url=stratus.url + "/", data=b"{}", headers=LIST_TABLES)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), "dynamodb", "us-east-1").add_auth(req)
    p = req.prepare()
    r = requests.post(p.url, data=b'{"Limit": 1}', headers=dict(p.headers))
    assert r.status_code == 400
    assert error_of(r)[0] == "InvalidSignatureException"


def test_expired_and_future_requests(stratus):
    past = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None) - datetime.timedelta(minutes=20)
    r = stratus.dynamodb_raw("ListTables", {}, when=past)
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "InvalidSignatureException"
    assert message.startswith("Signature expired: ") and "(" in message and "- 15 min.)" in message
    future = past + datetime.timedelta(minutes=40)
    r = stratus.dynamodb_raw("ListTables", {}, when=future)
    assert error_of(r)[0] == "InvalidSignatureException"
    assert "Signature not yet current" in error_of(r)[1]
    r = stratus.sts_raw({"Action": "GetCallerIdentity", "Version": "2011-06-15"}, when=past)
    assert r.status_code == 403
    assert error_of(r)[0] == "SignatureDoesNotMatch"
    # Within the window it is fine.
    r = stratus.dynamodb_raw("ListTables", {}, when=past + datetime.timedelta(minutes=8))
    assert r.status_code == 200


def test_malformed_authorization_header(stratus):
    headers = dict(LIST_TABLES, Authorization="AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/dynamodb/aws4_request",
                   **{"X-Amz-Date": "20240101T000000Z"})
    r = requests.post(stratus.url, data="{}", headers=headers)
    assert r.status_code == 400
    code, message = error_of(r)
    assert code == "IncompleteSignatureException"
    assert "Signature" in message
    headers["Authorization"] = "Basic dGVzdDp0ZXN0"
    r = requests.post(stratus.url, data="{}", headers=headers)
    assert r.status_code == 400


def test_presigned_get_caller_identity(stratus):
    sts = stratus.client("sts")
    # botocore signs the operation's own method (POST) into the URL.
    url = sts.generate_presigned_url("get_caller_identity", ExpiresIn=60)
    r = requests.post(url)
    assert r.status_code == 200, r.text
    assert "<Arn>arn:aws:iam::000000000000:root</Arn>" in r.text
    # Tampering with the signed query breaks the signature.
    r = requests.post(url.replace("X-Amz-Expires=60", "X-Amz-Expires=61"))
    assert r.status_code == 403
    assert error_of(r)[0] == "SignatureDoesNotMatch"


def test_presigned_url_expires(stratus):
    import time
    url = stratus.client("sts").generate_presigned_url("get_caller_identity", ExpiresIn=1)
    time.sleep(2.1)
    r = requests.post(url)
    assert r.status_code == 403
    assert error_of(r)[0] == "SignatureDoesNotMatch"
    assert "expired" in error_of(r)[1]


def test_every_response_has_a_request_id(stratus):
    for r in (
        stratus.dynamodb_raw("ListTables", {}),
        stratus.dynamodb_raw("ListTables", {}, secret="bad"),
        requests.post(stratus.url, data="{}", headers=LIST_TABLES),
        stratus.sts_raw({"Action": "GetCallerIdentity", "Version": "2011-06-15"}),
    ):
        assert len(r.headers["x-amzn-RequestId"]) == 36


def test_several_configured_keys_map_to_accounts(new_server):
    s = new_server(["--access-key", "test:test", "--access-key", "AKIAALICE:alicesecret:111122223333:user/alice"])
    alice = s.client("sts", key="AKIAALICE", secret="alicesecret").get_caller_identity()
    assert alice["Account"] == "111122223333"
    assert alice["Arn"] == "arn:aws:iam::111122223333:user/alice"
    assert alice["UserId"].startswith("AIDA")
    root = s.client("sts").get_caller_identity()
    assert root["Account"] == "000000000000"
    # Tables belong to the account that created them.
    s.client("dynamodb", key="AKIAALICE", secret="alicesecret").create_table(
        TableName="alice-table", AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    assert s.client("dynamodb").list_tables()["TableNames"] == []
    assert s.client("dynamodb", key="AKIAALICE", secret="alicesecret").list_tables()["TableNames"] == ["alice-table"]
    # The default pair is not accepted once keys are configured without it.
    s2 = new_server(["--access-key", "AKIAONLY:only"])
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s2.client("sts").get_caller_identity()
    assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"


def test_session_token_with_static_keys_is_ignored(stratus):
    # Local setups often export a dummy AWS_SESSION_TOKEN next to test/test.
    assert stratus.client("sts", token="dummy").get_caller_identity()["Account"] == "000000000000"
