"""S3 answers clients trip over: checksums on ranged GETs, whitespace and entities in request
XML, subresources and headers of features Sluice lacks, multipart completion, key encoding."""

import hashlib
import json
import os
import shutil
import subprocess
import textwrap
import threading

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import (ACCESS_KEY, MiB, REGION, SECRET_KEY, b64, client_error, parse_xml,
                            signed_request)


def _newer_python():
    """A python3 on PATH other than this one whose boto3 validates response checksums (1.36+)."""
    exe = shutil.which("python3")
    if not exe:
        return None
    probe = subprocess.run([exe, "-c", "import boto3; print(boto3.__version__)"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        return None
    major, minor = (int(x) for x in probe.stdout.strip().split(".")[:2])
    return exe if (major, minor) >= (1, 36) else None


def test_ranged_get_has_no_whole_object_checksum(server, s3, bucket):
    data = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="c", Body=data, ChecksumAlgorithm="SHA256")
    full = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert full["ChecksumSHA256"] == b64(hashlib.sha256(data).digest())
    assert full["Body"].read() == data
    ranged = s3.get_object(Bucket=bucket, Key="c", Range="bytes=10-99", ChecksumMode="ENABLED")
    assert ranged["Body"].read() == data[10:100]
    assert "ChecksumSHA256" not in ranged and "ChecksumType" not in ranged
    head = s3.head_object(Bucket=bucket, Key="c", Range="bytes=0-9", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in head
    # A part of a multipart object: not the object's checksum either.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="m", ChecksumAlgorithm="SHA256")["UploadId"]
    parts = [os.urandom(5 * MiB), b"tail"]
    done = [{"PartNumber": i, **{k: v for k, v in s3.upload_part(
        Bucket=bucket, Key="m", UploadId=uid, PartNumber=i, Body=p,
        ChecksumAlgorithm="SHA256").items() if k in ("ETag", "ChecksumSHA256")}}
        for i, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key="m", UploadId=uid,
                                 MultipartUpload={"Parts": done})
    part = s3.get_object(Bucket=bucket, Key="m", PartNumber=2, ChecksumMode="ENABLED")
    assert part["Body"].read() == b"tail"
    assert part.get("ChecksumSHA256", "").endswith("-2") or "ChecksumSHA256" not in part

    # Current SDKs validate whatever checksum comes back (boto3 1.36+ by default).
    exe = _newer_python()
    if exe is None:
        pytest.skip("no boto3 1.36+ on PATH")
    script = textwrap.dedent(f"""
        import boto3, botocore.config, json
        s3 = boto3.client("s3", endpoint_url={server.endpoint!r}, region_name={REGION!r},
                          aws_access_key_id={ACCESS_KEY!r}, aws_secret_access_key={SECRET_KEY!r},
                          config=botocore.config.Config(retries={{"total_max_attempts": 1}}))
        out = {{}}
        out["range"] = len(s3.get_object(Bucket={bucket!r}, Key="c", Range="bytes=10-99")["Body"].read())
        out["full"] = len(s3.get_object(Bucket={bucket!r}, Key="c")["Body"].read())
        out["part"] = len(s3.get_object(Bucket={bucket!r}, Key="m", PartNumber=1)["Body"].read())
        s3.put_object(Bucket={bucket!r}, Key="n", Body=b"x" * 70000)  # CRC32 by default
        out["range-default"] = len(s3.get_object(Bucket={bucket!r}, Key="n", Range="bytes=5-9")["Body"].read())
        print(json.dumps(out))
    """)
    run = subprocess.run([exe, "-c", script], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(run.stdout) == {"range": 90, "full": 100_000, "part": 5 * MiB,
                                      "range-default": 5}


WHITESPACE_KEYS = [" ", "\t", "  ", " lead", "trail ", "a&b<c>'\"", "tab\there"]


def test_delete_objects_whitespace_and_entity_keys(s3, bucket):
    for k in WHITESPACE_KEYS:
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in WHITESPACE_KEYS]})
    assert sorted(d["Key"] for d in r["Deleted"]) == sorted(WHITESPACE_KEYS)
    assert not r.get("Errors")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_request_xml_entities_and_line_ends(server, s3, bucket):
    # Character references keep what literal text cannot (XML turns a literal CR LF into LF).
    keys = {"\t": "&#x9;", "x\r\ny": "x&#13;&#10;y", "cr\r": "cr&#xD;", " & ": " &amp; "}
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"1")
    body = ("<Delete>" + "".join(f"<Object><Key>{v}</Key></Object>" for v in keys.values())
            + "</Delete>").encode()
    md5 = b64(hashlib.md5(body).digest())
    r = signed_request(server, "POST", f"/{bucket}?delete", {"Content-MD5": md5}, body)
    assert r.status == 200, r
    deleted = [el.text for el in parse_xml(r.body).iter("Key")]
    assert len(deleted) == len(keys)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    # A literal CR LF inside a key is an LF, as in any XML parser.
    s3.put_object(Bucket=bucket, Key="a\nb", Body=b"1")
    body = b"<Delete><Object><Key>a\r\nb</Key></Object></Delete>"
    r = signed_request(server, "POST", f"/{bucket}?delete",
                       {"Content-MD5": b64(hashlib.md5(body).digest())}, body)
    assert r.status == 200, r
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_tagging_keeps_whitespace_values(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"1")
    tags = [{"Key": "space", "Value": " "}, {"Key": " k ", "Value": "\t"}, {"Key": "amp", "Value": "a&b"}]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": tags})
    got = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert sorted(got, key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])


BUCKET_SUBRESOURCES = ["object-lock", "ownershipControls", "policyStatus", "publicAccessBlock",
                       "website", "logging", "replication", "policy", "acl", "cors", "lifecycle",
                       "encryption", "versions", "accelerate", "requestPayment", "analytics",
                       "metrics", "inventory", "intelligent-tiering", "tagging"]
OBJECT_SUBRESOURCES = ["legal-hold", "retention", "restore", "select", "torrent", "attributes", "acl"]


def test_unserved_subresources_answer_not_implemented(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"1")
    for sub in BUCKET_SUBRESOURCES:
        for method in ("GET", "PUT", "DELETE"):
            if (method, sub) == ("GET", "versions"):
                continue  # served: see test_list_object_versions_of_a_never_versioned_bucket
            r = signed_request(server, method, f"/{bucket}?{sub}")
            assert (r.status, r.error_code) == (501, "NotImplemented"), (method, sub, r)
            assert sub.encode() in r.body, (sub, r)
    for sub in OBJECT_SUBRESOURCES:
        for method in ("GET", "PUT", "POST"):
            r = signed_request(server, method, f"/{bucket}/o?{sub}")
            assert (r.status, r.error_code) == (501, "NotImplemented"), (method, sub, r)
    # What is served still is.
    assert signed_request(server, "GET", f"/{bucket}?location").status == 200
    assert signed_request(server, "GET", f"/{bucket}?versioning").status == 200
    assert signed_request(server, "GET", f"/{bucket}?list-type=2").status == 200
    with pytest.raises(ClientError) as ei:
        s3.get_object_lock_configuration(Bucket=bucket)
    assert client_error(ei) == ("NotImplemented", 501)
    with pytest.raises(ClientError) as ei:
        s3.get_public_access_block(Bucket=bucket)
    assert client_error(ei) == ("NotImplemented", 501)


def test_encryption_and_object_lock_headers_are_refused(s3, bucket):
    cases = [
        lambda: s3.put_object(Bucket=bucket, Key="e", Body=b"1", ServerSideEncryption="AES256"),
        lambda: s3.put_object(Bucket=bucket, Key="e", Body=b"1", ServerSideEncryption="aws:kms",
                              SSEKMSKeyId="k"),
        lambda: s3.put_object(Bucket=bucket, Key="e", Body=b"1", SSECustomerAlgorithm="AES256",
                              SSECustomerKey="k" * 32),
        lambda: s3.create_multipart_upload(Bucket=bucket, Key="e", ServerSideEncryption="AES256"),
        lambda: s3.put_object(Bucket=bucket, Key="e", Body=b"1", ObjectLockLegalHoldStatus="ON"),
        lambda: s3.create_bucket(Bucket=bucket + "-lock", ObjectLockEnabledForBucket=True),
    ]
    for i, call in enumerate(cases):
        with pytest.raises(ClientError) as ei:
            call()
        assert client_error(ei) == ("NotImplemented", 501), i
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_keys_must_be_utf8_and_listings_stay_well_formed(server, s3, bucket):
    # AWS refuses a key that is not UTF-8, on writes and reads alike.
    for method, path in [("PUT", f"/{bucket}/h%FF"), ("PUT", f"/{bucket}/a%C0%AF"),
                         ("POST", f"/{bucket}/h%FF?uploads"), ("GET", f"/{bucket}/h%ED%A0%80"),
                         ("HEAD", f"/{bucket}/h%FF")]:
        r = signed_request(server, method, path, body=b"x" if method == "PUT" else b"")
        assert r.status == 400, (method, path, r)
        if method != "HEAD":
            assert r.error_code == "InvalidURI", (method, path, r)
    # Keys XML 1.0 cannot hold are valid S3 keys: exact with encoding-type=url (what SDKs
    # send), and the reply without it is still well-formed XML.
    odd = "ctl\x01\x1f-é"
    s3.put_object(Bucket=bucket, Key=odd, Body=b"1")
    s3.put_object(Bucket=bucket, Key="plain", Body=b"2")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == [odd, "plain"]
    for query in ("list-type=2", "", "list-type=2&encoding-type=url"):
        r = signed_request(server, "GET", f"/{bucket}?{query}" if query else f"/{bucket}")
        assert r.status == 200, r
        keys = [el.text for el in parse_xml(r.body).iter("Key")]  # raises if not well-formed
        assert len(keys) == 2 and keys[1] == "plain", keys
    r = signed_request(server, "GET", f"/{bucket}/ctl%01")
    assert r.status == 404
    parse_xml(r.body)


def test_complete_multipart_retry_and_checksums(s3, bucket):
    parts = [os.urandom(5 * MiB), b"tail"]

    def upload(key, algorithm=None):
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        uid = s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)["UploadId"]
        listed = []
        for i, p in enumerate(parts, 1):
            r = s3.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=i, Body=p, **extra)
            entry = {"PartNumber": i, "ETag": r["ETag"]}
            if algorithm:
                entry["ChecksumSHA256"] = r["ChecksumSHA256"]
            listed.append(entry)
        return uid, listed

    # A retried complete (its answer was lost) succeeds with the same result.
    uid, listed = upload("retry")
    first = s3.complete_multipart_upload(Bucket=bucket, Key="retry", UploadId=uid,
                                         MultipartUpload={"Parts": listed})
    again = s3.complete_multipart_upload(Bucket=bucket, Key="retry", UploadId=uid,
                                         MultipartUpload={"Parts": listed})
    assert again["ETag"] == first["ETag"] and again["Key"] == "retry"
    # Completes racing on one upload all succeed with the one result.
    uid, listed = upload("race")
    results, errors = [], []

    def complete():
        try:
            results.append(s3.complete_multipart_upload(
                Bucket=bucket, Key="race", UploadId=uid, MultipartUpload={"Parts": listed})["ETag"])
        except ClientError as e:
            errors.append(e)
    threads = [threading.Thread(target=complete) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and len(results) == 4, errors
    # ... but only for that upload and key.
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=bucket, Key="other", UploadId=uid,
                                     MultipartUpload={"Parts": listed})
    assert client_error(ei) == ("NoSuchUpload", 404)

    # A part checksum that is not the part's: InvalidPart; the upload survives.
    uid, listed = upload("sums", "SHA256")
    wrong = [dict(p) for p in listed]
    wrong[0]["ChecksumSHA256"] = b64(hashlib.sha256(b"other").digest())
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=bucket, Key="sums", UploadId=uid,
                                     MultipartUpload={"Parts": wrong})
    assert client_error(ei) == ("InvalidPart", 400)
    # A whole-object checksum that is not the object's: BadDigest.
    with pytest.raises(ClientError) as ei:
        s3.complete_multipart_upload(Bucket=bucket, Key="sums", UploadId=uid,
                                     ChecksumSHA256=b64(hashlib.sha256(b"x").digest()) + "-2",
                                     MultipartUpload={"Parts": listed})
    assert client_error(ei) == ("BadDigest", 400)
    composite = b64(hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest())
    done = s3.complete_multipart_upload(Bucket=bucket, Key="sums", UploadId=uid,
                                        ChecksumSHA256=composite + "-2",
                                        MultipartUpload={"Parts": listed})
    assert done["ChecksumSHA256"] == composite + "-2"


def test_tag_limits_count_characters(s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"1")
    # 128 / 256 characters are allowed even when they take more bytes.
    tags = [{"Key": "é" * 128, "Value": "ü" * 256}]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": tags})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == tags
    for bad in ([{"Key": "k" * 129, "Value": "v"}], [{"Key": "k", "Value": "v" * 257}],
                [{"Key": f"k{i}", "Value": "v"} for i in range(11)]):
        with pytest.raises(ClientError) as ei:
            s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": bad})
        assert client_error(ei)[1] == 400
    with pytest.raises(ClientError) as ei:
        s3.put_object(Bucket=bucket, Key="m", Body=b"1", Metadata={"k": "v" * 2048})
    assert client_error(ei) == ("MetadataTooLarge", 400)


def test_newer_sdk_multipart_upload_and_ranged_download(server, bucket, tmp_path):
    """boto3 1.36+ uploads with its default checksums and downloads objects over 8 MB with
    ranged GETs, validating any checksum it gets back; AWS CLI v1 (same python) likewise."""
    exe = _newer_python()
    if exe is None:
        pytest.skip("no boto3 1.36+ on PATH")
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * MiB + 123))
    script = textwrap.dedent(f"""
        import boto3, botocore.config
        s3 = boto3.client("s3", endpoint_url={server.endpoint!r}, region_name={REGION!r},
                          aws_access_key_id={ACCESS_KEY!r}, aws_secret_access_key={SECRET_KEY!r},
                          config=botocore.config.Config(retries={{"total_max_attempts": 1}}))
        s3.upload_file({str(src)!r}, {bucket!r}, "big")  # multipart
        s3.download_file({bucket!r}, "big", {str(tmp_path / "down.bin")!r})
        with open({str(src)!r}, "rb") as f:  # one PUT: a whole-object CRC32
            s3.put_object(Bucket={bucket!r}, Key="big", Body=f.read())
        s3.download_file({bucket!r}, "big", {str(tmp_path / "down.bin")!r})
    """)
    run = subprocess.run([exe, "-c", script], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "down.bin").read_bytes() == src.read_bytes()
    cli = shutil.which("aws")
    version = subprocess.run([cli, "--version"], capture_output=True, text=True,
                             timeout=60).stdout if cli else ""
    if version.startswith("aws-cli/1."):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY,
                   AWS_DEFAULT_REGION=REGION, AWS_CONFIG_FILE=os.devnull,
                   AWS_SHARED_CREDENTIALS_FILE=os.devnull)
        out = subprocess.run([cli, "--endpoint-url", server.endpoint, "s3", "cp",
                              f"s3://{bucket}/big", str(tmp_path / "cli.bin")],
                             capture_output=True, text=True, timeout=300, env=env)
        assert out.returncode == 0, out.stderr[-2000:]
        assert (tmp_path / "cli.bin").read_bytes() == src.read_bytes()


def test_list_object_versions_of_a_never_versioned_bucket(s3, bucket):
    # As S3 answers for a bucket never versioned: each object is its one version, "null".
    for k in ("a", "b/1", "b/2", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=k.encode())
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in page["Versions"]] == \
        [("a", "null", True), ("b/1", "null", True)]
    assert page["IsTruncated"] and page["NextKeyMarker"] == "b/1"
    page = s3.list_object_versions(Bucket=bucket, KeyMarker=page["NextKeyMarker"],
                                   VersionIdMarker=page["NextVersionIdMarker"])
    assert [v["Key"] for v in page["Versions"]] == ["b/2", "c"] and not page["IsTruncated"]
    page = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in page["Versions"]] == ["a", "c"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["b/"]
    assert "DeleteMarkers" not in page
    # Any other version ID names no version: not a request for the current object.
    for call in (lambda: s3.get_object(Bucket=bucket, Key="a", VersionId="3HL4kqtJlcpXroDTDmJ"),
                 lambda: s3.delete_object(Bucket=bucket, Key="a", VersionId="3HL4kqtJlcpXroDTDmJ")):
        with pytest.raises(ClientError) as ei:
            call()
        assert client_error(ei) == ("InvalidArgument", 400)
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a", "VersionId": "xyz"}]})
    assert [e["Code"] for e in r["Errors"]] == ["NoSuchVersion"]
    assert s3.get_object(Bucket=bucket, Key="a", VersionId="null")["Body"].read() == b"a"
    # The usual "empty every version" loop empties the bucket.
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions]})
    assert sorted((d["Key"], d["VersionId"]) for d in r["Deleted"]) == \
        sorted((v["Key"], "null") for v in versions)
    assert "Versions" not in s3.list_object_versions(Bucket=bucket)
