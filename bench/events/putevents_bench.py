"""PutEvents throughput and latency of a Sluice server: a bus with an archive and a rule
whose target is an SQS queue (what the durability promise covers: every acknowledged entry
is stored, with its delivery and its archive row, before PutEvents answers).

    /usr/bin/python3 bench/events/putevents_bench.py SLUICE_BIN [BASELINE_BIN]

Starts each binary on a fresh data dir, runs BENCH_PROCS client processes of BENCH_THREADS
threads (boto3) each sending 10-entry PutEvents for BENCH_SECONDS, then one thread alone
(latency of a request that waits for its own commit). With BASELINE_BIN, runs it the same
way and prints the ratio new/baseline. Figures depend on the disk's fsync time and on the
client (boto3 signs every request in Python), so compare runs on the same machine only.
"""

import json
import multiprocessing as mp
import os
import pathlib
import shutil
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests"))
from sluice_helpers import SluiceServer, make_client  # noqa: E402

PROCS = int(os.environ.get("BENCH_PROCS", "4"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ENTRIES = 10


def _client_proc(endpoint, threads, seconds, out):
    events = make_client("events", endpoint, max_pool_connections=threads + 2)
    lat, count, lock = [], [0], threading.Lock()
    detail = json.dumps({"order": "ORD-12345678", "amount": 412.77, "items": [{"sku": "SKU-1", "qty": 2}]})

    def worker():
        entries = [{"Source": "bench.orders", "DetailType": "Order Placed", "EventBusName": "bench",
                    "Detail": detail} for _ in range(ENTRIES)]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.monotonic()
            r = events.put_events(Entries=entries)
            dt = time.monotonic() - t
            assert r["FailedEntryCount"] == 0, r
            with lock:
                lat.append(dt)
                count[0] += ENTRIES

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put((count[0], lat))


def _run(endpoint, procs, threads, seconds):
    q = mp.Queue()
    ps = [mp.Process(target=_client_proc, args=(endpoint, threads, seconds, q)) for _ in range(procs)]
    t0 = time.monotonic()
    for p in ps:
        p.start()
    results = [q.get() for _ in ps]
    for p in ps:
        p.join()
    elapsed = time.monotonic() - t0
    total = sum(c for c, _ in results)
    lat = sorted(x for _, l in results for x in l)
    return {"events_per_s": total / elapsed, "elapsed": elapsed, "sent": total, "p50_ms": 1000 * statistics.median(lat),
            "p99_ms": 1000 * lat[int(0.99 * (len(lat) - 1))], "requests": len(lat)}


def measure(binary):
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="sluice-bench-events-"))
    srv = SluiceServer(binary, tmp / "data", tmp / "server.log", name="bench-events")
    try:
        srv.start()
        events, sqs = make_client("events", srv.endpoint), make_client("sqs", srv.endpoint)
        sqs.create_queue(QueueName="bench")
        events.create_event_bus(Name="bench")
        bus_arn = "arn:aws:events:us-east-1:000000000000:event-bus/bench"
        events.create_archive(ArchiveName="bench", EventSourceArn=bus_arn)
        events.put_rule(Name="orders", EventBusName="bench", EventPattern=json.dumps({"source": ["bench.orders"]}))
        events.put_targets(Rule="orders", EventBusName="bench",
                           Targets=[{"Id": "q", "Arn": "arn:aws:sqs:us-east-1:000000000000:bench"}])
        url = sqs.get_queue_url(QueueName="bench")["QueueUrl"]

        def queued():
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

        def wait_queued(n, timeout=300):
            deadline = time.monotonic() + timeout
            while queued() < n and time.monotonic() < deadline:
                time.sleep(0.05)
            return queued()

        warm = _run(srv.endpoint, 1, 1, 1.0)
        base = wait_queued(warm["sent"])  # the warm-up's events delivered
        t0 = time.monotonic()
        concurrent = _run(srv.endpoint, PROCS, THREADS, SECONDS)
        sent = concurrent["sent"]
        # End to end: until every event of the concurrent phase is in the target queue.
        wait_queued(base + sent)
        concurrent["delivered_per_s"] = sent / (time.monotonic() - t0)
        alone = _run(srv.endpoint, 1, 1, SECONDS)
        return {"concurrent": concurrent, "alone": alone}
    finally:
        srv.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def show(name, m):
    c, a = m["concurrent"], m["alone"]
    print(f"{name}: {PROCS}x{THREADS} clients {c['events_per_s']:8.0f} events/s "
          f"(p50 {c['p50_ms']:.1f} ms, p99 {c['p99_ms']:.1f} ms), {c['delivered_per_s']:.0f}/s delivered to SQS; "
          f"1 client {a['events_per_s']:6.0f} events/s (p50 {a['p50_ms']:.1f} ms)")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    new = measure(sys.argv[1])
    if len(sys.argv) > 2:
        base = measure(sys.argv[2])
        show("baseline", base)
        show("this build", new)
        print(f"ratio this/baseline: concurrent {new['concurrent']['events_per_s'] / base['concurrent']['events_per_s']:.2f}, "
              f"delivered {new['concurrent']['delivered_per_s'] / base['concurrent']['delivered_per_s']:.2f}, "
              f"1 client {new['alone']['events_per_s'] / base['alone']['events_per_s']:.2f}")
    else:
        show("this build", new)


if __name__ == "__main__":
    main()
