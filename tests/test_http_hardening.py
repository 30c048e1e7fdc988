"""The protocol boundary under hostile input: nesting bombs, unsigned headers and payloads,
credential scopes for another region or service, services Sluice lacks, stalled readers.

Hand-built requests are signed with botocore's own SigV4 signer for the named service."""

import html
import json
import socket
import time
import urllib.parse

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest

from sluice_helpers import (ACCESS_KEY, REGION, SECRET_KEY, send_raw, sha256, sign, signed_request,
                            unique_bucket, wait_for)

DEEP = 100_000


def _health(server):
    r = send_raw(server.host, server.port, "GET", "/health")
    assert r.status == 200, r


def sign_service(server, service, method, path, headers, body, region=REGION,
                 signing_service=None):
    """Headers for a request to a non-S3 service, signed by botocore as its clients do."""
    req = AWSRequest(method=method, url=f"{server.endpoint}{path}", headers=dict(headers),
                     data=body)
    creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    botocore.auth.SigV4Auth(creds, signing_service or service, region).add_auth(req)
    return dict(req.headers.items())


def json_call(server, service, target, body, version="1.1", region=REGION, extra=None,
              signing_service=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    body = body.encode() if isinstance(body, str) else body
    headers = {"X-Amz-Target": target, "Content-Type": f"application/x-amz-json-{version}"}
    headers.update(extra or {})
    signed = sign_service(server, service, "POST", "/", headers, body, region, signing_service)
    return send_raw(server.host, server.port, "POST", "/", signed, body=body)


def query_call(server, service, params, region=REGION):
    body = urllib.parse.urlencode(params).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    signed = sign_service(server, service, "POST", "/", headers, body, region)
    return send_raw(server.host, server.port, "POST", "/", signed, body=body)


def json_error(r):
    return (r.status, json.loads(r.body).get("__type"), json.loads(r.body).get("message", ""))


# ---------------------------------------------------------------------------------------
# Nesting bombs: every protocol answers 400 and the server stays up.


def test_deeply_nested_json_bodies_are_refused(server):
    bomb = "[" * DEEP
    cases = [
        ("states", "AWSStepFunctions.StartExecution", "1.0",
         '{"stateMachineArn": "arn:aws:states:us-east-1:000000000000:stateMachine:x", "input": ' + bomb),
        ("glue", "AWSGlue.CreateDatabase", "1.1", '{"DatabaseInput": {"Name": "d", "Parameters": ' + bomb),
        ("events", "AWSEvents.PutEvents", "1.1", '{"Entries": [{"Detail": ' + bomb),
        ("athena", "AmazonAthena.StartQueryExecution", "1.1",
         '{"QueryString": "SELECT 1", "ExecutionParameters": ' + bomb),
        ("sqs", "AmazonSQS.CreateQueue", "1.0", '{"QueueName": "q", "Attributes": ' + bomb),
    ]
    for service, target, version, body in cases:
        r = json_call(server, service, target, body, version)
        status, code, message = json_error(r)
        assert (status, code) == (400, "SerializationException"), (target, r)
        assert "128 levels" in message, (target, message)
        _health(server)
    # Valid JSON that is not an object, and text that is not JSON, say so.
    r = json_call(server, "glue", "AWSGlue.GetDatabases", "[1]")
    assert json_error(r)[:2] == (400, "SerializationException") and "object" in json_error(r)[2]
    r = json_call(server, "glue", "AWSGlue.GetDatabases", "{nope")
    assert json_error(r)[:2] == (400, "SerializationException") and "not valid JSON" in json_error(r)[2]


def test_deeply_nested_json_inside_string_members_is_refused(server):
    bomb = "[" * DEEP + "]" * DEEP
    sfn_arn = None
    r = json_call(server, "states", "AWSStepFunctions.CreateStateMachine", {
        "name": "deep-input", "roleArn": "arn:aws:iam::000000000000:role/r",
        "definition": json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})},
        "1.0")
    assert r.status == 200, r
    sfn_arn = json.loads(r.body)["stateMachineArn"]
    cases = [
        ("states", "AWSStepFunctions.StartExecution", "1.0", {"stateMachineArn": sfn_arn, "input": bomb}),
        ("events", "AWSEvents.PutEvents", "1.1",
         {"Entries": [{"Source": "s", "DetailType": "t", "Detail": bomb}]}),
        ("sqs", "AmazonSQS.CreateQueue", "1.0", {"QueueName": "deep-q", "Attributes": {"RedrivePolicy": bomb}}),
    ]
    for service, target, version, body in cases:
        r = json_call(server, service, target, body, version)
        ok_failed_entry = service == "events" and r.status == 200 and json.loads(r.body)["FailedEntryCount"] == 1
        assert r.status == 400 or ok_failed_entry, (target, r)
        _health(server)
    r = query_call(server, "sqs", {"Action": "CreateQueue", "QueueName": "deep-q2",
                                   "Attribute.1.Name": "RedrivePolicy", "Attribute.1.Value": bomb})
    assert r.status == 400, r
    _health(server)


def test_deeply_nested_s3_xml_bodies_are_refused(server, s3):
    bucket = unique_bucket("deepxml")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    inner = "<a>" * DEEP + "</a>" * DEEP
    cases = [
        ("PUT", f"/{bucket}/k?tagging", f"<Tagging><TagSet><Tag>{inner}</Tag></TagSet></Tagging>"),
        ("POST", f"/{bucket}?delete", f"<Delete>{inner}</Delete>"),
        ("POST", f"/{bucket}/mp?uploadId={upload}",
         f"<CompleteMultipartUpload>{inner}</CompleteMultipartUpload>"),
        ("PUT", f"/{bucket}?notification", f"<NotificationConfiguration>{inner}</NotificationConfiguration>"),
    ]
    for method, path, body in cases:
        r = signed_request(server, method, path, body=body.encode(), headers={"Content-Type": "application/xml"})
        assert r.status == 400, (method, path, r)
        _health(server)


# ---------------------------------------------------------------------------------------
# Signatures


def test_unsigned_amz_headers_are_refused(server, s3):
    bucket = unique_bucket("unsigned")
    s3.create_bucket(Bucket=bucket)
    for extra in ({"x-amz-meta-owner": "mallory"}, {"x-amz-tagging": "a=b"},
                  {"x-amz-storage-class": "GLACIER"}):
        s = sign(server.host, server.port, "PUT", f"/{bucket}/obj", {}, content_sha256=sha256(b"data"))
        headers = dict(s.headers)
        headers.update(extra)
        r = send_raw(server.host, server.port, "PUT", f"/{bucket}/obj", headers, body=b"data")
        assert (r.status, r.error_code) == (403, "AccessDenied"), (extra, r)
        assert b"There were headers present in the request which were not signed" in r.body
        assert f"<HeadersNotSigned>{next(iter(extra))}</HeadersNotSigned>".encode() in r.body, r
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    # The same headers, signed, are applied.
    r = signed_request(server, "PUT", f"/{bucket}/obj", body=b"data", headers={"x-amz-meta-owner": "alice"})
    assert r.status == 200, r
    assert s3.head_object(Bucket=bucket, Key="obj")["Metadata"] == {"owner": "alice"}
    # A presigned URL does not cover headers it was not signed with either.
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre"})
    path = url[len(server.endpoint):]
    r = send_raw(server.host, server.port, "PUT", path, {"x-amz-meta-owner": "mallory"}, body=b"p")
    assert (r.status, r.error_code) == (403, "AccessDenied"), r
    r = send_raw(server.host, server.port, "PUT", path, {}, body=b"p")
    assert r.status == 200, r


class _UnsignedPayloadSigV4(botocore.auth.SigV4Auth):
    """Signs UNSIGNED-PAYLOAD as the payload hash, as S3 clients may."""

    def payload(self, request):
        return "UNSIGNED-PAYLOAD"


def _sign_unsigned_payload(server, service, headers, body):
    headers = dict(headers, **{"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    req = AWSRequest(method="POST", url=f"{server.endpoint}/", headers=headers, data=body)
    creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    _UnsignedPayloadSigV4(creds, service, REGION).add_auth(req)
    return dict(req.headers.items())


def test_unsigned_payload_only_for_s3(server):
    # Signed with UNSIGNED-PAYLOAD, the body is not covered: another body must not pass.
    headers = _sign_unsigned_payload(server, "glue", {"X-Amz-Target": "AWSGlue.CreateDatabase",
                                                      "Content-Type": "application/x-amz-json-1.1"}, b"{}")
    evil = json.dumps({"DatabaseInput": {"Name": "evil_db"}}).encode()
    r = send_raw(server.host, server.port, "POST", "/", headers, body=evil)
    status, code, message = json_error(r)
    assert (status, code) == (403, "InvalidSignatureException"), r
    assert "only S3 accepts UNSIGNED-PAYLOAD" in message
    # Query protocol (SNS) likewise.
    headers = _sign_unsigned_payload(server, "sns", {"Content-Type": "application/x-www-form-urlencoded"},
                                     b"Action=ListTopics")
    r = send_raw(server.host, server.port, "POST", "/", headers, body=b"Action=CreateTopic&Name=evil")
    assert r.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.body, r
    # botocore's own signature (the body's hash) with a claimed UNSIGNED-PAYLOAD header is refused.
    headers = {"X-Amz-Target": "AWSGlue.GetDatabases", "Content-Type": "application/x-amz-json-1.1",
               "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    signed = sign_service(server, "glue", "POST", "/", headers, b"{}")
    r = send_raw(server.host, server.port, "POST", "/", signed, body=b"{}")
    assert json_error(r)[:2] == (403, "InvalidSignatureException"), r


def test_credential_scope_must_name_this_region_and_service(server):
    r = json_call(server, "glue", "AWSGlue.GetDatabases", {}, region="eu-west-1")
    status, code, message = json_error(r)
    assert (status, code) == (403, "InvalidSignatureException"), r
    assert "Credential should be scoped to a valid region" in message
    r = json_call(server, "glue", "AWSGlue.GetDatabases", {}, signing_service="athena")
    status, code, message = json_error(r)
    assert (status, code) == (403, "InvalidSignatureException"), r
    assert "Credential should be scoped to correct service: 'glue'" in message
    r = query_call(server, "sns", {"Action": "ListTopics"}, region="eu-west-1")
    assert r.status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.body, r
    assert b"Credential should be scoped to a valid region" in r.body
    # S3 names the region it expects (SDKs follow it).
    headers = sign_service(server, "s3", "GET", "/", {"X-Amz-Content-SHA256": sha256(b"")}, b"",
                           region="eu-west-1")
    r = send_raw(server.host, server.port, "GET", "/", headers)
    assert (r.status, r.error_code) == (400, "AuthorizationHeaderMalformed"), r
    assert "the region 'eu-west-1' is wrong; expecting 'us-east-1'" in html.unescape(r.body.decode())
    assert b"<Region>us-east-1</Region>" in r.body


def test_region_flag_sets_the_signing_region(server_factory):
    import boto3
    srv = server_factory(start=False)
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    (srv.data_dir / "config.json").write_text(json.dumps({
        "access_keys": [{"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}],
        "region": "eu-central-1"}))
    srv.start()
    glue = boto3.client("glue", endpoint_url=srv.endpoint, region_name="eu-central-1",
                        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY)
    assert "DatabaseList" in glue.get_databases()
    r = json_call(srv, "glue", "AWSGlue.GetDatabases", {})
    assert json_error(r)[:2] == (403, "InvalidSignatureException"), r


# ---------------------------------------------------------------------------------------
# Services Sluice does not have: 501 in the caller's protocol, readable in the CLI.


@pytest.mark.parametrize("args,service", [
    (("iam", "list-users"), "iam"),
    (("sts", "get-caller-identity"), "sts"),
    (("kinesis", "list-streams"), "kinesis"),
    (("apigateway", "get-rest-apis"), "apigateway"),
    (("dynamodb", "list-tables"), "dynamodb"),
    (("ec2", "describe-instances"), "ec2"),
])
def test_unknown_services_answer_in_their_protocol(aws, args, service):
    out = aws(*args, check=False)
    assert out.returncode != 0
    assert "(NotImplemented)" in out.stderr, out.stderr
    assert f"'{service}' service is not available in Sluice" in out.stderr, out.stderr


def test_unknown_target_of_a_known_service(server):
    r = json_call(server, "glue", "AWSGlueX.GetDatabases", {})
    status, code, message = json_error(r)
    assert (status, code) == (400, "UnknownOperationException"), r
    assert "'glue'" in message


# ---------------------------------------------------------------------------------------
# Stalled readers never block others.


def _established(port):
    """Server-side TCP connections on `port` still ESTABLISHED (Linux /proc/net/tcp)."""
    count = 0
    for line in open("/proc/net/tcp").read().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == "01":
            count += 1
    return count


def test_stalled_readers_do_not_block_other_requests(server_factory):
    import boto3
    from botocore.config import Config
    srv = server_factory(start=False)
    srv.data_dir.mkdir(parents=True, exist_ok=True)
    (srv.data_dir / "config.json").write_text(json.dumps({
        "access_keys": [{"access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY}],
        "region": REGION, "http": {"write_timeout_seconds": 3}}))
    srv.start()
    s3 = boto3.client("s3", endpoint_url=srv.endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
                      aws_secret_access_key=SECRET_KEY,
                      config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1},
                                    read_timeout=10))
    s3.create_bucket(Bucket="big")
    s3.put_object(Bucket="big", Key="obj", Body=b"\0" * (50 << 20))
    stalled = []
    for _ in range(40):
        s = sign(srv.host, srv.port, "GET", "/big/obj", {})
        sock = socket.create_connection((srv.host, srv.port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        head = "".join(f"{k}: {v}\r\n" for k, v in s.headers.items())
        sock.sendall(f"GET /big/obj HTTP/1.1\r\nHost: {srv.host}:{srv.port}\r\n{head}\r\n".encode())
        stalled.append(sock)
    try:
        time.sleep(0.5)  # let every stalled GET reach the server and fill its socket buffer
        for i in range(5):
            started = time.monotonic()
            s3.put_object(Bucket="big", Key=f"small{i}", Body=b"s")
            assert s3.get_object(Bucket="big", Key=f"small{i}")["Body"].read() == b"s"
            s3.list_objects_v2(Bucket="big")
            assert time.monotonic() - started < 2.0
        # The server gives up on readers that stalled (write timeout 3 s) and closes their
        # connections: none of them stays established on the server's side.
        wait_for(lambda: srv.log_path.read_text().count("write=failed") >= 40, timeout=30, interval=0.2,
                 what="stalled responses abandoned")
        wait_for(lambda: _established(srv.port) < 5, timeout=10, interval=0.2,
                 what="stalled connections closed")
    finally:
        for sock in stalled:
            sock.close()


# ---------------------------------------------------------------------------------------
# Size limits: a body over the service's limit is refused from Content-Length, unread.


def test_oversized_bodies_are_refused_before_they_are_read(server):
    # EventBridge takes at most 1 MiB; the body announced here is never sent.
    body = b"{}"
    signed = sign_service(server, "events", "POST", "/", {"X-Amz-Target": "AWSEvents.PutEvents",
                                                         "Content-Type": "application/x-amz-json-1.1"}, body)
    signed["Content-Length"] = str(64 << 20)
    sock = socket.create_connection((server.host, server.port), timeout=10)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in signed.items())
        sock.sendall(f"POST / HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n{head}\r\n".encode() + body)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            data = sock.recv(65536)
            if not data:
                break
            reply += data
    finally:
        sock.close()
    assert reply.startswith(b"HTTP/1.1 413"), reply
    assert b'"__type":"RequestEntityTooLarge"' in reply, reply
    _health(server)
