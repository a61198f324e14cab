"""S3 as AWS shapes it: buckets, objects, listings, ranges, conditions, checksums, multipart
uploads, versions, tags, policies and ACLs, presigned URLs, with AWS's errors and status codes,
through boto3, the AWS CLI and raw signed requests."""

import base64
import concurrent.futures
import datetime
import hashlib
import json
import os
import socket
import threading
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
import zlib

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions
import botocore.httpchecksum
import pytest
import requests

from conftest import error_of

MiB = 1024 * 1024
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
UTC = datetime.timezone.utc


def client_error(fn, *a, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*a, **kw)
    return e.value.response["Error"]["Code"], e.value.response["Error"].get("Message"), \
        e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def error_response(fn, *a, **kw):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        fn(*a, **kw)
    return e.value.response


def md5hex(data):
    return hashlib.md5(data).hexdigest()


def b64(raw):
    return base64.b64encode(raw).decode()


def sha256hex(data):
    return hashlib.sha256(data).hexdigest()


def _crc_table(poly):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ poly if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc_table(0x82F63B78)
_CRC64NVME = _crc_table(0x9A6C9329AC4BC9B5)


def _reflected_crc(table, mask, data):
    c = mask
    for byte in data:
        c = table[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ mask


def checksum_of(algorithm, data):
    """The base64 value S3 reports in x-amz-checksum-<algorithm> for `data`."""
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        return b64(_reflected_crc(_CRC32C, 0xFFFFFFFF, data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        return b64(_reflected_crc(_CRC64NVME, 0xFFFFFFFFFFFFFFFF, data).to_bytes(8, "big"))
    if algorithm == "SHA1":
        return b64(hashlib.sha1(data).digest())
    if algorithm == "SHA256":
        return b64(hashlib.sha256(data).digest())
    raise ValueError(algorithm)


def raw(stratus, method, path, body=b"", headers=None, query=""):
    """A raw SigV4 request with a signed payload hash, as S3 wants it."""
    h = {"x-amz-content-sha256": sha256hex(body)}
    h.update(headers or {})
    return stratus.signed("s3", method=method, path=path, body=body, headers=h, query=query)


def make_bucket(s3, name, **kw):
    s3.create_bucket(Bucket=name, **kw)
    return name


def keys_of(page):
    return [o["Key"] for o in page.get("Contents", [])]


def put_many(s3, bucket, keys, body=b"x"):
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=body), keys))


# ---------------------------------------------------------------- buckets

def test_create_head_list_delete_bucket(stratus):
    """CreateBucket, HeadBucket, ListBuckets and DeleteBucket in us-east-1."""
    s3 = stratus.client("s3")
    assert s3.list_buckets()["Buckets"] == []
    resp = s3.create_bucket(Bucket="alpha")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert resp["Location"] == "/alpha"
    make_bucket(s3, "beta")
    assert s3.head_bucket(Bucket="alpha")["ResponseMetadata"]["HTTPStatusCode"] == 200
    listed = s3.list_buckets()
    assert [b["Name"] for b in listed["Buckets"]] == ["alpha", "beta"]
    assert all(isinstance(b["CreationDate"], datetime.datetime) for b in listed["Buckets"])
    assert listed["Owner"]["ID"]
    s3.delete_bucket(Bucket="alpha")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["beta"]
    # HEAD has no body: botocore reports the bare status as the code.
    assert client_error(s3.head_bucket, Bucket="alpha")[::2] == ("404", 404)
    assert client_error(s3.delete_bucket, Bucket="alpha")[::2] == ("NoSuchBucket", 404)


def test_bucket_location_and_recreation(stratus):
    """LocationConstraint round-trips; us-east-1 reports none; re-creating your own eu-west-1 bucket is a 409."""
    eu = stratus.client("s3", region="eu-west-1")
    us = stratus.client("s3")
    eu.create_bucket(Bucket="in-ireland", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    us.create_bucket(Bucket="in-virginia")
    assert eu.get_bucket_location(Bucket="in-ireland")["LocationConstraint"] == "eu-west-1"
    # us-east-1 answers an empty LocationConstraint element, which boto3 surfaces as None.
    assert us.get_bucket_location(Bucket="in-virginia")["LocationConstraint"] is None
    assert eu.head_bucket(Bucket="in-ireland")["BucketRegion"] == "eu-west-1"
    # With any parameter, ListBuckets reports each bucket's region; Prefix filters by name.
    regions = {b["Name"]: b.get("BucketRegion") for b in us.list_buckets(MaxBuckets=100)["Buckets"]}
    assert regions == {"in-ireland": "eu-west-1", "in-virginia": "us-east-1"}
    assert [b["Name"] for b in us.list_buckets(Prefix="in-i")["Buckets"]] == ["in-ireland"]
    # Creating it again: in every region but us-east-1 that is BucketAlreadyOwnedByYou.
    code, _, status = client_error(eu.create_bucket, Bucket="in-ireland",
                                   CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert (code, status) == ("BucketAlreadyOwnedByYou", 409)


def test_delete_non_empty_bucket(stratus):
    """A bucket with objects cannot be deleted."""
    s3 = stratus.client("s3")
    make_bucket(s3, "full")
    s3.put_object(Bucket="full", Key="k", Body=b"v")
    assert client_error(s3.delete_bucket, Bucket="full")[::2] == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket="full", Key="k")
    s3.delete_bucket(Bucket="full")
    assert s3.list_buckets()["Buckets"] == []


@pytest.mark.parametrize("name", ["MyBucket", "ab", "under_score", "192.168.5.4", "-leading", "trailing-",
                                  "double..dot", "a" * 64])
def test_invalid_bucket_names(stratus, name):
    """Names breaking the naming rules are InvalidBucketName."""
    s3 = stratus.client("s3", validate=False)
    code, _, status = client_error(s3.create_bucket, Bucket=name)
    assert (code, status) == ("InvalidBucketName", 400)
    assert s3.list_buckets()["Buckets"] == []


def test_missing_bucket(stratus):
    """Operations on a missing bucket are NoSuchBucket 404."""
    s3 = stratus.client("s3")
    resp = error_response(s3.get_object, Bucket="nope", Key="k")
    assert resp["Error"]["Code"] == "NoSuchBucket"
    assert resp["Error"]["Message"] == "The specified bucket does not exist"
    assert resp["Error"]["BucketName"] == "nope"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 404
    for call, kw in ((s3.list_objects_v2, {}), (s3.put_object, {"Key": "k", "Body": b"x"}),
                     (s3.delete_object, {"Key": "k"}), (s3.get_bucket_versioning, {})):
        assert client_error(call, Bucket="nope", **kw)[::2] == ("NoSuchBucket", 404)


# ---------------------------------------------------------------- objects

def test_put_get_head_delete_round_trip(stratus):
    """Bytes, ETag (quoted MD5), length and default content type of a simple object."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    body = os.urandom(4096)
    put = s3.put_object(Bucket="bkt", Key="blob.bin", Body=body)
    assert put["ETag"] == f'"{md5hex(body)}"'
    got = s3.get_object(Bucket="bkt", Key="blob.bin")
    assert got["Body"].read() == body
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == 4096
    assert got["ResponseMetadata"]["HTTPHeaders"]["accept-ranges"] == "bytes"
    head = s3.head_object(Bucket="bkt", Key="blob.bin")
    assert head["ContentLength"] == 4096 and head["ETag"] == put["ETag"]
    assert abs(head["LastModified"] - datetime.datetime.now(UTC)) < datetime.timedelta(minutes=5)
    # Nothing given: binary/octet-stream is S3's default content type.
    assert head["ContentType"] == "binary/octet-stream"
    assert s3.delete_object(Bucket="bkt", Key="blob.bin")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.list_objects_v2(Bucket="bkt")["KeyCount"] == 0
    # An empty object has the MD5 of nothing.
    assert s3.put_object(Bucket="bkt", Key="empty", Body=b"")["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    assert s3.get_object(Bucket="bkt", Key="empty")["Body"].read() == b""


def test_object_headers_and_user_metadata(stratus):
    """Standard headers and x-amz-meta-* come back on HEAD and GET."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    expires = datetime.datetime(2030, 1, 1, tzinfo=UTC)
    s3.put_object(Bucket="bkt", Key="report.csv", Body=b"a,b\n1,2\n", ContentType="text/csv",
                  Metadata={"Color": "Blue", "run-id": "42"}, CacheControl="max-age=60",
                  ContentDisposition='attachment; filename="r.csv"', ContentEncoding="x-custom",
                  ContentLanguage="en", Expires=expires)
    for resp in (s3.head_object(Bucket="bkt", Key="report.csv"), s3.get_object(Bucket="bkt", Key="report.csv")):
        assert resp["ContentType"] == "text/csv"
        assert resp["ContentLength"] == 8
        assert resp["Metadata"] == {"color": "Blue", "run-id": "42"}
        assert resp["CacheControl"] == "max-age=60"
        assert resp["ContentDisposition"] == 'attachment; filename="r.csv"'
        assert resp["ContentEncoding"] == "x-custom"
        assert resp["ContentLanguage"] == "en"
        assert resp["ResponseMetadata"]["HTTPHeaders"]["expires"] == "Tue, 01 Jan 2030 00:00:00 GMT"
        assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-meta-color"] == "Blue"


def test_missing_key(stratus):
    """GET of a missing key is NoSuchKey, HEAD a bare 404, DELETE a 204."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    resp = error_response(s3.get_object, Bucket="bkt", Key="ghost")
    assert resp["Error"]["Code"] == "NoSuchKey"
    assert resp["Error"]["Message"] == "The specified key does not exist."
    assert resp["Error"]["Key"] == "ghost"
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert client_error(s3.head_object, Bucket="bkt", Key="ghost")[::2] == ("404", 404)
    # Deleting a key that does not exist succeeds.
    assert s3.delete_object(Bucket="bkt", Key="ghost")["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_awkward_keys_round_trip(stratus):
    """Keys with unicode, spaces, reserved and percent characters survive every operation."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    keys = ["ünïcödé/файл.txt", "with space.txt", "a+b=c&d.txt", "100%sure", "50%25", "deep/nested/path/x",
            "dir/", "q?x#y", "tilde~star*(1)", "日本語", "emoji-😀", "semi;colon,comma'quote\"", "a//b"]
    for i, k in enumerate(keys):
        s3.put_object(Bucket="bkt", Key=k, Body=k.encode() + bytes([i]))
    for i, k in enumerate(keys):
        assert s3.get_object(Bucket="bkt", Key=k)["Body"].read() == k.encode() + bytes([i]), k
        assert s3.head_object(Bucket="bkt", Key=k)["ContentLength"] == len(k.encode()) + 1
    # Listing is in UTF-8 binary order (code point order).
    assert keys_of(s3.list_objects_v2(Bucket="bkt")) == sorted(keys)
    s3.delete_object(Bucket="bkt", Key="a+b=c&d.txt")
    s3.delete_object(Bucket="bkt", Key="ünïcödé/файл.txt")
    assert keys_of(s3.list_objects_v2(Bucket="bkt")) == sorted(set(keys) - {"a+b=c&d.txt", "ünïcödé/файл.txt"})


def test_delete_objects_batch(stratus):
    """DeleteObjects reports every key, missing ones included, except in quiet mode."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    for k in ("a", "b", "c", "d"):
        s3.put_object(Bucket="bkt", Key=k, Body=b"x")
    resp = s3.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "never"}],
                                                 "Quiet": False})
    assert sorted(d["Key"] for d in resp["Deleted"]) == ["a", "b", "never"]
    assert resp.get("Errors", []) == []
    assert keys_of(s3.list_objects_v2(Bucket="bkt")) == ["c", "d"]
    # Quiet mode reports only errors.
    resp = s3.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": "c"}, {"Key": "nope"}], "Quiet": True})
    assert resp.get("Deleted", []) == [] and resp.get("Errors", []) == []
    assert keys_of(s3.list_objects_v2(Bucket="bkt")) == ["d"]


# ---------------------------------------------------------------- copy

def test_copy_object_keeps_metadata(stratus):
    """CopyObject within and across buckets keeps body, ETag and metadata (COPY directive)."""
    s3 = stratus.client("s3")
    make_bucket(s3, "src")
    make_bucket(s3, "dst")
    body = os.urandom(2048)
    put = s3.put_object(Bucket="src", Key="orig", Body=body, ContentType="image/png", Metadata={"k": "v"})
    same = s3.copy_object(Bucket="src", Key="copy", CopySource={"Bucket": "src", "Key": "orig"})
    other = s3.copy_object(Bucket="dst", Key="deep/copy", CopySource="src/orig")
    for resp in (same, other):
        assert resp["CopyObjectResult"]["ETag"] == put["ETag"]
        assert isinstance(resp["CopyObjectResult"]["LastModified"], datetime.datetime)
    for bucket, key in (("src", "copy"), ("dst", "deep/copy")):
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["ContentType"] == "image/png"
        assert got["Metadata"] == {"k": "v"}
        assert got["ETag"] == put["ETag"]


def test_copy_object_replace_metadata_and_errors(stratus):
    """REPLACE sets new metadata; illegal and missing-source copies fail."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    s3.put_object(Bucket="bkt", Key="orig", Body=b"data", ContentType="image/png", Metadata={"old": "1"})
    s3.copy_object(Bucket="bkt", Key="new", CopySource={"Bucket": "bkt", "Key": "orig"}, MetadataDirective="REPLACE",
                   ContentType="text/plain", Metadata={"fresh": "2"})
    head = s3.head_object(Bucket="bkt", Key="new")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"fresh": "2"}
    # In place with REPLACE rewrites the metadata; without a change it is refused.
    s3.copy_object(Bucket="bkt", Key="orig", CopySource={"Bucket": "bkt", "Key": "orig"}, MetadataDirective="REPLACE",
                   Metadata={"third": "3"})
    assert s3.head_object(Bucket="bkt", Key="orig")["Metadata"] == {"third": "3"}
    assert s3.get_object(Bucket="bkt", Key="orig")["Body"].read() == b"data"
    code, _, status = client_error(s3.copy_object, Bucket="bkt", Key="orig", CopySource={"Bucket": "bkt", "Key": "orig"})
    assert (code, status) == ("InvalidRequest", 400)
    assert client_error(s3.copy_object, Bucket="bkt", Key="x", CopySource={"Bucket": "bkt", "Key": "ghost"})[::2] == \
        ("NoSuchKey", 404)
    assert client_error(s3.copy_object, Bucket="bkt", Key="x", CopySource={"Bucket": "nobucket", "Key": "k"})[::2] \
        == ("NoSuchBucket", 404)


# ---------------------------------------------------------------- listing

def test_list_v2_prefix_and_delimiter(stratus):
    """Prefix and delimiter listings with CommonPrefixes; MaxKeys counts prefixes."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    keys = ["a.txt", "photos/2024/x.jpg", "photos/2024/y.jpg", "photos/2025/z.jpg", "photos/p.jpg", "videos/v.mp4"]
    for k in keys:
        s3.put_object(Bucket="bkt", Key=k, Body=b"x")
    full = s3.list_objects_v2(Bucket="bkt")
    assert keys_of(full) == keys and full["KeyCount"] == 6 and full["IsTruncated"] is False
    o = full["Contents"][0]
    assert o["Size"] == 1 and o["ETag"] == f'"{md5hex(b"x")}"' and o["StorageClass"] == "STANDARD"
    assert "Owner" not in o  # only with FetchOwner=True
    assert s3.list_objects_v2(Bucket="bkt", FetchOwner=True)["Contents"][0]["Owner"]["ID"]
    top = s3.list_objects_v2(Bucket="bkt", Delimiter="/")
    assert keys_of(top) == ["a.txt"]
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["photos/", "videos/"]
    assert top["KeyCount"] == 3 and top["Delimiter"] == "/"
    photos = s3.list_objects_v2(Bucket="bkt", Prefix="photos/", Delimiter="/")
    assert keys_of(photos) == ["photos/p.jpg"]
    assert [p["Prefix"] for p in photos["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    assert photos["Prefix"] == "photos/"
    assert keys_of(s3.list_objects_v2(Bucket="bkt", Prefix="photos/2024/")) == ["photos/2024/x.jpg", "photos/2024/y.jpg"]
    assert s3.list_objects_v2(Bucket="bkt", Prefix="zzz")["KeyCount"] == 0
    # MaxKeys counts common prefixes too; paging through a delimited listing.
    seen, kw = [], {}
    while True:
        page = s3.list_objects_v2(Bucket="bkt", Delimiter="/", MaxKeys=1, **kw)
        assert page["KeyCount"] == 1
        seen += keys_of(page) + [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        if not page["IsTruncated"]:
            break
        kw = {"ContinuationToken": page["NextContinuationToken"]}
    assert seen == ["a.txt", "photos/", "videos/"]


def test_list_v2_paging_and_start_after(stratus):
    """MaxKeys pages with continuation tokens, KeyCount and StartAfter."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    keys = [f"k{i:03d}" for i in range(25)]
    put_many(s3, "bkt", keys)
    pages, kw = [], {}
    while True:
        page = s3.list_objects_v2(Bucket="bkt", MaxKeys=10, **kw)
        assert page["MaxKeys"] == 10 and page["KeyCount"] == len(page["Contents"])
        if kw:
            assert page["ContinuationToken"] == kw["ContinuationToken"]
        pages.append(keys_of(page))
        if not page["IsTruncated"]:
            assert "NextContinuationToken" not in page
            break
        kw = {"ContinuationToken": page["NextContinuationToken"]}
    assert [len(p) for p in pages] == [10, 10, 5]
    assert sum(pages, []) == keys
    after = s3.list_objects_v2(Bucket="bkt", StartAfter="k019")
    assert keys_of(after) == keys[20:] and after["StartAfter"] == "k019"
    assert keys_of(s3.list_objects_v2(Bucket="bkt", StartAfter="k0195", MaxKeys=2)) == ["k020", "k021"]
    assert s3.list_objects_v2(Bucket="bkt", StartAfter="zzz")["KeyCount"] == 0
    assert client_error(s3.list_objects_v2, Bucket="bkt", ContinuationToken="not-a-token")[::2] == \
        ("InvalidArgument", 400)


def test_list_v2_encoding_type_url(stratus):
    """EncodingType=url percent-encodes keys on the wire."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    keys = ["a b+c.txt", "ünï/çø.txt", "x&y<z>"]
    for k in keys:
        s3.put_object(Bucket="bkt", Key=k, Body=b"x")
    # boto3 asks for url encoding itself (when the caller does not) and decodes the answer.
    assert keys_of(s3.list_objects_v2(Bucket="bkt")) == sorted(keys)
    r = raw(stratus, "GET", "/bkt", query="list-type=2&encoding-type=url")
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
    assert root.find("s3:EncodingType", ns).text == "url"
    listed = [e.text for e in root.findall("s3:Contents/s3:Key", ns)]
    assert len(listed) == 3
    for enc in listed:
        assert " " not in enc and "<" not in enc and all(ord(c) < 128 for c in enc), enc
    assert sorted(urllib.parse.unquote_plus(k) for k in listed) == sorted(keys)


def test_list_objects_v1_marker(stratus):
    """ListObjects (v1) pages by Marker; NextMarker only comes with a delimiter."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    keys = [f"k{i:02d}" for i in range(10)]
    put_many(s3, "bkt", keys)
    first = s3.list_objects(Bucket="bkt", MaxKeys=4)
    assert keys_of(first) == keys[:4] and first["IsTruncated"] is True
    # NextMarker is only returned when a delimiter is given.
    assert "NextMarker" not in first
    second = s3.list_objects(Bucket="bkt", MaxKeys=4, Marker="k03")
    assert keys_of(second) == keys[4:8] and second["Marker"] == "k03"
    last = s3.list_objects(Bucket="bkt", MaxKeys=4, Marker="k07")
    assert keys_of(last) == keys[8:] and last["IsTruncated"] is False
    delimited = s3.list_objects(Bucket="bkt", MaxKeys=4, Delimiter="/")
    assert delimited["IsTruncated"] is True and delimited["NextMarker"] == "k03"
    paged = s3.get_paginator("list_objects").paginate(Bucket="bkt", PaginationConfig={"PageSize": 3})
    assert [k for p in paged for k in keys_of(p)] == keys


def test_paginator_over_1100_keys(stratus):
    """The boto3 paginator walks more than one 1,000-key page."""
    s3 = stratus.client("s3")
    make_bucket(s3, "many")
    keys = [f"obj/{i:05d}" for i in range(1100)]
    put_many(s3, "many", keys)
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket="many"))
    assert [p["KeyCount"] for p in pages] == [1000, 100]
    assert [k for p in pages for k in keys_of(p)] == keys
    for i in range(0, 1100, 1000):
        s3.delete_objects(Bucket="many", Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True})
    assert s3.list_objects_v2(Bucket="many")["KeyCount"] == 0


# ---------------------------------------------------------------- ranges

def test_range_gets_and_unsatisfiable_range(stratus):
    """Byte ranges answer 206 with Content-Range; a range past the end is 416."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    body = bytes(range(100))
    s3.put_object(Bucket="bkt", Key="r", Body=body)
    for rng, want, content_range in (("bytes=0-9", body[:10], "bytes 0-9/100"),
                                     ("bytes=10-", body[10:], "bytes 10-99/100"),
                                     ("bytes=-5", body[-5:], "bytes 95-99/100"),
                                     ("bytes=90-200", body[90:], "bytes 90-99/100")):
        got = s3.get_object(Bucket="bkt", Key="r", Range=rng)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, rng
        assert got["ContentRange"] == content_range, rng
        assert got["ContentLength"] == len(want)
        assert got["Body"].read() == want, rng
    code, msg, status = client_error(s3.get_object, Bucket="bkt", Key="r", Range="bytes=200-300")
    assert (code, msg, status) == ("InvalidRange", "The requested range is not satisfiable", 416)
    assert client_error(s3.get_object, Bucket="bkt", Key="r", Range="bytes=100-")[::2] == ("InvalidRange", 416)


# ---------------------------------------------------------------- conditional requests

def test_conditional_get_and_head(stratus):
    """If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since on GET and HEAD."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    etag = s3.put_object(Bucket="bkt", Key="c", Body=b"content")["ETag"]
    modified = s3.head_object(Bucket="bkt", Key="c")["LastModified"]
    day = datetime.timedelta(days=1)
    wrong = '"00000000000000000000000000000000"'

    code, msg, status = client_error(s3.get_object, Bucket="bkt", Key="c", IfMatch=wrong)
    assert (code, msg, status) == ("PreconditionFailed", "At least one of the pre-conditions you specified did not hold",
                                   412)
    assert client_error(s3.head_object, Bucket="bkt", Key="c", IfMatch=wrong)[2] == 412
    assert s3.get_object(Bucket="bkt", Key="c", IfMatch=etag)["Body"].read() == b"content"

    assert client_error(s3.get_object, Bucket="bkt", Key="c", IfNoneMatch=etag)[2] == 304
    assert client_error(s3.head_object, Bucket="bkt", Key="c", IfNoneMatch=etag)[2] == 304
    assert s3.get_object(Bucket="bkt", Key="c", IfNoneMatch=wrong)["Body"].read() == b"content"

    assert client_error(s3.get_object, Bucket="bkt", Key="c", IfModifiedSince=modified)[2] == 304
    assert client_error(s3.head_object, Bucket="bkt", Key="c", IfModifiedSince=modified)[2] == 304
    assert s3.get_object(Bucket="bkt", Key="c", IfModifiedSince=modified - day)["Body"].read() == b"content"

    code, _, status = client_error(s3.get_object, Bucket="bkt", Key="c", IfUnmodifiedSince=modified - day)
    assert (code, status) == ("PreconditionFailed", 412)
    assert client_error(s3.head_object, Bucket="bkt", Key="c", IfUnmodifiedSince=modified - day)[2] == 412
    assert s3.get_object(Bucket="bkt", Key="c", IfUnmodifiedSince=modified + day)["Body"].read() == b"content"


def test_conditional_writes(stratus):
    """PutObject with If-None-Match: * and If-Match."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    first = s3.put_object(Bucket="bkt", Key="once", Body=b"v1", IfNoneMatch="*")["ETag"]
    code, _, status = client_error(s3.put_object, Bucket="bkt", Key="once", Body=b"v2", IfNoneMatch="*")
    assert (code, status) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket="bkt", Key="once")["Body"].read() == b"v1"
    code, _, status = client_error(s3.put_object, Bucket="bkt", Key="once", Body=b"v2",
                                   IfMatch='"00000000000000000000000000000000"')
    assert (code, status) == ("PreconditionFailed", 412)
    second = s3.put_object(Bucket="bkt", Key="once", Body=b"v2", IfMatch=first)["ETag"]
    assert second == f'"{md5hex(b"v2")}"'
    assert s3.get_object(Bucket="bkt", Key="once")["Body"].read() == b"v2"
    # If-Match on a key that does not exist: 404 NoSuchKey
    # (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html).
    assert client_error(s3.put_object, Bucket="bkt", Key="absent", Body=b"x", IfMatch=first)[::2] == ("NoSuchKey", 404)


# ---------------------------------------------------------------- checksums

@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_checksum_round_trip(stratus, algorithm):
    """A checksum sent with PutObject is verified, stored and returned with ChecksumMode."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    body = os.urandom(3000) + b"tail"
    expected = checksum_of(algorithm, body)
    if algorithm in ("CRC32", "SHA1", "SHA256") or botocore.httpchecksum.HAS_CRT:
        put = s3.put_object(Bucket="bkt", Key="k", Body=body, ChecksumAlgorithm=algorithm)
    else:  # without awscrt boto3 cannot compute these itself: hand it the value.
        put = s3.put_object(Bucket="bkt", Key="k", Body=body, ChecksumAlgorithm=algorithm,
                            **{f"Checksum{algorithm}": expected})
    assert put[f"Checksum{algorithm}"] == expected
    head = s3.head_object(Bucket="bkt", Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket="bkt", Key="k", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected
    assert got["Body"].read() == body
    # Checksums are only returned when asked for.
    assert f"Checksum{algorithm}" not in s3.head_object(Bucket="bkt", Key="k")


def test_wrong_checksum_is_bad_digest(stratus):
    """A body that does not match its x-amz-checksum-* or payload hash is refused."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    body = b"the real body"
    r = raw(stratus, "PUT", "/bkt/k", body, {"x-amz-checksum-crc32": checksum_of("CRC32", b"another body")})
    assert r.status_code == 400
    assert error_of(r) == ("BadDigest", "The CRC32 you specified did not match the calculated checksum.")
    r = raw(stratus, "PUT", "/bkt/k", body, {"x-amz-checksum-sha256": checksum_of("SHA256", b"nope")})
    assert (r.status_code, error_of(r)[0]) == (400, "BadDigest")
    # A payload hash that does not match the body.
    r = stratus.signed("s3", method="PUT", path="/bkt/k", body=body, headers={"x-amz-content-sha256": sha256hex(b"x")})
    assert (r.status_code, error_of(r)[0]) == (400, "XAmzContentSHA256Mismatch")
    assert client_error(s3.head_object, Bucket="bkt", Key="k")[2] == 404
    r = raw(stratus, "PUT", "/bkt/k", body, {"x-amz-checksum-crc32": checksum_of("CRC32", body)})
    assert r.status_code == 200, r.text
    assert r.headers["x-amz-checksum-crc32"] == checksum_of("CRC32", body)
    assert r.headers["ETag"] == f'"{md5hex(body)}"'


def test_content_md5(stratus):
    """Content-MD5 is checked: a mismatch is BadDigest, a malformed value InvalidDigest."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    body = b"hello md5"
    s3.put_object(Bucket="bkt", Key="ok", Body=body, ContentMD5=b64(hashlib.md5(body).digest()))
    assert s3.get_object(Bucket="bkt", Key="ok")["Body"].read() == body
    code, msg, status = client_error(s3.put_object, Bucket="bkt", Key="bad", Body=body,
                                     ContentMD5=b64(hashlib.md5(b"other").digest()))
    assert (code, msg, status) == ("BadDigest", "The Content-MD5 you specified did not match what we received.", 400)
    code, msg, status = client_error(s3.put_object, Bucket="bkt", Key="bad", Body=body, ContentMD5="not-an-md5")
    assert (code, msg, status) == ("InvalidDigest", "The Content-MD5 you specified was invalid.", 400)
    assert keys_of(s3.list_objects_v2(Bucket="bkt")) == ["ok"]


def aws_chunked(data, trailer_name, trailer_value, chunk=8192):
    """The aws-chunked body SDKs send with STREAMING-UNSIGNED-PAYLOAD-TRAILER."""
    out = b""
    for i in range(0, len(data), chunk):
        piece = data[i:i + chunk]
        out += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    return out + f"0\r\n{trailer_name}:{trailer_value}\r\n\r\n".encode()


def test_aws_chunked_upload_with_trailing_checksum(stratus):
    """aws-chunked bodies with a trailing checksum, as SDKs stream them."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    data = os.urandom(20000)
    headers = {"x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data)), "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-sdk-checksum-algorithm": "CRC32"}
    body = aws_chunked(data, "x-amz-checksum-crc32", checksum_of("CRC32", data))
    r = stratus.signed("s3", method="PUT", path="/bkt/chunked", body=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{md5hex(data)}"'
    got = s3.get_object(Bucket="bkt", Key="chunked", ChecksumMode="ENABLED")
    assert got["Body"].read() == data
    assert got["ContentLength"] == len(data)
    assert got["ChecksumCRC32"] == checksum_of("CRC32", data)
    # aws-chunked is a transfer detail: it is not stored as the object's Content-Encoding.
    assert got.get("ContentEncoding") in (None, "")
    bad = aws_chunked(data, "x-amz-checksum-crc32", checksum_of("CRC32", b"different"))
    r = stratus.signed("s3", method="PUT", path="/bkt/chunked2", body=bad, headers=headers)
    assert (r.status_code, error_of(r)[0]) == (400, "BadDigest")
    assert client_error(s3.head_object, Bucket="bkt", Key="chunked2")[2] == 404


# ---------------------------------------------------------------- multipart

def test_multipart_upload_round_trip(stratus):
    """Create, upload, list parts and uploads, complete; the ETag is MD5-of-MD5s-N."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    parts = [os.urandom(5 * MiB), os.urandom(1024)]
    up = s3.create_multipart_upload(Bucket="bkt", Key="big", ContentType="application/x-thing", Metadata={"m": "1"})
    uid = up["UploadId"]
    assert up["Bucket"] == "bkt" and up["Key"] == "big" and uid
    etags = []
    for n, data in enumerate(parts, 1):
        etag = s3.upload_part(Bucket="bkt", Key="big", UploadId=uid, PartNumber=n, Body=data)["ETag"]
        assert etag == f'"{md5hex(data)}"'
        etags.append(etag)
    listed = s3.list_parts(Bucket="bkt", Key="big", UploadId=uid)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in listed["Parts"]] == \
        [(1, etags[0], 5 * MiB), (2, etags[1], 1024)]
    uploads = s3.list_multipart_uploads(Bucket="bkt")["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("big", uid)]
    # Not visible as an object until completed.
    assert client_error(s3.head_object, Bucket="bkt", Key="big")[2] == 404
    done = s3.complete_multipart_upload(Bucket="bkt", Key="big", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, 1)]})
    want = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert done["ETag"] == f'"{want}-2"'
    assert done["Bucket"] == "bkt" and done["Key"] == "big"
    got = s3.get_object(Bucket="bkt", Key="big")
    assert got["Body"].read() == b"".join(parts)
    assert got["ETag"] == done["ETag"] and got["ContentLength"] == 5 * MiB + 1024
    assert got["ContentType"] == "application/x-thing" and got["Metadata"] == {"m": "1"}
    assert s3.list_multipart_uploads(Bucket="bkt").get("Uploads", []) == []


def test_list_multipart_uploads_with_delimiter_and_pages(stratus):
    s3 = stratus.client("s3")
    make_bucket(s3, "ups")
    ids = {}
    for key in ["a/1", "a/2", "b/x/1", "c", "d"]:
        ids[key] = s3.create_multipart_upload(Bucket="ups", Key=key)["UploadId"]
    out = s3.list_multipart_uploads(Bucket="ups", Delimiter="/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["a/", "b/"]
    assert [u["Key"] for u in out["Uploads"]] == ["c", "d"]
    out = s3.list_multipart_uploads(Bucket="ups", Delimiter="/", Prefix="b/")
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/x/"] and "Uploads" not in out
    # Pages count uploads and prefixes together; a prefix as the key marker skips its keys.
    first = s3.list_multipart_uploads(Bucket="ups", Delimiter="/", MaxUploads=2)
    assert first["IsTruncated"] and [p["Prefix"] for p in first["CommonPrefixes"]] == ["a/", "b/"]
    assert first["NextKeyMarker"] == "b/"
    rest = s3.list_multipart_uploads(Bucket="ups", Delimiter="/", MaxUploads=2, KeyMarker=first["NextKeyMarker"])
    assert [u["Key"] for u in rest["Uploads"]] == ["c", "d"] and not rest["IsTruncated"]
    page = s3.list_multipart_uploads(Bucket="ups", MaxUploads=3)
    assert [u["Key"] for u in page["Uploads"]] == ["a/1", "a/2", "b/x/1"]
    assert page["NextKeyMarker"] == "b/x/1" and page["NextUploadIdMarker"] == ids["b/x/1"]
    page = s3.list_multipart_uploads(Bucket="ups", MaxUploads=3, KeyMarker=page["NextKeyMarker"],
                                     UploadIdMarker=page["NextUploadIdMarker"])
    assert [u["Key"] for u in page["Uploads"]] == ["c", "d"]


def test_multipart_complete_errors(stratus):
    """CompleteMultipartUpload checks part order, ETags and the 5 MiB minimum."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    uid = s3.create_multipart_upload(Bucket="bkt", Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket="bkt", Key="k", UploadId=uid, PartNumber=1, Body=os.urandom(5 * MiB))["ETag"]
    e2 = s3.upload_part(Bucket="bkt", Key="k", UploadId=uid, PartNumber=2, Body=os.urandom(5 * MiB))["ETag"]
    complete = s3.complete_multipart_upload
    code, msg, status = client_error(complete, Bucket="bkt", Key="k", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert (code, status) == ("InvalidPartOrder", 400)
    assert msg.startswith("The list of parts was not in ascending order.")
    code, _, status = client_error(complete, Bucket="bkt", Key="k", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}, {"PartNumber": 2, "ETag": e2}]})
    assert (code, status) == ("InvalidPart", 400)
    code, _, status = client_error(complete, Bucket="bkt", Key="k", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e2}]})
    assert (code, status) == ("InvalidPart", 400)
    # Failed completions leave the upload usable.
    complete(Bucket="bkt", Key="k", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert s3.head_object(Bucket="bkt", Key="k")["ContentLength"] == 10 * MiB
    # Every part but the last must be at least 5 MiB.
    uid = s3.create_multipart_upload(Bucket="bkt", Key="small")["UploadId"]
    small = [s3.upload_part(Bucket="bkt", Key="small", UploadId=uid, PartNumber=n, Body=b"x" * 1024)["ETag"]
             for n in (1, 2)]
    code, msg, status = client_error(complete, Bucket="bkt", Key="small", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2), small)]})
    assert (code, msg, status) == ("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size",
                                   400)
    # A single small part is fine: it is the last one.
    uid = s3.create_multipart_upload(Bucket="bkt", Key="one")["UploadId"]
    e = s3.upload_part(Bucket="bkt", Key="one", UploadId=uid, PartNumber=1, Body=b"tiny")["ETag"]
    done = complete(Bucket="bkt", Key="one", UploadId=uid, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e}]})
    assert done["ETag"] == f'"{hashlib.md5(hashlib.md5(b"tiny").digest()).hexdigest()}-1"'


def test_abort_multipart_upload(stratus):
    """An aborted upload is gone: NoSuchUpload for later calls."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    uid = s3.create_multipart_upload(Bucket="bkt", Key="k")["UploadId"]
    s3.upload_part(Bucket="bkt", Key="k", UploadId=uid, PartNumber=1, Body=b"data")
    assert s3.abort_multipart_upload(Bucket="bkt", Key="k", UploadId=uid)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client_error(s3.upload_part, Bucket="bkt", Key="k", UploadId=uid, PartNumber=2, Body=b"x")[::2] == \
        ("NoSuchUpload", 404)
    assert client_error(s3.list_parts, Bucket="bkt", Key="k", UploadId=uid)[::2] == ("NoSuchUpload", 404)
    assert client_error(s3.complete_multipart_upload, Bucket="bkt", Key="k", UploadId=uid,
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"x"'}]})[::2] == ("NoSuchUpload", 404)
    assert s3.list_multipart_uploads(Bucket="bkt").get("Uploads", []) == []
    assert client_error(s3.head_object, Bucket="bkt", Key="k")[2] == 404


def test_upload_part_copy(stratus):
    """UploadPartCopy copies a byte range of an existing object into a part."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    src = os.urandom(6 * MiB)
    s3.put_object(Bucket="bkt", Key="src", Body=src)
    uid = s3.create_multipart_upload(Bucket="bkt", Key="dst")["UploadId"]
    copied = s3.upload_part_copy(Bucket="bkt", Key="dst", UploadId=uid, PartNumber=1,
                                 CopySource={"Bucket": "bkt", "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    assert copied["CopyPartResult"]["ETag"] == f'"{md5hex(src[:5 * MiB])}"'
    e2 = s3.upload_part(Bucket="bkt", Key="dst", UploadId=uid, PartNumber=2, Body=b"tail")["ETag"]
    s3.complete_multipart_upload(Bucket="bkt", Key="dst", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": e2}]})
    assert s3.get_object(Bucket="bkt", Key="dst")["Body"].read() == src[:5 * MiB] + b"tail"


# ---------------------------------------------------------------- AWS CLI

def test_cli_cp_large_file(stratus, tmp_path):
    """aws s3 cp of a 20 MiB file goes up multipart and comes back intact."""
    s3 = stratus.client("s3")
    make_bucket(s3, "cli")
    data = os.urandom(20 * MiB)
    (tmp_path / "up.bin").write_bytes(data)
    stratus.cli("s3", "cp", str(tmp_path / "up.bin"), "s3://cli/big.bin")
    # Above the CLI's 8 MiB threshold it uploads 8 MiB parts: 8 + 8 + 4.
    head = s3.head_object(Bucket="cli", Key="big.bin")
    assert head["ContentLength"] == 20 * MiB and head["ETag"].endswith('-3"')
    stratus.cli("s3", "cp", "s3://cli/big.bin", str(tmp_path / "down.bin"))
    assert (tmp_path / "down.bin").read_bytes() == data


def test_cli_sync_ls_rm(stratus, tmp_path):
    """aws s3 sync, ls and rm --recursive."""
    s3 = stratus.client("s3")
    make_bucket(s3, "site")
    src = tmp_path / "site"
    (src / "css").mkdir(parents=True)
    files = {"index.html": b"<h1>hi</h1>", "about.html": b"about", "css/main.css": b"body{}"}
    an_hour_ago = time.time() - 3600
    for name, content in files.items():
        (src / name).write_bytes(content)
        # sync re-uploads files newer than the object; S3 keeps whole seconds.
        os.utime(src / name, (an_hour_ago, an_hour_ago))
    stratus.cli("s3", "sync", str(src), "s3://site/")
    assert sorted(keys_of(s3.list_objects_v2(Bucket="site"))) == sorted(files)
    assert s3.get_object(Bucket="site", Key="css/main.css")["Body"].read() == b"body{}"
    out = stratus.cli("s3", "ls", "s3://site/").stdout
    assert "PRE css/" in out and "index.html" in out and "about.html" in out
    out = stratus.cli("s3", "ls", "--recursive", "s3://site/").stdout
    assert "css/main.css" in out
    # A second sync of unchanged files uploads nothing.
    assert "upload:" not in stratus.cli("s3", "sync", str(src), "s3://site/").stdout
    stratus.cli("s3", "rm", "--recursive", "s3://site/")
    assert s3.list_objects_v2(Bucket="site")["KeyCount"] == 0
    out = stratus.cli("s3", "ls", check=False)
    assert out.returncode == 0 and "site" in out.stdout


def test_cli_s3api_head_object(stratus):
    """aws s3api head-object."""
    s3 = stratus.client("s3")
    make_bucket(s3, "api")
    s3.put_object(Bucket="api", Key="doc.txt", Body=b"twelve bytes", ContentType="text/plain", Metadata={"a": "b"})
    out = json.loads(stratus.cli("s3api", "head-object", "--bucket", "api", "--key", "doc.txt").stdout)
    assert out["ContentLength"] == 12
    assert out["ETag"] == f'"{md5hex(b"twelve bytes")}"'
    assert out["ContentType"] == "text/plain" and out["Metadata"] == {"a": "b"}
    missing = stratus.cli("s3api", "head-object", "--bucket", "api", "--key", "nope", check=False)
    assert missing.returncode != 0 and "404" in missing.stderr


# ---------------------------------------------------------------- presigned URLs and anonymous access

def presigner(stratus, signature):
    """boto3 presigns S3 URLs for a custom endpoint with SigV2 query auth (AWSAccessKeyId, Signature,
    Expires) unless configured with signature_version='s3v4' (X-Amz-Algorithm, X-Amz-Signature, ...)."""
    if signature == "sigv2":
        return stratus.client("s3")
    return boto3.client("s3", endpoint_url=stratus.url, region_name="us-east-1", aws_access_key_id="test",
                        aws_secret_access_key="test", config=botocore.config.Config(signature_version="s3v4"))


def tamper(url, param):
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    value = dict(query)[param]
    forged = value[:-2] + ("AA" if value[-2:] != "AA" else "BB")
    query = [(k, forged if k == param else v) for k, v in query]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@pytest.mark.parametrize("signature", ["sigv2", "sigv4"])
def test_presigned_get_and_put(stratus, signature):
    """Presigned GET and PUT URLs work with a plain HTTP client."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    signer = presigner(stratus, signature)
    s3.put_object(Bucket="bkt", Key="shared file.txt", Body=b"for your eyes")
    url = signer.generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "shared file.txt"},
                                        ExpiresIn=300)
    assert ("X-Amz-Signature=" in url) == (signature == "sigv4")
    r = requests.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"for your eyes"
    url = signer.generate_presigned_url("put_object", Params={"Bucket": "bkt", "Key": "dropped.bin"}, ExpiresIn=300)
    r = requests.put(url, data=b"uploaded via url", timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["ETag"] == f'"{md5hex(b"uploaded via url")}"'
    assert s3.get_object(Bucket="bkt", Key="dropped.bin")["Body"].read() == b"uploaded via url"


def test_presigned_url_expires(stratus):
    """An expired presigned URL is AccessDenied: Request has expired."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    s3.put_object(Bucket="bkt", Key="k", Body=b"x")
    urls = [presigner(stratus, sig).generate_presigned_url("get_object", Params={"Bucket": "bkt", "Key": "k"},
                                                           ExpiresIn=1) for sig in ("sigv2", "sigv4")]
    time.sleep(2.1)
    for url in urls:
        r = requests.get(url, timeout=10)
        assert r.status_code == 403, url
        assert error_of(r) == ("AccessDenied", "Request has expired")


def test_tampered_signature_and_anonymous_access(stratus):
    """Forged presigned URLs and unsigned requests to private data are refused."""
    s3 = stratus.client("s3")
    make_bucket(s3, "bkt")
    s3.put_object(Bucket="bkt", Key="private.txt", Body=b"secret")
    for signature, param in (("sigv2", "Signature"), ("sigv4", "X-Amz-Signature")):
        url = presigner(stratus, signature).generate_presigned_url(
            "get_object", Params={"Bucket": "bkt", "Key": "private.txt"}, ExpiresIn=300)
        r = requests.get(tamper(url, param), timeout=10)
        assert (r.status_code, error_of(r)[0]) == (403, "SignatureDoesNotMatch"), signature
        r = requests.get(url.replace("private.txt", "other.txt"), timeout=10)
        assert (r.status_code, error_of(r)[0]) == (403, "SignatureDoesNotMatch"), signature
    r = requests.get(f"{stratus.url}/bkt/private.txt", timeout=10)
    assert (r.status_code, error_of(r)[0]) == (403, "AccessDenied")
    r = requests.put(f"{stratus.url}/bkt/anon.txt", data=b"x", timeout=10)
    assert (r.status_code, error_of(r)[0]) == (403, "AccessDenied")
    r = requests.get(f"{stratus.url}/bkt", timeout=10)
    assert (r.status_code, error_of(r)[0]) == (403, "AccessDenied")
    assert keys_of(s3.list_objects_v2(Bucket="bkt")) == ["private.txt"]


def test_header_signed_reads_verify_key_secret_and_token(stratus):
    """GET and HEAD signed in the Authorization header are checked like every other request:
    a wrong secret, an unknown key or a temporary key without its session token is refused;
    temporary credentials with their token read like the account's own key."""
    s3 = stratus.client("s3")
    make_bucket(s3, "hdr")
    s3.put_object(Bucket="hdr", Key="k", Body=b"body")
    wrong = stratus.client("s3", secret="not-the-secret")
    for call, kw in ((wrong.get_object, {"Key": "k"}), (wrong.list_objects_v2, {}),
                     (wrong.get_object_tagging, {"Key": "k"})):
        assert client_error(call, Bucket="hdr", **kw)[::2] == ("SignatureDoesNotMatch", 403)
    assert client_error(wrong.head_object, Bucket="hdr", Key="k")[2] == 403
    unknown = stratus.client("s3", key="AKIANOSUCHKEY", secret="x")
    assert client_error(unknown.get_object, Bucket="hdr", Key="k")[::2] == ("InvalidAccessKeyId", 403)
    creds = stratus.client("sts").get_session_token(DurationSeconds=900)["Credentials"]
    temp = stratus.client("s3", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"],
                          token=creds["SessionToken"])
    assert temp.get_object(Bucket="hdr", Key="k")["Body"].read() == b"body"
    assert temp.head_object(Bucket="hdr", Key="k")["ContentLength"] == 4
    no_token = stratus.client("s3", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"])
    assert client_error(no_token.get_object, Bucket="hdr", Key="k")[::2] == ("InvalidToken", 400)


def test_refused_upload_closes_its_connection(stratus):
    """An upload refused before its body was read (the client waits for `100 Continue`, as the
    SDKs do) is answered with `Connection: close`, so that the client does not send its next
    request on a connection the server is about to close."""
    s3 = stratus.client("s3")
    make_bucket(s3, "closing")
    port = int(stratus.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"PUT /closing/k HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, head
            head += chunk
    status, *headers = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert status.split()[1] == "403"
    assert {h.split(":", 1)[0].lower(): h.split(":", 1)[1].strip() for h in headers}["connection"] == "close"
    s3.put_object(Bucket="closing", Key="k", Body=b"x")
    assert s3.get_object(Bucket="closing", Key="k")["Body"].read() == b"x"


# ---------------------------------------------------------------- versioning

def test_versioning_versions_and_delete_markers(stratus):
    """Versions, delete markers and IsLatest in a versioning-enabled bucket."""
    s3 = stratus.client("s3")
    make_bucket(s3, "ver")
    assert "Status" not in s3.get_bucket_versioning(Bucket="ver")
    s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Enabled"
    v1 = s3.put_object(Bucket="ver", Key="doc", Body=b"first")["VersionId"]
    v2 = s3.put_object(Bucket="ver", Key="doc", Body=b"second")["VersionId"]
    assert v1 and v2 and v1 != v2 and "null" not in (v1, v2)
    assert s3.get_object(Bucket="ver", Key="doc")["Body"].read() == b"second"
    old = s3.get_object(Bucket="ver", Key="doc", VersionId=v1)
    assert old["Body"].read() == b"first" and old["VersionId"] == v1
    assert s3.head_object(Bucket="ver", Key="doc")["VersionId"] == v2

    deleted = s3.delete_object(Bucket="ver", Key="doc")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    resp = error_response(s3.get_object, Bucket="ver", Key="doc")
    assert (resp["Error"]["Code"], resp["ResponseMetadata"]["HTTPStatusCode"]) == ("NoSuchKey", 404)
    assert resp["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    assert s3.list_objects_v2(Bucket="ver")["KeyCount"] == 0
    assert s3.get_object(Bucket="ver", Key="doc", VersionId=v1)["Body"].read() == b"first"

    listing = s3.list_object_versions(Bucket="ver")
    assert [(x["VersionId"], x["IsLatest"], x["Size"]) for x in listing["Versions"]] == \
        [(v2, False, 6), (v1, False, 5)]
    assert [(m["Key"], m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]] == [("doc", marker, True)]

    # Deleting the marker by version brings the object back.
    undo = s3.delete_object(Bucket="ver", Key="doc", VersionId=marker)
    assert undo["DeleteMarker"] is True and undo["VersionId"] == marker
    assert s3.get_object(Bucket="ver", Key="doc")["Body"].read() == b"second"
    # Deleting a specific version removes it for good.
    s3.delete_object(Bucket="ver", Key="doc", VersionId=v2)
    assert s3.get_object(Bucket="ver", Key="doc")["Body"].read() == b"first"
    listing = s3.list_object_versions(Bucket="ver")
    assert [(x["VersionId"], x["IsLatest"]) for x in listing["Versions"]] == [(v1, True)]
    assert "DeleteMarkers" not in listing
    code, _, status = client_error(s3.get_object, Bucket="ver", Key="doc", VersionId=v2)
    assert status in (400, 404) and code in ("NoSuchVersion", "InvalidArgument")


def test_versioning_suspended_uses_null_version(stratus):
    """With versioning suspended, puts overwrite the 'null' version only."""
    s3 = stratus.client("s3")
    make_bucket(s3, "ver")
    s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket="ver", Key="k", Body=b"versioned")["VersionId"]
    s3.put_bucket_versioning(Bucket="ver", VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket="ver")["Status"] == "Suspended"
    s3.put_object(Bucket="ver", Key="k", Body=b"null one")
    s3.put_object(Bucket="ver", Key="k", Body=b"null two")
    versions = s3.list_object_versions(Bucket="ver")["Versions"]
    assert [(x["VersionId"], x["IsLatest"]) for x in versions] == [("null", True), (kept, False)]
    assert s3.get_object(Bucket="ver", Key="k", VersionId="null")["Body"].read() == b"null two"
    assert s3.get_object(Bucket="ver", Key="k", VersionId=kept)["Body"].read() == b"versioned"


# ---------------------------------------------------------------- tagging

def test_object_tagging(stratus):
    """Object tags through PutObject and the tagging operations."""
    s3 = stratus.client("s3")
    make_bucket(s3, "tag")
    s3.put_object(Bucket="tag", Key="tagged", Body=b"x", Tagging="a=1&b=2")
    tags = s3.get_object_tagging(Bucket="tag", Key="tagged")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("a", "1"), ("b", "2")]
    assert s3.get_object(Bucket="tag", Key="tagged")["TagCount"] == 2
    s3.put_object_tagging(Bucket="tag", Key="tagged", Tagging={"TagSet": [{"Key": "env", "Value": "prod"}]})
    assert s3.get_object_tagging(Bucket="tag", Key="tagged")["TagSet"] == [{"Key": "env", "Value": "prod"}]
    assert s3.delete_object_tagging(Bucket="tag", Key="tagged")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket="tag", Key="tagged")["TagSet"] == []
    assert "TagCount" not in s3.get_object(Bucket="tag", Key="tagged")
    assert client_error(s3.get_object_tagging, Bucket="tag", Key="ghost")[::2] == ("NoSuchKey", 404)


def test_bucket_tagging(stratus):
    """Bucket tags; none set is NoSuchTagSet."""
    s3 = stratus.client("s3")
    make_bucket(s3, "tag")
    assert client_error(s3.get_bucket_tagging, Bucket="tag")[::2] == ("NoSuchTagSet", 404)
    s3.put_bucket_tagging(Bucket="tag", Tagging={"TagSet": [{"Key": "team", "Value": "core"},
                                                          {"Key": "cost", "Value": "42"}]})
    tags = s3.get_bucket_tagging(Bucket="tag")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("cost", "42"), ("team", "core")]
    assert s3.delete_bucket_tagging(Bucket="tag")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client_error(s3.get_bucket_tagging, Bucket="tag")[::2] == ("NoSuchTagSet", 404)


# ---------------------------------------------------------------- policies and ACLs

def public_read_policy(bucket):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*"}]})


def test_bucket_policy_grants_anonymous_read(stratus):
    """A public-read bucket policy opens GetObject to unsigned requests, nothing more."""
    s3 = stratus.client("s3")
    for b in ("pub", "priv"):
        make_bucket(s3, b)
        s3.put_object(Bucket=b, Key="page.html", Body=b"<p>hello</p>")
    assert client_error(s3.get_bucket_policy, Bucket="pub")[::2] == ("NoSuchBucketPolicy", 404)
    # New buckets block public policies until the public access block is removed
    # (https://aws.amazon.com/blogs/aws/heads-up-amazon-s3-security-changes-are-coming-in-april-of-2023/).
    s3.delete_public_access_block(Bucket="pub")
    s3.put_bucket_policy(Bucket="pub", Policy=public_read_policy("pub"))
    assert json.loads(s3.get_bucket_policy(Bucket="pub")["Policy"]) == json.loads(public_read_policy("pub"))
    r = requests.get(f"{stratus.url}/pub/page.html", timeout=10)
    assert r.status_code == 200 and r.content == b"<p>hello</p>"
    r = requests.get(f"{stratus.url}/priv/page.html", timeout=10)
    assert (r.status_code, error_of(r)[0]) == (403, "AccessDenied")
    # The policy grants GetObject only.
    r = requests.put(f"{stratus.url}/pub/page.html", data=b"defaced", timeout=10)
    assert r.status_code == 403
    assert s3.delete_bucket_policy(Bucket="pub")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert client_error(s3.get_bucket_policy, Bucket="pub")[::2] == ("NoSuchBucketPolicy", 404)
    assert requests.get(f"{stratus.url}/pub/page.html", timeout=10).status_code == 403
    assert client_error(s3.put_bucket_policy, Bucket="pub", Policy="{not json")[::2] == ("MalformedPolicy", 400)


def test_bucket_policy_conditions(new_server):
    """Statements apply only when their Condition holds: source address, listing prefix,
    canned ACL header, time, and the classic deny of plain HTTP."""
    s = new_server(["--access-key", "test:test", "--access-key", "AKIAALICE:alicesecret:111122223333:user/alice"])
    me = s.client("s3")
    alice = s.client("s3", key="AKIAALICE", secret="alicesecret")
    make_bucket(me, "cond")
    me.delete_public_access_block(Bucket="cond")
    for k in ("home/alice/a.txt", "home/bob/b.txt", "pub/x.txt"):
        me.put_object(Bucket="cond", Key=k, Body=b"x")

    def policy(*statements):
        me.put_bucket_policy(Bucket="cond", Policy=json.dumps({"Version": "2012-10-17", "Statement": list(statements)}))

    alice_arn = "arn:aws:iam::111122223333:user/alice"
    policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cond/pub/*",
         "Condition": {"IpAddress": {"aws:SourceIp": "127.0.0.0/8"}}},
        {"Effect": "Allow", "Principal": {"AWS": alice_arn}, "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::cond",
         "Condition": {"StringLike": {"s3:prefix": "home/alice/*"}}},
        {"Effect": "Allow", "Principal": {"AWS": alice_arn}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::cond/*",
         "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}}},
    )
    assert requests.get(f"{s.url}/cond/pub/x.txt", timeout=10).status_code == 200
    listed = alice.list_objects_v2(Bucket="cond", Prefix="home/alice/")
    assert [o["Key"] for o in listed["Contents"]] == ["home/alice/a.txt"]
    assert client_error(alice.list_objects_v2, Bucket="cond", Prefix="home/bob/")[::2] == ("AccessDenied", 403)
    assert client_error(alice.list_objects_v2, Bucket="cond")[::2] == ("AccessDenied", 403)
    assert client_error(alice.put_object, Bucket="cond", Key="home/alice/n.txt", Body=b"n")[::2] == \
        ("AccessDenied", 403)
    alice.put_object(Bucket="cond", Key="home/alice/n.txt", Body=b"n", ACL="bucket-owner-full-control")

    # The same read from an address outside the block is refused; so is a grant that expired.
    policy(
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cond/pub/*",
         "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "192.168.0.0/16"]}}},
        {"Effect": "Allow", "Principal": {"AWS": alice_arn}, "Action": "s3:GetObject", "Resource": "arn:aws:s3:::cond/*",
         "Condition": {"DateLessThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}}},
    )
    assert requests.get(f"{s.url}/cond/pub/x.txt", timeout=10).status_code == 403
    assert client_error(alice.get_object, Bucket="cond", Key="pub/x.txt")[::2] == ("AccessDenied", 403)

    # A Deny with a condition applies only when it holds: here, to every plain-HTTP request,
    # the owner's included.
    policy({"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": ["arn:aws:s3:::cond", "arn:aws:s3:::cond/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}, "StringNotEquals": {"s3:prefix": "open/"}}})
    assert client_error(me.get_object, Bucket="cond", Key="pub/x.txt")[::2] == ("AccessDenied", 403)
    assert me.list_objects_v2(Bucket="cond", Prefix="open/")["KeyCount"] == 0
    me.delete_bucket_policy(Bucket="cond")
    assert me.get_object(Bucket="cond", Key="pub/x.txt")["Body"].read() == b"x"


def test_new_buckets_block_public_policies_and_acls(stratus):
    """Since April 2023 new buckets have Block Public Access on and ACLs disabled (BucketOwnerEnforced)."""
    s3 = stratus.client("s3")
    make_bucket(s3, "locked")
    block = s3.get_public_access_block(Bucket="locked")["PublicAccessBlockConfiguration"]
    assert block == {"BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True,
                     "RestrictPublicBuckets": True}
    rules = s3.get_bucket_ownership_controls(Bucket="locked")["OwnershipControls"]["Rules"]
    assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert client_error(s3.put_bucket_policy, Bucket="locked", Policy=public_read_policy("locked"))[::2] == \
        ("AccessDenied", 403)
    s3.delete_public_access_block(Bucket="locked")
    assert client_error(s3.get_public_access_block, Bucket="locked")[::2] == \
        ("NoSuchPublicAccessBlockConfiguration", 404)
    s3.put_bucket_policy(Bucket="locked", Policy=public_read_policy("locked"))
    # With ACLs disabled a public canned ACL is refused; "private" is still accepted.
    assert client_error(s3.put_bucket_acl, Bucket="locked", ACL="public-read")[::2] == \
        ("AccessControlListNotSupported", 400)
    s3.put_bucket_acl(Bucket="locked", ACL="private")


def test_canned_bucket_acl(stratus):
    """With ACLs enabled, the public-read canned ACL grants AllUsers READ."""
    s3 = stratus.client("s3")
    make_bucket(s3, "acl")
    acl = s3.get_bucket_acl(Bucket="acl")
    owner = acl["Owner"]["ID"]
    assert [(g["Grantee"]["Type"], g["Grantee"]["ID"], g["Permission"]) for g in acl["Grants"]] == \
        [("CanonicalUser", owner, "FULL_CONTROL")]
    # ACLs must be enabled and public ACLs unblocked before a public canned ACL is accepted.
    s3.put_bucket_ownership_controls(Bucket="acl", OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    s3.delete_public_access_block(Bucket="acl")
    s3.put_bucket_acl(Bucket="acl", ACL="public-read")
    grants = s3.get_bucket_acl(Bucket="acl")["Grants"]
    assert {"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"} in grants
    assert any(g["Permission"] == "FULL_CONTROL" and g["Grantee"].get("ID") == owner for g in grants)
    # READ on the bucket lets anyone list it.
    s3.put_object(Bucket="acl", Key="listed.txt", Body=b"x")
    r = requests.get(f"{stratus.url}/acl", timeout=10)
    assert r.status_code == 200 and b"<Key>listed.txt</Key>" in r.content
    s3.put_bucket_acl(Bucket="acl", ACL="private")
    assert all(g["Grantee"].get("URI") != ALL_USERS for g in s3.get_bucket_acl(Bucket="acl")["Grants"])


# ---------------------------------------------------------------- Stratus: accounts, addressing, durability

def test_buckets_belong_to_their_account(new_server):
    """Another account's keys cannot read or write a bucket, nor take its name."""
    s = new_server(["--access-key", "test:test", "--access-key", "AKIAALICE:alicesecret:111122223333:user/alice"])
    me = s.client("s3")
    alice = s.client("s3", key="AKIAALICE", secret="alicesecret")
    me.create_bucket(Bucket="mine")
    me.put_object(Bucket="mine", Key="k", Body=b"private")
    assert alice.list_buckets()["Buckets"] == []
    for call, kw in ((alice.list_objects_v2, {}), (alice.get_object, {"Key": "k"}),
                     (alice.put_object, {"Key": "k", "Body": b"overwrite"}), (alice.delete_bucket, {})):
        assert client_error(call, Bucket="mine", **kw)[::2] == ("AccessDenied", 403)
    # Bucket names are global: alice cannot take the name.
    code, _, status = client_error(alice.create_bucket, Bucket="mine")
    assert (code, status) == ("BucketAlreadyExists", 409)
    alice.create_bucket(Bucket="alices")
    assert [b["Name"] for b in me.list_buckets()["Buckets"]] == ["mine"]
    assert [b["Name"] for b in alice.list_buckets()["Buckets"]] == ["alices"]
    assert me.get_object(Bucket="mine", Key="k")["Body"].read() == b"private"


def test_virtual_host_style_addressing(stratus):
    """Requests addressed as {bucket}.s3.localhost reach the bucket."""
    s3 = stratus.client("s3")
    make_bucket(s3, "vhost")
    s3.put_object(Bucket="vhost", Key="dir/file.txt", Body=b"by host")
    host = f"vhost.s3.localhost:{stratus.port}"

    def send(method, path, body=b""):
        req = botocore.awsrequest.AWSRequest(method=method, url=f"http://{host}{path}", data=body,
                                             headers={"x-amz-content-sha256": sha256hex(body)})
        botocore.auth.SigV4Auth(botocore.credentials.Credentials("test", "test"), "s3", "us-east-1").add_auth(req)
        headers = dict(req.prepare().headers)
        headers["Host"] = host
        return requests.request(method, f"{stratus.url}{path}", data=body, headers=headers, timeout=10)

    r = send("GET", "/dir/file.txt")
    assert r.status_code == 200, r.text
    assert r.content == b"by host"
    r = send("PUT", "/new.txt", b"written by host")
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket="vhost", Key="new.txt")["Body"].read() == b"written by host"
    r = send("GET", "/?list-type=2")
    assert r.status_code == 200 and b"<Key>dir/file.txt</Key>" in r.content and b"<Key>new.txt</Key>" in r.content


def test_acknowledged_objects_survive_kill_9_mid_upload(new_server):
    """Every acknowledged PutObject survives kill -9; nothing half-written appears."""
    s = new_server(dev=False)
    s.client("s3").create_bucket(Bucket="crash")
    attempted = {f"obj-{n}-{i:02d}": os.urandom(64 * 1024 * (1 + (i % 8))) for n in range(3) for i in range(10)}
    acked, lock = {}, threading.Lock()

    def writer(n):
        c = s.client("s3")
        for i in range(10):
            key = f"obj-{n}-{i:02d}"
            try:
                resp = c.put_object(Bucket="crash", Key=key, Body=attempted[key])
            except Exception:  # noqa: BLE001 — the server is gone
                return
            if resp["ResponseMetadata"]["HTTPStatusCode"] == 200:
                with lock:
                    acked[key] = attempted[key]

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 8 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.005)
    s.kill9()
    for t in threads:
        t.join(30)
    assert acked, "no put was acknowledged before the kill"
    s.start()
    c = s.client("s3")
    for key, data in acked.items():
        assert c.get_object(Bucket="crash", Key=key)["Body"].read() == data, f"acknowledged {key} lost or corrupt"
    present = keys_of(c.list_objects_v2(Bucket="crash"))
    assert set(present) <= set(attempted)
    for key in present:
        got = c.get_object(Bucket="crash", Key=key)
        assert got["Body"].read() == attempted[key], f"{key} is present with partial or wrong content"
    for key in set(attempted) - set(present):
        assert client_error(c.head_object, Bucket="crash", Key=key)[2] == 404


def test_bodies_no_record_references_are_swept_at_start(new_server):
    """A crash between a body's rename and its record's commit leaves an orphan file: the next
    start removes it, and every referenced body stays."""
    s = new_server(dev=False)
    c = s.client("s3")
    c.create_bucket(Bucket="sweep")
    big = os.urandom(300 * 1024)  # above the inline limit: a blob file
    c.put_object(Bucket="sweep", Key="kept", Body=big)
    c.copy_object(Bucket="sweep", Key="copy", CopySource={"Bucket": "sweep", "Key": "kept"})
    upload = c.create_multipart_upload(Bucket="sweep", Key="pending")["UploadId"]
    c.upload_part(Bucket="sweep", Key="pending", UploadId=upload, PartNumber=1, Body=big)
    s.kill9()
    blobs = s.data_dir / "blobs"
    before = {p.name for p in blobs.glob("*/*") if p.parent.name != "tmp"}
    assert len(before) == 3, before  # the object, its copy (a link) and the part
    orphans = []
    for i in range(3):
        name = uuid.uuid4().hex
        (blobs / name[:2]).mkdir(exist_ok=True)
        (blobs / name[:2] / name).write_bytes(b"left by a crash" * i)
        orphans.append(blobs / name[:2] / name)
    s.start()
    deadline = time.monotonic() + 30
    while any(p.exists() for p in orphans) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(p.exists() for p in orphans), "orphan bodies were not swept"
    assert {p.name for p in blobs.glob("*/*") if p.parent.name != "tmp"} == before
    c = s.client("s3")
    assert c.get_object(Bucket="sweep", Key="kept")["Body"].read() == big
    assert c.get_object(Bucket="sweep", Key="copy")["Body"].read() == big
    etag = c.list_parts(Bucket="sweep", Key="pending", UploadId=upload)["Parts"][0]["ETag"]
    c.complete_multipart_upload(Bucket="sweep", Key="pending", UploadId=upload,
                                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert c.get_object(Bucket="sweep", Key="pending")["Body"].read() == big


def website_get(stratus, bucket, path, method="GET"):
    """A request to the bucket's website endpoint (Host-based, as S3 serves websites)."""
    host = f"{bucket}.s3-website.localhost:{stratus.port}"
    return requests.request(method, f"{stratus.url}{path}", headers={"Host": host}, allow_redirects=False,
                            timeout=10)


def test_static_website_hosting(stratus):
    """Index documents, folder redirects, error documents, routing rules and redirect-all."""
    s3 = stratus.client("s3")
    make_bucket(s3, "site")
    s3.delete_public_access_block(Bucket="site")
    s3.put_bucket_policy(Bucket="site", Policy=public_read_policy("site"))
    for key, body in {"index.html": b"<h1>home</h1>", "docs/index.html": b"<h1>docs</h1>",
                      "about.html": b"<p>about</p>", "404.html": b"<p>lost</p>"}.items():
        s3.put_object(Bucket="site", Key=key, Body=body, ContentType="text/html")
    # Before a website configuration exists the endpoint says so.
    r = website_get(stratus, "site", "/")
    assert r.status_code == 404 and b"NoSuchWebsiteConfiguration" in r.content
    s3.put_bucket_website(Bucket="site", WebsiteConfiguration={
        "IndexDocument": {"Suffix": "index.html"}, "ErrorDocument": {"Key": "404.html"},
        "RoutingRules": [{"Condition": {"KeyPrefixEquals": "old/"},
                          "Redirect": {"ReplaceKeyPrefixWith": "docs/", "HttpRedirectCode": "301"}}]})
    assert s3.get_bucket_website(Bucket="site")["IndexDocument"] == {"Suffix": "index.html"}
    r = website_get(stratus, "site", "/")
    assert (r.status_code, r.content, r.headers["Content-Type"]) == (200, b"<h1>home</h1>", "text/html")
    assert website_get(stratus, "site", "/docs/").content == b"<h1>docs</h1>"
    r = website_get(stratus, "site", "/docs")
    assert r.status_code == 302 and r.headers["Location"] == "/docs/"
    assert website_get(stratus, "site", "/about.html").content == b"<p>about</p>"
    r = website_get(stratus, "site", "/missing.html")
    assert (r.status_code, r.content) == (404, b"<p>lost</p>")
    r = website_get(stratus, "site", "/old/page.html")
    assert r.status_code == 301 and r.headers["Location"].endswith("/docs/page.html")
    r = website_get(stratus, "site", "/about.html", method="HEAD")
    assert r.status_code == 200 and r.content == b""
    assert website_get(stratus, "site", "/", method="DELETE").status_code == 405
    # Objects the public cannot read are 403 there, even when they exist.
    s3.delete_bucket_policy(Bucket="site")
    assert website_get(stratus, "site", "/about.html").status_code == 403
    # Redirect-all sends every path to another host.
    make_bucket(s3, "moved")
    s3.put_bucket_website(Bucket="moved", WebsiteConfiguration={
        "RedirectAllRequestsTo": {"HostName": "example.com", "Protocol": "https"}})
    r = website_get(stratus, "moved", "/a/b")
    assert r.status_code == 301 and r.headers["Location"] == "https://example.com/a/b"
    assert website_get(stratus, "nowhere", "/").status_code == 404
    s3.delete_bucket_website(Bucket="site")
    assert client_error(s3.get_bucket_website, Bucket="site")[::2] == ("NoSuchWebsiteConfiguration", 404)


def test_cors_configuration_and_preflight(stratus):
    """CORS rules are stored, answer preflights, and add headers to actual requests."""
    s3 = stratus.client("s3")
    make_bucket(s3, "web")
    s3.put_object(Bucket="web", Key="data.json", Body=b"{}")
    url = f"{stratus.url}/web/data.json"
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "content-type"}
    r = requests.options(url, headers=preflight, timeout=10)
    assert r.status_code == 403 and b"CORS is not enabled" in r.content
    assert client_error(s3.get_bucket_cors, Bucket="web")[::2] == ("NoSuchCORSConfiguration", 404)
    s3.put_bucket_cors(Bucket="web", CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["https://*.example.com"], "AllowedMethods": ["GET", "PUT"],
         "AllowedHeaders": ["Content-Type"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]})
    assert s3.get_bucket_cors(Bucket="web")["CORSRules"][0]["MaxAgeSeconds"] == 600
    r = requests.options(url, headers=preflight, timeout=10)
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "PUT" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Max-Age"] == "600"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type"
    # Another origin, method or header is refused.
    for bad in ({"Origin": "https://evil.test"}, {"Access-Control-Request-Method": "DELETE"},
                {"Access-Control-Request-Headers": "x-secret"}):
        r = requests.options(url, headers={**preflight, **bad}, timeout=10)
        assert r.status_code == 403, bad
    # Actual requests from an allowed origin carry the CORS headers.
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": "web", "Key": "data.json"})
    r = requests.get(presigned, headers={"Origin": "https://app.example.com"}, timeout=10)
    assert r.status_code == 200 and r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag"
    s3.delete_bucket_cors(Bucket="web")
    assert client_error(s3.get_bucket_cors, Bucket="web")[::2] == ("NoSuchCORSConfiguration", 404)


def test_lifecycle_rules_apply_on_the_server_clock(stratus):
    """Expiration, noncurrent-version expiration and multipart abort rules run in the background."""
    s3 = stratus.client("s3")
    make_bucket(s3, "life")
    s3.put_bucket_versioning(Bucket="life", VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_lifecycle_configuration(Bucket="life", LifecycleConfiguration={"Rules": [
        {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1}},
        {"ID": "mpu", "Status": "Enabled", "Filter": {"Prefix": ""},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 3}}]})
    rules = s3.get_bucket_lifecycle_configuration(Bucket="life")["Rules"]
    assert [r["ID"] for r in rules] == ["tmp", "mpu"]
    s3.put_object(Bucket="life", Key="tmp/a", Body=b"1")
    s3.put_object(Bucket="life", Key="keep/b", Body=b"2")
    upload = s3.create_multipart_upload(Bucket="life", Key="big")["UploadId"]
    stratus.advance_clock(2 * 86400 + 60)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and _exists(s3, "tmp/a"):
        time.sleep(0.2)
    assert _exists(s3, "tmp/a") is False
    assert _exists(s3, "keep/b") is True
    # In a versioned bucket expiry leaves a delete marker; the old version is still there...
    versions = s3.list_object_versions(Bucket="life", Prefix="tmp/")
    assert len(versions["DeleteMarkers"]) == 1 and len(versions.get("Versions", [])) == 1
    # ...until it has been noncurrent for a day; the multipart upload goes after three days.
    stratus.advance_clock(2 * 86400)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (s3.list_object_versions(Bucket="life", Prefix="tmp/").get("Versions")
                                           or s3.list_multipart_uploads(Bucket="life").get("Uploads")):
        time.sleep(0.2)
    assert not s3.list_object_versions(Bucket="life", Prefix="tmp/").get("Versions")
    assert client_error(s3.list_parts, Bucket="life", Key="big", UploadId=upload)[0] == "NoSuchUpload"
    s3.delete_bucket_lifecycle(Bucket="life")
    assert client_error(s3.get_bucket_lifecycle_configuration, Bucket="life")[::2] == \
        ("NoSuchLifecycleConfiguration", 404)


def _exists(s3, key, bucket="life"):
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return True
    except botocore.exceptions.ClientError:
        return False


@pytest.mark.parametrize("signature", ["sigv2", "sigv4"])
def test_browser_post_upload_with_signed_policy(stratus, signature):
    """An HTML form POST carrying a signed policy uploads; a forged or violated policy does not."""
    s3 = stratus.client("s3")
    make_bucket(s3, "forms")
    post = presigner(stratus, signature).generate_presigned_post(
        "forms", "uploads/note.txt", Fields={"Content-Type": "text/plain"},
        Conditions=[{"Content-Type": "text/plain"}, ["starts-with", "$key", "uploads/"],
                    ["content-length-range", 1, 1024]], ExpiresIn=300)
    r = requests.post(post["url"], data=post["fields"], files={"file": ("note.txt", b"hello form")}, timeout=10)
    assert r.status_code == 204, r.text
    got = s3.get_object(Bucket="forms", Key="uploads/note.txt")
    assert got["Body"].read() == b"hello form" and got["ContentType"] == "text/plain"
    # `${filename}` in the key is the uploaded file's name.
    named = presigner(stratus, signature).generate_presigned_post(
        "forms", "uploads/${filename}", Conditions=[["starts-with", "$key", "uploads/"]], ExpiresIn=300)
    r = requests.post(named["url"], data=named["fields"], files={"file": ("photo 1.png", b"\x89PNG")}, timeout=10)
    assert r.status_code == 204, r.text
    assert s3.get_object(Bucket="forms", Key="uploads/photo 1.png")["Body"].read() == b"\x89PNG"
    # A body over the policy's size range is refused.
    r = requests.post(post["url"], data=post["fields"], files={"file": ("big.txt", b"x" * 2000)}, timeout=10)
    assert r.status_code in (400, 403), r.text
    # A tampered policy does not match its signature.
    fields = dict(post["fields"])
    sig_field = "signature" if "signature" in fields else "x-amz-signature"
    fields[sig_field] = fields[sig_field][:-2] + ("AA" if not fields[sig_field].endswith("AA") else "BB")
    r = requests.post(post["url"], data=fields, files={"file": ("x.txt", b"x")}, timeout=10)
    assert r.status_code == 403 and error_of(r)[0] == "SignatureDoesNotMatch"
    assert _exists(s3, "uploads/x.txt", bucket="forms") is False


def test_multipart_full_object_crc32_is_computed_and_verified(stratus):
    """A FULL_OBJECT CRC follows from the parts' CRCs: computed when the client states none,
    and a stated value that does not match is BadDigest."""
    import zlib
    s3 = stratus.client("s3")
    make_bucket(s3, "crcs")
    part1, part2 = b"a" * (5 * 1024 * 1024), b"tail of the object"
    whole = base64.b64encode(zlib.crc32(part1 + part2).to_bytes(4, "big")).decode()

    def upload(key, stated):
        u = s3.create_multipart_upload(Bucket="crcs", Key=key, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
        parts = []
        for n, data in ((1, part1), (2, part2)):
            p = s3.upload_part(Bucket="crcs", Key=key, UploadId=u["UploadId"], PartNumber=n, Body=data,
                               ChecksumAlgorithm="CRC32")
            parts.append({"PartNumber": n, "ETag": p["ETag"], "ChecksumCRC32": p["ChecksumCRC32"]})
        extra = {"ChecksumCRC32": stated} if stated else {}
        return s3.complete_multipart_upload(Bucket="crcs", Key=key, UploadId=u["UploadId"],
                                            MultipartUpload={"Parts": parts}, ChecksumType="FULL_OBJECT", **extra)

    done = upload("computed", None)
    assert done["ChecksumCRC32"] == whole and done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket="crcs", Key="computed", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == whole
    assert upload("stated", whole)["ChecksumCRC32"] == whole
    wrong = base64.b64encode((zlib.crc32(b"other") & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    assert client_error(upload, "wrong", wrong)[0] == "BadDigest"
    assert _exists(s3, "wrong", bucket="crcs") is False
