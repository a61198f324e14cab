"""DynamoDB data plane through boto3 (client and Table resource) and the AWS CLI: items,
expressions, queries, scans, batches, transactions and indexes, with AWS's errors."""

import json
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import botocore.exceptions
import pytest
from boto3.dynamodb.conditions import Attr, Key


def err(fn, *a, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*a, **kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], e.value.response


@pytest.fixture
def table(stratus):
    r = stratus.resource("dynamodb")
    return r.create_table(
        TableName="items", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "kind", "AttributeType": "S"}, {"AttributeName": "lsk", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "by-kind", "KeySchema": [{"AttributeName": "kind", "KeyType": "HASH"},
                                                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                                 "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        LocalSecondaryIndexes=[{"IndexName": "by-lsk", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                     {"AttributeName": "lsk", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "ALL"}}])


def test_all_attribute_types_round_trip(table, stratus):
    item = {"pk": "types", "sk": 1, "s": "", "n": Decimal("-12.3400"), "b": b"\x00\x01", "t": True, "nul": None,
            "l": [1, "two", [3]], "m": {"a": {"b": Decimal("1e2")}}, "ss": {"x", "y"}, "ns": {1, 2}, "bs": {b"a", b"b"}}
    table.put_item(Item=item)
    got = table.get_item(Key={"pk": "types", "sk": 1}, ConsistentRead=True)["Item"]
    assert got["n"] == Decimal("-12.34") and got["m"]["a"]["b"] == Decimal("100")
    assert got["b"].value == b"\x00\x01" and got["nul"] is None and got["t"] is True
    assert got["ss"] == {"x", "y"} and got["ns"] == {1, 2} and got["s"] == ""
    raw = stratus.client("dynamodb").get_item(TableName="items", Key={"pk": {"S": "types"}, "sk": {"N": "1"}})["Item"]
    assert raw["n"] == {"N": "-12.34"} and raw["m"]["M"]["a"]["M"]["b"] == {"N": "100"}


def test_number_precision_and_limits(table, stratus):
    c = stratus.client("dynamodb")
    big = "9" * 38
    c.put_item(TableName="items", Item={"pk": {"S": "n"}, "sk": {"N": "1"}, "v": {"N": big}, "e": {"N": "1.5E2"}})
    got = c.get_item(TableName="items", Key={"pk": {"S": "n"}, "sk": {"N": "1"}})["Item"]
    assert got["v"]["N"] == big and got["e"]["N"] == "150"
    code, msg, _ = err(c.put_item, TableName="items", Item={"pk": {"S": "n"}, "sk": {"N": "2"}, "v": {"N": "1" * 39}})
    assert (code, msg) == ("ValidationException", "Attempting to store more than 38 significant digits in a Number")
    code, msg, _ = err(c.put_item, TableName="items", Item={"pk": {"S": "n"}, "sk": {"N": "2"}, "v": {"N": "abc"}})
    assert msg == "The parameter cannot be converted to a numeric value: abc"
    code, msg, _ = err(c.put_item, TableName="items", Item={"pk": {"S": "n"}, "sk": {"N": "2"}, "v": {"N": "1E126"}})
    assert msg.startswith("Number overflow")
    # Exact arithmetic: 0.1 + 0.2 is 0.3.
    r = c.update_item(TableName="items", Key={"pk": {"S": "n"}, "sk": {"N": "1"}}, UpdateExpression="SET f = :a + :b",
                      ExpressionAttributeValues={":a": {"N": "0.1"}, ":b": {"N": "0.2"}}, ReturnValues="UPDATED_NEW")
    assert r["Attributes"]["f"] == {"N": "0.3"}


def test_key_and_item_validation(table, stratus):
    c = stratus.client("dynamodb")
    cases = [
        ({"pk": {"S": "a"}}, "One or more parameter values were invalid: Missing the key sk in the item"),
        ({"pk": {"N": "1"}, "sk": {"N": "1"}}, "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"),
        ({"pk": {"S": ""}, "sk": {"N": "1"}}, "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"),
        # PutItem and UpdateItem envelope request validation failures, as DynamoDB does.
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "ss": {"SS": []}},
         "1 validation error detected: One or more parameter values were invalid: An string set  may not be empty"),
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "ss": {"SS": ["x", "x"]}},
         "1 validation error detected: One or more parameter values were invalid: Input collection [x, x] contains duplicates."),
        # Numbers equal as numbers, and binaries, are worded differently (sic).
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "ns": {"NS": ["1", "1.0"]}},
         "1 validation error detected: Input collection contains duplicates"),
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "bs": {"BS": [b"\x01\x02", b"\x03\x04", b"\x01\x02"]}},
         "1 validation error detected: One or more parameter values were invalid: Input collection [AQI=, AwQ=, AQI=]of type BS contains duplicates."),
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "kind": {"S": ""}},
         "One or more parameter values are not valid. A value specified for a secondary index key is not supported. "
         "The AttributeValue for a key attribute cannot contain an empty string value. IndexName: by-kind, IndexKey: kind"),
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "": {"S": "x"}}, "Empty attribute name"),
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "n": {"NULL": False}},
         "1 validation error detected: One or more parameter values were invalid: Null attribute value types must have the value of true"),
        ({"pk": {"S": "a"}, "sk": {"N": "1"}, "kind": {"N": "5"}}, "One or more parameter values were invalid: Type mismatch for Index Key kind Expected: S Actual: N IndexName: by-kind"),
        ({"pk": {"S": "x" * 2049}, "sk": {"N": "1"}}, "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes"),
    ]
    for item, message in cases:
        code, msg, resp = err(c.put_item, TableName="items", Item=item)
        assert (code, msg) == ("ValidationException", message)
        assert resp["ResponseMetadata"]["HTTPStatusCode"] == 400
    code, msg, _ = err(c.put_item, TableName="items", Item={"pk": {"S": "a"}, "sk": {"N": "1"}, "big": {"S": "x" * (400 * 1024)}})
    assert msg == "Item size has exceeded the maximum allowed size"
    # An update that would grow the item past 400 KB is worded for the update.
    c.put_item(TableName="items", Item={"pk": {"S": "grow"}, "sk": {"N": "1"}, "a": {"S": "x" * (300 * 1024)}})
    code, msg, _ = err(c.update_item, TableName="items", Key={"pk": {"S": "grow"}, "sk": {"N": "1"}},
                       UpdateExpression="SET b = :b", ExpressionAttributeValues={":b": {"S": "y" * (150 * 1024)}})
    assert (code, msg) == ("ValidationException", "Item size to update has exceeded the maximum allowed size")
    # An update is measured without the key attributes, plus 3 bytes and 19 per SET action:
    # an item PutItem can write whole may be out of an update's reach.
    limit = 400 * 1024
    blob = lambda n: {":b": {"S": "y" * n}}
    c.update_item(TableName="items", Key={"pk": {"S": "u1"}, "sk": {"N": "1"}}, UpdateExpression="SET b = :b",
                  ExpressionAttributeValues=blob(limit - 1 - 3 - 19))
    code, msg, _ = err(c.update_item, TableName="items", Key={"pk": {"S": "u2"}, "sk": {"N": "1"}},
                       UpdateExpression="SET b = :b", ExpressionAttributeValues=blob(limit - 1 - 3 - 19 + 1))
    assert (code, msg) == ("ValidationException", "Item size to update has exceeded the maximum allowed size")
    c.put_item(TableName="items", Item={"pk": {"S": "u2"}, "sk": {"N": "1"}, "b": {"S": "y" * (limit - 1 - 3 - 19 + 1)}})
    code, msg, _ = err(c.get_item, TableName="items", Key={"pk": {"S": "a"}})
    assert msg == "The provided key element does not match the schema"
    code, msg, _ = err(c.get_item, TableName="nope", Key={"pk": {"S": "a"}})
    # Item operations do not name the missing table (DescribeTable and DeleteTable do).
    assert (code, msg) == ("ResourceNotFoundException", "Requested resource not found")


def test_conditions_and_return_values(table):
    table.put_item(Item={"pk": "c", "sk": 1, "v": 1, "status": "new"})
    code, msg, resp = err(table.put_item, Item={"pk": "c", "sk": 1}, ConditionExpression="attribute_not_exists(pk)",
                          ReturnValuesOnConditionCheckFailure="ALL_OLD")
    assert (code, msg) == ("ConditionalCheckFailedException", "The conditional request failed")
    assert resp["Item"]["v"] == {"N": "1"}
    old = table.put_item(Item={"pk": "c", "sk": 1, "v": 2}, ConditionExpression=Attr("status").eq("new"), ReturnValues="ALL_OLD")
    assert old["Attributes"]["status"] == "new"
    # A missing attribute is unequal to anything.
    table.put_item(Item={"pk": "c", "sk": 1, "v": 3}, ConditionExpression="#s <> :busy",
                   ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":busy": "busy"})
    r = table.update_item(Key={"pk": "c", "sk": 1}, UpdateExpression="SET v = v + :one, tags = :t REMOVE nope",
                          ExpressionAttributeValues={":one": 1, ":t": ["a"]}, ReturnValues="ALL_NEW")
    assert r["Attributes"]["v"] == 4 and r["Attributes"]["tags"] == ["a"]
    r = table.update_item(Key={"pk": "c", "sk": 1}, UpdateExpression="SET tags = list_append(tags, :more)",
                          ExpressionAttributeValues={":more": ["b"]}, ReturnValues="UPDATED_OLD")
    assert r["Attributes"] == {"tags": ["a"]}
    code, msg, _ = err(table.delete_item, Key={"pk": "c", "sk": 1}, ConditionExpression=Attr("v").gt(100))
    assert code == "ConditionalCheckFailedException"
    assert table.delete_item(Key={"pk": "c", "sk": 1}, ReturnValues="ALL_OLD")["Attributes"]["v"] == 4
    # UpdateItem creates the item when it does not exist.
    table.update_item(Key={"pk": "c", "sk": 2}, UpdateExpression="ADD hits :one", ExpressionAttributeValues={":one": 1})
    table.update_item(Key={"pk": "c", "sk": 2}, UpdateExpression="ADD hits :one", ExpressionAttributeValues={":one": 1})
    assert table.get_item(Key={"pk": "c", "sk": 2})["Item"] == {"pk": "c", "sk": 2, "hits": 2}


def test_expression_errors(table, stratus):
    c = stratus.client("dynamodb")
    key = {"pk": {"S": "e"}, "sk": {"N": "1"}}
    code, msg, _ = err(c.update_item, TableName="items", Key=key, UpdateExpression="SET name = :v",
                       ExpressionAttributeValues={":v": {"S": "x"}})
    # PutItem and UpdateItem envelope request validation failures (DynamoDB does so since
    # 2025); failures against the stored item or the key schema stay bare.
    envelope = "1 validation error detected: "
    assert msg == envelope + "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: name"
    code, msg, _ = err(c.update_item, TableName="items", Key=key, UpdateExpression="SET a = :v",
                       ExpressionAttributeValues={":v": {"S": "x"}, ":unused": {"S": "y"}})
    # ... but not an unused placeholder.
    assert msg == "Value provided in ExpressionAttributeValues unused in expressions: keys: {:unused}"
    code, msg, _ = err(c.put_item, TableName="items", Item=key, ConditionExpression="attribute_not_exists(pk)",
                       ExpressionAttributeNames={"#unused": "x"})
    assert msg == "Value provided in ExpressionAttributeNames unused in expressions: keys: {#unused}"
    code, msg, _ = err(c.update_item, TableName="items", Key=key, UpdateExpression="SET a = :missing")
    assert msg == envelope + "Invalid UpdateExpression: An expression attribute value used in expression is not defined; attribute value: :missing"
    code, msg, _ = err(c.update_item, TableName="items", Key=key, UpdateExpression="SET a = :v, a.b = :v",
                       ExpressionAttributeValues={":v": {"S": "x"}})
    assert "Two document paths overlap with each other" in msg
    code, msg, _ = err(c.update_item, TableName="items", Key=key, UpdateExpression="SET pk = :v",
                       ExpressionAttributeValues={":v": {"S": "x"}})
    assert msg == "One or more parameter values were invalid: Cannot update attribute pk. This attribute is part of the key"
    code, msg, _ = err(c.update_item, TableName="items", Key=key, UpdateExpression="SET a = b + :v",
                       ExpressionAttributeValues={":v": {"N": "1"}})
    assert msg == "The provided expression refers to an attribute that does not exist in the item"
    code, msg, _ = err(c.put_item, TableName="items", Item=key, ConditionExpression="a = :v",
                       Expected={"a": {"Exists": False}}, ExpressionAttributeValues={":v": {"S": "x"}})
    assert msg.startswith(envelope + "Can not use both expression and non-expression parameters in the same request")
    code, msg, _ = err(c.put_item, TableName="items", Item=key, ReturnValues="ALL_NEW")
    assert msg == envelope + "ReturnValues can only be ALL_OLD or NONE"
    code, msg, _ = err(c.update_item, TableName="items", Key=key, UpdateExpression="SET t = :t",
                       ExpressionAttributeValues={":t": {"SS": ["a", "b", "a"]}})
    assert msg == envelope + ("ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: "
                              "Input collection [a, b, a] contains duplicates. for key :t")
    # DeleteItem envelopes them too, and words ReturnValues as PutItem does.
    code, msg, _ = err(c.delete_item, TableName="items", Key=key, ConditionExpression="a = :t",
                       ExpressionAttributeValues={":t": {"SS": []}})
    assert msg == envelope + "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :t"
    code, msg, _ = err(c.delete_item, TableName="items", Key=key, ReturnValues="ALL_NEW")
    assert msg == envelope + "ReturnValues can only be ALL_OLD or NONE"
    code, msg, _ = err(c.delete_item, TableName="items", Key=key, ExpressionAttributeValues={":t": {"S": "x"}})
    assert msg == envelope + "ExpressionAttributeValues can only be specified when using expressions"
    code, msg, _ = err(c.delete_item, TableName="items", Key=key, Expected={"a": {"ComparisonOperator": "EQ"}})
    assert msg == envelope + ("One or more parameter values were invalid: Value or AttributeValueList must be used with "
                              "ComparisonOperator: EQ for Attribute: a")
    # Other operations answer without the envelope.
    code, msg, _ = err(c.scan, TableName="items", FilterExpression="a = :t", ExpressionAttributeValues={":t": {"SS": []}})
    assert msg == "ExpressionAttributeValues contains invalid value: One or more parameter values were invalid: An string set  may not be empty for key :t"
    code, msg, _ = err(c.get_item, TableName="items", Key=key, ProjectionExpression="!!! nope")
    assert msg == 'Invalid ProjectionExpression: Syntax error; token: "!", near: "!!"'
    code, msg, _ = err(c.batch_get_item, RequestItems={"items": {"Keys": [key], "ProjectionExpression": "pk"},
                                                       "other": {"Keys": [key], "AttributesToGet": ["pk"]}})
    assert msg.startswith("Can not use both expression and non-expression parameters in the same request")
    code, msg, _ = err(c.get_item, TableName="items", Key=key, ProjectionExpression="a, a.b")
    assert "overlap" in msg and not msg.startswith(envelope)


def test_legacy_parameters(table, stratus):
    c = stratus.client("dynamodb")
    key = {"pk": {"S": "legacy"}, "sk": {"N": "1"}}
    c.put_item(TableName="items", Item=dict(key, v={"N": "1"}), Expected={"pk": {"Exists": False}})
    code, _, _ = err(c.put_item, TableName="items", Item=key, Expected={"pk": {"Exists": False}})
    assert code == "ConditionalCheckFailedException"
    c.update_item(TableName="items", Key=key, AttributeUpdates={"v": {"Action": "ADD", "Value": {"N": "4"}}, "w": {"Value": {"S": "x"}}},
                  Expected={"v": {"ComparisonOperator": "EQ", "AttributeValueList": [{"N": "1"}]}})
    got = c.get_item(TableName="items", Key=key, AttributesToGet=["v", "w"])["Item"]
    assert got == {"v": {"N": "5"}, "w": {"S": "x"}}
    q = c.query(TableName="items", KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "legacy"}]}},
                QueryFilter={"v": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "3"}]}})
    assert q["Count"] == 1
    s = c.scan(TableName="items", ScanFilter={"w": {"ComparisonOperator": "BEGINS_WITH", "AttributeValueList": [{"S": "x"}]}})
    assert s["Count"] == 1


def test_query_order_ranges_and_pages(table):
    values = [Decimal(v) for v in ["-10", "-2.5", "0", "1", "2", "10", "100", "1e3"]]
    for v in values:
        table.put_item(Item={"pk": "q", "sk": v, "lsk": f"l{int(v) % 7}", "pad": "x" * 10})
    table.put_item(Item={"pk": "other", "sk": 5})
    assert [i["sk"] for i in table.query(KeyConditionExpression=Key("pk").eq("q"))["Items"]] == sorted(values)
    assert [i["sk"] for i in table.query(KeyConditionExpression=Key("pk").eq("q"), ScanIndexForward=False)["Items"]] == sorted(values, reverse=True)
    rng = table.query(KeyConditionExpression=Key("pk").eq("q") & Key("sk").between(Decimal("-2.5"), 2))["Items"]
    assert [i["sk"] for i in rng] == [Decimal("-2.5"), 0, 1, 2]
    assert [i["sk"] for i in table.query(KeyConditionExpression=Key("pk").eq("q") & Key("sk").gt(10))["Items"]] == [100, 1000]
    assert [i["sk"] for i in table.query(KeyConditionExpression=Key("pk").eq("q") & Key("sk").lte(0))["Items"]] == [-10, Decimal("-2.5"), 0]
    # Pages of 3 with LastEvaluatedKey, forward and backward.
    for forward in (True, False):
        seen, start = [], None
        while True:
            kw = {"ExclusiveStartKey": start} if start else {}
            page = table.query(KeyConditionExpression=Key("pk").eq("q"), Limit=3, ScanIndexForward=forward, **kw)
            seen += [i["sk"] for i in page["Items"]]
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        assert seen == sorted(values, reverse=not forward)
    # The filter applies after the page is read: Count vs ScannedCount.
    page = table.query(KeyConditionExpression=Key("pk").eq("q"), FilterExpression=Attr("pad").ne("x" * 10), Limit=4)
    assert page["ScannedCount"] == 4 and page["Count"] == 0
    assert table.query(KeyConditionExpression=Key("pk").eq("q"), Select="COUNT")["Count"] == len(values)
    proj = table.query(KeyConditionExpression=Key("pk").eq("q"), ProjectionExpression="sk")["Items"]
    assert all(set(i) == {"sk"} for i in proj)
    code, msg, _ = err(table.query, KeyConditionExpression=Key("sk").eq(1))
    assert msg == "Query condition missed key schema element: pk"
    for expr, message in [
        ("pk = :p OR sk = :s", "Invalid operator used in KeyConditionExpression: OR"),
        ("pk = :p AND sk <> :s", "Invalid operator used in KeyConditionExpression: <>"),
        ("pk = :p AND attribute_exists(sk)", "Invalid operator used in KeyConditionExpression: attribute_exists"),
        ("pk = :p AND size(sk) = :s", "KeyConditionExpressions cannot contain nested operations"),
        ("pk = :p AND :s BETWEEN sk AND :s",
         "Invalid condition in KeyConditionExpression: BETWEEN operator must have the key attribute as its first operand"),
        ("pk = :p AND pk = sk", "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition"),
        ("pk.x = :p", "KeyConditionExpressions cannot have conditions on nested attributes"),
        ("pk = :p AND :s = :s", "Invalid condition in KeyConditionExpression: No key attribute specified"),
        ("pk = :p AND sk = :s AND sk > :s", "KeyConditionExpressions must only contain one condition per key"),
    ]:
        values = {k: v for k, v in {":p": "q", ":s": 1}.items() if k in expr}
        assert err(table.query, KeyConditionExpression=expr, ExpressionAttributeValues=values)[:2] == ("ValidationException", message)


def test_string_sort_keys_are_bytewise(stratus):
    r = stratus.resource("dynamodb")
    t = r.create_table(TableName="words", BillingMode="PAY_PER_REQUEST",
                       KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                       AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}])
    words = ["b", "B", "a", "aa", "a\u00e9", "Z", "a\x00b", "ab"]
    for w in words:
        t.put_item(Item={"pk": "w", "sk": w})
    got = [i["sk"] for i in t.query(KeyConditionExpression=Key("pk").eq("w"))["Items"]]
    assert got == sorted(words, key=lambda s: s.encode())
    assert [i["sk"] for i in t.query(KeyConditionExpression=Key("pk").eq("w") & Key("sk").begins_with("a"))["Items"]] == \
        sorted([w for w in words if w.startswith("a")], key=lambda s: s.encode())


def test_indexes(table):
    table.put_item(Item={"pk": "i1", "sk": 1, "kind": "cat", "lsk": "b", "extra": "x"})
    table.put_item(Item={"pk": "i1", "sk": 2, "kind": "dog", "lsk": "a"})
    table.put_item(Item={"pk": "i2", "sk": 3, "kind": "cat"})
    table.put_item(Item={"pk": "i3", "sk": 4})  # sparse: in no index
    cats = table.query(IndexName="by-kind", KeyConditionExpression=Key("kind").eq("cat"))["Items"]
    assert [(i["pk"], i["sk"]) for i in cats] == [("i1", 1), ("i2", 3)]
    assert set(cats[0]) == {"pk", "sk", "kind"}, "KEYS_ONLY projection"
    lsi = table.query(IndexName="by-lsk", KeyConditionExpression=Key("pk").eq("i1"))["Items"]
    assert [i["lsk"] for i in lsi] == ["a", "b"] and lsi[1]["extra"] == "x"
    # Index entries follow updates and deletes.
    table.update_item(Key={"pk": "i1", "sk": 1}, UpdateExpression="SET kind = :k", ExpressionAttributeValues={":k": "dog"})
    table.delete_item(Key={"pk": "i2", "sk": 3})
    assert table.query(IndexName="by-kind", KeyConditionExpression=Key("kind").eq("cat"))["Count"] == 0
    assert table.query(IndexName="by-kind", KeyConditionExpression=Key("kind").eq("dog"))["Count"] == 2
    assert table.scan(IndexName="by-kind")["Count"] == 2
    code, msg, _ = err(table.query, IndexName="by-kind", KeyConditionExpression=Key("kind").eq("dog"), ConsistentRead=True)
    assert msg == "Consistent reads are not supported on global secondary indexes"
    code, msg, _ = err(table.query, IndexName="nope", KeyConditionExpression=Key("kind").eq("dog"))
    assert code == "ValidationException"
    # Pagination over an index.
    first = table.query(IndexName="by-kind", KeyConditionExpression=Key("kind").eq("dog"), Limit=1)
    rest = table.query(IndexName="by-kind", KeyConditionExpression=Key("kind").eq("dog"), ExclusiveStartKey=first["LastEvaluatedKey"])
    assert len(first["Items"]) + len(rest["Items"]) == 2 and first["Items"][0] != rest["Items"][0]


def test_scan_pages_and_segments(table):
    with table.batch_writer() as b:
        for i in range(120):
            b.put_item(Item={"pk": f"s{i % 17}", "sk": i, "even": i % 2 == 0})
    seen, start = 0, None
    while True:
        kw = {"ExclusiveStartKey": start} if start else {}
        page = table.scan(Limit=25, **kw)
        seen += page["Count"]
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    assert seen == 120
    total = sum(table.scan(Segment=s, TotalSegments=4)["Count"] for s in range(4))
    assert total == 120
    assert table.scan(FilterExpression=Attr("even").eq(True))["Count"] == 60
    code, msg, _ = err(table.scan, Segment=4, TotalSegments=4)
    assert "Segment: 4 is not less than TotalSegments: 4" in msg


def test_one_megabyte_pages(table):
    blob = "x" * 100_000
    with table.batch_writer() as b:
        for i in range(25):
            b.put_item(Item={"pk": "big", "sk": i, "blob": blob})
    counts, start = [], None
    while True:
        kw = {"ExclusiveStartKey": start} if start else {}
        page = table.query(KeyConditionExpression=Key("pk").eq("big"), **kw)
        counts.append(page["Count"])
        start = page.get("LastEvaluatedKey")
        if not start:
            break
    # 25 items of ~100 KB: no page carries much more than 1 MB.
    assert sum(counts) == 25 and len(counts) >= 3 and max(counts) <= 11


def test_batches(table, stratus):
    c = stratus.client("dynamodb")
    puts = [{"PutRequest": {"Item": {"pk": {"S": "b"}, "sk": {"N": str(i)}}}} for i in range(25)]
    assert c.batch_write_item(RequestItems={"items": puts})["UnprocessedItems"] == {}
    code, msg, _ = err(c.batch_write_item, RequestItems={"items": puts + [puts[0]]})
    assert code == "ValidationException"
    code, msg, _ = err(c.batch_write_item, RequestItems={"items": [puts[0], puts[0]]})
    assert msg == "Provided list of item keys contains duplicates"
    keys = [{"pk": {"S": "b"}, "sk": {"N": str(i)}} for i in range(30)]
    got = c.batch_get_item(RequestItems={"items": {"Keys": keys, "ProjectionExpression": "sk"}})
    assert len(got["Responses"]["items"]) == 25 and got["UnprocessedKeys"] == {}
    code, msg, _ = err(c.batch_get_item, RequestItems={"items": {"Keys": keys * 4}})
    assert code == "ValidationException"
    deletes = [{"DeleteRequest": {"Key": k}} for k in keys[:10]]
    c.batch_write_item(RequestItems={"items": deletes})
    assert c.query(TableName="items", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "b"}})["Count"] == 15


def test_transactions(table, stratus):
    c = stratus.client("dynamodb")
    for who, bal in (("alice", 100), ("bob", 0)):
        table.put_item(Item={"pk": who, "sk": 0, "bal": bal})
    def transfer(amount, token=None):
        kw = {"ClientRequestToken": token} if token else {}
        return c.transact_write_items(TransactItems=[
            {"Update": {"TableName": "items", "Key": {"pk": {"S": "alice"}, "sk": {"N": "0"}},
                        "UpdateExpression": "SET bal = bal - :a", "ConditionExpression": "bal >= :a",
                        "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
            {"Update": {"TableName": "items", "Key": {"pk": {"S": "bob"}, "sk": {"N": "0"}},
                        "UpdateExpression": "SET bal = bal + :a", "ExpressionAttributeValues": {":a": {"N": str(amount)}}}},
        ], **kw)
    transfer(30)
    code, msg, resp = err(transfer, 500)
    assert code == "TransactionCanceledException"
    assert msg == "Transaction cancelled, please refer cancellation reasons for specific reasons [ConditionalCheckFailed, None]"
    assert [r["Code"] for r in resp["CancellationReasons"]] == ["ConditionalCheckFailed", "None"]
    # Idempotency: the same token and request applies once.
    transfer(10, token="tok-1")
    transfer(10, token="tok-1")
    code, _, _ = err(transfer, 11, token="tok-1")
    assert code == "IdempotentParameterMismatchException"
    got = c.transact_get_items(TransactItems=[{"Get": {"TableName": "items", "Key": {"pk": {"S": w}, "sk": {"N": "0"}}}} for w in ("alice", "bob")])
    assert [r["Item"]["bal"]["N"] for r in got["Responses"]] == ["60", "40"]
    code, msg, _ = err(c.transact_write_items, TransactItems=[
        {"ConditionCheck": {"TableName": "items", "Key": {"pk": {"S": "alice"}, "sk": {"N": "0"}}, "ConditionExpression": "attribute_exists(pk)"}},
        {"Delete": {"TableName": "items", "Key": {"pk": {"S": "alice"}, "sk": {"N": "0"}}}}])
    assert msg == "Transaction request cannot include multiple operations on one item"


def test_concurrent_conditional_increments_lose_nothing(table, stratus):
    table.put_item(Item={"pk": "ctr", "sk": 0, "n": 0})
    def bump(_):
        c = stratus.client("dynamodb")
        for _ in range(10):
            c.update_item(TableName="items", Key={"pk": {"S": "ctr"}, "sk": {"N": "0"}}, UpdateExpression="SET n = n + :one",
                          ExpressionAttributeValues={":one": {"N": "1"}})
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(bump, range(8)))
    assert table.get_item(Key={"pk": "ctr", "sk": 0})["Item"]["n"] == 80


def test_consumed_capacity(table):
    r = table.put_item(Item={"pk": "cap", "sk": 1, "v": "x" * 1500}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == {"TableName": "items", "CapacityUnits": 2.0}
    r = table.get_item(Key={"pk": "cap", "sk": 1}, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 0.5
    r = table.get_item(Key={"pk": "cap", "sk": 1}, ConsistentRead=True, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 1.0


def test_cli_items(table, stratus):
    stratus.cli("dynamodb", "put-item", "--table-name", "items", "--item", json.dumps({"pk": {"S": "cli"}, "sk": {"N": "1"}, "v": {"S": "hi"}}))
    out = json.loads(stratus.cli("dynamodb", "get-item", "--table-name", "items", "--key", json.dumps({"pk": {"S": "cli"}, "sk": {"N": "1"}})).stdout)
    assert out["Item"]["v"] == {"S": "hi"}
    out = json.loads(stratus.cli("dynamodb", "query", "--table-name", "items", "--key-condition-expression", "pk = :p",
                                 "--expression-attribute-values", json.dumps({":p": {"S": "cli"}})).stdout)
    assert out["Count"] == 1


def test_items_survive_kill_9_and_delete_table_removes_them(new_server):
    s = new_server()
    t = s.resource("dynamodb").create_table(TableName="durable", BillingMode="PAY_PER_REQUEST",
                                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    acked = []
    for i in range(200):
        t.put_item(Item={"pk": f"k{i}", "v": i})
        acked.append(f"k{i}")
    s.kill9()
    s.start()
    t = s.resource("dynamodb").Table("durable")
    keys = {i["pk"] for i in t.scan()["Items"]}
    assert keys == set(acked)
    s.client("dynamodb").delete_table(TableName="durable")
    t = s.resource("dynamodb").create_table(TableName="durable", BillingMode="PAY_PER_REQUEST",
                                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    assert t.scan()["Count"] == 0


def test_describe_table_counts_items(table, stratus):
    for i in range(7):
        table.put_item(Item={"pk": "cnt", "sk": i, "v": "x" * 100})
    desc = stratus.client("dynamodb").describe_table(TableName="items")["Table"]
    assert desc["ItemCount"] == 7
    assert desc["TableSizeBytes"] >= 700
    table.delete_item(Key={"pk": "cnt", "sk": 0})
    assert stratus.client("dynamodb").describe_table(TableName="items")["Table"]["ItemCount"] == 6


def test_describe_table_sizes_follow_dynamodb_item_sizes_for_the_table_and_each_index(table, stratus):
    """TableSizeBytes and IndexSizeBytes sum item sizes by DynamoDB's rules (attribute name
    plus value: a string's UTF-8 bytes, a number's significant digits / 2 + 1), and each index
    counts the entries it holds: sparse indexes only the items that have their key, KEYS_ONLY
    entries only the key attributes."""
    table.put_item(Item={"pk": "p", "sk": 1, "v": "x" * 100})  # 3 + 4 + 101 = 108
    table.put_item(Item={"pk": "p", "sk": 2, "kind": "k", "lsk": "a"})  # 3 + 4 + 5 + 4 = 16
    table.put_item(Item={"pk": "q", "sk": 3, "kind": "k", "w": "yy"})  # 3 + 4 + 5 + 3 = 15

    def figures():
        d = stratus.client("dynamodb").describe_table(TableName="items")["Table"]
        gsi, lsi = d["GlobalSecondaryIndexes"][0], d["LocalSecondaryIndexes"][0]
        return ((d["ItemCount"], d["TableSizeBytes"]), (gsi["ItemCount"], gsi["IndexSizeBytes"]),
                (lsi["ItemCount"], lsi["IndexSizeBytes"]))

    # by-kind (KEYS_ONLY): pk, sk and kind of the two items with a kind; by-lsk (ALL): one item.
    assert figures() == ((3, 139), (2, 24), (1, 16))
    table.delete_item(Key={"pk": "p", "sk": 2})
    assert figures() == ((2, 123), (1, 12), (0, 0))
    table.update_item(Key={"pk": "p", "sk": 1}, UpdateExpression="SET kind = :k, v = :v",
                      ExpressionAttributeValues={":k": "kk", ":v": "é"})  # 3 + 4 + 6 + (1 + 2)
    assert figures() == ((2, 31), (2, 25), (0, 0))


def test_large_tables_are_counted_without_waiting_on_the_count(stratus):
    """From 10,000 items on, DescribeTable answers with the last figures while a recount runs
    (AWS refreshes them only every few hours): the figures catch up with the writes."""
    import time
    ddb = stratus.client("dynamodb")
    ddb.create_table(TableName="large", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    t = stratus.resource("dynamodb").Table("large")
    with t.batch_writer() as w:
        for i in range(10_050):
            w.put_item(Item={"pk": f"k{i}"})
    assert ddb.describe_table(TableName="large")["Table"]["ItemCount"] == 10_050
    with t.batch_writer() as w:
        for i in range(10_050, 10_080):
            w.put_item(Item={"pk": f"k{i}"})
    t.delete_item(Key={"pk": "k0"})
    seen = []
    for _ in range(200):
        seen.append(ddb.describe_table(TableName="large")["Table"]["ItemCount"])
        if seen[-1] == 10_079:
            break
        time.sleep(0.05)
    assert seen[-1] == 10_079
    assert set(seen) <= {10_050, 10_079}


def test_acknowledged_puts_survive_kill_9_mid_run(new_server):
    import threading
    s = new_server()
    s.client("dynamodb").create_table(TableName="crash", BillingMode="PAY_PER_REQUEST",
                                      KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                      AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    acked, stop = [], threading.Event()

    def writer(n):
        c = s.client("dynamodb")
        i = 0
        while not stop.is_set():
            key = f"w{n}-{i}"
            try:
                c.put_item(TableName="crash", Item={"pk": {"S": key}, "v": {"N": str(i)}})
            except Exception:  # noqa: BLE001 — the server is gone
                return
            acked.append(key)
            i += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    while len(acked) < 400:
        threading.Event().wait(0.01)
    s.kill9()
    stop.set()
    for t in threads:
        t.join(30)
    s.start()
    present = set()
    c = s.client("dynamodb")
    kw = {}
    while True:
        page = c.scan(TableName="crash", **kw)
        present |= {i["pk"]["S"] for i in page["Items"]}
        if "LastEvaluatedKey" not in page:
            break
        kw = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
    missing = set(acked) - present
    assert not missing, f"{len(missing)} acknowledged items lost"


def test_gsi_added_later_is_backfilled_and_removed(stratus):
    c = stratus.client("dynamodb")
    t = stratus.resource("dynamodb").create_table(TableName="late", BillingMode="PAY_PER_REQUEST",
                                                  KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                                                  AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    for i in range(30):
        t.put_item(Item={"pk": f"p{i}", "color": "red" if i % 3 == 0 else "blue"})
    t.put_item(Item={"pk": "colorless"})
    c.update_table(TableName="late", AttributeDefinitions=[{"AttributeName": "color", "AttributeType": "S"}],
                   GlobalSecondaryIndexUpdates=[{"Create": {"IndexName": "by-color",
                                                            "KeySchema": [{"AttributeName": "color", "KeyType": "HASH"}],
                                                            "Projection": {"ProjectionType": "ALL"}}}])
    assert t.query(IndexName="by-color", KeyConditionExpression=Key("color").eq("red"))["Count"] == 10
    assert t.scan(IndexName="by-color")["Count"] == 30
    t.put_item(Item={"pk": "new", "color": "red"})
    assert t.query(IndexName="by-color", KeyConditionExpression=Key("color").eq("red"))["Count"] == 11
    c.update_table(TableName="late", GlobalSecondaryIndexUpdates=[{"Delete": {"IndexName": "by-color"}}])
    code, _, _ = err(t.query, IndexName="by-color", KeyConditionExpression=Key("color").eq("red"))
    assert code == "ValidationException"


def test_partiql(table, stratus):
    c = stratus.client("dynamodb")
    c.execute_statement(Statement="INSERT INTO items VALUE {'pk': 'pq', 'sk': 1, 'name': 'Ada', 'n': 1}")
    c.execute_statement(Statement="INSERT INTO \"items\" VALUE {'pk': ?, 'sk': ?, 'n': 2}", Parameters=[{"S": "pq"}, {"N": "2"}])
    code, msg, _ = err(c.execute_statement, Statement="INSERT INTO items VALUE {'pk': 'pq', 'sk': 1}")
    assert (code, msg) == ("DuplicateItemException", "Duplicate primary key exists in table")
    got = c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'pq'")["Items"]
    assert [i["sk"]["N"] for i in got] == ["1", "2"]
    got = c.execute_statement(Statement="SELECT sk FROM items WHERE pk = ? AND n > 1", Parameters=[{"S": "pq"}])["Items"]
    assert got == [{"sk": {"N": "2"}}]
    r = c.execute_statement(Statement="UPDATE items SET n = n + 10 SET tag = 'x' WHERE pk = 'pq' AND sk = 1 RETURNING ALL NEW *")
    assert r["Items"][0]["n"] == {"N": "11"}
    code, _, _ = err(c.execute_statement, Statement="UPDATE items SET n = 0 WHERE pk = 'pq' AND sk = 1 AND n > 100")
    assert code == "ConditionalCheckFailedException"
    code, msg, _ = err(c.execute_statement, Statement="UPDATE items SET n = 0 WHERE pk = 'pq'")
    assert msg == "Where clause does not contain a mandatory equality on all key attributes"
    c.execute_statement(Statement="DELETE FROM items WHERE pk = 'pq' AND sk = 2")
    assert len(c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'pq'")["Items"]) == 1
    code, msg, _ = err(c.execute_statement, Statement="DROP TABLE items")
    assert code == "ValidationException" and msg.startswith("Statement wasn't well formed")
    # Pagination with NextToken.
    for i in range(5):
        c.execute_statement(Statement=f"INSERT INTO items VALUE {{'pk': 'pg', 'sk': {i}}}")
    page = c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'pg'", Limit=2)
    rest = c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'pg'", NextToken=page["NextToken"])
    assert len(page["Items"]) + len(rest["Items"]) == 5
    # Batches and transactions.
    out = c.batch_execute_statement(Statements=[
        {"Statement": "INSERT INTO items VALUE {'pk': 'pb', 'sk': 1}"},
        {"Statement": "INSERT INTO items VALUE {'pk': 'pq', 'sk': 1}"}])["Responses"]
    assert "Error" not in out[0] and out[1]["Error"]["Code"] == "DuplicateItem"
    c.execute_transaction(TransactStatements=[
        {"Statement": "INSERT INTO items VALUE {'pk': 'pt', 'sk': 1}"},
        {"Statement": "UPDATE items SET n = 99 WHERE pk = 'pq' AND sk = 1"}])
    code, _, resp = err(c.execute_transaction, TransactStatements=[
        {"Statement": "INSERT INTO items VALUE {'pk': 'pt2', 'sk': 1}"},
        {"Statement": "INSERT INTO items VALUE {'pk': 'pt', 'sk': 1}"}])
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in resp["CancellationReasons"]] == ["None", "ConditionalCheckFailed"]
    assert c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'pt2'")["Items"] == []


def test_partiql_order_by_set_functions_and_exists(table, stratus):
    """ORDER BY on key attributes, set_add/set_delete in UPDATE, EXISTS as a transaction's
    condition check, and single-item reads in batches and transactions, with AWS's messages."""
    c = stratus.client("dynamodb")
    for i in range(5):
        c.execute_statement(Statement=f"INSERT INTO items VALUE {{'pk': 'ob', 'sk': {i}, 'kind': 'k', 'tags': <<'a', 'b'>>}}")
    sks = lambda r: [int(i["sk"]["N"]) for i in r["Items"]]
    assert sks(c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'ob' ORDER BY sk DESC")) == [4, 3, 2, 1, 0]
    assert sks(c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'ob' ORDER BY pk, sk ASC")) == [0, 1, 2, 3, 4]
    assert sks(c.execute_statement(Statement='SELECT * FROM items."by-kind" WHERE kind = \'k\' ORDER BY sk DESC')) == [4, 3, 2, 1, 0]
    code, msg, _ = err(c.execute_statement, Statement='SELECT * FROM items."by-kind" WHERE kind = \'k\'', ConsistentRead=True)
    assert (code, msg) == ("ValidationException", "Strongly consistent read is not supported on Global Secondary Indexes")
    # What an index read may name: a GSI answers only from its projection (KEYS_ONLY here); a
    # keyed read may not filter on what the index does not project.
    code, msg, _ = err(c.execute_statement, Statement='SELECT tags FROM items."by-kind" WHERE kind = \'k\'')
    assert msg == "One or more parameter values were invalid: Global secondary index by-kind does not project [tags]"
    code, msg, _ = err(c.execute_statement, Statement='SELECT pk FROM items."by-kind" WHERE kind = \'k\' AND done = true')
    assert msg == "One or more parameter values were invalid: Secondary index by-kind does not project one or more filter attributes: [done]"
    for statement, message in [
        ('SELECT * FROM items."nope" WHERE pk = \'ob\'', "The table does not have the specified index"),
        ('SELECT * FROM items."by-kind"."x" WHERE kind = \'k\'', "A path may contain at most 2 components in the FROM clause"),
        ('SELECT * FROM items."" WHERE pk = \'ob\'', "Path component cannot be an empty string"),
        ('UPDATE items."by-kind" SET done = true WHERE pk = \'ob\' AND sk = 1', "This operation is not supported on an index"),
        ("SELECT * FROM items WHERE pk = 'ob' AND sk < ?", "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL"),
        ("SLECT * FROM items", "Statement wasn't well formed, can't be processed: Expected data manipulation"),
    ]:
        params = {"Parameters": [{"BOOL": True}]} if "?" in statement else {}
        code, msg, _ = err(c.execute_statement, Statement=statement, **params)
        assert (code, msg) == ("ValidationException", message), statement
    # A nested path comes back under its last name; SET takes comma-separated assignments;
    # MODIFIED answers just the elements an update touched, nothing when it touched nothing.
    c.execute_statement(Statement="UPDATE items SET m = {'inner': 'deep'}, l = ['a', 'b', 'c'] WHERE pk = 'ob' AND sk = 0")
    r = c.execute_statement(Statement="SELECT m.inner FROM items WHERE pk = 'ob' AND sk = 0")
    assert r["Items"] == [{"inner": {"S": "deep"}}]
    r = c.execute_statement(Statement="UPDATE items SET l[2] = 'z', l[0] = 'y' WHERE pk = 'ob' AND sk = 0 RETURNING MODIFIED OLD *")
    assert r["Items"] == [{"l": {"L": [{"S": "a"}, {"S": "c"}]}}]
    r = c.execute_statement(Statement="UPDATE items SET l[9] = 'w' WHERE pk = 'ob' AND sk = 0 RETURNING MODIFIED NEW *")
    assert r["Items"] == []
    # Pages of a descending read continue downwards.
    page = c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'ob' AND sk < 4 ORDER BY sk DESC", Limit=2)
    rest = c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'ob' AND sk < 4 ORDER BY sk DESC",
                               NextToken=page["NextToken"])
    assert (sks(page), sks(rest)) == ([3, 2], [1, 0])
    assert sks(c.execute_statement(Statement="SELECT * FROM items WHERE pk = 'ob' AND sk BETWEEN 3 AND 1")) == []
    assert sks(c.execute_statement(Statement="SELECT * FROM items WHERE 2 >= sk AND pk = 'ob' ORDER BY sk DESC")) == [2, 1, 0]
    for stmt, message in [
        ("SELECT * FROM items ORDER BY sk", "Must have WHERE clause in the statement when using ORDER BY clause."),
        ("SELECT * FROM items WHERE pk = 'ob' ORDER BY tags", "Variable reference tags in ORDER BY clause must be part of the primary key"),
        ("SELECT * FROM items WHERE pk = 'ob' OR sk = 1 ORDER BY sk",
         "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause."),
        ("SELECT * FROM items WHERE pk = 'ob' LIMIT 1", "Unsupported clause: LIMIT"),
    ]:
        assert err(c.execute_statement, Statement=stmt)[:2] == ("ValidationException", message)

    r = c.execute_statement(Statement="UPDATE items SET tags = set_add(tags, <<'c'>>) WHERE pk = 'ob' AND sk = 0 RETURNING MODIFIED NEW *")
    assert r["Items"] == [{"tags": {"SS": ["a", "b", "c"]}}]
    c.execute_statement(Statement="UPDATE items SET tags = set_delete(tags, ?) WHERE pk = 'ob' AND sk = 0",
                        Parameters=[{"SS": ["a", "c"]}])
    c.execute_statement(Statement="UPDATE items SET nums = set_add(nums, <<1, 2>>) WHERE pk = 'ob' AND sk = 0")
    item = c.get_item(TableName="items", Key={"pk": {"S": "ob"}, "sk": {"N": "0"}})["Item"]
    assert item["tags"] == {"SS": ["b"]} and sorted(item["nums"]["NS"]) == ["1", "2"]
    # Deleting the last element removes the attribute, as DELETE does.
    c.execute_statement(Statement="UPDATE items SET tags = set_delete(tags, <<'b'>>) WHERE pk = 'ob' AND sk = 0")
    assert "tags" not in c.get_item(TableName="items", Key={"pk": {"S": "ob"}, "sk": {"N": "0"}})["Item"]
    code, _, _ = err(c.execute_statement, Statement="UPDATE items SET tags = set_add(tags, 'x') WHERE pk = 'ob' AND sk = 1")
    assert code == "ValidationException"

    # IN on the partition key reads those partitions, not the table: a megabyte of other
    # items in between does not cut the page short.
    for i in range(12):
        c.put_item(TableName="items", Item={"pk": {"S": "in-aa"}, "sk": {"N": str(i)}, "pad": {"S": "x" * 100_000}})
    c.put_item(TableName="items", Item={"pk": {"S": "in-a"}, "sk": {"N": "1"}})
    c.put_item(TableName="items", Item={"pk": {"S": "in-b"}, "sk": {"N": "2"}})
    r = c.execute_statement(Statement="SELECT pk FROM items WHERE pk IN ['in-b', 'in-a']")
    assert [i["pk"]["S"] for i in r["Items"]] == ["in-a", "in-b"] and "NextToken" not in r
    page = c.execute_statement(Statement="SELECT pk FROM items WHERE pk IN ['in-b', 'in-a']", Limit=1)
    rest = c.execute_statement(Statement="SELECT pk FROM items WHERE pk IN ['in-b', 'in-a']", NextToken=page["NextToken"])
    assert [i["pk"]["S"] for i in page["Items"] + rest["Items"]] == ["in-a", "in-b"]
    # Each key orders in its own direction: partitions by pk, items within by sk.
    c.put_item(TableName="items", Item={"pk": {"S": "in-a"}, "sk": {"N": "5"}})
    order = lambda r: [(i["pk"]["S"], i["sk"]["N"]) for i in r["Items"]]
    stmt = "SELECT pk, sk FROM items WHERE pk IN ['in-b', 'in-a'] ORDER BY "
    assert order(c.execute_statement(Statement=stmt + "sk DESC")) == [("in-a", "5"), ("in-a", "1"), ("in-b", "2")]
    assert order(c.execute_statement(Statement=stmt + "pk DESC")) == [("in-b", "2"), ("in-a", "1"), ("in-a", "5")]
    assert order(c.execute_statement(Statement=stmt + "pk DESC, sk DESC")) == [("in-b", "2"), ("in-a", "5"), ("in-a", "1")]
    pages, token = [], None
    while True:
        r = c.execute_statement(Statement=stmt + "sk DESC", Limit=1, **({"NextToken": token} if token else {}))
        pages += order(r)
        token = r.get("NextToken")
        if not token:
            break
    assert pages == [("in-a", "5"), ("in-a", "1"), ("in-b", "2")]
    # The partitions share the page's megabyte.
    for p in ("in-x", "in-y"):
        for i in range(6):
            c.put_item(TableName="items", Item={"pk": {"S": p}, "sk": {"N": str(i)}, "pad": {"S": "x" * 100_000}})
    first = c.execute_statement(Statement="SELECT sk FROM items WHERE pk IN ['in-x', 'in-y']")
    assert 9 <= len(first["Items"]) < 12 and "NextToken" in first
    rest = c.execute_statement(Statement="SELECT sk FROM items WHERE pk IN ['in-x', 'in-y']", NextToken=first["NextToken"])
    assert len(first["Items"]) + len(rest["Items"]) == 12

    # Writes report the capacity they consumed when asked, as PutItem and friends do.
    r = c.execute_statement(Statement="INSERT INTO items VALUE {'pk': 'cap', 'sk': 1, 'kind': 'k', 'pad': ?}",
                            Parameters=[{"S": "x" * 1500}], ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 3.0  # 2 for the ~1.5 KB item, 1 for the GSI entry
    assert r["ConsumedCapacity"]["Table"]["CapacityUnits"] == 2.0
    assert r["ConsumedCapacity"]["GlobalSecondaryIndexes"]["by-kind"]["CapacityUnits"] == 1.0
    r = c.execute_statement(Statement="DELETE FROM items WHERE pk = 'cap' AND sk = 1", ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"]["CapacityUnits"] == 3.0
    assert "ConsumedCapacity" not in c.execute_statement(Statement="DELETE FROM items WHERE pk = 'cap' AND sk = 1")

    # EXISTS: a condition check that cancels the transaction when it does not hold.
    c.execute_transaction(TransactStatements=[
        {"Statement": "EXISTS(SELECT * FROM items WHERE pk = 'ob' AND sk = 1 AND kind = 'k')"},
        {"Statement": "UPDATE items SET done = true WHERE pk = 'ob' AND sk = 2"}])
    assert c.get_item(TableName="items", Key={"pk": {"S": "ob"}, "sk": {"N": "2"}})["Item"]["done"] == {"BOOL": True}
    for check in ["EXISTS(SELECT * FROM items WHERE pk = 'ob' AND sk = 1 AND kind = 'other')",
                  "EXISTS(SELECT * FROM items WHERE pk = 'ob' AND sk = 99 AND kind IS MISSING)"]:
        code, _, resp = err(c.execute_transaction, TransactStatements=[
            {"Statement": check}, {"Statement": "UPDATE items SET done = false WHERE pk = 'ob' AND sk = 2"}])
        assert code == "TransactionCanceledException"
        assert [r["Code"] for r in resp["CancellationReasons"]] == ["ConditionalCheckFailed", "None"]
    assert c.get_item(TableName="items", Key={"pk": {"S": "ob"}, "sk": {"N": "2"}})["Item"]["done"] == {"BOOL": True}
    code, msg, _ = err(c.execute_transaction, TransactStatements=[
        {"Statement": "EXISTS(SELECT * FROM items WHERE pk = 'ob' AND sk = 1)"},
        {"Statement": "UPDATE items SET done = false WHERE pk = 'ob' AND sk = 2"}])
    assert (code, msg) == ("ValidationException", "EXISTS() must contain a single item read with additional condition")
    code, _, _ = err(c.execute_statement, Statement="EXISTS(SELECT * FROM items WHERE pk = 'ob' AND sk = 1 AND kind = 'k')")
    assert code == "ValidationException"

    # Reads in transactions and batches name one item by its whole key.
    r = c.execute_transaction(TransactStatements=[{"Statement": "SELECT * FROM items WHERE pk = 'ob' AND sk = 3"}])
    assert r["Responses"][0]["Item"]["sk"] == {"N": "3"}
    code, msg, _ = err(c.execute_transaction, TransactStatements=[{"Statement": "SELECT * FROM items WHERE pk = 'ob'"}])
    assert msg == "Select statements within ExecuteTransaction must specify the primary key in the where clause."
    code, msg, _ = err(c.execute_transaction, TransactStatements=[
        {"Statement": 'SELECT * FROM items."by-kind" WHERE kind = \'k\' AND sk = 1'}])
    assert msg == "Validation failed in TransactStatements[0]: Reads on indices are not supported within transactions."
    code, msg, _ = err(c.execute_transaction, TransactStatements=[
        {"Statement": "UPDATE items SET done = true WHERE pk = 'ob' AND sk = 3"},
        {"Statement": "UPDATE items SET done = true WHERE pk = 'ob' AND sk = 2 RETURNING ALL NEW *"}])
    assert msg == "Validation failed in TransactStatements[1]: RETURNING clause is not supported in ExecuteTransaction."
    # A batch answers each statement on its own: RETURNING is honoured, a statement that does
    # not parse fails alone.
    out = c.batch_execute_statement(Statements=[
        {"Statement": "UPDATE items SET done = true WHERE pk = 'ob' AND sk = 3 RETURNING MODIFIED NEW *"},
        {"Statement": "UPDATE items SET WHERE"},
        {"Statement": "DELETE FROM items WHERE pk = 'ob' AND sk = 2 RETURNING MODIFIED OLD *"}])["Responses"]
    assert out[0]["Item"] == {"done": {"BOOL": True}}
    assert out[1]["Error"]["Code"] == "ValidationError" and "Item" not in out[1]
    assert out[2]["Error"] == {"Code": "ValidationError", "Message": "Invalid returning clause: RETURNING MODIFIED OLD *. "
                                                                    "Only RETURNING ALL OLD * is allowed in DELETE statements."}
    out = c.batch_execute_statement(Statements=[
        {"Statement": "SELECT * FROM items WHERE pk = 'ob' AND sk = 3"},
        {"Statement": "SELECT * FROM items WHERE pk = 'ob' AND sk > 3"}])["Responses"]
    assert out[0]["Item"]["sk"] == {"N": "3"}
    # Refused before it ran: DynamoDB's words, and no TableName.
    refused = {"Code": "ValidationError",
               "Message": "Select statements within BatchExecuteStatement must specify the primary key in the where clause."}
    assert out[1] == {"Error": refused}
    # An index is never read by a batch, even with the table's whole key named.
    out = c.batch_execute_statement(Statements=[
        {"Statement": 'SELECT * FROM items."by-kind" WHERE pk = \'ob\' AND sk = 3 AND kind = \'k\''}])["Responses"]
    assert out == [{"Error": refused}]
    # A member's failed condition names its table and carries no item, whatever
    # ReturnValuesOnConditionCheckFailure says.
    out = c.batch_execute_statement(Statements=[
        {"Statement": "UPDATE items SET done = false WHERE pk = 'ob' AND sk = 3 AND done = ?",
         "Parameters": [{"S": "never"}], "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}])["Responses"]
    assert out == [{"TableName": "items", "Error": {"Code": "ConditionalCheckFailed",
                                                    "Message": "The conditional request failed"}}]


def wait_until(check, timeout=30):
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.2)


def test_time_to_live_deletes_expired_items_and_their_index_entries(table, stratus):
    c = stratus.client("dynamodb")
    assert c.describe_time_to_live(TableName="items")["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    r = c.update_time_to_live(TableName="items", TimeToLiveSpecification={"Enabled": True, "AttributeName": "exp"})
    assert r["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "exp"}
    assert c.describe_time_to_live(TableName="items")["TimeToLiveDescription"] == {
        "TimeToLiveStatus": "ENABLED", "AttributeName": "exp"}
    for spec, message in [
        ({"Enabled": True, "AttributeName": "exp"}, "TimeToLive is already enabled"),
        ({"Enabled": True, "AttributeName": "other"}, "TimeToLive is already enabled"),
        ({"Enabled": False, "AttributeName": "other"}, "TimeToLive is active on a different AttributeName: current AttributeName is exp"),
    ]:
        assert err(c.update_time_to_live, TableName="items", TimeToLiveSpecification=spec)[:2] == ("ValidationException", message)
    assert err(c.describe_time_to_live, TableName="nope")[0] == "ResourceNotFoundException"

    now = int(time.time())
    items = {
        "past": {"exp": now - 10, "kind": "ttl"},
        "future": {"exp": now + 3600, "kind": "ttl"},
        "string": {"exp": str(now - 10)},          # only numbers are expiry times
        "ancient": {"exp": now - 6 * 365 * 86400},  # more than five years back: not an expiry time
        "none": {},
    }
    for n, (name, attrs) in enumerate(items.items()):
        table.put_item(Item={"pk": "ttl", "sk": n, "name": name, **attrs})
    names = lambda: {i["name"] for i in table.query(KeyConditionExpression=Key("pk").eq("ttl"))["Items"]}
    wait_until(lambda: "past" not in names())
    assert names() == {"future", "string", "ancient", "none"}
    # The GSI entry went with the item.
    in_index = lambda: table.query(IndexName="by-kind", KeyConditionExpression=Key("kind").eq("ttl"))["Items"]
    assert [i["sk"] for i in in_index()] == [1]
    # An hour later (on the server clock) the other one expires too.
    stratus.advance_clock(3700)
    wait_until(lambda: "future" not in names())
    assert names() == {"string", "ancient", "none"} and in_index() == []

    # Many expired items: swept a page at a time.
    with table.batch_writer() as batch:
        for i in range(350):
            batch.put_item(Item={"pk": "ttl-many", "sk": i, "exp": now - 60})
    many = lambda: table.query(KeyConditionExpression=Key("pk").eq("ttl-many"), Select="COUNT")["Count"]
    wait_until(lambda: many() == 0)

    c.update_time_to_live(TableName="items", TimeToLiveSpecification={"Enabled": False, "AttributeName": "exp"})
    assert c.describe_time_to_live(TableName="items")["TimeToLiveDescription"] == {"TimeToLiveStatus": "DISABLED"}
    assert err(c.update_time_to_live, TableName="items", TimeToLiveSpecification={"Enabled": False, "AttributeName": "exp"})[1] == \
        "TimeToLive is already disabled"


def test_point_in_time_recovery_settings(table, stratus):
    c = stratus.client("dynamodb")
    d = c.describe_continuous_backups(TableName="items")["ContinuousBackupsDescription"]
    assert d == {"ContinuousBackupsStatus": "ENABLED", "PointInTimeRecoveryDescription": {"PointInTimeRecoveryStatus": "DISABLED"}}
    d = c.update_continuous_backups(TableName="items", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert d["PointInTimeRecoveryStatus"] == "ENABLED" and d["RecoveryPeriodInDays"] == 35
    assert d["EarliestRestorableDateTime"] <= d["LatestRestorableDateTime"]
    d = c.update_continuous_backups(TableName="items", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 7})["ContinuousBackupsDescription"]
    assert d["PointInTimeRecoveryDescription"]["RecoveryPeriodInDays"] == 7
    c.update_continuous_backups(TableName="items", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": False})
    d = c.describe_continuous_backups(TableName="items")["ContinuousBackupsDescription"]
    assert d["PointInTimeRecoveryDescription"] == {"PointInTimeRecoveryStatus": "DISABLED"}
    code, msg, _ = err(c.describe_continuous_backups, TableName="nope")
    assert (code, msg) == ("TableNotFoundException", "Table not found: nope")
    code, _, _ = err(c.update_continuous_backups, TableName="items", PointInTimeRecoverySpecification={
        "PointInTimeRecoveryEnabled": True, "RecoveryPeriodInDays": 40})
    assert code == "ValidationException"


def test_item_collection_metrics_for_tables_with_lsis(table):
    r = table.put_item(Item={"pk": "icm", "sk": 1}, ReturnItemCollectionMetrics="SIZE")
    m = r["ItemCollectionMetrics"]
    assert m["ItemCollectionKey"] == {"pk": "icm"} and len(m["SizeEstimateRangeGB"]) == 2
    r = table.update_item(Key={"pk": "icm", "sk": 1}, UpdateExpression="SET a = :v", ExpressionAttributeValues={":v": 1},
                          ReturnItemCollectionMetrics="SIZE")
    assert r["ItemCollectionMetrics"]["ItemCollectionKey"] == {"pk": "icm"}
    assert "ItemCollectionMetrics" not in table.put_item(Item={"pk": "icm", "sk": 2})


def test_expression_limits_and_nesting_are_refused_without_harm(table, stratus):
    """Expressions over 4 KB or 300 operators, redundant or runaway parentheses, and items
    nested deeper than 32 levels get AWS's ValidationException; the server keeps serving."""
    ddb = stratus.client("dynamodb")
    key = {"pk": {"S": "lim"}, "sk": {"N": "1"}}
    ddb.put_item(TableName="items", Item=key)
    for cond, message in [
        ("(" * 300 + "attribute_exists(pk)" + ")" * 300, None),
        ("NOT " * 1000 + "attribute_exists(pk)", "The expression contains too many operators; operator count: 301"),
        (" OR ".join(["attribute_exists(pk)"] * 151), "The expression contains too many operators; operator count: 301"),
        ("((attribute_exists(pk)))", "The expression has redundant parentheses;"),
        ("attribute_exists(pk)" + " " * 5000, "Expression size has exceeded the maximum allowed size; expression size: 5020"),
    ]:
        code, msg, resp = err(ddb.delete_item, TableName="items", Key=key, ConditionExpression=cond)
        assert code == "ValidationException" and resp["ResponseMetadata"]["HTTPStatusCode"] == 400
        # DeleteItem, like PutItem and UpdateItem, answers in the validation envelope.
        assert msg.startswith("1 validation error detected: Invalid ConditionExpression: ")
        if message:
            assert msg == "1 validation error detected: Invalid ConditionExpression: " + message
    code, msg, _ = err(ddb.execute_statement, Statement="SELECT * FROM items WHERE " + "(" * 2000 + "pk = 'lim'" + ")" * 2000)
    assert code == "ValidationException"
    # Still serving, the item untouched.
    assert ddb.get_item(TableName="items", Key=key)["Item"] == key

    def nested(levels):
        v = {"S": "x"}
        for _ in range(levels):
            v = {"M": {"a": v}}
        return v
    # 32 levels: the top-level attribute, 30 maps inside it, and the string in the last one.
    nesting = "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit"
    ddb.put_item(TableName="items", Item={**key, "deep": nested(31)})
    code, msg, _ = err(ddb.put_item, TableName="items", Item={**key, "deep": nested(32)})
    assert (code, msg) == ("ValidationException", nesting)
    # The same limit holds for expression values, before the condition is evaluated.
    code, msg, _ = err(ddb.update_item, TableName="items", Key=key, UpdateExpression="SET t = :t",
                       ConditionExpression="deep <> :deep", ExpressionAttributeValues={":t": {"S": "y"}, ":deep": nested(31)})
    assert code == "ConditionalCheckFailedException"
    code, msg, _ = err(ddb.update_item, TableName="items", Key=key, UpdateExpression="SET t = :t",
                       ConditionExpression="deep <> :deep", ExpressionAttributeValues={":t": {"S": "y"}, ":deep": nested(32)})
    assert code == "ValidationException" and nesting in msg


def test_transactions_cannot_change_keys_or_read_one_item_twice(table, stratus):
    ddb = stratus.client("dynamodb")
    key = {"pk": {"S": "tx"}, "sk": {"N": "1"}}
    ddb.put_item(TableName="items", Item={**key, "v": {"S": "a"}})
    for expr, values in [("SET sk = :v", {":v": {"N": "2"}}), ("REMOVE pk", None), ("SET pk = :v", {":v": {"N": "2"}})]:
        update = {"TableName": "items", "Key": key, "UpdateExpression": expr}
        if values:
            update["ExpressionAttributeValues"] = values
        code, msg, _ = err(ddb.transact_write_items, TransactItems=[{"Update": update}])
        attr = expr.split()[1]
        assert (code, msg) == ("ValidationException", f"One or more parameter values were invalid: "
                                                      f"Cannot update attribute {attr}. This attribute is part of the key")
    assert ddb.get_item(TableName="items", Key=key)["Item"] == {**key, "v": {"S": "a"}}
    code, msg, _ = err(ddb.transact_get_items, TransactItems=[{"Get": {"TableName": "items", "Key": key}}] * 2)
    assert (code, msg) == ("ValidationException", "Transaction request cannot include multiple operations on one item")


def test_query_filters_may_not_read_key_attributes(table):
    from boto3.dynamodb.conditions import Attr, Key
    table.put_item(Item={"pk": "f", "sk": 1, "kind": "a", "v": 1})
    for attr in ("sk", "pk"):
        code, msg, _ = err(table.query, KeyConditionExpression=Key("pk").eq("f"), FilterExpression=Attr(attr).gt(0))
        assert (code, msg) == ("ValidationException",
                               f"Filter Expression can only contain non-primary key attributes: Primary key attribute: {attr}")
    # On an index its own key attributes are the ones refused: the table's hash key is not one.
    assert table.query(IndexName="by-kind", KeyConditionExpression=Key("kind").eq("a"),
                       FilterExpression=Attr("pk").eq("f"))["Count"] == 1
    code, _, _ = err(table.query, IndexName="by-kind", KeyConditionExpression=Key("kind").eq("a"),
                     FilterExpression=Attr("sk").eq(1))
    assert code == "ValidationException"
    # Scan filters may read keys.
    assert table.scan(FilterExpression=Attr("sk").eq(1))["Count"] == 1
    # The legacy QueryFilter has its own message.
    code, msg, _ = err(table.meta.client.query, TableName="items",
                       KeyConditions={"pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "f"}]}},
                       QueryFilter={"sk": {"ComparisonOperator": "GT", "AttributeValueList": [{"N": "0"}]}})
    assert (code, msg) == ("ValidationException", "QueryFilter can only contain non-key attributes: Primary key attribute: sk")


def test_local_indexes_fetch_what_they_do_not_project_and_global_ones_refuse(stratus):
    from boto3.dynamodb.conditions import Attr, Key
    ddb = stratus.client("dynamodb")
    t = stratus.resource("dynamodb").create_table(
        TableName="proj", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "l", "g")],
        LocalSecondaryIndexes=[{"IndexName": "lsi", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                 {"AttributeName": "l", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["inc"]}}])
    for i in range(3):
        t.put_item(Item={"pk": "p", "sk": f"s{i}", "l": f"l{i}", "g": "g", "inc": i, "y": f"y{i}"})
    lk = Key("pk").eq("p")
    # By default a local index answers with what it holds...
    assert t.query(IndexName="lsi", KeyConditionExpression=lk)["Items"][0] == {"pk": "p", "sk": "s0", "l": "l0"}
    # ...and fetches the rest from the table when asked for it.
    assert t.query(IndexName="lsi", KeyConditionExpression=lk, Select="ALL_ATTRIBUTES")["Items"][2] == \
        {"pk": "p", "sk": "s2", "l": "l2", "g": "g", "inc": 2, "y": "y2"}
    assert [i["y"] for i in t.query(IndexName="lsi", KeyConditionExpression=lk, ProjectionExpression="y")["Items"]] == \
        ["y0", "y1", "y2"]
    page = t.query(IndexName="lsi", KeyConditionExpression=lk, FilterExpression=Attr("y").eq("y1"))
    assert (page["Count"], page["ScannedCount"], page["Items"]) == (1, 3, [{"pk": "p", "sk": "s1", "l": "l1"}])
    assert t.scan(IndexName="lsi", ProjectionExpression="y, inc")["Items"][0] == {"y": "y0", "inc": 0}
    # A global index has only what it projects.
    assert t.query(IndexName="gsi", KeyConditionExpression=Key("g").eq("g"), ProjectionExpression="inc, sk")["Count"] == 3
    for call, kw in [(t.query, {"KeyConditionExpression": Key("g").eq("g")}), (t.scan, {})]:
        code, msg, _ = err(call, IndexName="gsi", ProjectionExpression="y, inc, zz", **kw)
        assert (code, msg) == ("ValidationException", "One or more parameter values were invalid: "
                                                      "Global secondary index gsi does not project [y, zz]")
    code, _, _ = err(ddb.query, TableName="proj", IndexName="gsi", KeyConditionExpression="g = :g",
                     ExpressionAttributeValues={":g": {"S": "g"}}, AttributesToGet=["y"])
    assert code == "ValidationException"


def test_query_start_keys_must_lie_inside_the_key_condition(table, stratus):
    ddb = stratus.client("dynamodb")
    for i in range(4):
        ddb.put_item(TableName="items", Item={"pk": {"S": "esk"}, "sk": {"N": str(i)}})

    def query(cond, values, esk):
        return ddb.query(TableName="items", KeyConditionExpression=cond, ExpressionAttributeValues=values,
                         ExclusiveStartKey=esk)
    p = {":p": {"S": "esk"}}
    inside = {"pk": {"S": "esk"}, "sk": {"N": "1"}}
    assert [i["sk"]["N"] for i in query("pk = :p", p, inside)["Items"]] == ["2", "3"]
    for cond, values, esk, message in [
        ("pk = :p", p, {"pk": {"S": "other"}, "sk": {"N": "1"}},
         "The provided starting key is outside query boundaries based on provided condition"),
        ("pk = :p AND sk > :s", {**p, ":s": {"N": "1"}}, inside,
         "The provided starting key does not match the range key predicate"),
        ("pk = :p AND sk BETWEEN :a AND :b", {**p, ":a": {"N": "2"}, ":b": {"N": "3"}}, inside,
         "The provided starting key does not match the range key predicate"),
        ("pk = :p", p, {**inside, "extra": {"S": "x"}},
         "The provided starting key is invalid: The provided key element does not match the schema"),
    ]:
        code, msg, _ = err(query, cond, values, esk)
        assert (code, msg) == ("ValidationException", message)
    assert [i["sk"]["N"] for i in query("pk = :p AND sk >= :s", {**p, ":s": {"N": "1"}}, inside)["Items"]] == ["2", "3"]


def test_updated_return_values_hold_only_the_updated_paths(table, stratus):
    ddb = stratus.client("dynamodb")
    key = {"pk": {"S": "upd"}, "sk": {"N": "1"}}
    ddb.put_item(TableName="items", Item={**key, "m": {"M": {"x": {"N": "1"}, "keep": {"S": "k"}}},
                                          "L": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]}, "n": {"N": "5"}})

    def update(expr, rv, values=None):
        kw = {"ExpressionAttributeValues": values} if values else {}
        return ddb.update_item(TableName="items", Key=key, UpdateExpression=expr, ReturnValues=rv, **kw).get("Attributes")
    assert update("SET m.x = :v", "UPDATED_NEW", {":v": {"N": "2"}}) == {"m": {"M": {"x": {"N": "2"}}}}
    assert update("SET m.x = :v", "UPDATED_OLD", {":v": {"N": "3"}}) == {"m": {"M": {"x": {"N": "2"}}}}
    assert update("SET L[1] = :v", "UPDATED_NEW", {":v": {"S": "B"}}) == {"L": {"L": [{"S": "B"}]}}
    assert update("REMOVE m.zz, L[20]", "UPDATED_OLD") is None
    assert update("SET n = n + :one, m.keep = :k", "UPDATED_OLD", {":one": {"N": "1"}, ":k": {"S": "K"}}) == \
        {"n": {"N": "5"}, "m": {"M": {"keep": {"S": "k"}}}}


def test_attributes_to_get_may_not_repeat_a_name(table, stratus):
    ddb = stratus.client("dynamodb")
    key = {"pk": {"S": "atg"}, "sk": {"N": "1"}}
    ddb.put_item(TableName="items", Item={**key, "v": {"S": "x"}})
    assert ddb.get_item(TableName="items", Key=key, AttributesToGet=["v"])["Item"] == {"v": {"S": "x"}}
    for call, kw in [(ddb.get_item, {"Key": key}), (ddb.scan, {})]:
        code, msg, _ = err(call, TableName="items", AttributesToGet=["v", "v"], **kw)
        assert (code, msg) == ("ValidationException",
                               "One or more parameter values were invalid: Duplicate value in attribute name: v")


def test_index_write_capacity_follows_what_each_index_entry_does(stratus):
    """ReturnConsumedCapacity=INDEXES charges an index only when its entry changes: an entry
    added or removed costs its own size (the projected attributes, not the item), a moved
    index key costs the removal and the insertion, an in-place change costs once on the larger
    entry. Transactions double the table's units, not the indexes'. A repeated transaction
    (same ClientRequestToken) reports the read units of what the first one wrote."""
    c = stratus.client("dynamodb")
    c.create_table(
        TableName="capx", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "g", "l")],
        GlobalSecondaryIndexes=[{"IndexName": "gsi", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["proj"]}}],
        LocalSecondaryIndexes=[{"IndexName": "lsi", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                                                  {"AttributeName": "l", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "ALL"}}])

    def cap(r):
        cc = r["ConsumedCapacity"]
        cc = cc[0] if isinstance(cc, list) else cc
        indexes = {**cc.get("GlobalSecondaryIndexes", {}), **cc.get("LocalSecondaryIndexes", {})}
        return cc["CapacityUnits"], cc["Table"]["CapacityUnits"], {n: v["CapacityUnits"] for n, v in indexes.items()}

    def S(v):
        return {"S": v}
    key = {"pk": S("a"), "sk": S("1")}
    item = {**key, "g": S("g1"), "l": S("l1"), "proj": S("p"), "extra": S("o")}
    assert cap(c.put_item(TableName="capx", Item=item, ReturnConsumedCapacity="INDEXES")) == (3.0, 1.0, {"gsi": 1.0, "lsi": 1.0})
    # The same item again: no index entry changes.
    assert cap(c.put_item(TableName="capx", Item=item, ReturnConsumedCapacity="INDEXES")) == (1.0, 1.0, {})

    def update(expr, values=None):
        kw = {"ExpressionAttributeValues": values} if values else {}
        return cap(c.update_item(TableName="capx", Key=key, UpdateExpression=expr, ReturnConsumedCapacity="INDEXES", **kw))
    # An attribute the GSI does not project: only the LSI (ALL) entry changes, in place.
    assert update("SET extra = :v", {":v": S("o2")}) == (2.0, 1.0, {"lsi": 1.0})
    # A moved GSI key: removal and insertion.
    assert update("SET g = :v", {":v": S("g2")}) == (4.0, 1.0, {"gsi": 2.0, "lsi": 1.0})
    # A moved LSI key: the GSI entry is unchanged.
    assert update("SET l = :v", {":v": S("l2")}) == (3.0, 1.0, {"lsi": 2.0})
    # The GSI key removed: the item leaves the index.
    assert update("REMOVE g") == (3.0, 1.0, {"gsi": 1.0, "lsi": 1.0})
    # The GSI entry holds the keys and `proj`, not the 3 KB `extra`.
    big = {**item, "pk": S("big"), "extra": S("x" * 3000)}
    assert cap(c.put_item(TableName="capx", Item=big, ReturnConsumedCapacity="INDEXES")) == (7.0, 3.0, {"gsi": 1.0, "lsi": 3.0})
    # An in-place change is charged once, on the larger entry (1.5 KB, either side).
    c.put_item(TableName="capx", Item={**item, "proj": S("p" * 1500)})
    assert update("SET proj = :v", {":v": S("q" * 1500)})[2]["gsi"] == 2.0
    assert update("SET proj = :v", {":v": S("q")})[2]["gsi"] == 2.0

    def transact(*actions, token=None):
        kw = {"ClientRequestToken": token} if token else {}
        return cap(c.transact_write_items(TransactItems=list(actions), ReturnConsumedCapacity="INDEXES", **kw))
    assert transact({"Put": {"TableName": "capx", "Item": item}}) == (4.0, 2.0, {"gsi": 1.0, "lsi": 1.0})
    assert transact({"ConditionCheck": {"TableName": "capx", "Key": key, "ConditionExpression": "attribute_exists(pk)"}}) == (2.0, 2.0, {})
    assert transact({"Update": {"TableName": "capx", "Key": key, "UpdateExpression": "SET g = :v",
                                "ExpressionAttributeValues": {":v": S("g9")}}}) == (5.0, 2.0, {"gsi": 2.0, "lsi": 1.0})
    # A 9 KB item replaced by a small one costs 2 × 9 write units; the repeat, 2 × 3 read units.
    c.put_item(TableName="capx", Item={"pk": S("b"), "sk": S("1"), "extra": S("x" * 9000)})
    shrink = {"Put": {"TableName": "capx", "Item": {"pk": S("b"), "sk": S("1")}}}
    assert transact(shrink, token="shrink-once")[:2] == (18.0, 18.0)
    assert transact(shrink, token="shrink-once") == (6.0, 6.0, {})
    assert "Item" in c.get_item(TableName="capx", Key={"pk": S("b"), "sk": S("1")})
    # BatchWriteItem reports each table's index units too.
    r = c.batch_write_item(RequestItems={"capx": [{"PutRequest": {"Item": {"pk": S("c"), "sk": S("1"), "g": S("g")}}},
                                                 {"PutRequest": {"Item": {"pk": S("c"), "sk": S("2")}}}]},
                           ReturnConsumedCapacity="INDEXES")
    assert cap(r) == (3.0, 2.0, {"gsi": 1.0})


def test_index_key_errors_name_the_first_index_alphabetically(stratus):
    c = stratus.client("dynamodb")
    c.create_table(
        TableName="twoidx", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "gk", "AttributeType": "S"},
                              {"AttributeName": "bk", "AttributeType": "B"}],
        GlobalSecondaryIndexes=[
            {"IndexName": "g_z", "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}},
            {"IndexName": "g_a", "KeySchema": [{"AttributeName": "gk", "KeyType": "HASH"}], "Projection": {"ProjectionType": "KEYS_ONLY"}},
            {"IndexName": "g_b", "KeySchema": [{"AttributeName": "bk", "KeyType": "HASH"}], "Projection": {"ProjectionType": "ALL"}}])
    code, msg, _ = err(c.put_item, TableName="twoidx", Item={"pk": {"S": "a"}, "gk": {"N": "1"}})
    assert (code, msg) == ("ValidationException", "One or more parameter values were invalid: Type mismatch for Index Key gk "
                                                  "Expected: S Actual: N IndexName: g_a")
    code, msg, _ = err(c.put_item, TableName="twoidx", Item={"pk": {"S": "a"}, "bk": {"B": b""}})
    assert msg == ("One or more parameter values are not valid. A value specified for a secondary index key is not supported. "
                   "The AttributeValue for a key attribute cannot contain an empty binary value. IndexName: g_b, IndexKey: bk")
    # The table's key is checked first.
    code, msg, _ = err(c.put_item, TableName="twoidx", Item={"pk": {"N": "1"}, "gk": {"N": "1"}})
    assert msg == "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"


def test_transaction_key_type_errors_cancel_and_misnamed_tables_are_placed(table, stratus):
    """A key or index key of the wrong type cancels a transaction with a ValidationError reason
    in its place (DynamoDB checks types where the item lives); an empty key value, or a
    malformed table name, is refused as a whole, the name's place in the request given."""
    c = stratus.client("dynamodb")
    ok = {"Put": {"TableName": "items", "Item": {"pk": {"S": "t"}, "sk": {"N": "1"}}}}

    def cancelled(*actions):
        code, msg, resp = err(c.transact_write_items, TransactItems=list(actions))
        assert code == "TransactionCanceledException"
        return [(r["Code"], r.get("Message")) for r in resp["CancellationReasons"]]
    assert cancelled(ok, {"Put": {"TableName": "items", "Item": {"pk": {"N": "5"}, "sk": {"N": "1"}}}}) == [
        ("None", None), ("ValidationError", "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N")]
    mismatch = "The provided key element does not match the schema"
    assert cancelled({"Delete": {"TableName": "items", "Key": {"pk": {"S": "t"}, "sk": {"S": "1"}}}}) == [("ValidationError", mismatch)]
    assert cancelled({"ConditionCheck": {"TableName": "items", "Key": {"pk": {"L": []}, "sk": {"N": "1"}},
                                         "ConditionExpression": "attribute_exists(pk)"}}) == [("ValidationError", mismatch)]
    assert cancelled({"Put": {"TableName": "items", "Item": {"pk": {"S": "t"}, "sk": {"N": "2"}, "kind": {"N": "1"}}}}) == [
        ("ValidationError", "One or more parameter values were invalid: Type mismatch for Index Key kind Expected: S Actual: N IndexName: by-kind")]
    assert cancelled({"Update": {"TableName": "items", "Key": {"pk": {"S": "t"}, "sk": {"N": "2"}}, "UpdateExpression": "SET kind = :k",
                                 "ExpressionAttributeValues": {":k": {"N": "1"}}}})[0][0] == "ValidationError"
    assert "Item" not in c.get_item(TableName="items", Key={"pk": {"S": "t"}, "sk": {"N": "1"}})
    code, msg, _ = err(c.transact_write_items, TransactItems=[{"Put": {"TableName": "items", "Item": {"pk": {"S": ""}, "sk": {"N": "1"}}}}])
    assert (code, msg) == ("ValidationException", "One or more parameter values are not valid. The AttributeValue for a key attribute "
                                                  "cannot contain an empty string value. Key: pk")
    code, msg, _ = err(c.transact_write_items, TransactItems=[
        {"Update": {"TableName": "items", "Key": {"pk": {"S": "t"}, "sk": {"N": "3"}}, "UpdateExpression": "SET kind = :k",
                    "ExpressionAttributeValues": {":k": {"S": ""}}}}])
    assert (code, msg) == ("ValidationException", "One or more parameter values are not valid. The update expression attempted to update a "
                                                  "secondary index key to a value that is not supported. The AttributeValue for a key "
                                                  "attribute cannot contain an empty string value.")
    code, msg, _ = err(c.transact_write_items, TransactItems=[ok, {"Delete": {"TableName": "bad!name", "Key": {"pk": {"S": "a"}}}}])
    assert msg == ("1 validation error detected: Value 'bad!name' at 'transactItems.2.member.delete.tableName' failed to satisfy "
                   "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+")
    code, msg, _ = err(c.transact_get_items, TransactItems=[{"Get": {"TableName": "bad!name", "Key": {"pk": {"S": "a"}}}}])
    assert "at 'transactItems.1.member.get.tableName'" in msg
    # A read of a key that does not fit cancels too.
    code, msg, resp = err(c.transact_get_items, TransactItems=[
        {"Get": {"TableName": "items", "Key": {"pk": {"S": "t"}, "sk": {"N": "1"}}}}, {"Get": {"TableName": "items", "Key": {}}}])
    assert code == "TransactionCanceledException"
    assert [r["Code"] for r in resp["CancellationReasons"]] == ["None", "ValidationError"]
    # BatchWriteItem words a key of another type as a key that does not fit.
    code, msg, _ = err(c.batch_write_item, RequestItems={"items": [{"PutRequest": {"Item": {"pk": {"N": "1"}, "sk": {"N": "1"}}}}]})
    assert (code, msg) == ("ValidationException", mismatch)


def test_projections_compact_list_elements_in_index_order(table, stratus):
    c = stratus.client("dynamodb")
    key = {"pk": {"S": "proj"}, "sk": {"N": "1"}}
    c.put_item(TableName="items", Item={**key, "l": {"L": [{"M": {"a": {"S": "0a"}, "b": {"S": "0b"}}}, {"S": "one"},
                                                           {"M": {"a": {"S": "2a"}}}]}})
    got = c.get_item(TableName="items", Key=key, ProjectionExpression="l[2], l[0].b, l[0].a, l[7]")["Item"]
    assert got == {"l": {"L": [{"M": {"a": {"S": "0a"}, "b": {"S": "0b"}}}, {"M": {"a": {"S": "2a"}}}]}}
    code, msg, _ = err(c.query, TableName="items", KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "proj"}},
                       Select="SPECIFIC_ATTRIBUTES")
    assert msg == "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES"


def test_transactions_and_partiql_report_their_capacity(table, stratus):
    """Transactions name the capacity they used (WriteCapacityUnits / ReadCapacityUnits) at
    every level, other operations only CapacityUnits; a repeated transaction reports reads.
    PartiQL reads of an index are charged to the index; batches and transactions of statements
    report capacity per table."""
    c = stratus.client("dynamodb")
    item = {"pk": {"S": "cap"}, "sk": {"N": "1"}, "kind": {"S": "k"}}
    r = c.transact_write_items(TransactItems=[{"Put": {"TableName": "items", "Item": item}}],
                               ReturnConsumedCapacity="INDEXES", ClientRequestToken="axis-once")
    # (The item has no `lsk`: it is in the GSI only.)
    assert r["ConsumedCapacity"] == [{"TableName": "items", "CapacityUnits": 3.0, "WriteCapacityUnits": 3.0,
                                      "Table": {"CapacityUnits": 2.0, "WriteCapacityUnits": 2.0},
                                      "GlobalSecondaryIndexes": {"by-kind": {"CapacityUnits": 1.0, "WriteCapacityUnits": 1.0}}}]
    r = c.transact_write_items(TransactItems=[{"Put": {"TableName": "items", "Item": item}}],
                               ReturnConsumedCapacity="TOTAL", ClientRequestToken="axis-once")
    assert r["ConsumedCapacity"] == [{"TableName": "items", "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0}]
    key = {"pk": {"S": "cap"}, "sk": {"N": "1"}}
    r = c.transact_get_items(TransactItems=[{"Get": {"TableName": "items", "Key": key}}], ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == [{"TableName": "items", "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0}]
    r = c.put_item(TableName="items", Item=item, ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == {"TableName": "items", "CapacityUnits": 1.0}

    r = c.execute_statement(Statement="SELECT * FROM items.\"by-kind\" WHERE kind = 'k'", ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"] == {"TableName": "items", "CapacityUnits": 0.5, "Table": {"CapacityUnits": 0.0},
                                     "GlobalSecondaryIndexes": {"by-kind": {"CapacityUnits": 0.5}}}
    r = c.execute_transaction(TransactStatements=[{"Statement": "SELECT * FROM items WHERE pk = 'cap' AND sk = 1"}],
                              ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == [{"TableName": "items", "CapacityUnits": 2.0, "ReadCapacityUnits": 2.0}]
    r = c.batch_execute_statement(Statements=[{"Statement": "SELECT * FROM items WHERE pk = 'cap' AND sk = 1"},
                                              {"Statement": "SELECT * FROM items WHERE pk = 'cap' AND sk = 2", "ConsistentRead": True}],
                                  ReturnConsumedCapacity="TOTAL")
    assert r["ConsumedCapacity"] == [{"TableName": "items", "CapacityUnits": 1.5}]
    r = c.batch_execute_statement(Statements=[{"Statement": "UPDATE items SET kind = 'k2' WHERE pk = 'cap' AND sk = 1"}],
                                  ReturnConsumedCapacity="INDEXES")
    assert r["ConsumedCapacity"] == [{"TableName": "items", "CapacityUnits": 3.0, "Table": {"CapacityUnits": 1.0},
                                      "GlobalSecondaryIndexes": {"by-kind": {"CapacityUnits": 2.0}}}]
    # Nothing succeeded, nothing reported.
    r = c.batch_execute_statement(Statements=[{"Statement": "INSERT INTO items VALUE {'pk': 'cap', 'sk': 1}"}],
                                  ReturnConsumedCapacity="TOTAL")
    assert r["Responses"][0]["Error"]["Code"] == "DuplicateItem" and "ConsumedCapacity" not in r


def test_partiql_batches_missing_attributes_and_functions(table, stratus):
    c = stratus.client("dynamodb")
    c.execute_statement(Statement="INSERT INTO items VALUE {'pk': 'pq', 'sk': 1, 'tag': 'plain'}")
    # A missing attribute is not unequal to anything in PartiQL.
    r = c.execute_statement(Statement="SELECT pk FROM items WHERE pk = 'pq' AND nope <> 'plain'")
    assert r["Items"] == []
    assert len(c.execute_statement(Statement="SELECT pk FROM items WHERE pk = 'pq' AND tag <> 'other'")["Items"]) == 1
    # Text beyond ASCII in a statement, alone and in a batch.
    c.execute_statement(Statement="INSERT INTO items VALUE {'pk': 'pq', 'sk': 9, 'tag': 'é€'}")
    r = c.batch_execute_statement(Statements=[{"Statement": "SELECT tag FROM items WHERE pk = 'pq' AND sk = 9"},
                                              {"Statement": "SELECT tag FROM items WHERE pk = 'ü' AND sk = 9"}])
    assert r["Responses"][0]["Item"] == {"tag": {"S": "é€"}} and "Item" not in r["Responses"][1]
    code, msg, _ = err(c.batch_execute_statement, Statements=[
        {"Statement": "INSERT INTO items VALUE {'pk': 'pq', 'sk': 2}"},
        {"Statement": "UPDATE items SET tag = 'x' WHERE pk = 'pq' AND sk = 2"}])
    assert (code, msg) == ("ValidationException", "Provided list of item keys contains duplicates")
    code, msg, _ = err(c.batch_execute_statement, Statements=[
        {"Statement": "SELECT * FROM items WHERE pk = 'pq' AND sk = 1"},
        {"Statement": "INSERT INTO items VALUE {'pk': 'pq', 'sk': 3}"}])
    assert msg == "Read and write requests together in the same batch is not supported"
    code, msg, _ = err(c.execute_statement, Statement="SELECT pk, COUNT(*) FROM items")
    assert (code, msg) == ("ValidationException", "Unexpected path component at 1:12:5")


def test_random_expressions_never_fail_the_server_and_agree_with_reads(table, stratus):
    """Random (seeded) condition, update, filter and projection expressions over random values
    of every type, against items of random shape: every answer is a success or one of AWS's two
    client errors (never a 5xx), and what a successful write reports is what a read then sees."""
    import random

    rng = random.Random(20261201)
    paths = ["a", "b", "#n", "a[0]", "a[2]", "a.b", "a.b[1]", "#n.c", "a[0].b", "c", "a[1][0]"]

    def value(depth=0):
        t = rng.choice(["S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"])
        if depth > 2 and t in ("L", "M"):
            t = "N"
        return {
            "S": lambda: {"S": rng.choice(["", "a", "ab", "p1", "é"])},
            "N": lambda: {"N": rng.choice(["0", "1", "-1", "2.5", "9.9999999999999999999999999999999999999E+125",
                                           "-9.9999999999999999999999999999999999999E+125", "1E-130",
                                           "12345678901234567890123456789012345678"])},
            "B": lambda: {"B": rng.choice(["", "AA==", "YWJj"])},
            "BOOL": lambda: {"BOOL": rng.random() < 0.5},
            "NULL": lambda: {"NULL": True},
            "L": lambda: {"L": [value(depth + 1) for _ in range(rng.randrange(4))]},
            "M": lambda: {"M": {rng.choice("abc"): value(depth + 1) for _ in range(rng.randrange(3))}},
            "SS": lambda: {"SS": rng.sample(["a", "b", "p1"], rng.randrange(1, 4))},
            "NS": lambda: {"NS": rng.sample(["1", "2", "-3", "1E+125", "0.5"], rng.randrange(1, 4))},
            "BS": lambda: {"BS": rng.sample(["AA==", "YWJj", "YQ=="], rng.randrange(1, 3))},
        }[t]()

    def operand():
        return f"size({rng.choice(paths)})" if rng.random() < 0.15 else rng.choice([":v", ":w"] + paths)

    def condition(depth=0):
        r = rng.random()
        if depth < 2 and r < 0.2:
            return f"({condition(depth + 1)}) {rng.choice(['AND', 'OR'])} {condition(depth + 1)}"
        if depth < 2 and r < 0.27:
            return f"NOT {condition(depth + 1)}"
        if r < 0.45:
            return f"{operand()} {rng.choice(['=', '<>', '<', '<=', '>', '>='])} {operand()}"
        if r < 0.55:
            return f"{operand()} BETWEEN {operand()} AND {operand()}"
        if r < 0.62:
            return f"{operand()} IN ({operand()}, {operand()})"
        return rng.choice(["attribute_exists({p})", "attribute_not_exists({p})", "attribute_type({p}, :t)",
                           "begins_with({p}, {o})", "contains({p}, {o})"]).format(p=rng.choice(paths), o=operand())

    def update():
        clauses = []
        for action, path in zip(rng.sample(["SET", "REMOVE", "ADD", "DELETE"], rng.randrange(1, 3)), rng.sample(paths, 2)):
            if action == "SET":
                v = rng.choice([operand(), f"{operand()} + {operand()}", f"{operand()} - {operand()}",
                                f"list_append({operand()}, {operand()})", f"if_not_exists({rng.choice(paths)}, {operand()})"])
                clauses.append(f"SET {path} = {v}")
            elif action == "REMOVE":
                clauses.append(f"REMOVE {path}")
            else:
                clauses.append(f"{action} {path} {rng.choice([':v', ':w'])}")
        return " ".join(clauses)

    def same(x):
        """A value to compare: set members in any order, numbers by value."""
        (t, v), = x.items()
        if t == "N":
            return ("N", Decimal(v))
        if t in ("SS", "NS", "BS"):
            return (t, frozenset(Decimal(e) for e in v) if t == "NS" else frozenset(v))
        if t == "L":
            return ("L", tuple(same(e) for e in v))
        if t == "M":
            return ("M", frozenset((k, same(e)) for k, e in v.items()))
        return (t, v)

    def same_item(item):
        return None if item is None else same({"M": item})

    key = {"pk": {"S": "p1"}, "sk": {"N": "1"}}
    answers = {}
    for _ in range(1000):
        item = dict(key)
        for name in rng.sample(["a", "b", "c", "kind"], rng.randrange(4)):
            item[name] = {"S": "k"} if name == "kind" else value()
        r = stratus.dynamodb_raw("PutItem", {"TableName": "items", "Item": item})
        assert r.status_code in (200, 400), (item, r.status_code, r.text)
        stored = item if r.status_code == 200 else stratus.dynamodb_raw(
            "GetItem", {"TableName": "items", "Key": key, "ConsistentRead": True}).json().get("Item")
        op = rng.choice(["UpdateItem", "UpdateItem", "DeleteItem", "PutItem", "Query", "Scan"])
        body = {"TableName": "items"}
        if op == "UpdateItem":
            body.update(Key=key, UpdateExpression=update(), ConditionExpression=condition(), ReturnValues="ALL_NEW")
        elif op == "DeleteItem":
            body.update(Key=key, ConditionExpression=condition(), ReturnValues="ALL_OLD")
        elif op == "PutItem":
            body.update(Item=item, ConditionExpression=condition(), ReturnValues="ALL_OLD")
        else:
            body.update(FilterExpression=condition(), ProjectionExpression=", ".join(rng.sample(paths, 2)))
            if op == "Query":
                body["KeyConditionExpression"] = "pk = :k"
        text = json.dumps(body)
        values = {k: v for k, v in {":v": value(), ":w": value(), ":t": {"S": rng.choice(["S", "N", "L", "SS", "X"])},
                                    ":k": {"S": "p1"}}.items() if k in text}
        if values:
            body["ExpressionAttributeValues"] = values
        if "#n" in text:
            body["ExpressionAttributeNames"] = {"#n": "a"}
        r = stratus.dynamodb_raw(op, body)
        kind = r.json().get("__type", "").rsplit("#", 1)[-1]
        answers[kind or r.status_code] = answers.get(kind or r.status_code, 0) + 1
        assert r.status_code == 200 or (r.status_code == 400 and kind in (
            "ValidationException", "ConditionalCheckFailedException")), (body, stored, r.status_code, r.text)
        if r.status_code != 200 or op in ("Query", "Scan"):
            continue
        now = stratus.dynamodb_raw("GetItem", {"TableName": "items", "Key": key, "ConsistentRead": True}).json().get("Item")
        if op == "UpdateItem":
            assert same_item(now) == same_item(r.json()["Attributes"]), (body, stored)
        elif op == "DeleteItem":
            assert now is None and same_item(r.json().get("Attributes")) == same_item(stored), (body, stored)
        else:
            assert same_item(now) == same_item(item), (body, stored)
            assert same_item(r.json().get("Attributes")) == same_item(stored), (body, stored)
    # The mix reached every outcome, so the checks above ran.
    assert answers.get(200, 0) > 100 and answers.get("ValidationException", 0) > 100
    assert answers.get("ConditionalCheckFailedException", 0) > 100
