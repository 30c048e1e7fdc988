"""Authentication, aws-chunked uploads, malformed requests and path traversal.

Hand-built requests use http.client with botocore's SigV4 signer (sluice_helpers.sign)."""

import datetime
import hashlib
import os
import urllib.parse
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import (b64, chunk_signature, client_error, crc32_b64,
                            make_s3, send_raw, sha256, sign, signed_request, split_chunks,
                            trailer_signature)


def _q(value):
    return urllib.parse.quote(value, safe="-_.~")


# ---------------------------------------------------------------------------------------
# Credentials and signatures


def test_wrong_secret(server, bucket):
    bad = make_s3(server.endpoint, secret_key="not-the-secret")
    for call in (lambda: bad.list_buckets(),
                 lambda: bad.put_object(Bucket=bucket, Key="k", Body=b"x"),
                 lambda: bad.get_object(Bucket=bucket, Key="k")):
        with pytest.raises(ClientError) as ei:
            call()
        assert client_error(ei) == ("SignatureDoesNotMatch", 403)


def test_unknown_access_key(server, bucket):
    bad = make_s3(server.endpoint, access_key="AKIDONOTEXIST", secret_key="test")
    for call in (lambda: bad.list_buckets(),
                 lambda: bad.put_object(Bucket=bucket, Key="k", Body=b"x")):
        with pytest.raises(ClientError) as ei:
            call()
        assert client_error(ei) == ("InvalidAccessKeyId", 403)


def test_unsigned_requests_denied(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="private", Body=b"p")
    for method, path, body in (("GET", f"/{bucket}", b""),
                               ("GET", f"/{bucket}?list-type=2", b""),
                               ("GET", f"/{bucket}/private", b""),
                               ("PUT", f"/{bucket}/anon", b"data"),
                               ("DELETE", f"/{bucket}/private", b""),
                               ("GET", "/", b"")):
        r = send_raw(server.host, server.port, method, path, body=body)
        assert (r.status, r.error_code) == (403, "AccessDenied"), (method, path, r)
    assert s3.get_object(Bucket=bucket, Key="private")["Body"].read() == b"p"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="anon")


def test_signed_payload_hash_mismatch(server, bucket):
    # x-amz-content-sha256 that does not match the body: XAmzContentSHA256Mismatch 400.
    s = sign(server.host, server.port, "PUT", f"/{bucket}/mismatch", {},
             content_sha256=sha256(b"something else"))
    r = send_raw(server.host, server.port, "PUT", f"/{bucket}/mismatch", s.headers,
                 body=b"the body")
    assert (r.status, r.error_code) == (400, "XAmzContentSHA256Mismatch"), r


def test_request_time_too_skewed(server, bucket):
    old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    r = signed_request(server, "GET", f"/{bucket}?list-type=2", timestamp=old)
    assert (r.status, r.error_code) == (403, "RequestTimeTooSkewed"), r


def test_signed_raw_request_works(server, s3, bucket):
    # Sanity check of the hand-built signing used below.
    r = signed_request(server, "PUT", f"/{bucket}/raw", body=b"raw body",
                       headers={"Content-Type": "text/x-raw"})
    assert r.status == 200, r
    g = s3.get_object(Bucket=bucket, Key="raw")
    assert g["Body"].read() == b"raw body"
    assert g["ContentType"] == "text/x-raw"
    r = signed_request(server, "PUT", f"/{bucket}/raw-unsigned", body=b"u", sign_body=False)
    assert r.status == 200, r


# ---------------------------------------------------------------------------------------
# aws-chunked uploads


def _chunked_headers(data, extra=None):
    h = {"Content-Encoding": "aws-chunked",
         "x-amz-decoded-content-length": str(len(data))}
    h.update(extra or {})
    return h


def _put_unsigned_trailer(server, bucket, key, data, checksum_b64, chunk=64 * 1024):
    body = b"".join(f"{len(c):x}\r\n".encode() + c + b"\r\n" for c in split_chunks(data, chunk)
                    if c)
    body += b"0\r\n" + f"x-amz-checksum-crc32:{checksum_b64}\r\n\r\n".encode()
    headers = _chunked_headers(data, {"x-amz-trailer": "x-amz-checksum-crc32",
                                        "Content-Length": str(len(body))})
    path = f"/{bucket}/{key}"
    s = sign(server.host, server.port, "PUT", path, headers,
             content_sha256="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    return send_raw(server.host, server.port, "PUT", path, s.headers, body)


def test_aws_chunked_unsigned_trailer(server, s3, bucket):
    data = os.urandom(150 * 1024 + 17)  # three chunks of 64 KiB, 64 KiB, 22 KiB+17
    r = _put_unsigned_trailer(server, bucket, "chunked-unsigned", data, crc32_b64(data))
    assert r.status == 200, r
    g = s3.get_object(Bucket=bucket, Key="chunked-unsigned", ChecksumMode="ENABLED")
    body = g["Body"].read()
    assert len(body) == len(data) and body == data
    assert g["ContentLength"] == len(data)
    assert g["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    assert g.get("ChecksumCRC32") == crc32_b64(data)
    # Content-Encoding aws-chunked is not stored as the object's encoding.
    assert g.get("ContentEncoding") in (None, "")


def test_aws_chunked_unsigned_trailer_bad_checksum(server, s3, bucket):
    data = b"trailer checked data" * 100
    r = _put_unsigned_trailer(server, bucket, "chunked-bad", data, crc32_b64(b"other"))
    assert (r.status, r.error_code) == (400, "BadDigest"), r
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="chunked-bad")
    assert client_error(ei)[1] == 404


def _signed_chunked_body(s, data, chunk_size, corrupt_chunk=None, trailer=None):
    prev = s.signature
    out = []
    chunks = [c for c in split_chunks(data, chunk_size) if c] + [b""]
    for i, c in enumerate(chunks):
        sig = chunk_signature(s, prev, c)
        prev = sig
        payload = c
        if corrupt_chunk == i:
            payload = bytes([c[0] ^ 0xFF]) + c[1:]
        out.append(f"{len(c):x};chunk-signature={sig}\r\n".encode() + payload + b"\r\n")
    if trailer is None:
        return b"".join(out)
    # Trailer mode: the last chunk line is not followed by an empty line but by the trailers.
    out[-1] = out[-1][:-2]
    name, value = trailer
    text = f"{name}:{value}\n"
    tsig = trailer_signature(s, prev, text)
    out.append(f"{name}:{value}\r\nx-amz-trailer-signature:{tsig}\r\n\r\n".encode())
    return b"".join(out)


def _encoded_length(data, chunk_size, trailer=None):
    n = 0
    for c in [c for c in split_chunks(data, chunk_size) if c] + [b""]:
        n += len(f"{len(c):x};chunk-signature=".encode()) + 64 + 2 + len(c) + 2
    if trailer is not None:
        name, value = trailer
        n -= 2
        n += len(f"{name}:{value}\r\n") + len("x-amz-trailer-signature:") + 64 + 4
    return n


def _put_signed_chunked(server, bucket, key, data, chunk_size=64 * 1024, corrupt_chunk=None,
                        trailer=None):
    path = f"/{bucket}/{key}"
    extra = {"Content-Length": str(_encoded_length(data, chunk_size, trailer))}
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    if trailer is not None:
        extra["x-amz-trailer"] = trailer[0]
        mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
    headers = _chunked_headers(data, extra)
    s = sign(server.host, server.port, "PUT", path, headers, content_sha256=mode)
    body = _signed_chunked_body(s, data, chunk_size, corrupt_chunk, trailer)
    assert len(body) == int(extra["Content-Length"])
    return send_raw(server.host, server.port, "PUT", path, s.headers, body)


def test_aws_chunked_signed(server, s3, bucket):
    data = os.urandom(200 * 1024 + 5)
    r = _put_signed_chunked(server, bucket, "chunked-signed", data)
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="chunked-signed")["Body"].read() == data
    # A single small chunk (smaller than the 8 KiB minimum is allowed for the only chunk).
    r = _put_signed_chunked(server, bucket, "chunked-small", b"tiny")
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="chunked-small")["Body"].read() == b"tiny"
    # Empty object: just the final chunk.
    r = _put_signed_chunked(server, bucket, "chunked-empty", b"")
    assert r.status == 200, r
    assert s3.get_object(Bucket=bucket, Key="chunked-empty")["Body"].read() == b""


def test_aws_chunked_signed_corrupt_chunk(server, s3, bucket):
    data = os.urandom(100 * 1024)
    r = _put_signed_chunked(server, bucket, "chunked-corrupt", data, corrupt_chunk=1)
    assert (r.status, r.error_code) == (403, "SignatureDoesNotMatch"), r
    with pytest.raises(ClientError) as ei:
        s3.head_object(Bucket=bucket, Key="chunked-corrupt")
    assert client_error(ei)[1] == 404


def test_aws_chunked_signed_trailer(server, s3, bucket):
    data = os.urandom(70 * 1024)
    r = _put_signed_chunked(server, bucket, "chunked-signed-trailer", data,
                            trailer=("x-amz-checksum-crc32", crc32_b64(data)))
    assert r.status == 200, r
    g = s3.get_object(Bucket=bucket, Key="chunked-signed-trailer", ChecksumMode="ENABLED")
    assert g["Body"].read() == data
    assert g.get("ChecksumCRC32") == crc32_b64(data)
    r = _put_signed_chunked(server, bucket, "chunked-signed-trailer-bad", data,
                            trailer=("x-amz-checksum-crc32", crc32_b64(b"nope")))
    assert (r.status, r.error_code) == (400, "BadDigest"), r


def test_aws_chunked_upload_part(server, s3, bucket):
    # aws-chunked also applies to UploadPart.
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp-chunked")["UploadId"]
    data = os.urandom(33 * 1024)
    r = _put_signed_chunked(server, bucket, f"mp-chunked?partNumber=1&uploadId={_q(uid)}", data,
                            chunk_size=16 * 1024)
    assert r.status == 200, r
    etag = r.header("ETag")
    assert etag == f'"{hashlib.md5(data).hexdigest()}"'
    s3.complete_multipart_upload(Bucket=bucket, Key="mp-chunked", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert s3.get_object(Bucket=bucket, Key="mp-chunked")["Body"].read() == data


# ---------------------------------------------------------------------------------------
# Malformed requests


def test_malformed_xml(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"k")
    for garbage in (b"<Delete><Object>", b"not xml at all", b"<Delete><Object><Key>keep</Key>"):
        r = signed_request(server, "POST", f"/{bucket}?delete", body=garbage,
                           headers={"Content-MD5": b64(hashlib.md5(garbage).digest())})
        assert (r.status, r.error_code) == (400, "MalformedXML"), (garbage, r)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    r = signed_request(server, "POST", f"/{bucket}/mp?uploadId={_q(uid)}",
                       body=b"<CompleteMultipartUpload><Part>")
    assert (r.status, r.error_code) == (400, "MalformedXML"), r
    r = signed_request(server, "PUT", f"/{bucket}/keep?tagging", body=b"<Tagging><TagSet>")
    assert (r.status, r.error_code) == (400, "MalformedXML"), r
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"k"


# ---------------------------------------------------------------------------------------
# Path traversal


def _files_with_content(root, payload):
    found = []
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            try:
                if p.stat().st_size == len(payload) and p.read_bytes() == payload:
                    found.append(p)
            except OSError:
                pass
    return found


def test_dot_dot_keys_stay_in_bucket(server, s3, bucket, tmp_root):
    marker = f"sluice-escape-{uuid.uuid4().hex}"
    depth = "../" * 12
    raw_paths = [
        # (path as sent, the key S3 sees)
        (f"/{bucket}/{depth}tmp/{marker}-1", f"{depth}tmp/{marker}-1"),
        (f"/{bucket}/../{marker}-2", f"../{marker}-2"),
        (f"/{bucket}/" + "%2e%2e%2f" * 12 + f"tmp%2f{marker}-3", f"{depth}tmp/{marker}-3"),
        (f"/{bucket}/..%2f..%2f{marker}-4", f"../../{marker}-4"),
        (f"/{bucket}/%2E%2E/%2E%2E/{marker}-5", f"../../{marker}-5"),
        (f"/{bucket}/a/../../b/..%2F..%2F{marker}-6", f"a/../../b/../../{marker}-6"),
    ]
    payloads = {}
    for i, (path, key) in enumerate(raw_paths):
        payload = f"{marker} payload {i} for key {key!r}".encode()
        payloads[key] = payload
        r = signed_request(server, "PUT", path, body=payload)
        assert r.status == 200, (path, r)
        # Reading it back through the same raw path.
        r = signed_request(server, "GET", path)
        assert (r.status, r.body) == (200, payload), (path, r)
        # And as the literal key through boto3.
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == payload, key

    data_dir = server.data_dir.resolve()
    bucket_dir = data_dir / "s3" / "objects" / bucket
    # Nothing escaped: no file named after the marker anywhere under the temp root or /tmp
    # outside the data dir, and every stored copy of a payload is inside the data dir and,
    # among objects, inside this bucket's folder.
    for name in os.listdir("/tmp"):
        assert marker not in name, f"escaped: /tmp/{name}"
    for root in (tmp_root.resolve(),):
        for dirpath, dirs, files in os.walk(root):
            here = Path(dirpath).resolve()
            if here == data_dir or data_dir in here.parents:
                dirs.clear()
                continue
            for name in files + dirs:
                assert marker not in name, f"escaped: {here / name}"
    for key, payload in payloads.items():
        for p in _files_with_content(tmp_root, payload):
            p = p.resolve()
            assert data_dir in p.parents, f"{key!r} stored outside the data dir: {p}"
            objects = data_dir / "s3" / "objects"
            if objects in p.parents:
                assert bucket_dir in p.parents, f"{key!r} stored outside its bucket: {p}"
    # Listing shows the literal keys.
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(keys) == sorted(payloads)


def test_dot_dot_get_cannot_read_outside(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="inside", Body=b"inside")
    for path in (f"/{bucket}/../../../../../../../../etc/passwd",
                 f"/{bucket}/" + "%2e%2e%2f" * 10 + "etc%2fpasswd",
                 f"/{bucket}/..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc/passwd",
                 f"/{bucket}/../{bucket}/inside"):
        r = signed_request(server, "GET", path)
        assert b"root:" not in r.body, path
        assert (r.status, r.error_code) == (404, "NoSuchKey"), (path, r)
    # Traversal through the bucket name part: no bucket named "..".
    r = signed_request(server, "GET", "/../etc/passwd")
    assert b"root:" not in r.body
    assert r.status in (400, 403, 404), r
    # A key path that escapes the bucket into another bucket's folder is a different key.
    other = f"{bucket}-x"[:63]
    s3.create_bucket(Bucket=other)
    try:
        s3.put_object(Bucket=other, Key="secret", Body=b"other bucket")
        r = signed_request(server, "GET", f"/{bucket}/../{other}/secret")
        assert (r.status, r.error_code) == (404, "NoSuchKey"), r
        q = urllib.parse.quote(f"../{other}/secret", safe="")
        r = signed_request(server, "GET", f"/{bucket}/{q}")
        assert (r.status, r.error_code) == (404, "NoSuchKey"), r
    finally:
        s3.delete_object(Bucket=other, Key="secret")
        s3.delete_bucket(Bucket=other)

