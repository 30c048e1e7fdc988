#!/usr/bin/env python3
"""Load generator for the S3 benchmark (bench/s3/run.sh).

One client drives every system in the comparison, so that the client's own cost is the
same on each side: nginx (plain GET of a file), s3rver and Sluice (path-style S3,
http://127.0.0.1:PORT/bucket/key, SigV4 signed by botocore's S3SigV4Auth with
x-amz-content-sha256: UNSIGNED-PAYLOAD).

To keep the client off the critical path:
  * requests go over keep-alive HTTP/1.1 connections on raw sockets (no http.client,
    no header objects), one outstanding request per connection; for small objects one
    worker process per core multiplexes its share of the C connections with epoll
    (C processes blocking on one socket each would spend the client's CPU on context
    switches), for large bodies each connection has its own process;
  * every request head is built and signed before the timed loop starts: one signed
    head per key (PUT of unique keys) or a single head reused (GET of one key);
  * large bodies are sent from one buffer and received into one scratch buffer.

Subcommands (each prints one JSON object on stdout):
  setup  create a bucket and upload objects (untimed)
  run    one timed case: --op get|put, --size, --concurrency, --duration/--requests
  wrk    the same GET case through wrk (C, epoll) to check that this client is not the
         bottleneck; S3 requests carry one pre-signed header set
  fio    fio's buffered sequential write + end fsync, as MB/s

Only 127.0.0.1 is ever contacted; every loop is bounded by a request count and a
deadline.
"""

import argparse
import array
import hashlib
import json
import math
import multiprocessing as mp
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

HOST = "127.0.0.1"
MiB = 1 << 20
# Bodies above this size use blocking I/O, one process per connection.
BLOCKING_ABOVE = 1 * MiB
HIST_SCALE = 50


class UnsignedPayloadAuth(S3SigV4Auth):
    """S3 SigV4 with x-amz-content-sha256: UNSIGNED-PAYLOAD, so the client never hashes bodies."""

    def _should_sha256_sign_payload(self, request):
        return False


class Signer:
    def __init__(self, port, access_key, secret_key, region):
        self.port = port
        self.auth = UnsignedPayloadAuth(Credentials(access_key, secret_key), "s3", region)

    def headers(self, method, path, content_length=None):
        """Returns the list of (name, value) header pairs to send, signature included."""
        hdrs = {"Host": f"{HOST}:{self.port}"}
        if content_length is not None:
            hdrs["Content-Length"] = str(content_length)
        req = AWSRequest(method=method, url=f"http://{HOST}:{self.port}{path}", headers=hdrs)
        self.auth.add_auth(req)
        return list(req.headers.items())


def build_head(method, path, headers):
    lines = [f"{method} {path} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def plain_head(method, path, port, content_length=None):
    hdrs = [("Host", f"{HOST}:{port}")]
    if content_length is not None:
        hdrs.append(("Content-Length", str(content_length)))
    return build_head(method, path, hdrs)


class HttpError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection over a raw socket. Not thread-safe."""

    SCRATCH = 4 * MiB

    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = bytearray()
        self.scratch = memoryview(bytearray(self.SCRATCH))

    def connect(self):
        self.close()
        self.sock = socket.create_connection((HOST, self.port), timeout=60)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def request(self, head, body=None, keep_body=False, hasher=None):
        """Sends one request; returns (status, body_length, body or None)."""
        if self.sock is None:
            self.connect()
        sock = self.sock
        if body is None:
            sock.sendall(head)
        elif len(body) <= 64 * 1024:
            sock.sendall(head + body)
        else:
            sock.sendall(head)
            sock.sendall(body)
        buf = self.buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed before response head")
            buf += chunk
        hdr = bytes(buf[:end]).lower()
        del buf[: end + 4]
        status = int(hdr[9:12])
        close = b"\r\nconnection: close" in hdr
        i = hdr.find(b"\r\ncontent-length:")
        if i >= 0:
            j = hdr.find(b"\r\n", i + 2)
            length = int(hdr[i + 17 : j if j >= 0 else len(hdr)])
            data = self._read_body(length, keep_body or status >= 300, hasher)
        elif b"\r\ntransfer-encoding: chunked" in hdr:
            data = self._read_chunked()
            length = len(data)
            if hasher is not None:
                hasher.update(data)
        elif status in (204, 304) or 100 <= status < 200:
            data, length = b"", 0
        else:
            # No length: the body runs to the end of the connection.
            data = bytes(buf)
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            length, close = len(data), True
        if close:
            self.close()
        return status, length, data

    def _read_body(self, length, keep, hasher):
        buf = self.buf
        if len(buf) >= length:
            data = bytes(buf[:length])
            del buf[:length]
            if hasher is not None:
                hasher.update(data)
            return data if keep else None
        if keep or length <= 256 * 1024:
            data = bytearray(buf)
            buf.clear()
            while len(data) < length:
                chunk = self.sock.recv(min(length - len(data), 1 << 20))
                if not chunk:
                    raise HttpError("connection closed in body")
                data += chunk
            if hasher is not None:
                hasher.update(data)
            return bytes(data) if keep else None
        # Large body: drain into the scratch buffer without keeping it.
        if hasher is not None:
            hasher.update(buf)
        left = length - len(buf)
        buf.clear()
        scratch, sock = self.scratch, self.sock
        while left > 0:
            n = sock.recv_into(scratch, min(left, self.SCRATCH))
            if n == 0:
                raise HttpError("connection closed in body")
            if hasher is not None:
                hasher.update(scratch[:n])
            left -= n
        return None

    def _read_line(self):
        buf = self.buf
        while True:
            i = buf.find(b"\r\n")
            if i >= 0:
                line = bytes(buf[:i])
                del buf[: i + 2]
                return line
            chunk = self.sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed in chunked body")
            buf += chunk

    def _read_chunked(self):
        out = bytearray()
        while True:
            size = int(self._read_line().split(b";")[0], 16)
            if size == 0:
                while self._read_line():
                    pass
                return bytes(out)
            out += self._read_body(size, True, None)
            self._read_line()


# ---------------------------------------------------------------------------- run


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def make_requests(args, worker, count):
    """Returns a list of request heads for one worker (signing done here, untimed)."""
    if args.op == "get":
        path = args.path
        if args.mode == "s3":
            signer = Signer(args.port, args.access_key, args.secret_key, args.region)
            return [build_head("GET", path, signer.headers("GET", path))]
        return [plain_head("GET", path, args.port)]
    # PUT of unique keys.
    signer = Signer(args.port, args.access_key, args.secret_key, args.region)
    heads = []
    for i in range(count):
        path = f"/{args.bucket}/{args.key_prefix}/w{worker:02d}/{i:07d}"
        heads.append(build_head("PUT", path, signer.headers("PUT", path, args.size)))
    return heads


def connect_nb(port):
    sock = socket.create_connection((HOST, port), timeout=60)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


class Tally:
    """What one worker process measured."""

    def __init__(self, expect_len, check_len):
        self.lat = array.array("q")
        self.count = self.errors = self.nbytes = 0
        self.first_error = None
        self.expect_len, self.check_len = expect_len, check_len

    def response(self, status, length, data, latency_ns):
        self.lat.append(latency_ns)
        self.count += 1
        if status >= 300 or (self.check_len and length != self.expect_len):
            self.error(f"HTTP {status}, length {length}: {(data or b'')[:300]!r}")
        else:
            self.nbytes += self.expect_len

    def error(self, text):
        self.errors += 1
        if self.first_error is None:
            self.first_error = text


def loop_blocking(conn, heads, body, limit, deadline, tally):
    """One connection, one request at a time: for large bodies."""
    nheads = len(heads)
    clock = time.monotonic_ns
    now = clock()
    for i in range(limit):
        if now >= deadline:
            break
        t0 = clock()
        status, length, data = conn.request(heads[i % nheads], body)
        now = clock()
        tally.response(status, length, data, now - t0)
    conn.close()


def loop_epoll(socks, port, heads, body, limit, deadline, tally):
    """Several connections in one process, one outstanding request on each: for small
    requests, where a process per connection would spend its time in context switches."""
    nheads = len(heads)
    clock = time.monotonic_ns
    ep = select.epoll()
    fd_index, bufs, t0 = {}, [bytearray() for _ in socks], [0] * len(socks)
    for ci, s in enumerate(socks):
        fd_index[s.fileno()] = ci
        ep.register(s.fileno(), select.EPOLLIN)
    issued = 0

    def send(ci):
        nonlocal issued
        data = heads[issued % nheads]
        if body is not None:
            data = data + body
        issued += 1
        s = socks[ci]
        t0[ci] = clock()
        try:
            n = s.send(data)
        except BlockingIOError:
            n = 0
        if n < len(data):
            s.setblocking(True)
            s.sendall(data[n:])
            s.setblocking(False)

    def drop(ci):
        s = socks[ci]
        ep.unregister(s.fileno())
        del fd_index[s.fileno()]
        s.close()

    active = 0
    for ci in range(len(socks)):
        if issued < limit:
            send(ci)
            active += 1
    while active:
        events = ep.poll(30.0)
        if not events:
            tally.error(f"no response in 30 s on {active} connections")
            break
        for fd, _ in events:
            ci = fd_index.get(fd)
            if ci is None:
                continue
            s, b = socks[ci], bufs[ci]
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            if not d:
                tally.error("server closed the connection with a request outstanding")
                drop(ci)
                active -= 1
                continue
            b += d
            end = b.find(b"\r\n\r\n")
            if end < 0:
                continue
            hdr = bytes(b[:end]).lower()
            i = hdr.find(b"\r\ncontent-length:")
            if i < 0:
                tally.error(f"response without Content-Length: {hdr[:300]!r}")
                drop(ci)
                active -= 1
                continue
            j = hdr.find(b"\r\n", i + 2)
            length = int(hdr[i + 17 : j if j >= 0 else len(hdr)])
            if len(b) < end + 4 + length:
                continue
            now = clock()
            status = int(hdr[9:12])
            data = bytes(b[end + 4 : end + 4 + length]) if status >= 300 else None
            del b[: end + 4 + length]
            tally.response(status, length, data, now - t0[ci])
            if b"\r\nconnection: close" in hdr:
                drop(ci)
                s = socks[ci] = connect_nb(port)
                fd_index[s.fileno()] = ci
                ep.register(s.fileno(), select.EPOLLIN)
                bufs[ci] = bytearray()
            if now < deadline and issued < limit:
                send(ci)
            else:
                active -= 1
    for ci, s in enumerate(socks):
        if s.fileno() in fd_index:
            drop(ci)
    ep.close()


def worker_main(args, worker, nconns, barrier, out):
    """One worker process with nconns connections. Builds and signs its requests and
    connects, waits at the barrier, then runs until the deadline or its request quota."""
    limit = -(-args.requests // args.procs)
    tally = Tally(args.size, args.op == "get")
    result = {"worker": worker, "count": 0, "errors": 0, "error": None, "bytes": 0}
    try:
        heads = make_requests(args, worker, limit)
        body = None
        if args.op == "put":
            with open(args.file, "rb") as f:
                body = f.read()
        if args.blocking:
            conn = Conn(args.port)
            conn.connect()
        else:
            socks = [connect_nb(args.port) for _ in range(nconns)]
    except BaseException as e:  # reported to the parent, which fails the case
        barrier.abort()
        out.send((result | {"error": f"setup: {e!r}"}, b""))
        return
    try:
        barrier.wait()
    except Exception:
        out.send((result | {"error": "barrier broken"}, b""))
        return
    t_start = time.monotonic_ns()
    deadline = t_start + int(args.duration * 1e9)
    try:
        if args.blocking:
            loop_blocking(conn, heads, body, limit, deadline, tally)
        else:
            loop_epoll(socks, args.port, heads, body, limit, deadline, tally)
    except Exception as e:
        tally.error(f"{type(e).__name__}: {e}")
    t_end = time.monotonic_ns()
    result.update(count=tally.count, errors=tally.errors, error=tally.first_error,
                  bytes=tally.nbytes, t_start=t_start / 1e9, t_end=t_end / 1e9)
    out.send((result, tally.lat.tobytes()))


def verify_get(args, expected_md5):
    """One untimed GET that also warms caches; checks the body's MD5 against the file."""
    conn = Conn(args.port)
    if args.mode == "s3":
        signer = Signer(args.port, args.access_key, args.secret_key, args.region)
        head = build_head("GET", args.path, signer.headers("GET", args.path))
    else:
        head = plain_head("GET", args.path, args.port)
    h = hashlib.md5()
    status, length, data = conn.request(head, hasher=h)
    conn.close()
    if status != 200 or length != args.size or h.hexdigest() != expected_md5:
        raise SystemExit(f"verify GET {args.path}: HTTP {status}, length {length}, "
                         f"md5 {h.hexdigest()} (want {args.size} bytes, md5 {expected_md5}) "
                         f"{(data or b'')[:300]!r}")


def verify_put(args, expected_md5):
    """After the timed PUTs: reads back one key written by worker 0."""
    path = f"/{args.bucket}/{args.key_prefix}/w00/{0:07d}"
    signer = Signer(args.port, args.access_key, args.secret_key, args.region)
    conn = Conn(args.port)
    h = hashlib.md5()
    status, length, data = conn.request(build_head("GET", path, signer.headers("GET", path)), hasher=h)
    conn.close()
    if status != 200 or h.hexdigest() != expected_md5:
        raise SystemExit(f"verify PUT: GET {path}: HTTP {status}, length {length}, "
                         f"md5 {h.hexdigest()} (want {expected_md5}) {(data or b'')[:300]!r}")


def file_md5(path):
    h = hashlib.md5()
    with open(path, "rb") as f:
        while True:
            b = f.read(4 * MiB)
            if not b:
                return h.hexdigest()
            h.update(b)


def cmd_run(args):
    if args.op == "put" and args.mode != "s3":
        raise SystemExit("PUT needs --mode s3")
    md5 = file_md5(args.file)
    if args.op == "get":
        for _ in range(args.warmup):
            verify_get(args, md5)
    # Large bodies: a process per connection, blocking I/O. Small requests: at most one
    # process per core, each multiplexing its share of the connections with epoll.
    args.blocking = args.size > BLOCKING_ABOVE
    if args.blocking or args.procs <= 0:
        args.procs = args.concurrency if args.blocking else min(args.concurrency, os.cpu_count() or 1)
    args.procs = min(args.procs, args.concurrency)
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(args.procs + 1)
    pipes, procs = [], []
    for w in range(args.procs):
        nconns = args.concurrency // args.procs + (1 if w < args.concurrency % args.procs else 0)
        r, s = ctx.Pipe(duplex=False)
        p = ctx.Process(target=worker_main, args=(args, w, nconns, barrier, s), daemon=True)
        p.start()
        pipes.append(r)
        procs.append(p)
    try:
        barrier.wait(timeout=120)
    except Exception:
        pass
    results, lats = [], array.array("q")
    deadline = time.monotonic() + args.duration + 120
    for r in pipes:
        if not r.poll(max(0.1, deadline - time.monotonic())):
            raise SystemExit("a worker did not report in time")
        res, raw = r.recv()
        results.append(res)
        lats.frombytes(raw)
    for p in procs:
        p.join(5)
        if p.is_alive():
            p.terminate()
    errs = [r["error"] for r in results if r.get("error")]
    count = sum(r["count"] for r in results)
    errors = sum(r["errors"] for r in results)
    if count == 0 or any(r.get("t_start") is None for r in results):
        raise SystemExit(f"no requests completed: {errs[:3]}")
    t0 = min(r["t_start"] for r in results)
    t1 = max(r["t_end"] for r in results)
    elapsed = t1 - t0
    ok = count - errors
    nbytes = sum(r["bytes"] for r in results)
    lat_s = sorted(x / 1e9 for x in lats)
    out = {
        "tool": "s3load",
        "mode": args.mode,
        "op": args.op,
        "size": args.size,
        "concurrency": args.concurrency,
        "processes": args.procs,
        "requests": count,
        "errors": errors,
        "first_errors": errs[:3],
        "elapsed_s": elapsed,
        "req_per_s": ok / elapsed,
        "mb_per_s": nbytes / elapsed / 1e6,
        "busy_s": sum(lat_s),
        "bytes": nbytes,
        "p50_ms": percentile(lat_s, 50) * 1e3,
        "p99_ms": percentile(lat_s, 99) * 1e3,
        "max_ms": lat_s[-1] * 1e3,
    }
    # Latency histogram with 2% wide buckets (bucket b holds exp(b/50) ns and up), so
    # that report.py can merge rounds and still give percentiles.
    hist = {}
    for x in lats:
        b = int(math.log(max(x, 1)) * HIST_SCALE)
        hist[b] = hist.get(b, 0) + 1
    out["lat_hist"] = sorted(hist.items())
    if args.op == "put" and ok > 0:
        verify_put(args, md5)
    print(json.dumps(out))
    if errors:
        print(f"s3load: {errors} of {count} requests failed: {errs[:3]}", file=sys.stderr)
        return 1
    return 0


# -------------------------------------------------------------------------- setup


def cmd_setup(args):
    signer = Signer(args.port, args.access_key, args.secret_key, args.region)
    conn = Conn(args.port)
    path = f"/{args.bucket}"
    status, _, data = conn.request(build_head("PUT", path, signer.headers("PUT", path, 0)))
    if status != 200 and b"BucketAlreadyOwnedByYou" not in (data or b""):
        raise SystemExit(f"CreateBucket {args.bucket}: HTTP {status} {(data or b'')[:300]!r}")
    for spec in args.object:
        key, _, fname = spec.partition("=")
        with open(fname, "rb") as f:
            body = f.read()
        path = f"/{args.bucket}/{key}"
        status, _, data = conn.request(build_head("PUT", path, signer.headers("PUT", path, len(body))), body)
        if status != 200:
            raise SystemExit(f"PutObject {path}: HTTP {status} {(data or b'')[:300]!r}")
    conn.close()
    print(json.dumps({"setup": "ok", "bucket": args.bucket, "objects": len(args.object)}))
    return 0


# ---------------------------------------------------------------------------- wrk

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def _wrk_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNITS[m.group(2)] if m else None


def cmd_wrk(args):
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("wrk not found")
    md5 = file_md5(args.file)
    verify_get(args, md5)
    cmd = [wrk, f"-t{args.threads}", f"-c{args.concurrency}", f"-d{max(1, round(args.duration))}s", "--latency",
           "--timeout", "10s"]
    if args.mode == "s3":
        signer = Signer(args.port, args.access_key, args.secret_key, args.region)
        for k, v in signer.headers("GET", args.path):
            if k.lower() != "host":
                cmd += ["-H", f"{k}: {v}"]
    cmd.append(f"http://{HOST}:{args.port}{args.path}")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + 60)
    text = proc.stdout
    if proc.returncode != 0:
        raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stderr.strip()} {text}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    total = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock_err = re.search(r"Socket errors: (.*)", text)
    pct = dict(re.findall(r"^\s+(\d+)%\s+(\S+)", text, re.M))
    if not rps or not total:
        raise SystemExit(f"cannot parse wrk output:\n{text}")
    errors = int(non2xx.group(1)) if non2xx else 0
    out = {
        "tool": "wrk",
        "mode": args.mode,
        "op": "get",
        "size": args.size,
        "concurrency": args.concurrency,
        "threads": args.threads,
        "requests": int(total.group(1)),
        "errors": errors,
        "socket_errors": sock_err.group(1).strip() if sock_err else None,
        "elapsed_s": _wrk_ms(total.group(2) + total.group(3)) / 1e3,
        "req_per_s": float(rps.group(1)),
        "mb_per_s": float(rps.group(1)) * args.size / 1e6,
        "bytes": (int(total.group(1)) - errors) * args.size,
        "p50_ms": _wrk_ms(pct.get("50", "")),
        "p99_ms": _wrk_ms(pct.get("99", "")),
    }
    print(json.dumps(out))
    if errors:
        print(f"wrk: {errors} non-2xx responses", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------- fio


def cmd_fio(args):
    os.makedirs(args.directory, exist_ok=True)
    cmd = ["fio", "--name=seqwrite", f"--directory={args.directory}", "--rw=write", "--bs=1M",
           f"--size={args.size}", "--ioengine=psync", "--end_fsync=1", "--unlink=1",
           "--output-format=json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise SystemExit(f"fio failed: {proc.stderr.strip()}")
    # fio may print notes before the JSON document.
    text = proc.stdout[proc.stdout.find("{"):]
    job = json.loads(text)["jobs"][0]
    w = job["write"]
    # With end_fsync=1 the final fsync is inside the job's runtime, hence in bw.
    out = {
        "tool": "fio",
        "op": "write+fsync",
        "size": w["io_bytes"],
        "requests": 1,
        "errors": job.get("error", 0),
        "elapsed_s": w["runtime"] / 1e3,
        "busy_s": w["runtime"] / 1e3,
        "bytes": w["io_bytes"],
        "mb_per_s": w["bw_bytes"] / 1e6,
    }
    print(json.dumps(out))
    return 0


# --------------------------------------------------------------------------- main


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--port", type=int, required=True, help="server port on 127.0.0.1")
        sp.add_argument("--mode", choices=["s3", "http"], default="s3",
                        help="s3: signed path-style requests; http: plain GET (nginx)")
        sp.add_argument("--bucket", default="bench")
        sp.add_argument("--access-key", default="test")
        sp.add_argument("--secret-key", default="test")
        sp.add_argument("--region", default="us-east-1")

    sp = sub.add_parser("setup", help="create a bucket and upload objects")
    common(sp)
    sp.add_argument("--object", action="append", default=[], metavar="KEY=FILE")

    for name in ("run", "wrk"):
        sp = sub.add_parser(name, help="one timed case")
        common(sp)
        sp.add_argument("--file", required=True, help="payload: body to PUT, or expected GET body")
        sp.add_argument("--path", help="request path for GET (/bucket/key, or /file for nginx)")
        sp.add_argument("--concurrency", "-c", type=int, default=1)
        sp.add_argument("--duration", type=float, default=5.0, help="seconds, upper bound")
        if name == "run":
            sp.add_argument("--op", choices=["get", "put"], default="get")
            sp.add_argument("--requests", type=int, default=100000, help="upper bound, all workers")
            sp.add_argument("--key-prefix", default="put", help="PUT keys: PREFIX/wNN/NNNNNNN")
            sp.add_argument("--warmup", type=int, default=1, help="untimed verified GETs first")
            sp.add_argument("--procs", type=int, default=0,
                            help="worker processes (default: one per core, capped at -c; "
                                 "one per connection for bodies over 1 MiB)")
        else:
            sp.add_argument("--threads", "-t", type=int, default=1)

    sp = sub.add_parser("fio", help="fio buffered sequential write + end fsync")
    sp.add_argument("--directory", required=True)
    sp.add_argument("--size", default="64M")

    args = p.parse_args()
    if args.cmd in ("run", "wrk"):
        args.size = os.path.getsize(args.file)
        if getattr(args, "op", "get") == "get" and not args.path:
            p.error("GET needs --path")
    return {"setup": cmd_setup, "run": cmd_run, "wrk": cmd_wrk, "fio": cmd_fio}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
