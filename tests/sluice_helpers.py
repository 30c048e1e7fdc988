"""Shared helpers for the end-to-end tests: running sluice, clients, raw signed requests.

Imported by conftest.py and the test modules (pytest puts this directory on sys.path).
"""

import base64
import datetime
import hashlib
import hmac
import os
import random
import http.client
import re
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import botocore.auth
import botocore.exceptions
import botocore.credentials
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

REGION = "us-east-1"
ACCESS_KEY = "test"
SECRET_KEY = "test"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MiB = 1024 * 1024

# Every server started by the tests, so failures can show their logs (see conftest.py).
ALL_SERVERS = []


# ---------------------------------------------------------------------------------------
# Running sluice


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ServerStartError(RuntimeError):
    pass


class SluiceServer:
    """One `sluice server` process on a data dir; can be stopped, killed and restarted."""

    def __init__(self, binary, data_dir, log_path, host="127.0.0.1", name="sluice"):
        self.binary = str(binary)
        self.data_dir = Path(data_dir)
        self.log_path = Path(log_path)
        self.host = host
        self.name = name
        self.port = None
        self.pg_port = None  # the warehouse's PostgreSQL wire protocol
        self.proc = None
        self._log = None
        self.starts = 0
        ALL_SERVERS.append(self)

    @property
    def endpoint(self):
        return f"http://{self.host}:{self.port}"

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0

    def log_text(self, since=0, max_lines=200):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                data = f.read()
        except FileNotFoundError:
            return ""
        lines = data.decode("utf-8", "replace").splitlines()
        if len(lines) > max_lines:
            lines = [f"... ({len(lines) - max_lines} earlier lines cut)"] + lines[-max_lines:]
        return "\n".join(lines)

    def start(self, timeout=30.0, port=None):
        """Starts the process and waits (polling /health) until it answers 200."""
        assert not self.running(), "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        last_error = None
        for _attempt in range(3):  # a picked free port can be taken by someone else
            self.port = port or free_port(self.host)
            self.pg_port = free_port(self.host)
            mark = self.log_size()
            self._log = open(self.log_path, "ab")
            self._log.write(f"--- start #{self.starts + 1} on port {self.port}\n".encode())
            self._log.flush()
            self.proc = subprocess.Popen(
                [self.binary, "server", "--data-dir", str(self.data_dir),
                 "--host", self.host, "--port", str(self.port), "--pg-port", str(self.pg_port)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                start_new_session=True)
            self.starts += 1
            try:
                self._wait_healthy(timeout)
                return self
            except ServerStartError as e:
                last_error = e
                self._reap()
                if "in use" not in self.log_text(mark).lower() or port:
                    break
        raise last_error

    def _wait_healthy(self, timeout):
        deadline = time.monotonic() + timeout
        url = f"{self.endpoint}/health"
        while True:
            code = self.proc.poll()
            if code is not None:
                raise ServerStartError(
                    f"{self.name} exited with code {code} during startup:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        return
            except urllib.error.HTTPError:
                pass
            except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.name} did not answer 200 on /health within {timeout}s:\n"
                    f"{self.log_text()}")
            time.sleep(0.05)

    def stop(self, sig=signal.SIGTERM, timeout=20.0):
        """Graceful stop; returns the exit code. Kills (and raises) if it does not exit."""
        if not self.running():
            return self._reap()
        self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self._reap()
            raise AssertionError(f"{self.name} did not exit within {timeout}s of {sig!r}")
        self._reap()
        return code

    def kill(self):
        """SIGKILL, no chance to clean up."""
        if self.running():
            self.proc.kill()
            self.proc.wait()
        return self._reap()

    def _reap(self):
        code = None
        if self.proc is not None:
            code = self.proc.poll()
            if code is None:
                self.proc.kill()
                code = self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
        return code


# ---------------------------------------------------------------------------------------
# Clients


def make_s3(endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, addressing="path",
            read_timeout=60, **config):
    session = boto3.session.Session()
    cfg = Config(
        s3={"addressing_style": addressing},
        signature_version="s3v4",  # botocore 1.29 would presign with SigV2 otherwise
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=5, read_timeout=read_timeout,
        max_pool_connections=32, **config)
    return session.client(
        "s3", endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=access_key, aws_secret_access_key=secret_key, config=cfg)


def make_client(service, endpoint, read_timeout=60, **config):
    """A boto3 client for a JSON-protocol service (glue, athena, ...) on a sluice endpoint."""
    session = boto3.session.Session()
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                 connect_timeout=5, read_timeout=read_timeout, **config)
    return session.client(
        service, endpoint_url=endpoint, region_name=REGION,
        aws_access_key_id=ACCESS_KEY, aws_secret_access_key=SECRET_KEY, config=cfg)


def unique_name(prefix="it"):
    """A lower-case Glue/Athena identifier: letters, digits and underscores."""
    prefix = re.sub(r"[^a-z0-9_]", "_", prefix.lower()).strip("_")[:40]
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def unique_bucket(prefix="it"):
    prefix = re.sub(r"[^a-z0-9-]", "-", prefix.lower()).strip("-")[:40].strip("-")
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def client_error(excinfo):
    """(code, http status) of a botocore ClientError caught by pytest.raises."""
    err = excinfo.value if hasattr(excinfo, "value") else excinfo
    assert isinstance(err, ClientError), repr(err)
    return (err.response["Error"].get("Code"),
            err.response["ResponseMetadata"]["HTTPStatusCode"])


def empty_bucket(s3, bucket):
    """Best-effort: deletes every object and upload, then the bucket."""
    try:
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for u in page.get("Uploads", []):
                s3.abort_multipart_upload(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
    except Exception:
        pass
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        s3.delete_bucket(Bucket=bucket)
    except Exception:
        pass


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def b64(data):
    return base64.b64encode(data).decode()


def crc32_b64(data):
    import zlib
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def wait_for(predicate, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------
# Raw signed requests (http.client + botocore's SigV4 signer)


class _RawSigV4(botocore.auth.SigV4Auth):
    """SigV4 as S3 does it: the canonical URI is the path exactly as sent, and the
    x-amz-content-sha256 header (set by the caller) is the payload hash."""

    def __init__(self, credentials, timestamp=None):
        super().__init__(credentials, "s3", REGION)
        self._fixed_timestamp = timestamp

    def _normalize_url_path(self, path):
        return path

    def add_auth(self, request):
        now = self._fixed_timestamp or datetime.datetime.utcnow()
        request.context["timestamp"] = now.strftime(botocore.auth.SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)
        return signature


class Signed:
    """The result of signing: headers to send plus what chunk signatures need."""

    def __init__(self, headers, signature, timestamp, scope, signing_key):
        self.headers = headers
        self.signature = signature
        self.timestamp = timestamp
        self.scope = scope
        self.signing_key = signing_key


def signing_key(secret, date, region=REGION, service="s3"):
    k = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, region.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    return hmac.new(k, b"aws4_request", hashlib.sha256).digest()


def sign(host, port, method, path, headers=None, content_sha256=EMPTY_SHA256,
         access_key=ACCESS_KEY, secret_key=SECRET_KEY, timestamp=None):
    """Signs a request for `path` (raw, sent as is, may carry a query string)."""
    headers = dict(headers or {})
    headers["X-Amz-Content-SHA256"] = content_sha256
    req = AWSRequest(method=method, url=f"http://{host}:{port}{path}", headers=headers)
    creds = botocore.credentials.Credentials(access_key, secret_key)
    signer = _RawSigV4(creds, timestamp)
    sig = signer.add_auth(req)
    ts = req.context["timestamp"]
    scope = f"{ts[:8]}/{REGION}/s3/aws4_request"
    return Signed(dict(req.headers.items()), sig, ts, scope,
                  signing_key(secret_key, ts[:8]))


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    @property
    def error_code(self):
        return xml_error_code(self.body)

    def __repr__(self):
        return f"<RawResponse {self.status} {self.body[:500]!r}>"


def xml_error_code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body or b"")
    return m.group(1).decode() if m else None


def send_raw(host, port, method, path, headers=None, body=b"", timeout=30):
    """Sends exactly `path` (no normalization) with http.client."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        hdrs = dict(headers or {})
        if not any(k.lower() == "host" for k in hdrs):
            hdrs["Host"] = f"{host}:{port}"
        if body is not None and not any(k.lower() == "content-length" for k in hdrs):
            if body or method in ("PUT", "POST"):
                hdrs["Content-Length"] = str(len(body))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body:
            conn.send(body)
        r = conn.getresponse()
        data = r.read()
        return RawResponse(r.status, r.getheaders(), data)
    finally:
        conn.close()


def signed_request(server, method, path, headers=None, body=b"", sign_body=True, **kw):
    """Signs (payload hash = sha256 of body, or UNSIGNED-PAYLOAD) and sends."""
    payload = sha256(body) if sign_body else "UNSIGNED-PAYLOAD"
    s = sign(server.host, server.port, method, path, headers, payload, **kw)
    return send_raw(server.host, server.port, method, path, s.headers, body)


def chunk_signature(signed, previous, chunk):
    sts = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", signed.timestamp, signed.scope, previous,
                     EMPTY_SHA256, sha256(chunk)])
    return hmac.new(signed.signing_key, sts.encode(), hashlib.sha256).hexdigest()


def trailer_signature(signed, previous, trailer_text):
    sts = "\n".join(["AWS4-HMAC-SHA256-TRAILER", signed.timestamp, signed.scope, previous,
                     sha256(trailer_text.encode())])
    return hmac.new(signed.signing_key, sts.encode(), hashlib.sha256).hexdigest()


def split_chunks(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def parse_xml(body):
    root = ET.fromstring(body)
    for el in root.iter():  # drop namespaces
        if "}" in el.tag:
            el.tag = el.tag.split("}", 1)[1]
    return root


def list_all_keys(s3, bucket, **kw):
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kw):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


def curl(*args, timeout=60):
    """Runs curl; returns (http status, body bytes)."""
    out = subprocess.run(["curl", "-sS", "-g", "-o", "-", "-w", "\n%{http_code}", *args],
                         capture_output=True, timeout=timeout)
    assert out.returncode == 0, out.stderr.decode()
    body, _, code = out.stdout.rpartition(b"\n")
    return int(code), body


def drop_database(glue, name):
    """Deletes a Glue database if it is there (test clean-up)."""
    try:
        glue.delete_database(Name=name)
    except botocore.exceptions.ClientError:
        pass


# ---------------------------------------------------------------------------------------
# Crash tests


def crash_rng(what):
    """The random source of one crash test: seeded from SLUICE_CRASH_SEED when set (to replay
    a failure), else fresh; the seed is printed (and kept as rng.crash_seed) so a failure
    report names it."""
    seed = int(os.environ.get("SLUICE_CRASH_SEED", random.randrange(1 << 30)))
    print(f"{what} seed {seed} (rerun with SLUICE_CRASH_SEED={seed})")
    rng = random.Random(seed)
    rng.crash_seed = seed  # for failure messages
    return rng


def kill_mid_work(srv, threads, stop, rng, low, high, killing=None):
    """Sleeps a random time in [low, high] (the kill point), SIGKILLs the server, tells the
    client threads to stop and waits for them; a thread still running is a hung client."""
    time.sleep(rng.uniform(low, high))
    if killing is not None:
        killing.set()
    srv.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive(), "a client hung after the server was killed"


def create_queue_with_arn(sqs, name):
    """Creates an SQS queue; returns (url, arn)."""
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain_queue(sqs, url, visibility=None):
    """Receives and deletes what the queue holds right now; returns the message bodies."""
    bodies = []
    kw = {} if visibility is None else {"VisibilityTimeout": visibility}
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, **kw).get(
            "Messages", [])
        if not msgs:
            return bodies
        bodies.extend(m["Body"] for m in msgs)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
