"""Driver of bench/lambda/run.sh: Sluice's warm/cold invokes vs a minimal Runtime API loop."""
import http.client
import http.server
import io
import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
import zipfile

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.credentials

ENDPOINT, TMP, OUT, N, THREADS, COLD, LOAD_START = sys.argv[1:8]
N, THREADS, COLD = int(N), int(THREADS), int(COLD)
HOST = ENDPOINT.split("//")[1]
ECHO = "def handler(event, context):\n    return event\n"
CREDS = botocore.credentials.Credentials("test", "test")


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))]


class Invoker:
    """Signed Invoke requests on one keep-alive connection (signing is timed apart)."""

    def __init__(self, function):
        self.conn = http.client.HTTPConnection(HOST)
        self.url = f"{ENDPOINT}/2015-03-31/functions/{function}/invocations"
        self.path = f"/2015-03-31/functions/{function}/invocations"

    def signed(self, body):
        req = botocore.awsrequest.AWSRequest(method="POST", url=self.url, data=body)
        botocore.auth.SigV4Auth(CREDS, "lambda", "us-east-1").add_auth(req)
        return dict(req.headers.items())

    def invoke(self, body):
        headers = self.signed(body)
        t = time.perf_counter()
        self.conn.request("POST", self.path, body=body, headers=headers)
        r = self.conn.getresponse()
        data = r.read()
        dt = time.perf_counter() - t
        if r.status != 200 or r.getheader("X-Amz-Function-Error"):
            raise RuntimeError(f"invoke failed: {r.status} {data[:200]}")
        return dt


def minimal_loop(bootstrap, task_root, n):
    """The same bootstrap and handler behind a minimal Runtime API (Python's http.server)."""
    events, done = queue.Queue(), queue.Queue()

    class Api(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def log_message(self, *a):
            pass

        def do_GET(self):
            rid, body = events.get()
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 60000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:0:function:echo")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            done.put(data)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{srv.server_address[1]}", _HANDLER="app.handler",
               LAMBDA_TASK_ROOT=task_root, AWS_LAMBDA_FUNCTION_NAME="echo", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, bootstrap], env=env, cwd=task_root)
    lat = []
    try:
        for i in range(n + 50):
            t = time.perf_counter()
            events.put((f"id-{i}", b'{"x": 1}'))
            done.get(timeout=30)
            if i >= 50:
                lat.append(time.perf_counter() - t)
    finally:
        proc.kill()
        proc.wait()
        srv.shutdown()
    return lat


def main():
    lam = boto3.client("lambda", endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test",
                       aws_secret_access_key="test")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("app.py", ECHO)
    lam.create_function(FunctionName="echo", Runtime="python3.12", Role="arn:aws:iam::000000000000:role/r",
                        Handler="app.handler", Code={"ZipFile": buf.getvalue()}, Timeout=30)
    body = b'{"x": 1}'
    inv = Invoker("echo")
    for _ in range(50):
        inv.invoke(body)  # warm up
    warm = [inv.invoke(body) for _ in range(N)]

    # Throughput: THREADS clients (a warm worker each).
    stop = time.perf_counter() + 5
    counts = [0] * THREADS

    def client(k):
        c = Invoker("echo")
        while time.perf_counter() < stop:
            c.invoke(body)
            counts[k] += 1
    threads = [threading.Thread(target=client, args=(k,)) for k in range(THREADS)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rate = sum(counts) / (time.perf_counter() - t0)

    # Cold starts: each configuration change retires the warm worker.
    cold = []
    for i in range(COLD):
        lam.update_function_configuration(FunctionName="echo", Environment={"Variables": {"N": str(i)}})
        cold.append(Invoker("echo").invoke(body))

    # The same handler under a minimal Runtime API loop.
    task_root = os.path.join(TMP, "minimal")
    os.makedirs(task_root, exist_ok=True)
    with open(os.path.join(task_root, "app.py"), "w") as f:
        f.write(ECHO)
    bootstrap = os.path.join(TMP, "data", "lambda", "runtime", "python_bootstrap.py")
    base = minimal_loop(bootstrap, task_root, N)

    ms = lambda s: s * 1000
    rows = {
        "sluice_warm_p50_ms": ms(statistics.median(warm)), "sluice_warm_p99_ms": ms(pct(warm, 0.99)),
        "minimal_loop_p50_ms": ms(statistics.median(base)), "minimal_loop_p99_ms": ms(pct(base, 0.99)),
        "sluice_invokes_per_s": rate, "threads": THREADS,
        "minimal_loop_invokes_per_s": 1 / statistics.mean(base),
        "cold_start_p50_ms": ms(statistics.median(cold)), "cold_start_max_ms": ms(max(cold)),
    }
    rows["overhead_p50_ms"] = rows["sluice_warm_p50_ms"] - rows["minimal_loop_p50_ms"]
    rows["ratio_p50"] = rows["sluice_warm_p50_ms"] / rows["minimal_loop_p50_ms"]
    print(f"{'case':34} {'p50 ms':>8} {'p99 ms':>8} {'invokes/s':>10}")
    print(f"{'Sluice warm invoke (1 client)':34} {rows['sluice_warm_p50_ms']:8.3f} {rows['sluice_warm_p99_ms']:8.3f} "
          f"{1 / statistics.mean(warm):10.0f}")
    print(f"{'minimal Runtime API loop':34} {rows['minimal_loop_p50_ms']:8.3f} {rows['minimal_loop_p99_ms']:8.3f} "
          f"{rows['minimal_loop_invokes_per_s']:10.0f}")
    print(f"{f'Sluice warm invoke ({THREADS} clients)':34} {'':8} {'':8} {rate:10.0f}")
    print(f"{'cold start (first invoke)':34} {rows['cold_start_p50_ms']:8.1f} {rows['cold_start_max_ms']:8.1f}")
    print(f"Sluice / minimal loop, p50: {rows['ratio_p50']:.2f}x ({rows['overhead_p50_ms']:.3f} ms of overhead: "
          f"SigV4, HTTP front end, the worker's Runtime API round trip)")
    verdict = lambda ok: "met" if ok else "MISSED"
    print("targets (PERFORMANCE.md): warm overhead p50 <= 1 ms: "
          f"{verdict(rows['overhead_p50_ms'] <= 1.0)}; cold start <= 150 ms: {verdict(rows['cold_start_p50_ms'] <= 150)}; "
          f">= 5000 warm invokes/s: {verdict(rate >= 5000)} (a python client on a shared 2-core machine)")
    rows.update(loadavg_start=LOAD_START, loadavg_end=open("/proc/loadavg").read().split()[:3])
    json.dump(rows, open(OUT, "w"), indent=1)
    print(f"written: {OUT}")


main()
