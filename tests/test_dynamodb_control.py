"""DynamoDB control plane as AWS shapes it, with AWS's errors and messages."""

import datetime
import json

import botocore.exceptions
import pytest

from conftest import error_of

PK = dict(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
          KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])


def create(ddb, name, **kw):
    args = dict(TableName=name, BillingMode="PAY_PER_REQUEST", **PK)
    args.update(kw)
    return ddb.create_table(**args)["TableDescription"]


def client_error(fn, *a, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*a, **kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], \
        e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_create_describe_list_delete(stratus):
    ddb = stratus.client("dynamodb")
    desc = create(ddb, "orders")
    assert desc["TableName"] == "orders"
    assert desc["TableStatus"] == "ACTIVE"
    assert desc["TableArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/orders"
    assert desc["ItemCount"] == 0 and desc["TableSizeBytes"] == 0
    assert desc["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 0
    assert isinstance(desc["CreationDateTime"], datetime.datetime)
    assert len(desc["TableId"]) == 36
    table = ddb.describe_table(TableName="orders")["Table"]
    assert table["TableArn"] == desc["TableArn"] and table["TableId"] == desc["TableId"]
    # A table ARN works wherever a table name does.
    assert ddb.describe_table(TableName=desc["TableArn"])["Table"]["TableName"] == "orders"
    assert ddb.list_tables()["TableNames"] == ["orders"]
    deleted = ddb.delete_table(TableName="orders")["TableDescription"]
    assert deleted["TableStatus"] == "DELETING"
    assert ddb.list_tables()["TableNames"] == []
    code, msg, status = client_error(ddb.describe_table, TableName="orders")
    assert (code, msg, status) == ("ResourceNotFoundException", "Requested resource not found: Table: orders not found", 400)


def test_cli_create_wait_list(stratus):
    stratus.cli("dynamodb", "create-table", "--table-name", "cli-table",
                "--attribute-definitions", "AttributeName=pk,AttributeType=S",
                "--key-schema", "AttributeName=pk,KeyType=HASH", "--billing-mode", "PAY_PER_REQUEST")
    stratus.cli("dynamodb", "wait", "table-exists", "--table-name", "cli-table")
    assert json.loads(stratus.cli("dynamodb", "list-tables").stdout) == {"TableNames": ["cli-table"]}
    stratus.cli("dynamodb", "delete-table", "--table-name", "cli-table")
    stratus.cli("dynamodb", "wait", "table-not-exists", "--table-name", "cli-table")
    out = stratus.cli("dynamodb", "describe-table", "--table-name", "cli-table", check=False)
    assert out.returncode != 0 and "ResourceNotFoundException" in out.stderr


def test_duplicate_and_missing_tables(stratus):
    ddb = stratus.client("dynamodb")
    create(ddb, "dup")
    assert client_error(create, ddb, "dup")[:2] == ("ResourceInUseException", "Table already exists: dup")
    assert client_error(ddb.delete_table, TableName="nope")[:2] == \
        ("ResourceNotFoundException", "Requested resource not found: Table: nope not found")
    assert client_error(ddb.update_table, TableName="nope", BillingMode="PROVISIONED",
                        ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})[0] == "ResourceNotFoundException"


def test_table_name_validation(stratus):
    ddb = stratus.client("dynamodb", validate=False)
    code, msg, status = client_error(create, ddb, "ab")
    assert (code, status) == ("ValidationException", 400)
    assert msg == ("1 validation error detected: Value 'ab' at 'tableName' failed to satisfy constraint: "
                   "Member must have length greater than or equal to 3")
    code, msg, _ = client_error(create, ddb, "bad name!")
    assert msg == ("1 validation error detected: Value 'bad name!' at 'tableName' failed to satisfy constraint: "
                   "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    code, msg, _ = client_error(ddb.describe_table, TableName="x" * 256)
    assert "Member must have length less than or equal to 255" in msg


def test_key_schema_validation(stratus):
    ddb = stratus.client("dynamodb", validate=False)
    cases = [
        (dict(AttributeDefinitions=[{"AttributeName": "x", "AttributeType": "S"}],
              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}]),
         "One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. "
         "Keys: [pk], AttributeDefinitions: [x]"),
        (dict(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "extra", "AttributeType": "S"}],
              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}]),
         "One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of "
         "attributes defined in AttributeDefinitions"),
        (dict(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
              KeySchema=[{"AttributeName": "pk", "KeyType": "RANGE"}]),
         "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"),
        (dict(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "X"}],
              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}]),
         "1 validation error detected: Value 'X' at 'attributeDefinitions.1.member.attributeType' failed to satisfy "
         "constraint: Member must satisfy enum value set: [S, N, B]"),
        (dict(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], KeySchema=[]),
         "1 validation error detected: Value '[]' at 'keySchema' failed to satisfy constraint: Member must have length "
         "greater than or equal to 1"),
        (dict(AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "x")],
              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"},
                         {"AttributeName": "x", "KeyType": "RANGE"}]),
         "1 validation error detected: Value '[KeySchemaElement(attributeName=pk, keyType=HASH), KeySchemaElement("
         "attributeName=sk, keyType=RANGE), KeySchemaElement(attributeName=x, keyType=RANGE)]' at 'keySchema' failed to "
         "satisfy constraint: Member must have length less than or equal to 2"),
        (dict(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "pk", "KeyType": "RANGE"}]),
         "Invalid KeySchema: Some index key attribute have no definition"),
        (dict(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
              GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                       "Projection": {"ProjectionType": "INCLUDE"}}]),
         "One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified"),
        (dict(AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
              StreamSpecification={"StreamEnabled": False, "StreamViewType": "NEW_IMAGE"}),
         "One or more parameter values were invalid: Table is being created with a stream disabled, UpdateViewType should "
         "not be specified"),
    ]
    for args, expected in cases:
        code, msg, status = client_error(ddb.create_table, TableName="keys", BillingMode="PAY_PER_REQUEST", **args)
        assert (code, status) == ("ValidationException", 400), msg
        assert msg == expected
    code, msg, _ = client_error(ddb.create_table, TableName="keys", BillingMode="PAY_PER_REQUEST")
    assert msg == ("2 validation errors detected: Value null at 'attributeDefinitions' failed to satisfy constraint: "
                   "Member must not be null; Value null at 'keySchema' failed to satisfy constraint: Member must not be null")


def test_billing_mode_rules(stratus):
    ddb = stratus.client("dynamodb", validate=False)
    code, msg, _ = client_error(ddb.create_table, TableName="prov", **PK)
    assert msg == ("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be "
                   "specified when BillingMode is PROVISIONED")
    code, msg, _ = client_error(create, ddb, "ppr", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    assert "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST" in msg
    code, msg, _ = client_error(ddb.create_table, TableName="prov", ProvisionedThroughput={"ReadCapacityUnits": 0, "WriteCapacityUnits": 5}, **PK)
    assert msg == ("1 validation error detected: Value '0' at 'provisionedThroughput.readCapacityUnits' failed to satisfy "
                   "constraint: Member must have value greater than or equal to 1")
    desc = ddb.create_table(TableName="prov", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 7}, **PK)["TableDescription"]
    assert desc["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
    assert desc["ProvisionedThroughput"]["WriteCapacityUnits"] == 7
    assert "BillingModeSummary" not in desc


def test_update_table(stratus):
    ddb = stratus.client("dynamodb")
    ddb.create_table(TableName="upd", ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}, **PK)
    t = ddb.update_table(TableName="upd", ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 5})["TableDescription"]
    assert t["ProvisionedThroughput"]["ReadCapacityUnits"] == 10
    assert "LastIncreaseDateTime" in t["ProvisionedThroughput"]
    code, msg, _ = client_error(ddb.update_table, TableName="upd", ProvisionedThroughput={"ReadCapacityUnits": 10, "WriteCapacityUnits": 5})
    assert code == "ValidationException" and "will not change" in msg
    t = ddb.update_table(TableName="upd", BillingMode="PAY_PER_REQUEST")["TableDescription"]
    assert t["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert ddb.describe_table(TableName="upd")["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    code, msg, _ = client_error(ddb.update_table, TableName="upd", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    assert code == "ValidationException"
    code, _, _ = client_error(ddb.update_table, TableName="upd", BillingMode="PROVISIONED")
    assert code == "ValidationException"
    code, msg, _ = client_error(ddb.update_table, TableName="upd")
    assert code == "ValidationException"
    t = ddb.update_table(TableName="upd", DeletionProtectionEnabled=True)["TableDescription"]
    assert t["DeletionProtectionEnabled"] is True
    code, msg, _ = client_error(ddb.delete_table, TableName="upd")
    assert code == "ValidationException" and "protected against deletion" in msg
    ddb.update_table(TableName="upd", DeletionProtectionEnabled=False)
    ddb.delete_table(TableName="upd")


def test_secondary_indexes_are_stored(stratus):
    ddb = stratus.client("dynamodb")
    desc = ddb.create_table(
        TableName="idx", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "gpk", "lsk")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-g", "KeySchema": [{"AttributeName": "gpk", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        LocalSecondaryIndexes=[{"IndexName": "by-l", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                   {"AttributeName": "lsk", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}}],
    )["TableDescription"]
    gsi = desc["GlobalSecondaryIndexes"][0]
    assert gsi["IndexName"] == "by-g" and gsi["IndexStatus"] == "ACTIVE"
    assert gsi["IndexArn"] == "arn:aws:dynamodb:us-east-1:000000000000:table/idx/index/by-g"
    lsi = ddb.describe_table(TableName="idx")["Table"]["LocalSecondaryIndexes"][0]
    assert lsi["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["x"]}
    t = ddb.update_table(TableName="idx", AttributeDefinitions=[{"AttributeName": "other", "AttributeType": "N"}],
                         GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by-other",
                                                                  "KeySchema": [{"AttributeName": "other", "KeyType": "HASH"}],
                                                                  "Projection": {"ProjectionType": "KEYS_ONLY"}}}])["TableDescription"]
    assert sorted(g["IndexName"] for g in t["GlobalSecondaryIndexes"]) == ["by-g", "by-other"]
    t = ddb.update_table(TableName="idx", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-g"}}])["TableDescription"]
    assert [g["IndexName"] for g in t["GlobalSecondaryIndexes"]] == ["by-other"]
    # LSIs need a table range key and the table's hash key.
    code, msg, _ = client_error(
        ddb.create_table, TableName="idx2", BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "lsk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        LocalSecondaryIndexes=[{"IndexName": "lsi-one", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                {"AttributeName": "lsk", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "ALL"}}])
    assert code == "ValidationException" and "does not have a range key" in msg
    # GSIs of provisioned tables need throughput.
    code, msg, _ = client_error(
        ddb.create_table, TableName="idx3", ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "g", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[{"IndexName": "gsi-one", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    assert msg == "One or more parameter values were invalid: ProvisionedThroughput must be specified for index: gsi-one"


def test_streams_sse_and_class(stratus):
    ddb = stratus.client("dynamodb")
    t = create(ddb, "streamed", StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
               SSESpecification={"Enabled": True}, TableClass="STANDARD_INFREQUENT_ACCESS")
    assert t["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert t["LatestStreamArn"].startswith("arn:aws:dynamodb:us-east-1:000000000000:table/streamed/stream/")
    assert t["SSEDescription"]["Status"] == "ENABLED"
    assert t["TableClassSummary"]["TableClass"] == "STANDARD_INFREQUENT_ACCESS"


def test_list_tables_pagination(stratus):
    ddb = stratus.client("dynamodb", validate=False)
    names = ["tbl-c", "tbl-a", "tbl-e", "tbl-b", "tbl-d"]
    for n in names:
        create(ddb, n)
    page = ddb.list_tables(Limit=2)
    assert page["TableNames"] == ["tbl-a", "tbl-b"] and page["LastEvaluatedTableName"] == "tbl-b"
    page = ddb.list_tables(Limit=2, ExclusiveStartTableName="tbl-b")
    assert page["TableNames"] == ["tbl-c", "tbl-d"]
    page = ddb.list_tables(Limit=2, ExclusiveStartTableName="tbl-d")
    assert page["TableNames"] == ["tbl-e"] and "LastEvaluatedTableName" not in page
    all_names = [n for p in ddb.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 2}) for n in p["TableNames"]]
    assert all_names == sorted(names)
    code, msg, _ = client_error(ddb.list_tables, Limit=0)
    assert msg == "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1"
    code, msg, _ = client_error(ddb.list_tables, Limit=101)
    assert "Member must have value less than or equal to 100" in msg


def test_regions_are_separate(stratus):
    east, west = stratus.client("dynamodb"), stratus.client("dynamodb", region="us-west-2")
    create(west, "west-only")
    assert east.list_tables()["TableNames"] == []
    assert west.describe_table(TableName="west-only")["Table"]["TableArn"] == \
        "arn:aws:dynamodb:us-west-2:000000000000:table/west-only"


def test_tags(stratus):
    ddb = stratus.client("dynamodb")
    arn = create(ddb, "tagged", Tags=[{"Key": "env", "Value": "dev"}])["TableArn"]
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    ddb.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "x"}])
    assert sorted((t["Key"], t["Value"]) for t in ddb.list_tags_of_resource(ResourceArn=arn)["Tags"]) == \
        [("env", "prod"), ("team", "x")]
    ddb.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert ddb.list_tags_of_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "x"}]
    missing = "arn:aws:dynamodb:us-east-1:000000000000:table/missing"
    assert client_error(ddb.list_tags_of_resource, ResourceArn=missing)[0] == "ResourceNotFoundException"
    assert client_error(ddb.tag_resource, ResourceArn="not-an-arn", Tags=[{"Key": "a", "Value": "b"}])[0] == "ValidationException"


def test_limits_and_endpoints(stratus):
    ddb = stratus.client("dynamodb")
    limits = ddb.describe_limits()
    assert limits["AccountMaxReadCapacityUnits"] == 80000 and limits["TableMaxWriteCapacityUnits"] == 40000
    ep = ddb.describe_endpoints()["Endpoints"][0]
    assert ep["CachePeriodInMinutes"] == 1440 and ep["Address"].startswith("127.0.0.1:")


def test_wire_errors(stratus):
    r = stratus.dynamodb_raw("ListTables", b"{not json")
    assert r.status_code == 400 and error_of(r)[0] == "SerializationException"
    r = stratus.dynamodb_raw("ListTables", {"Limit": "ten"})
    assert r.status_code == 400 and error_of(r)[0] == "SerializationException"
    r = stratus.dynamodb_raw("ListTables", b"[1,2,3]")
    assert r.status_code == 400 and error_of(r)[0] == "SerializationException"
    r = stratus.dynamodb_raw("DropEverything", {})
    assert r.status_code == 400 and error_of(r)[0] == "UnknownOperationException"
    r = stratus.dynamodb_raw("CreateBackup", {"TableName": "t", "BackupName": "b"})
    assert r.status_code == 501 and error_of(r) == ("NotImplemented", "The operation CreateBackup is not implemented by Stratus yet")
    r = stratus.dynamodb_raw("ListTables", {})
    assert r.status_code == 200 and r.headers["content-type"] == "application/x-amz-json-1.0"
    import zlib
    assert int(r.headers["x-amz-crc32"]) == zlib.crc32(r.content)


def test_garbage_never_yields_a_server_error(stratus):
    import random
    rng = random.Random(7)
    ops = ["CreateTable", "DescribeTable", "ListTables", "UpdateTable", "DeleteTable", "TagResource", "ListTagsOfResource"]
    samples = [b"", b"{}", b"null", b"{\"TableName\": null}", b"{\"TableName\": {}}", b"\xff\xfe\x00",
               b"{\"KeySchema\": [{}], \"AttributeDefinitions\": [null]}", b"{\"TableName\": \"abc\", \"GlobalSecondaryIndexes\": [{}]}",
               b"{\"TableName\": \"abc\", \"BillingMode\": \"PAY_PER_REQUEST\", \"KeySchema\": [{\"AttributeName\": \"a\", \"KeyType\": \"HASH\"}, {\"AttributeName\": \"a\", \"KeyType\": \"RANGE\"}], \"AttributeDefinitions\": [{\"AttributeName\": \"a\", \"AttributeType\": \"S\"}]}"]
    samples += [bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))) for _ in range(20)]
    for op in ops:
        for body in samples:
            r = stratus.dynamodb_raw(op, body)
            assert 400 <= r.status_code < 500 or r.status_code == 200, (op, body, r.status_code, r.text)
    for body in samples:
        r = stratus.signed("sts", body=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert 400 <= r.status_code < 500, (body, r.status_code, r.text)
