"""STS: caller identity and temporary credentials that authenticate until they expire."""

import botocore.exceptions
import pytest
import requests

from conftest import error_of


def test_get_caller_identity_cli_and_boto3(stratus):
    out = stratus.cli("sts", "get-caller-identity")
    import json
    ident = json.loads(out.stdout)
    assert ident == {"UserId": "000000000000", "Account": "000000000000", "Arn": "arn:aws:iam::000000000000:root"}
    assert stratus.client("sts").get_caller_identity()["Account"] == "000000000000"


def assume(stratus, **kw):
    args = dict(RoleArn="arn:aws:iam::123456789012:role/deployer", RoleSessionName="ci-run")
    args.update(kw)
    return stratus.client("sts").assume_role(**args)


def test_assume_role_credentials_work(stratus):
    out = assume(stratus, DurationSeconds=900)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert out["AssumedRoleUser"]["Arn"] == "arn:aws:sts::123456789012:assumed-role/deployer/ci-run"
    assert out["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA")
    assert out["AssumedRoleUser"]["AssumedRoleId"].endswith(":ci-run")
    role = stratus.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    ident = role.get_caller_identity()
    assert ident["Arn"] == "arn:aws:sts::123456789012:assumed-role/deployer/ci-run"
    assert ident["Account"] == "123456789012"
    assert ident["UserId"] == out["AssumedRoleUser"]["AssumedRoleId"]
    # The role acts in its own account: tables it creates are not the caller's.
    ddb = stratus.client("dynamodb", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    ddb.create_table(TableName="role-table", AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}], BillingMode="PAY_PER_REQUEST")
    assert ddb.describe_table(TableName="role-table")["Table"]["TableArn"] == \
        "arn:aws:dynamodb:us-east-1:123456789012:table/role-table"
    assert stratus.client("dynamodb").list_tables()["TableNames"] == []


def test_temporary_credentials_need_their_session_token(stratus):
    creds = assume(stratus)["Credentials"]
    for token in (None, "forged-token"):
        with pytest.raises(botocore.exceptions.ClientError) as e:
            stratus.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=token).get_caller_identity()
        assert e.value.response["Error"]["Code"] == "InvalidClientTokenId"
        with pytest.raises(botocore.exceptions.ClientError) as e:
            stratus.client("dynamodb", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=token).list_tables()
        assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        stratus.client("sts", key=creds["AccessKeyId"], secret="wrong", token=creds["SessionToken"]).get_caller_identity()
    assert e.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_temporary_credentials_expire_on_the_server_clock(stratus):
    creds = assume(stratus, DurationSeconds=900)["Credentials"]
    sts = stratus.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    ddb = stratus.client("dynamodb", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    assert sts.get_caller_identity()["Account"] == "123456789012"
    stratus.advance_clock(899)
    assert ddb.list_tables()["TableNames"] == []
    stratus.advance_clock(2)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.get_caller_identity()
    assert e.value.response["Error"]["Code"] == "ExpiredToken"
    assert e.value.response["Error"]["Message"] == "The security token included in the request is expired"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        ddb.list_tables()
    assert e.value.response["Error"]["Code"] == "ExpiredTokenException"
    # Long-term keys keep working after the jump: signatures are checked against real time.
    assert stratus.client("sts").get_caller_identity()["Account"] == "000000000000"


def test_get_session_token(stratus):
    out = stratus.client("sts").get_session_token(DurationSeconds=1800)
    creds = out["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA")
    session = stratus.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    assert session.get_caller_identity()["Arn"] == "arn:aws:iam::000000000000:root"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        session.get_session_token()
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    # The root user's sessions last at most an hour.
    with pytest.raises(botocore.exceptions.ClientError) as e:
        stratus.client("sts").get_session_token(DurationSeconds=7200)
    assert e.value.response["Error"]["Code"] == "ValidationError"


def test_credentials_survive_restart(new_server):
    s = new_server()
    creds = s.client("sts").assume_role(RoleArn="arn:aws:iam::000000000000:role/r", RoleSessionName="s1")["Credentials"]
    s.kill9()
    s.start()
    ident = s.client("sts", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                     token=creds["SessionToken"]).get_caller_identity()
    assert ident["Arn"] == "arn:aws:sts::000000000000:assumed-role/r/s1"


def test_validation_errors(stratus):
    sts = stratus.client("sts", validate=False)
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn="arn:short", RoleSessionName="ok-name")
    err = e.value.response["Error"]
    assert err["Code"] == "ValidationError"
    assert err["Message"] == ("1 validation error detected: Value 'arn:short' at 'roleArn' failed to satisfy constraint: "
                              "Member must have length greater than or equal to 20")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="bad name!", DurationSeconds=100)
    msg = e.value.response["Error"]["Message"]
    assert msg.startswith("2 validation errors detected: ")
    assert "Value 'bad name!' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*" in msg
    assert "Value '100' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900" in msg
    r = stratus.sts_raw({"Action": "AssumeRole", "Version": "2011-06-15", "RoleSessionName": "x1"})
    assert r.status_code == 400
    assert error_of(r) == ("ValidationError", "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::123456789012:user/not-a-role", RoleSessionName="s")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    with pytest.raises(botocore.exceptions.ClientError) as e:
        sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="s1", Policy="{not json")
    assert e.value.response["Error"]["Code"] == "MalformedPolicyDocument"


def test_unknown_and_unimplemented_actions(stratus):
    r = stratus.sts_raw({"Action": "BecomeAdmin", "Version": "2011-06-15"})
    assert r.status_code == 400
    assert error_of(r)[0] == "InvalidAction"
    r = stratus.sts_raw({"Action": "GetFederationToken", "Version": "2011-06-15", "Name": "bob"})
    assert r.status_code == 501
    assert error_of(r)[0] == "NotImplemented"
    assert "GetFederationToken" in error_of(r)[1]
    r = stratus.sts_raw({"Action": "GetCallerIdentity", "Version": "1999-01-01"})
    assert r.status_code == 400
    r = stratus.sts_raw({"Action": "AssumeRole", "Version": "2011-06-15", "DurationSeconds": "lots",
                         "RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "s1"})
    assert r.status_code == 400


def test_tags_and_policy_in_assume_role(stratus):
    out = stratus.client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="tagged",
        Tags=[{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "ci"}], TransitiveTagKeys=["team"],
        Policy='{"Version":"2012-10-17","Statement":[]}', SourceIdentity="alice")
    assert 0 < out["PackedPolicySize"] < 100
    assert out["SourceIdentity"] == "alice"
