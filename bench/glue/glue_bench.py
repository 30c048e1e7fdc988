#!/usr/bin/env python3
"""Client side of the Glue benchmark (bench/glue/run.sh).

Subcommands (each prints one JSON object on stdout; progress on stderr):
  setup  on a running Sluice: a bucket; the raw events uploaded to s3://BUCKET/raw/events/
         (not timed as part of the job; the upload's own time is reported); the job script
         (examples/glue/events_to_parquet.sql) to s3://BUCKET/scripts/; a glueetl job whose
         DefaultArguments are --src s3://BUCKET/raw/events/ and --dst s3://BUCKET/curated/events/
  run    one job run as a client sees it: StartJobRun, then GetJobRun every --poll-ms until a
         final state; the time from sending StartJobRun to seeing SUCCEEDED is the figure.
         Afterwards (not timed): the run's own timestamps, its log (`sluice logs job`, which
         prints each statement's start and duration), and the curated objects as
         ListObjectsV2 shows them (count, bytes, first and last LastModified), from which
         the run is split into phases
  count  the curated objects: ListObjectsV2 count and bytes, and the files' paths under
         Sluice's data directory, for bench/glue/duckdb_copy count
  trace  summarizes `strace -f -tt -T` output of the server during one run (run.sh's traced
         run): per syscall count and time, and the windows of the run's phases as the file
         system calls show them (JSON read, scratch Parquet written, deletes, uploads)

Only 127.0.0.1 is contacted; every loop is bounded by a count and a deadline.
"""

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time

import boto3
from botocore.config import Config

HOST = "127.0.0.1"
REGION = "us-east-1"
RAW = "raw/events/"
CURATED = "curated/events/"
SCRIPT_KEY = "scripts/events_to_parquet.sql"
FINAL = ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def client(service, port):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=300, max_pool_connections=2)
    return boto3.session.Session().client(
        service, endpoint_url=f"http://{HOST}:{port}", region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test", config=cfg)


def epoch(t):
    """A boto3 datetime (or an epoch number) as epoch seconds."""
    if t is None:
        return None
    if isinstance(t, (int, float)):
        return float(t)
    return t.timestamp()


def list_objects(s3, bucket, prefix):
    objs, token = [], None
    for _ in range(10_000):
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, **kw)
        objs += page.get("Contents", [])
        token = page.get("NextContinuationToken")
        if not page.get("IsTruncated"):
            break
    return objs


def cmd_setup(args):
    s3 = client("s3", args.port)
    glue = client("glue", args.port)
    s3.create_bucket(Bucket=args.bucket)
    with open(args.files) as f:
        files = [line.strip() for line in f if line.strip()]
    t0 = time.monotonic()
    total = 0
    for path in files:
        with open(path, "rb") as body:
            s3.put_object(Bucket=args.bucket, Key=RAW + os.path.basename(path), Body=body)
        total += os.path.getsize(path)
    upload_s = time.monotonic() - t0
    log(f"uploaded {len(files)} files, {total / 1e6:.1f} MB, to s3://{args.bucket}/{RAW} in {upload_s:.2f} s")
    with open(args.script, "rb") as body:
        s3.put_object(Bucket=args.bucket, Key=SCRIPT_KEY, Body=body)
    glue.create_job(
        Name=args.job, Role="arn:aws:iam::000000000000:role/GlueJobRole",
        Command={"Name": "glueetl", "ScriptLocation": f"s3://{args.bucket}/{SCRIPT_KEY}"},
        DefaultArguments={"--src": f"s3://{args.bucket}/{RAW}", "--dst": f"s3://{args.bucket}/{CURATED}"},
        GlueVersion="4.0", MaxRetries=0, Timeout=60)
    listed = list_objects(s3, args.bucket, RAW)
    if len(listed) != len(files) or sum(o["Size"] for o in listed) != total:
        raise SystemExit(f"s3://{args.bucket}/{RAW} lists {len(listed)} objects, expected {len(files)}")
    print(json.dumps({"files": len(files), "bytes": total, "upload_s": round(upload_s, 4),
                      "upload_mb_s": round(total / 1e6 / upload_s, 2), "job": args.job,
                      "script": f"s3://{args.bucket}/{SCRIPT_KEY}"}))


LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)Z (.*)$")


def parse_log(text):
    """The run's output log: [(epoch seconds, text)] for lines that carry a timestamp."""
    out = []
    for line in text.splitlines():
        m = LOG_LINE.match(line)
        if m:
            t = dt.datetime.fromisoformat(m.group(1)).replace(tzinfo=dt.timezone.utc).timestamp()
            out.append((t, m.group(2)))
    return out


def fetch_log(args, run_id):
    if not args.sluice_bin:
        return ""
    try:
        p = subprocess.run([args.sluice_bin, "logs", "job", args.job, run_id, "--endpoint",
                            f"http://{HOST}:{args.port}"], capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            log(f"sluice logs failed: {p.stderr.strip()[:200]}")
        return p.stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        log(f"sluice logs failed: {e}")
        return ""


def cmd_run(args):
    glue = client("glue", args.port)
    s3 = client("s3", args.port)
    poll_s = args.poll_ms / 1000.0
    deadline = time.monotonic() + args.timeout
    wall0 = time.time()
    t0 = time.perf_counter()
    run_id = glue.start_job_run(JobName=args.job)["JobRunId"]
    t1 = time.perf_counter()
    polls = 0
    while True:
        run = glue.get_job_run(JobName=args.job, RunId=run_id)["JobRun"]
        polls += 1
        if run["JobRunState"] in FINAL:
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"job run {run_id} did not finish in {args.timeout} s (state {run['JobRunState']})")
        time.sleep(poll_s)
    t2 = time.perf_counter()
    e2e = t2 - t0
    wall_seen = wall0 + e2e
    state = run["JobRunState"]
    text = fetch_log(args, run_id)
    if state != "SUCCEEDED":
        raise SystemExit(f"job run {run_id} ended {state}: {run.get('ErrorMessage', '')}\n{text[-2000:]}")

    # What the run wrote, as the S3 API shows it (not timed).
    objs = list_objects(s3, args.bucket, CURATED)
    mods = sorted(epoch(o["LastModified"]) for o in objs)
    lines = parse_log(text)
    # The statement that writes the curated objects: its start line ("statement N (line L):
    # COPY ...") and its end line ("statement N: R rows written to s3://... (Q ms)", Q being
    # the DuckDB query's own time).
    starts = {}
    stmt_start = stmt_end = None
    stmt_ms = rows = None
    target = re.escape(f"s3://{args.bucket}/{CURATED}")
    for t, msg in lines:
        m = re.match(r"statement (\d+) \(line \d+\):", msg)
        if m:
            starts[m.group(1)] = t
        m = re.match(r"statement (\d+): (\d+) rows written to " + target + r" \((\d+) ms\)$", msg)
        if m:
            stmt_start, stmt_end = starts.get(m.group(1)), t
            rows, stmt_ms = int(m.group(2)), int(m.group(3))

    def ms(a, b):
        return round((b - a) * 1e3, 1) if a is not None and b is not None else None

    started, completed = epoch(run.get("StartedOn")), epoch(run.get("CompletedOn"))
    first_put, last_put = (mods[0], mods[-1]) if mods else (None, None)
    query_end = stmt_start + stmt_ms / 1e3 if stmt_start is not None and stmt_ms is not None else None
    # Phases from timestamps of one clock: the client's, the log lines' and LastModified all
    # read the machine's wall clock (the log and LastModified to the millisecond).
    phases = {
        "e2e": round(e2e * 1e3, 1),
        "start_call": round((t1 - t0) * 1e3, 1),
        # StartJobRun sent -> the statement starts: the API call, the run's thread, the run
        # state made durable, the script fetched (and written durably), a connection
        "to_statement": ms(wall0, stmt_start),
        # the statement's DuckDB query, as the log line gives it: the COPY into a scratch
        # folder (read_json_auto over the raw objects' files, Parquet written, no fsync)
        "duckdb_query": stmt_ms,
        # the rest of the statement: the OVERWRITE deletes of the previous run's objects, the
        # upload of each new file into the object store, partition registration
        "finish_copy": ms(query_end, stmt_end),
        # query end -> the first curated object's LastModified: the deletes and the first
        # file's copy
        "deletes": ms(query_end, first_put),
        # first -> last LastModified: the other files' uploads (copy + MD5 + rename, and the
        # durable commit of the previous one)
        "uploads": ms(first_put, last_put),
        # last LastModified -> the statement's end: the last commit, partition registration
        "after_last_put": ms(last_put, stmt_end),
        # statement end -> the client sees SUCCEEDED: DETACH, the run state made durable,
        # the poll interval
        "to_seen": ms(stmt_end, wall_seen),
    }
    out = {"tool": "glue_bench", "variant": args.variant, "run_id": run_id, "state": state,
           "seconds": round(e2e, 6), "polls": polls, "poll_ms": args.poll_ms,
           "execution_time_s": run.get("ExecutionTime"),
           "server_started_to_completed_ms": ms(started, completed),
           "log_rows": rows, "objects": len(objs), "object_bytes": sum(o["Size"] for o in objs),
           "phases_ms": phases, "log": text if args.keep_log else None}
    print(json.dumps(out), flush=True)
    log(f"sluice {args.variant}: {e2e:.3f} s  (DuckDB query {stmt_ms} ms, then deletes {phases['deletes']} ms, "
        f"uploads {phases['uploads']} ms of {len(objs)} objects, {out['object_bytes'] / 1e6:.1f} MB)")


def cmd_count(args):
    s3 = client("s3", args.port)
    objs = list_objects(s3, args.bucket, CURATED)
    root = os.path.join(args.data_dir, "s3", "objects", args.bucket)
    paths = [os.path.join(root, o["Key"]) for o in objs]
    missing = [p for p in paths if not os.path.isfile(p)]
    print(json.dumps({"objects": len(objs), "bytes": sum(o["Size"] for o in objs),
                      "glob": os.path.join(root, CURATED, "*", "*.parquet"), "missing": len(missing)}))


STRACE = re.compile(r"^(\d+) +(\d\d):(\d\d):(\d\d\.\d+) (.*)$")
SYSCALL = re.compile(r"^(\w+)\((.*)\) += (-?\d+|\?)(?: [A-Z]+ \(.*?\))? <(\d+\.\d+)>$")
RESUMED = re.compile(r"^<\.\.\. (\w+) resumed>(.*)\) += (-?\d+|\?)(?: [A-Z]+ \(.*?\))? <(\d+\.\d+)>$")


def parse_strace(path):
    """[(start seconds of the day, pid, name, args, result, duration s)] from strace -f -tt -T."""
    calls, pending = [], {}
    with open(path, errors="replace") as f:
        for line in f:
            m = STRACE.match(line.rstrip("\n"))
            if not m:
                continue
            pid, rest = int(m.group(1)), m.group(5)
            t = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
            if rest.endswith("<unfinished ...>"):
                name = rest.split("(", 1)[0]
                pending[pid] = (t, name, rest[len(name) + 1:-len("<unfinished ...>")].rstrip())
                continue
            r = RESUMED.match(rest)
            if r:
                t0, name, args = pending.pop(pid, (t, r.group(1), ""))
                calls.append((t0, pid, name, args + r.group(2), r.group(3), float(r.group(4))))
                continue
            c = SYSCALL.match(rest)
            if c:
                calls.append((t, pid, c.group(1), c.group(2), c.group(3), float(c.group(4))))
    calls.sort()
    return calls


def cmd_trace(args):
    calls = parse_strace(args.strace)
    curated = f"/objects/{args.bucket}/{CURATED}"
    raw = f"/objects/{args.bucket}/{RAW}"

    def window(pred):
        sel = [c for c in calls if pred(c)]
        if not sel:
            return None
        return {"count": len(sel), "first": sel[0][0], "last": sel[-1][0] + sel[-1][5]}

    json_reads = window(lambda c: c[2] == "openat" and raw in c[3])
    scratch = window(lambda c: c[2] == "openat" and "/job-" in c[3] and ".parquet" in c[3] and "O_CREAT" in c[3])
    deletes = window(lambda c: c[2] in ("unlink", "unlinkat") and curated in c[3])
    uploads = window(lambda c: c[2] in ("rename", "renameat", "renameat2") and curated in c[3])
    # The finishing part of the statement: from the first delete (or upload) to the last upload.
    fin_start = min(w["first"] for w in (deletes, uploads) if w) if (deletes or uploads) else None
    fin_end = uploads["last"] if uploads else None
    if fin_end is not None:
        # The last upload is done when its index row commits: the group's syncfs, then
        # SQLite's fdatasync, on the writer thread.
        after = [c for c in calls if c[0] >= fin_end and c[2] in ("syncfs", "fdatasync")]
        sf = next((i for i, c in enumerate(after) if c[2] == "syncfs"), None)
        if sf is not None:
            fd = next((c for c in after[sf + 1:] if c[2] == "fdatasync"), after[sf])
            if fd[0] - fin_end < 0.5:
                fin_end = fd[0] + fd[5]
    by = {}
    for c in calls:
        d = by.setdefault(c[2], {"count": 0, "total_ms": 0.0, "max_ms": 0.0, "in_finish_count": 0,
                                 "in_finish_ms": 0.0})
        d["count"] += 1
        d["total_ms"] += c[5] * 1e3
        d["max_ms"] = max(d["max_ms"], c[5] * 1e3)
        if fin_start is not None and fin_end is not None and fin_start <= c[0] <= fin_end:
            d["in_finish_count"] += 1
            d["in_finish_ms"] += c[5] * 1e3
    for d in by.values():
        for k in ("total_ms", "max_ms", "in_finish_ms"):
            d[k] = round(d[k], 2)
    origin = json_reads["first"] if json_reads else (calls[0][0] if calls else 0)

    def rel(w):
        if not w:
            return None
        return {"count": w["count"], "from_ms": round((w["first"] - origin) * 1e3, 1),
                "to_ms": round((w["last"] - origin) * 1e3, 1), "ms": round((w["last"] - w["first"]) * 1e3, 1)}

    first_syncfs = next((c for c in calls if c[2] == "syncfs" and fin_start is not None and c[0] >= fin_start), None)
    print(json.dumps({"tool": "glue_bench", "op": "trace", "calls": len(calls),
                      "windows_ms_from_first_json_open": {"json_opens": rel(json_reads), "scratch_parquet_creates": rel(scratch),
                                                          "deletes": rel(deletes), "uploads": rel(uploads)},
                      "finish_ms": round((fin_end - fin_start) * 1e3, 1) if fin_start is not None and fin_end else None,
                      "first_syncfs_ms": round(first_syncfs[5] * 1e3, 2) if first_syncfs else None,
                      "syscalls": by}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("setup", "run", "count", "trace"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=name != "trace", help="Sluice's port")
        p.add_argument("--bucket", default="bench-glue")
        if name in ("setup", "run"):
            p.add_argument("--job", default="events-to-parquet")
        if name == "setup":
            p.add_argument("--files", required=True, help="a file naming the event files, one a line")
            p.add_argument("--script", required=True, help="the job script to upload")
        if name == "run":
            p.add_argument("--poll-ms", type=float, default=20.0, help="sleep between GetJobRun polls")
            p.add_argument("--timeout", type=float, default=300, help="seconds for the run")
            p.add_argument("--sluice-bin", default="", help="for `sluice logs job` (the run's log)")
            p.add_argument("--variant", default="sluice", help="label of this measurement in the output")
            p.add_argument("--keep-log", action="store_true", help="put the run's log into the output")
        if name == "count":
            p.add_argument("--data-dir", required=True, help="Sluice's --data-dir")
        if name == "trace":
            p.add_argument("--strace", required=True, help="the output of strace -f -tt -T -o FILE")
    args = ap.parse_args()
    {"setup": cmd_setup, "run": cmd_run, "count": cmd_count, "trace": cmd_trace}[args.cmd](args)


if __name__ == "__main__":
    main()
