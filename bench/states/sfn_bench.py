#!/usr/bin/env python3
"""Step Functions benchmark helpers (see bench/README.md, "Step Functions").

  sfn_bench.py workloads --out DIR
      writes the workloads every side runs, so that they are the very same bytes:
      <case>.asl.json (definition), <case>.input.json, <case>.expected.json (the output a
      correct run gives) for chain100, single, map1000, map1000c1, chain20.
  sfn_bench.py setup --port P --workloads DIR
      creates the state machines on a running Sluice: bench-single (EXPRESS, single) and
      bench-chain20 (STANDARD, chain20).
  sfn_bench.py sync --port P --workloads DIR [--procs N] [--threads T] [--seconds S]
                    [--requests R] [--action start-sync|describe]
      (d) StartSyncExecution of the 1-state EXPRESS machine through boto3: N processes of T
      threads, one boto3 client per thread, one request in flight per thread. Every
      answer's status and output are checked. `--action describe` drives
      DescribeStateMachine instead with the same client: the client's own ceiling.
  sfn_bench.py durable --port P --workloads DIR [--executions N] [--threads T] [--timeout S]
      (e) starts N executions of the 20-state STANDARD chain with StartExecution from T
      threads, then polls DescribeExecution (the oldest unfinished execution, every 10 ms)
      until every one is SUCCEEDED; transitions/s = N * 20 / wall time (first
      StartExecution sent to the last SUCCEEDED seen). Also reports the server's own span
      (first startDate to last stopDate), the start phase, and checks with ListExecutions
      that N executions SUCCEEDED and with GetExecutionHistory that one has its 20
      PassStateEntered events.
Every command prints one JSON object on stdout.
"""

import argparse
import json
import multiprocessing
import os
import sys
import threading
import time

ROLE = "arn:aws:iam::000000000000:role/BenchStatesRole"
REGION = "us-east-1"

# The document every chain and the single state carry through (about 200 bytes).
DOC = {
    "order_id": "ORD-12345678",
    "customer": {"id": "C-004211", "tier": "gold"},
    "amount": 412.77,
    "state": "paid",
    "items": [{"sku": "SKU-12345", "qty": 2, "price": 17.5}, {"sku": "SKU-67890", "qty": 1, "price": 377.77}],
}


def chain(n):
    states = {}
    for i in range(n):
        states[f"S{i}"] = {"Type": "Pass", "Next": f"S{i + 1}"} if i < n - 1 else {"Type": "Pass", "End": True}
    return {"Comment": f"{n} Pass states in a chain", "StartAt": "S0", "States": states}


def map_machine(concurrency=None):
    m = {
        "Type": "Map",
        "ItemsPath": "$.items",
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "INLINE"},
            "StartAt": "Item",
            "States": {"Item": {"Type": "Pass", "End": True}},
        },
        "End": True,
    }
    if concurrency:
        m["MaxConcurrency"] = concurrency
    return {"Comment": "Map over $.items with a Pass iterator", "StartAt": "Map", "States": {"Map": m}}


def workloads(out):
    os.makedirs(out, exist_ok=True)
    items = [{"i": i} for i in range(1000)]
    cases = {
        "chain100": (chain(100), DOC, DOC),
        "single": ({"StartAt": "Only", "States": {"Only": {"Type": "Pass", "End": True}}}, DOC, DOC),
        "map1000": (map_machine(), {"items": items}, items),
        "map1000c1": (map_machine(1), {"items": items}, items),
        "chain20": (chain(20), DOC, DOC),
    }
    for name, (definition, inp, expected) in cases.items():
        for suffix, doc in (("asl", definition), ("input", inp), ("expected", expected)):
            with open(os.path.join(out, f"{name}.{suffix}.json"), "w") as f:
                json.dump(doc, f, separators=(",", ":"))
    return {"workloads": sorted(cases), "dir": out}


def load(d, name, suffix):
    with open(os.path.join(d, f"{name}.{suffix}.json")) as f:
        return f.read()


def client(port, timeout=60):
    import boto3
    from botocore.config import Config

    # StartSyncExecution carries the host prefix "sync-": not on a plain endpoint.
    cfg = Config(inject_host_prefix=False, retries={"max_attempts": 1, "mode": "standard"},
                 max_pool_connections=4, read_timeout=timeout, connect_timeout=5, tcp_keepalive=True)
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION)
    return session.client("stepfunctions", endpoint_url=f"http://127.0.0.1:{port}", config=cfg)


def machine_arn(name):
    return f"arn:aws:states:{REGION}:000000000000:stateMachine:{name}"


def setup(args):
    sfn = client(args.port)
    made = {}
    for name, case, kind in (("bench-single", "single", "EXPRESS"), ("bench-chain20", "chain20", "STANDARD")):
        r = sfn.create_state_machine(name=name, definition=load(args.workloads, case, "asl"), roleArn=ROLE, type=kind)
        made[name] = r["stateMachineArn"]
    return {"machines": made}


def pct(sorted_values, p):
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


# ---------------------------------------------------------------- (d) StartSyncExecution


def _sync_worker(port, workloads_dir, action, threads, seconds, requests, barrier, q):
    arn = machine_arn("bench-single")
    inp = load(workloads_dir, "single", "input")
    expected = json.loads(load(workloads_dir, "single", "expected"))
    clients = [client(port) for _ in range(threads)]
    # One untimed call per client opens its connection.
    for c in clients:
        c.describe_state_machine(stateMachineArn=arn)
    per_thread = max(1, requests // threads)
    lat, errors, lock = [], [], threading.Lock()
    barrier.wait(timeout=120)  # every process has made and connected its clients
    deadline = time.time() + seconds

    def run(c):
        mine, errs = [], []
        for _ in range(per_thread):
            if time.time() >= deadline:
                break
            t0 = time.perf_counter()
            try:
                if action == "start-sync":
                    r = c.start_sync_execution(stateMachineArn=arn, input=inp)
                    if r.get("status") != "SUCCEEDED" or json.loads(r.get("output", "null")) != expected:
                        errs.append(f"unexpected answer: {str(r)[:200]}")
                else:
                    c.describe_state_machine(stateMachineArn=arn)
            except Exception as e:  # noqa: BLE001 - reported, the run goes on
                errs.append(repr(e)[:200])
                continue
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)
            errors.extend(errs)

    t0 = time.perf_counter()
    ts = [threading.Thread(target=run, args=(c,)) for c in clients]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    q.put({"seconds": time.perf_counter() - t0, "latencies": lat, "errors": errors[:5], "error_count": len(errors)})


def sync(args):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    barrier = ctx.Barrier(args.procs)
    procs = [ctx.Process(target=_sync_worker, args=(args.port, args.workloads, args.action, args.threads,
                                                    args.seconds, args.requests // args.procs, barrier, q))
             for _ in range(args.procs)]
    for p in procs:
        p.start()
    parts = [q.get(timeout=args.seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    lat = sorted(x for p in parts for x in p["latencies"])
    secs = max(p["seconds"] for p in parts)
    n = len(lat)
    return {
        "action": args.action,
        "procs": args.procs,
        "threads": args.threads,
        "concurrency": args.procs * args.threads,
        "requests": n,
        "seconds": secs,
        "rps": n / secs if secs > 0 else 0.0,
        "p50_ms": 1000 * pct(lat, 50) if lat else None,
        "p99_ms": 1000 * pct(lat, 99) if lat else None,
        "max_ms": 1000 * lat[-1] if lat else None,
        "errors": sum(p["error_count"] for p in parts),
        "error_samples": [e for p in parts for e in p["errors"]][:5],
        "latencies_ms": [round(1000 * x, 3) for x in lat],
    }


# ---------------------------------------------------------------- (e) durable transitions


def durable(args):
    arn = machine_arn("bench-chain20")
    inp = load(args.workloads, "chain20", "input")
    expected = json.loads(load(args.workloads, "chain20", "expected"))
    n, t = args.executions, args.threads
    prefix = f"b{int(time.time() * 1000) % 100000000}"
    clients = [client(args.port) for _ in range(t + 1)]
    for c in clients:
        c.describe_state_machine(stateMachineArn=arn)
    arns = [None] * n
    start_lat = [None] * n
    errors = []
    nxt = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + args.timeout

    def starter(c):
        while time.monotonic() < deadline:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= n:
                return
            t0 = time.perf_counter()
            try:
                r = c.start_execution(stateMachineArn=arn, name=f"{prefix}-{i:06d}", input=inp)
                arns[i] = r["executionArn"]
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(repr(e)[:200])
            start_lat[i] = time.perf_counter() - t0

    wall0 = time.time()
    p0 = time.perf_counter()
    ts = [threading.Thread(target=starter, args=(c,)) for c in clients[:t]]
    for th in ts:
        th.start()

    # Poll the oldest execution that is not known to have finished, while the starters run.
    poller = clients[t]
    done = {}
    i = 0
    polls = 0
    while i < n and time.monotonic() < deadline:
        a = arns[i]
        if a is None:
            if start_lat[i] is not None:  # its start failed
                i += 1
                continue
            time.sleep(0.002)
            continue
        d = poller.describe_execution(executionArn=a)
        polls += 1
        if d["status"] == "RUNNING":
            time.sleep(0.01)
            continue
        done[a] = d
        i += 1
    p1 = time.perf_counter()
    for th in ts:
        th.join()
    wall = p1 - p0
    started = [a for a in arns if a]
    start_phase = max((x for x in start_lat if x is not None), default=0)  # not exact: see below
    succeeded = sum(1 for d in done.values() if d["status"] == "SUCCEEDED")
    bad = [f'{d["executionArn"].rsplit(":", 1)[1]}: {d["status"]} {d.get("error", "")} {d.get("cause", "")[:100]}'
           for d in done.values() if d["status"] != "SUCCEEDED"]
    outputs_ok = all(json.loads(d.get("output", "null")) == expected for d in done.values()
                     if d["status"] == "SUCCEEDED")
    # The server's span: startDate / stopDate have millisecond precision (epoch seconds).
    starts = [d["startDate"].timestamp() for d in done.values()]
    stops = [d["stopDate"].timestamp() for d in done.values() if d.get("stopDate")]
    server_span = (max(stops) - min(starts)) if starts and stops else None
    first_start = min(starts) if starts else None
    last_start = max(starts) if starts else None

    # Checks, untimed: ListExecutions counts the SUCCEEDED executions of this run; one
    # history has its 20 PassStateEntered events.
    listed = 0
    kw = {"stateMachineArn": arn, "statusFilter": "SUCCEEDED", "maxResults": 1000}
    while True:
        r = poller.list_executions(**kw)
        listed += sum(1 for e in r["executions"] if e["name"].startswith(prefix + "-"))
        if not r.get("nextToken"):
            break
        kw["nextToken"] = r["nextToken"]
    entered = None
    if started:
        h = poller.get_execution_history(executionArn=started[-1], maxResults=1000)
        entered = sum(1 for e in h["events"] if e["type"] == "PassStateEntered")

    return {
        "executions": n,
        "states_per_execution": 20,
        "start_threads": t,
        "started": len(started),
        "succeeded": succeeded,
        "listed_succeeded": listed,
        "history_pass_entered": entered,
        "outputs_ok": outputs_ok,
        "failed_samples": bad[:5],
        "errors": len(errors),
        "error_samples": errors[:5],
        "timed_out": i < n,
        "wall_s": wall,
        "transitions": succeeded * 20,
        "transitions_per_s": succeeded * 20 / wall if wall > 0 else 0.0,
        "server_span_s": server_span,
        "server_transitions_per_s": succeeded * 20 / server_span if server_span else None,
        "start_phase_s": (last_start - first_start) if starts else None,
        "first_start_lag_s": (first_start - wall0) if first_start else None,
        "start_latency_p50_ms": 1000 * pct(sorted(x for x in start_lat if x is not None), 50) if started else None,
        "start_latency_p99_ms": 1000 * pct(sorted(x for x in start_lat if x is not None), 99) if started else None,
        "start_latency_max_ms": 1000 * start_phase,
        "describe_polls": polls,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("workloads")
    w.add_argument("--out", required=True)
    for name in ("setup", "sync", "durable"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--workloads", required=True)
        if name == "sync":
            p.add_argument("--procs", type=int, default=2)
            p.add_argument("--threads", type=int, default=4)
            p.add_argument("--seconds", type=float, default=4)
            p.add_argument("--requests", type=int, default=200000)
            p.add_argument("--action", choices=("start-sync", "describe"), default="start-sync")
        if name == "durable":
            p.add_argument("--executions", type=int, default=500)
            p.add_argument("--threads", type=int, default=8)
            p.add_argument("--timeout", type=float, default=300)
    args = ap.parse_args()
    if args.cmd == "workloads":
        out = workloads(args.out)
    elif args.cmd == "setup":
        out = setup(args)
    elif args.cmd == "sync":
        out = sync(args)
    else:
        out = durable(args)
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
