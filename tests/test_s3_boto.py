"""S3 through boto3 (Debian's python3-boto3), checked against AWS's documented behaviour."""

import datetime
import hashlib
import time

import pytest
from awscrt import checksums as crt_checksums
from botocore.config import Config
from botocore.exceptions import ClientError

from sluice_helpers import (MiB, b64, client_error, crc32_b64, curl, list_all_keys, md5_hex,
                            sha256, signed_request, unique_bucket, wait_for)

# ---------------------------------------------------------------------------------------
# Buckets


@pytest.mark.parametrize("name", [
    "ab",                      # too short
    "a" * 64,                  # too long
    "UpperCase",               # upper case
    "under_score",             # underscore
    "-startdash",              # must start with a letter or digit
    "enddash-",                # must end with a letter or digit
    "double..dot",             # adjacent periods
    "192.168.5.4",             # formatted as an IP address
    "xn--punycode",            # reserved prefix
    "name-s3alias",            # reserved suffix
])
def test_create_bucket_invalid_name(s3, name):
    with pytest.raises(ClientError) as ei:
        s3.create_bucket(Bucket=name)
    assert client_error(ei) == ("InvalidBucketName", 400)


def test_create_bucket_valid_edge_names(s3):
    import uuid
    suffix = uuid.uuid4().hex
    names = ["x" + suffix[:2],                      # 3 characters, the minimum
             ("n" + suffix * 2)[:63],               # 63 characters, the maximum
             f"with.dots.{suffix[:8]}",
             f"0-digit-first-{suffix[:8]}"]
    for name in names:
        assert s3.create_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 200
        s3.head_bucket(Bucket=name)
        s3.delete_bucket(Bucket=name)


def test_create_existing_bucket(s3, bucket):
    # us-east-1: re-creating your own bucket answers 200 (legacy) or BucketAlreadyOwnedByYou.
    try:
        r = s3.create_bucket(Bucket=bucket)
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    except ClientError as e:
        assert client_error(e) == ("BucketAlreadyOwnedByYou", 409)


def test_head_bucket(s3, bucket):
    assert s3.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=unique_bucket("missing"))
    assert client_error(ei)[1] == 404


def test_delete_bucket(s3):
    name = unique_bucket("del")
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=name)
    assert client_error(ei) == ("BucketNotEmpty", 409)
    s3.delete_object(Bucket=name, Key="k")
    r = s3.delete_bucket(Bucket=name)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as ei:
        s3.delete_bucket(Bucket=name)
    assert client_error(ei) == ("NoSuchBucket", 404)
    with pytest.raises(ClientError) as ei:
        s3.head_bucket(Bucket=name)
    assert client_error(ei)[1] == 404


def test_list_buckets_and_location(s3, bucket):
    r = s3.list_buckets()
    names = [b["Name"] for b in r["Buckets"]]
    assert bucket in names
    assert names == sorted(names)
    mine = next(b for b in r["Buckets"] if b["Name"] == bucket)
    age = datetime.datetime.now(datetime.timezone.utc) - mine["CreationDate"]
    assert datetime.timedelta(minutes=-5) < age < datetime.timedelta(minutes=10)
    assert "ID" in r["Owner"]
    loc = s3.get_bucket_location(Bucket=bucket)
    assert loc.get("LocationConstraint") in (None, "")  # us-east-1 is reported as null
    with pytest.raises(ClientError) as ei:
        s3.get_bucket_location(Bucket=unique_bucket("missing"))
    assert client_error(ei) == ("NoSuchBucket", 404)


def test_object_ops_on_missing_bucket(s3):
    name = unique_bucket("missing")
    for call in (lambda: s3.put_object(Bucket=name, Key="k", Body=b"x"),
                 lambda: s3.get_object(Bucket=name, Key="k"),
                 lambda: s3.list_objects_v2(Bucket=name)):
        with pytest.raises(ClientError) as ei:
            call()
        assert client_error(ei) == ("NoSuchBucket", 404)


# ---------------------------------------------------------------------------------------
# Objects


def test_put_get_head_delete(s3, bucket):
    data = b"hello sluice\n" * 100
    r = s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=data)
    assert r["ETag"] == f'"{md5_hex(data)}"'
    g = s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert g["Body"].read() == data
    assert g["ETag"] == r["ETag"]
    assert g["ContentLength"] == len(data)
    assert g["ContentType"] == "binary/octet-stream"  # botocore sends none; S3's default
    age = datetime.datetime.now(datetime.timezone.utc) - g["LastModified"]
    assert datetime.timedelta(minutes=-5) < age < datetime.timedelta(minutes=10)
    h = s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert h["ContentLength"] == len(data)
    assert h["ETag"] == r["ETag"]
    assert h["LastModified"] == g["LastModified"]
    assert h["ResponseMetadata"]["HTTPHeaders"].get("accept-ranges") == "bytes"

    # Overwrite.
    r2 = s3.put_object(Bucket=bucket, Key="dir/hello.txt", Body=b"v2")
    assert s3.get_object(Bucket=bucket, Key="dir/hello.txt")["Body"].read() == b"v2"
    assert r2["ETag"] == f'"{md5_hex(b"v2")}"'

    d = s3.delete_object(Bucket=bucket, Key="dir/hello.txt")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="dir/hello.txt")
    assert client_error(ei) == ("NoSuchKey", 404)
    assert ei.value.response["Error"].get("Key") == "dir/hello.txt"
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="dir/hello.txt")
    assert client_error(ei)[1] == 404
    # Deleting a missing key succeeds.
    d = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert d["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_empty_object(s3, bucket):
    r = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert r["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    g = s3.get_object(Bucket=bucket, Key="empty")
    assert g["Body"].read() == b""
    assert g["ContentLength"] == 0


def test_metadata_and_content_headers(s3, bucket):
    expires = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    s3.put_object(
        Bucket=bucket, Key="meta", Body=b"{}",
        Metadata={"Color": "blue", "multi-word": "a b c", "utf8": "caf%C3%A9"},
        ContentType="application/json; charset=utf-8",
        ContentEncoding="x-sluice-test",
        ContentDisposition='attachment; filename="report 1.json"',
        ContentLanguage="en-GB",
        CacheControl="max-age=60, private",
        Expires=expires)
    for r in (s3.get_object(Bucket=bucket, Key="meta"), s3.head_object(Bucket=bucket, Key="meta")):
        assert r["Metadata"] == {"color": "blue", "multi-word": "a b c", "utf8": "caf%C3%A9"}
        assert r["ContentType"] == "application/json; charset=utf-8"
        assert r["ContentEncoding"] == "x-sluice-test"
        assert r["ContentDisposition"] == 'attachment; filename="report 1.json"'
        assert r["ContentLanguage"] == "en-GB"
        assert r["CacheControl"] == "max-age=60, private"
        assert r["Expires"] == expires


def test_range_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="r", Body=b"0123456789")
    cases = [("bytes=0-4", b"01234", "bytes 0-4/10"),
             ("bytes=-3", b"789", "bytes 7-9/10"),
             ("bytes=5-", b"56789", "bytes 5-9/10"),
             ("bytes=8-100", b"89", "bytes 8-9/10"),
             ("bytes=3-3", b"3", "bytes 3-3/10")]
    for rng, body, content_range in cases:
        g = s3.get_object(Bucket=bucket, Key="r", Range=rng)
        assert g["ResponseMetadata"]["HTTPStatusCode"] == 206, rng
        assert g["Body"].read() == body, rng
        assert g["ContentRange"] == content_range, rng
        assert g["ContentLength"] == len(body), rng
    for rng in ("bytes=10-", "bytes=20-30"):
        with pytest.raises(ClientError) as ei:
            s3.get_object(Bucket=bucket, Key="r", Range=rng)
        assert client_error(ei) == ("InvalidRange", 416), rng
    # A syntactically invalid range is ignored: the whole object, 200.
    g = s3.get_object(Bucket=bucket, Key="r", Range="bytes=abc")
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert g["Body"].read() == b"0123456789"
    h = s3.head_object(Bucket=bucket, Key="r", Range="bytes=0-4")
    assert h["ContentLength"] == 5
    assert h["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_conditional_get(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"conditional")["ETag"]
    now = datetime.datetime.now(datetime.timezone.utc)
    past = now - datetime.timedelta(days=1)
    future = now + datetime.timedelta(days=1)

    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"conditional"
    assert s3.get_object(Bucket=bucket, Key="c", IfNoneMatch='"0000"')["Body"].read() \
        == b"conditional"
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=past)["Body"].read() \
        == b"conditional"
    assert s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=future)["Body"].read() \
        == b"conditional"

    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"00000000000000000000000000000000"')
    assert client_error(ei) == ("PreconditionFailed", 412)
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert client_error(ei)[1] == 304
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=future)
    assert client_error(ei)[1] == 304
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=past)
    assert client_error(ei) == ("PreconditionFailed", 412)
    # HEAD: same rules, no body.
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="c", IfMatch='"nope"')
    assert client_error(ei)[1] == 412
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert client_error(ei)[1] == 304
    # If-Match true + If-Unmodified-Since false: 200 (RFC 7232 precedence, as S3 documents).
    g = s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=past)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 200
    # If-None-Match false + If-Modified-Since true: 304.
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag, IfModifiedSince=past)
    assert client_error(ei)[1] == 304


def test_response_header_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    g = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="application/x-override",
                      ResponseContentDisposition="inline; filename=o.bin",
                      ResponseCacheControl="no-cache",
                      ResponseContentLanguage="fr",
                      ResponseContentEncoding="identity")
    assert g["ContentType"] == "application/x-override"
    assert g["ContentDisposition"] == "inline; filename=o.bin"
    assert g["CacheControl"] == "no-cache"
    assert g["ContentLanguage"] == "fr"
    assert g["ContentEncoding"] == "identity"
    # The override does not change the stored object.
    assert s3.head_object(Bucket=bucket, Key="o")["ContentType"] == "text/plain"


def _add_header(s3, operation, name, value):
    def handler(request, **_kw):
        request.headers[name] = value
    event = f"before-sign.s3.{operation}"
    s3.meta.events.register(event, handler)
    return lambda: s3.meta.events.unregister(event, handler)


def test_conditional_put_if_none_match(s3, bucket):
    remove = _add_header(s3, "PutObject", "If-None-Match", "*")
    try:
        r = s3.put_object(Bucket=bucket, Key="once", Body=b"first")
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
        with pytest.raises(ClientError) as ei:
            s3.put_object(Bucket=bucket, Key="once", Body=b"second")
        assert client_error(ei) == ("PreconditionFailed", 412)
    finally:
        remove()
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"first"


def test_copy_object(s3, bucket):
    src = "src/orig file+1.txt"
    s3.put_object(Bucket=bucket, Key=src, Body=b"copy me", ContentType="text/plain",
                  Metadata={"a": "1"}, Tagging="t=1")
    # COPY (default): bytes, content type and metadata come along.
    r = s3.copy_object(Bucket=bucket, Key="dst/copy", CopySource={"Bucket": bucket, "Key": src})
    assert r["CopyObjectResult"]["ETag"] == f'"{md5_hex(b"copy me")}"'
    assert "LastModified" in r["CopyObjectResult"]
    g = s3.get_object(Bucket=bucket, Key="dst/copy")
    assert g["Body"].read() == b"copy me"
    assert g["ContentType"] == "text/plain"
    assert g["Metadata"] == {"a": "1"}
    assert s3.get_object_tagging(Bucket=bucket, Key="dst/copy")["TagSet"] == [
        {"Key": "t", "Value": "1"}]  # x-amz-tagging-directive defaults to COPY
    s3.copy_object(Bucket=bucket, Key="dst/retagged", CopySource={"Bucket": bucket, "Key": src},
                   TaggingDirective="REPLACE", Tagging="n=2")
    assert s3.get_object_tagging(Bucket=bucket, Key="dst/retagged")["TagSet"] == [
        {"Key": "n", "Value": "2"}]
    # REPLACE: new metadata and content type.
    s3.copy_object(Bucket=bucket, Key="dst/replaced", CopySource=f"{bucket}/{src}",
                   MetadataDirective="REPLACE", Metadata={"b": "2"},
                   ContentType="application/x-new")
    h = s3.head_object(Bucket=bucket, Key="dst/replaced")
    assert h["Metadata"] == {"b": "2"}
    assert h["ContentType"] == "application/x-new"
    # Copy across buckets.
    other = unique_bucket("copy-dst")
    s3.create_bucket(Bucket=other)
    try:
        s3.copy_object(Bucket=other, Key="x", CopySource={"Bucket": bucket, "Key": src})
        assert s3.get_object(Bucket=other, Key="x")["Body"].read() == b"copy me"
        s3.delete_object(Bucket=other, Key="x")
    finally:
        s3.delete_bucket(Bucket=other)
    # Onto itself without changing anything: InvalidRequest.
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key=src, CopySource={"Bucket": bucket, "Key": src})
    assert client_error(ei) == ("InvalidRequest", 400)
    # Onto itself with REPLACE: allowed, updates metadata.
    s3.copy_object(Bucket=bucket, Key=src, CopySource={"Bucket": bucket, "Key": src},
                   MetadataDirective="REPLACE", Metadata={"c": "3"}, ContentType="text/x-c")
    h = s3.head_object(Bucket=bucket, Key=src)
    assert h["Metadata"] == {"c": "3"}
    assert h["ContentType"] == "text/x-c"
    assert s3.get_object(Bucket=bucket, Key=src)["Body"].read() == b"copy me"
    # Missing source.
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="y", CopySource={"Bucket": bucket, "Key": "nope"})
    assert client_error(ei) == ("NoSuchKey", 404)
    # Conditional copy.
    with pytest.raises(ClientError) as ei:
        s3.copy_object(Bucket=bucket, Key="z", CopySource={"Bucket": bucket, "Key": src},
                       CopySourceIfMatch='"0000"')
    assert client_error(ei) == ("PreconditionFailed", 412)


def test_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="tagged", Body=b"x", Tagging="env=prod&team=data%20eng")
    tags = s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"),
                                                            ("team", "data eng")]
    assert s3.get_object(Bucket=bucket, Key="tagged")["TagCount"] == 2

    s3.put_object_tagging(Bucket=bucket, Key="tagged",
                          Tagging={"TagSet": [{"Key": "k1", "Value": "v1"}]})
    tags = s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"]
    assert tags == [{"Key": "k1", "Value": "v1"}]

    r = s3.delete_object_tagging(Bucket=bucket, Key="tagged")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object_tagging(Bucket=bucket, Key="tagged")["TagSet"] == []

    with pytest.raises(ClientError) as ei:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert client_error(ei) == ("NoSuchKey", 404)
    # More than 10 tags: BadRequest / InvalidTag 400.
    with pytest.raises(ClientError) as ei:
        s3.put_object_tagging(Bucket=bucket, Key="tagged", Tagging={"TagSet": [
            {"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert client_error(ei)[1] == 400


def test_delete_objects(s3, bucket):
    keys = [f"batch/{i}" for i in range(10)]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": k} for k in keys[:5]] + [{"Key": "batch/missing"}]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(keys[:5] + ["batch/missing"])
    assert not r.get("Errors")
    assert list_all_keys(s3, bucket) == sorted(keys[5:])
    r = s3.delete_objects(Bucket=bucket, Delete={
        "Objects": [{"Key": k} for k in keys[5:]], "Quiet": True})
    assert not r.get("Deleted")
    assert not r.get("Errors")
    assert list_all_keys(s3, bucket) == []


# ---------------------------------------------------------------------------------------
# Listing


def test_list_prefix_delimiter(s3, bucket):
    keys = ["a.txt", "dir1/x", "dir1/y", "dir1/sub/z", "dir2/w", "dir2/", "zz"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a.txt", "zz"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir1/", "dir2/"]
    assert r["KeyCount"] == 4
    assert r["IsTruncated"] is False
    assert r["Delimiter"] == "/"

    r = s3.list_objects_v2(Bucket=bucket, Prefix="dir1/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["dir1/x", "dir1/y"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir1/sub/"]
    assert r["Prefix"] == "dir1/"

    r = s3.list_objects_v2(Bucket=bucket, Prefix="dir2/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["dir2/", "dir2/w"]

    r = s3.list_objects_v2(Bucket=bucket, Prefix="dir")
    assert [o["Key"] for o in r["Contents"]] == ["dir1/sub/z", "dir1/x", "dir1/y", "dir2/",
                                                "dir2/w"]
    r = s3.list_objects_v2(Bucket=bucket, Prefix="nothing/")
    assert r["KeyCount"] == 0
    assert "Contents" not in r
    # Objects in listings carry size, etag, last modified, storage class.
    o = s3.list_objects_v2(Bucket=bucket, Prefix="a.txt")["Contents"][0]
    assert o["Size"] == 1 and o["ETag"] == f'"{md5_hex(b"x")}"'
    assert o["StorageClass"] == "STANDARD"
    assert "LastModified" in o
    # A delimiter that is not "/".
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="1")
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["dir1"]


def test_list_v2_pagination(s3, bucket):
    keys = sorted(f"k{i:03d}" for i in range(25))
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    seen, pages, token = [], 0, None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=bucket, MaxKeys=7, **kw)
        pages += 1
        page_keys = [o["Key"] for o in r.get("Contents", [])]
        seen += page_keys
        assert r["KeyCount"] == len(page_keys)
        assert r["MaxKeys"] == 7
        if token:
            assert r["ContinuationToken"] == token
        if not r["IsTruncated"]:
            assert "NextContinuationToken" not in r
            break
        assert len(page_keys) == 7
        token = r["NextContinuationToken"]
        assert pages < 10
    assert pages == 4
    assert seen == keys

    r = s3.list_objects_v2(Bucket=bucket, StartAfter="k020")
    assert [o["Key"] for o in r["Contents"]] == keys[21:]
    assert r["StartAfter"] == "k020"
    r = s3.list_objects_v2(Bucket=bucket, StartAfter="k0205", MaxKeys=2)
    assert [o["Key"] for o in r["Contents"]] == ["k021", "k022"]

    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=1, FetchOwner=True)
    assert "ID" in r["Contents"][0]["Owner"]
    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    assert "Owner" not in r["Contents"][0]

    r = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert r["KeyCount"] == 0
    assert "Contents" not in r


def test_list_pagination_with_common_prefixes(s3, bucket):
    # Common prefixes count towards MaxKeys and are never repeated across pages.
    keys = ["a/1", "a/2", "b", "c/1", "d", "e/1", "e/2"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"")
    got, token = [], None
    for _ in range(10):
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2, **kw)
        got += [o["Key"] for o in r.get("Contents", [])]
        got += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        assert r["KeyCount"] <= 2
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
    assert sorted(got) == ["a/", "b", "c/", "d", "e/"]
    assert len(got) == 5


def test_list_objects_v1(s3, bucket):
    keys = sorted(f"m{i:02d}" for i in range(12))
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"v1")
    r = s3.list_objects(Bucket=bucket, MaxKeys=5)
    assert [o["Key"] for o in r["Contents"]] == keys[:5]
    assert r["IsTruncated"] is True
    assert "ID" in r["Contents"][0]["Owner"]  # v1 always includes the owner
    r = s3.list_objects(Bucket=bucket, Marker=keys[4], MaxKeys=5)
    assert r["Marker"] == keys[4]
    assert [o["Key"] for o in r["Contents"]] == keys[5:10]
    r = s3.list_objects(Bucket=bucket, Marker=keys[9])
    assert [o["Key"] for o in r["Contents"]] == keys[10:]
    assert r["IsTruncated"] is False
    # With a delimiter, a truncated v1 listing returns NextMarker.
    s3.put_object(Bucket=bucket, Key="p/1", Body=b"")
    s3.put_object(Bucket=bucket, Key="p/2", Body=b"")
    r = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=12)
    assert r["IsTruncated"] is True
    assert r["NextMarker"] == keys[-1]
    r = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=r["NextMarker"])
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["p/"]
    assert "Contents" not in r
    # Paginator over all pages.
    all_keys = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 4}) for o in page.get("Contents", [])]
    assert all_keys == keys + ["p/1", "p/2"]


SPECIAL_KEYS = [
    "unicode/ü-é-ß-日本語-😀",
    "spaces/a b  c ",
    "plus/a+b+c",
    "percent/100% sure %2F %41",
    "a",
    "a/b",
    "a/",
    "a/b/c",
    "./x",
    "../y",
    "a//b",
    "dots/./../...",
    "q?x=1&y=2#frag",
    "semi;colon:equals=comma,",
    "quote\"apos'<lt>&amp;",
    "tilde~star*bang!(paren)",
    "back\\slash",
    "tab\there",
    "k" * 1024,
    "long/" + "/".join(["s" * 250] * 3),
    "é" * 512,  # 1024 bytes of UTF-8
]


def test_special_keys_round_trip(s3, bucket):
    for i, key in enumerate(SPECIAL_KEYS):
        s3.put_object(Bucket=bucket, Key=key, Body=f"{i}:{key}".encode())
    for i, key in enumerate(SPECIAL_KEYS):
        g = s3.get_object(Bucket=bucket, Key=key)
        assert g["Body"].read() == f"{i}:{key}".encode(), key
        h = s3.head_object(Bucket=bucket, Key=key)
        assert h["ContentLength"] == len(f"{i}:{key}".encode()), key
    # Listing order is by UTF-8 bytes (S3 sorts keys in binary order).
    expected = sorted(SPECIAL_KEYS, key=lambda k: k.encode())
    assert list_all_keys(s3, bucket) == expected
    v1 = [o["Key"] for page in s3.get_paginator("list_objects").paginate(Bucket=bucket)
          for o in page.get("Contents", [])]
    assert v1 == expected
    # Small pages do not lose or repeat anything.
    assert list_all_keys(s3, bucket, PaginationConfig={"PageSize": 3}) == expected
    r = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert [o["Key"] for o in r["Contents"]] == ["a/", "a/b"]
    assert [p["Prefix"] for p in r["CommonPrefixes"]] == ["a//", "a/b/"]
    # Deleting one of "a", "a/b", "a/b/c" leaves the others.
    s3.delete_object(Bucket=bucket, Key="a/b")
    assert s3.get_object(Bucket=bucket, Key="a")["Body"].read() \
        == f"{SPECIAL_KEYS.index('a')}:a".encode()
    assert s3.get_object(Bucket=bucket, Key="a/b/c")["Body"].read() \
        == f"{SPECIAL_KEYS.index('a/b/c')}:a/b/c".encode()
    with pytest.raises(ClientError) as ei:
        s3.get_object(Bucket=bucket, Key="a/b")
    assert client_error(ei) == ("NoSuchKey", 404)
    # Keys from the listing work for copy too (CopySource is URL-encoded by botocore).
    for key in ["unicode/ü-é-ß-日本語-😀", "percent/100% sure %2F %41", "plus/a+b+c"]:
        s3.copy_object(Bucket=bucket, Key=key + ".copy", CopySource={"Bucket": bucket,
                                                                     "Key": key})
        assert s3.get_object(Bucket=bucket, Key=key + ".copy")["Body"].read() \
            == f"{SPECIAL_KEYS.index(key)}:{key}".encode()


def test_key_too_long(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert client_error(ei) == ("KeyTooLongError", 400)
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="é" * 512 + "x", Body=b"x")  # 1025 bytes
    assert client_error(ei) == ("KeyTooLongError", 400)


def test_virtual_host_style(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="vh/key.txt", Body=b"virtual")
    host = f"{bucket}.localhost:{server.port}"
    r = signed_request(server, "GET", "/vh/key.txt", headers={"Host": host})
    assert r.status == 200, r
    assert r.body == b"virtual"
    r = signed_request(server, "PUT", "/vh/put.txt", headers={"Host": host}, body=b"vput")
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="vh/put.txt")["Body"].read() == b"vput"
    r = signed_request(server, "GET", "/?list-type=2&prefix=vh%2F", headers={"Host": host})
    assert r.status == 200, r
    assert b"<Key>vh/key.txt</Key>" in r.body and b"<Key>vh/put.txt</Key>" in r.body


# ---------------------------------------------------------------------------------------
# Multipart


def _part_etag_md5s(parts):
    return hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()


def test_multipart_upload(s3, bucket):
    key = "mp/big object"
    parts = [b"a" * (5 * MiB), bytes(range(256)) * (5 * MiB // 256), b"tail" * 300]
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, ContentType="application/x-mp",
                                    Metadata={"m": "1"})
    uid = up["UploadId"]
    assert up["Key"] == key and up["Bucket"] == bucket
    listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in listed.get("Uploads", [])] == [(key, uid)]
    etags = {}
    for n in (2, 1, 3):  # any order
        r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n, Body=parts[n - 1])
        assert r["ETag"] == f'"{md5_hex(parts[n - 1])}"'
        etags[n] = r["ETag"]
    # Re-uploading a part replaces it.
    r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=3, Body=parts[2])
    lp = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in lp["Parts"]] == [
        (n, etags[n], len(parts[n - 1])) for n in (1, 2, 3)]
    lp = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid, MaxParts=2)
    assert [p["PartNumber"] for p in lp["Parts"]] == [1, 2]
    assert lp["IsTruncated"] is True
    lp = s3.list_parts(Bucket=bucket, Key=key, UploadId=uid,
                       PartNumberMarker=lp["NextPartNumberMarker"])
    assert [p["PartNumber"] for p in lp["Parts"]] == [3]
    # Not visible before completion.
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key=key)
    assert client_error(ei)[1] == 404

    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etags[n]} for n in (1, 2, 3)]})
    expected_etag = f'"{_part_etag_md5s(parts)}-3"'
    assert done["ETag"] == expected_etag
    assert done["Key"] == key
    g = s3.get_object(Bucket=bucket, Key=key)
    body = g["Body"].read()
    assert sha256(body) == sha256(b"".join(parts))
    assert g["ETag"] == expected_etag
    assert g["ContentType"] == "application/x-mp"
    assert g["Metadata"] == {"m": "1"}
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    # Part-numbered GET.
    g = s3.get_object(Bucket=bucket, Key=key, PartNumber=2)
    assert g["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert g["Body"].read() == parts[1]
    assert g["PartsCount"] == 3
    # The upload is gone.
    with pytest.raises(ClientError) as ei:
        s3.list_parts(Bucket=bucket, Key=key, UploadId=uid)
    assert client_error(ei) == ("NoSuchUpload", 404)


def test_multipart_abort(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="aborted")
    uid = up["UploadId"]
    s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=1, Body=b"x" * 100)
    r = s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid)
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as ei:
        s3.list_parts(Bucket=bucket, Key="aborted", UploadId=uid)
    assert client_error(ei) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as ei:
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=uid, PartNumber=2, Body=b"y")
    assert client_error(ei) == ("NoSuchUpload", 404)
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=bucket, Key="aborted", UploadId=uid,
                                     MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                 "ETag": '"x"'}]})
    assert client_error(ei) == ("NoSuchUpload", 404)
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="aborted")
    assert client_error(ei)[1] == 404


def test_multipart_errors(s3, bucket):
    key = "mp-err"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    for bad in (0, 10001):
        with pytest.raises(ClientError) as ei:
            s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=bad, Body=b"x")
        assert client_error(ei) == ("InvalidArgument", 400), bad
    with pytest.raises(ClientError) as ei:
        s3.upload_part(Bucket=bucket, Key=key, UploadId="no-such-upload-id", PartNumber=1,
                       Body=b"x")
    assert client_error(ei) == ("NoSuchUpload", 404)

    # Parts 1 and 2 are big enough to be non-last parts, 3 and 4 are not.
    bodies = {1: b"1" * (5 * MiB), 2: b"2" * (5 * MiB), 3: b"3" * 1024, 4: b"4" * 1024}
    e = {n: s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=n,
                           Body=body)["ETag"] for n, body in bodies.items()}

    def complete(*parts):
        return s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                            MultipartUpload={"Parts": [
                                                {"PartNumber": n, "ETag": etag}
                                                for n, etag in parts]})
    # Wrong ETag for a part: InvalidPart.
    with pytest.raises(ClientError) as ei:
        complete((1, e[1]), (2, '"0123456789abcdef0123456789abcdef"'))
    assert client_error(ei) == ("InvalidPart", 400)
    # A part that was never uploaded: InvalidPart.
    with pytest.raises(ClientError) as ei:
        complete((1, e[1]), (7, e[2]))
    assert client_error(ei) == ("InvalidPart", 400)
    # Parts not in ascending order: InvalidPartOrder.
    with pytest.raises(ClientError) as ei:
        complete((2, e[2]), (1, e[1]))
    assert client_error(ei) == ("InvalidPartOrder", 400)
    # A non-last part under 5 MiB: EntityTooSmall.
    with pytest.raises(ClientError) as ei:
        complete((1, e[1]), (3, e[3]), (4, e[4]))
    assert client_error(ei) == ("EntityTooSmall", 400)
    # The upload survives those errors; a subset of the parts (gaps allowed) completes it.
    r = complete((1, e[1]), (2, e[2]), (4, e[4]))
    assert r["ETag"] == f'"{_part_etag_md5s([bodies[1], bodies[2], bodies[4]])}-3"'
    assert sha256(s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == sha256(
        bodies[1] + bodies[2] + bodies[4])
    # Completing with no parts: MalformedXML (AWS) or InvalidRequest.
    uid2 = s3.create_multipart_upload(Bucket=bucket, Key=key + "2")["UploadId"]
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=bucket, Key=key + "2", UploadId=uid2,
                                     MultipartUpload={"Parts": []})
    assert client_error(ei) in (("MalformedXML", 400), ("InvalidRequest", 400))


def test_upload_part_copy(s3, bucket):
    src = bytes(range(256)) * (6 * MiB // 256) + b"end"
    s3.put_object(Bucket=bucket, Key="copy-src", Body=src)
    key = "copy-dst"
    uid = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    p1 = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "copy-src"},
                             CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    assert p1["CopyPartResult"]["ETag"] == f'"{md5_hex(src[:5 * MiB])}"'
    p2 = s3.upload_part_copy(Bucket=bucket, Key=key, UploadId=uid, PartNumber=2,
                             CopySource=f"{bucket}/copy-src",
                             CopySourceRange=f"bytes={5 * MiB}-{len(src) - 1}")
    # Part 2 (1 MiB) may be small only because it is the last part.
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
                  {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]}]})
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert sha256(body) == sha256(src)
    # A whole-object part copy, and a range past the end.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k2")["UploadId"]
    p = s3.upload_part_copy(Bucket=bucket, Key="k2", UploadId=uid, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "copy-src"})
    assert p["CopyPartResult"]["ETag"] == f'"{md5_hex(src)}"'
    with pytest.raises(ClientError) as ei:
        s3.upload_part_copy(Bucket=bucket, Key="k2", UploadId=uid, PartNumber=2,
                            CopySource={"Bucket": bucket, "Key": "copy-src"},
                            CopySourceRange=f"bytes=0-{len(src)}")
    # AWS: 400 InvalidArgument "Range specified is not valid for source object of size: N".
    assert client_error(ei) in (("InvalidArgument", 400), ("InvalidRange", 416))
    s3.abort_multipart_upload(Bucket=bucket, Key="k2", UploadId=uid)


# ---------------------------------------------------------------------------------------
# Checksums and digests


def _checksum(algorithm, data):
    import zlib
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        return b64(crt_checksums.crc32c(data).to_bytes(4, "big"))
    if algorithm == "SHA1":
        return b64(hashlib.sha1(data).digest())
    return b64(hashlib.sha256(data).digest())


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_flexible_checksums(s3, bucket, algorithm):
    data = b"checksummed payload " * 1000
    expected = _checksum(algorithm, data)
    r = s3.put_object(Bucket=bucket, Key=f"ck-{algorithm}", Body=data,
                      ChecksumAlgorithm=algorithm)
    assert r[f"Checksum{algorithm}"] == expected
    g = s3.get_object(Bucket=bucket, Key=f"ck-{algorithm}", ChecksumMode="ENABLED")
    assert g[f"Checksum{algorithm}"] == expected
    assert g["Body"].read() == data  # botocore also validates the checksum while reading
    h = s3.head_object(Bucket=bucket, Key=f"ck-{algorithm}", ChecksumMode="ENABLED")
    assert h[f"Checksum{algorithm}"] == expected
    # Without ChecksumMode the checksum is not returned.
    assert f"Checksum{algorithm}" not in s3.head_object(Bucket=bucket, Key=f"ck-{algorithm}")


def test_wrong_checksum_header(s3, bucket):
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="bad-crc", Body=b"data",
                      ChecksumCRC32=crc32_b64(b"other data"))
    assert client_error(ei) == ("BadDigest", 400)
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="bad-sha", Body=b"data",
                      ChecksumSHA256=b64(hashlib.sha256(b"other").digest()))
    assert client_error(ei) == ("BadDigest", 400)
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="bad-crc")
    assert client_error(ei)[1] == 404
    # The right value passes.
    s3.put_object(Bucket=bucket, Key="good-crc", Body=b"data", ChecksumCRC32=crc32_b64(b"data"))


def test_content_md5(s3, bucket):
    data = b"md5 checked"
    s3.put_object(Bucket=bucket, Key="md5-ok", Body=data,
                  ContentMD5=b64(hashlib.md5(data).digest()))
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=data,
                      ContentMD5=b64(hashlib.md5(b"different").digest()))
    assert client_error(ei) == ("BadDigest", 400)
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="md5-bad", Body=data, ContentMD5="not-base64-md5")
    assert client_error(ei) == ("InvalidDigest", 400)
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="md5-bad")
    assert client_error(ei)[1] == 404


# ---------------------------------------------------------------------------------------
# Presigned URLs (fetched with curl)


def test_presigned_get_and_put(s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="pre/get me.txt", Body=b"presigned get")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                          "Key": "pre/get me.txt"},
                                    ExpiresIn=300)
    status, body = curl(url)
    assert (status, body) == (200, b"presigned get")
    # With a response override in the signed query.
    url = s3.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "pre/get me.txt", "ResponseContentType": "text/x-pre"},
        ExpiresIn=300)
    out = curl("-D", "-", url)
    assert out[0] == 200 and b"content-type: text/x-pre" in out[1].lower()

    src = tmp_path / "upload.bin"
    src.write_bytes(b"presigned put body")
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre/put"},
                                    ExpiresIn=300)
    status, body = curl("-T", str(src), url)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="pre/put")["Body"].read() == b"presigned put body"

    # HEAD via presigned URL.
    url = s3.generate_presigned_url("head_object", Params={"Bucket": bucket, "Key": "pre/put"},
                                    ExpiresIn=300)
    status, _ = curl("-I", url)
    assert status == 200


def test_presigned_default_signature(server, s3, bucket):
    # botocore 1.29's default for S3 presigning (no signature_version configured) is SigV2
    # query auth: AWSAccessKeyId, Expires, Signature.
    import boto3
    default = boto3.session.Session().client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(s3={"addressing_style": "path"}))
    s3.put_object(Bucket=bucket, Key="pre/v2 key+1", Body=b"v2 presigned")
    url = default.generate_presigned_url("get_object", Params={"Bucket": bucket,
                                                               "Key": "pre/v2 key+1"},
                                         ExpiresIn=300)
    assert "Signature=" in url and "X-Amz-Signature" not in url, url
    assert curl(url) == (200, b"v2 presigned")
    status, body = curl(url.replace("Expires=", "Expires=1"))
    assert status == 403, body
    url = default.generate_presigned_url("put_object", Params={"Bucket": bucket,
                                                               "Key": "pre/v2put"},
                                         ExpiresIn=300)
    # SigV2 signs Content-Type (empty here): stop curl from adding its form content type.
    assert curl("-X", "PUT", "-H", "Content-Type:", "--data-binary", "v2 put", url)[0] == 200
    assert s3.get_object(Bucket=bucket, Key="pre/v2put")["Body"].read() == b"v2 put"


def test_presigned_tampered(s3, bucket):
    s3.put_object(Bucket=bucket, Key="pre/t", Body=b"secret")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/t"},
                                    ExpiresIn=300)
    # Another key with the same signature.
    status, body = curl(url.replace("/pre/t?", "/pre/u?"))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, body
    # A flipped signature character.
    i = url.index("X-Amz-Signature=") + len("X-Amz-Signature=")
    flipped = url[:i] + ("0" if url[i] != "0" else "1") + url[i + 1:]
    status, body = curl(flipped)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, body
    # A longer expiry than was signed.
    status, body = curl(url.replace("X-Amz-Expires=300", "X-Amz-Expires=301"))
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, body
    # Presigned GET URL used for a PUT.
    status, body = curl("-X", "PUT", "--data-binary", "x", url)
    assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body, body


def test_presigned_expired(s3, bucket):
    s3.put_object(Bucket=bucket, Key="pre/exp", Body=b"soon gone")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/exp"},
                                    ExpiresIn=1)
    signed_at = time.time()
    results = []

    def expired():
        status, body = curl(url)
        results.append((status, body))
        return status == 403

    # X-Amz-Date has one-second resolution; S3 refuses at most ~2 s after signing.
    wait_for(expired, timeout=15, interval=0.25, what="the presigned URL to expire")
    status, body = results[-1]
    assert b"<Code>AccessDenied</Code>" in body, body
    assert time.time() - signed_at < 15
    assert all(s in (200, 403) for s, _ in results), results


def test_empty_put_then_put_on_the_same_connection(s3, bucket):
    # Regression: a bodiless request that asked for 100-continue was answered without the
    # interim 100, and botocore then timed out reading the next response on that connection.
    s3.put_object(Bucket=bucket, Key="j/_SUCCESS", Body=b"")
    s3.put_object(Bucket=bucket, Key="j/.part-0.json.crc", Body=b"\x00garbage not json")
    assert s3.get_object(Bucket=bucket, Key="j/.part-0.json.crc")["Body"].read() == b"\x00garbage not json"
    assert s3.head_object(Bucket=bucket, Key="j/_SUCCESS")["ContentLength"] == 0
