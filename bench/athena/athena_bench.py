#!/usr/bin/env python3
"""Client side of the Athena benchmark (bench/athena/run.sh).

Subcommands (each prints JSON on stdout; progress on stderr):
  setup    on a running Sluice: a bucket, then CREATE TABLE AS (Parquet, partitioned by
           event_date) through the Athena API, then a row count check; prints one object
  gen      writes a query file for duckdb_direct that makes the same table without Sluice
           (COPY ... PARTITION_BY), for a run that measures the baseline alone
  queries  writes the two query files for bench/athena/duckdb_direct.cc: `direct`
           (read_parquet over the table's files on disk with hive_partitioning=true) and
           `view` (the shape Sluice's engine runs: the table rebuilt as a view, a UNION ALL
           of one read_parquet per partition over the files the Glue partitions hold, with
           the partition values as constants, re-created before every query as Sluice does)
  run      the queries through the Athena API with boto3, as a client would: start, poll
           GetQueryExecution in a tight loop (--poll-ms sleeps), GetQueryResults; one JSON
           line per query with the end-to-end samples, the phases and the server's
           statistics; then the round trip of a bare GetQueryExecution (the client's floor).
           With a long --poll-ms (run.sh's `quiet` pass) the client stays off the CPU while
           the query runs, so EngineExecutionTimeInMillis is the engine's alone

The queries (QUERIES below) are the same text on both sides; only the FROM differs.
Only 127.0.0.1 is contacted; every loop is bounded by a count and a deadline.
"""

import argparse
import glob
import json
import os
import sys
import time

import boto3
from botocore.config import Config

HOST = "127.0.0.1"
REGION = "us-east-1"
DATABASE = "default"
TABLE = "events"
FIRST_DATE = "2025-08-01"
FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")

# name -> (kind, SQL with {t} for the table). kind: "small" (no table), "scan" (reads the lake).
QUERIES = [
    ("small", "small", "SELECT 1"),
    ("agg", "scan", "SELECT event_date, count(*), sum(amount) FROM {t} GROUP BY 1 ORDER BY 1"),
    ("pruned", "scan",
     "SELECT event_date, count(*), sum(amount) FROM {t} WHERE event_date = DATE '2025-08-03' "
     "GROUP BY 1 ORDER BY 1"),
    ("point", "scan", "SELECT * FROM {t} WHERE id = 12345"),
    ("groupby", "scan",
     "SELECT user_id, count(*), sum(amount) FROM {t} GROUP BY 1 ORDER BY 3 DESC, 1 LIMIT 5"),
]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def client(service, port):
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                 read_timeout=120, max_pool_connections=2)
    return boto3.session.Session().client(
        service, endpoint_url=f"http://{HOST}:{port}", region_name=REGION,
        aws_access_key_id="test", aws_secret_access_key="test", config=cfg)


def sql_quote(s):
    return "'" + s.replace("'", "''") + "'"


def percentile(vals, p):
    """Nearest rank, the same rule as duckdb_direct.cc and report.py."""
    if not vals:
        return None
    vals = sorted(vals)
    return vals[min(len(vals) - 1, int(p / 100.0 * (len(vals) - 1) + 0.5))]


class Athena:
    def __init__(self, port, bucket, poll_s):
        self.api = client("athena", port)
        self.bucket = bucket
        self.poll_s = poll_s

    def execute(self, sql, timeout):
        """Runs one statement to a final state. Returns (execution, rows, timings in ms)."""
        deadline = time.monotonic() + timeout
        t0 = time.perf_counter()
        qid = self.api.start_query_execution(
            QueryString=sql, QueryExecutionContext={"Database": DATABASE},
            ResultConfiguration={"OutputLocation": f"s3://{self.bucket}/athena-results/"})["QueryExecutionId"]
        t1 = time.perf_counter()
        polls = 0
        while True:
            ex = self.api.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
            polls += 1
            if ex["Status"]["State"] in FINAL:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"query did not finish in {timeout}s: {sql[:80]}")
            time.sleep(self.poll_s)
        t2 = time.perf_counter()
        rows = None
        if ex["Status"]["State"] == "SUCCEEDED":
            res = self.api.get_query_results(QueryExecutionId=qid, MaxResults=1000)
            rows = [[d.get("VarCharValue") for d in r.get("Data", [])] for r in res["ResultSet"]["Rows"]]
        t3 = time.perf_counter()
        timing = {"e2e": (t3 - t0) * 1e3, "start": (t1 - t0) * 1e3, "wait": (t2 - t1) * 1e3,
                  "results": (t3 - t2) * 1e3, "polls": polls}
        return ex, rows, timing


def select_sql(rows, partitions, numbers):
    """The table's rows; `numbers` is a relation of one column n = 1..rows."""
    return (f"SELECT n AS id, 'user' || CAST(n % 1000 AS varchar) AS user_id, "
            f"CAST(n % 7 AS double) AS amount, "
            f"CAST(DATE '{FIRST_DATE}' + CAST(n % {partitions} AS integer) AS date) AS event_date "
            f"FROM {numbers}")


def cmd_setup(args):
    s3 = client("s3", args.port)
    s3.create_bucket(Bucket=args.bucket)
    ath = Athena(args.port, args.bucket, 0.02)
    sql = (f"CREATE TABLE {TABLE} WITH (format = 'PARQUET', external_location = "
           f"'s3://{args.bucket}/{TABLE}/', partitioned_by = ARRAY['event_date']) AS "
           + select_sql(args.rows, args.partitions, f"UNNEST(sequence(1, {args.rows})) AS t(n)"))
    t0 = time.monotonic()
    ex, _, _ = ath.execute(sql, args.timeout)
    ctas_s = time.monotonic() - t0
    if ex["Status"]["State"] != "SUCCEEDED":
        raise SystemExit(f"CREATE TABLE AS failed: {ex['Status'].get('StateChangeReason')}")
    ex, rows, _ = ath.execute(f"SELECT count(*), count(DISTINCT event_date) FROM {TABLE}", args.timeout)
    if ex["Status"]["State"] != "SUCCEEDED":
        raise SystemExit(f"count failed: {ex['Status'].get('StateChangeReason')}")
    count, parts = int(rows[1][0]), int(rows[1][1])
    if count != args.rows or parts != args.partitions:
        raise SystemExit(f"table holds {count} rows in {parts} partitions, expected {args.rows} in {args.partitions}")
    print(json.dumps({"rows": count, "partitions": parts, "ctas_s": round(ctas_s, 3),
                      "table_bytes": ex.get("Statistics", {}).get("DataScannedInBytes")}))


def cmd_gen(args):
    dest = os.path.join(args.data_dir, "s3", "objects", args.bucket, TABLE)
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    sql = (f"COPY ({select_sql(args.rows, args.partitions, f'range(1, {args.rows + 1}) AS t(n)')}) "
           f"TO {sql_quote(dest)} (FORMAT PARQUET, PARTITION_BY (event_date))")
    with open(args.out, "w") as f:
        f.write(f"gen\t{sql}\n")


def direct_from(args):
    pattern = os.path.join(args.data_dir, "s3", "objects", args.bucket, TABLE, "*", "*.parquet")
    return f"read_parquet({sql_quote(pattern)}, hive_partitioning=true)"


def cmd_queries(args):
    if args.port is None:  # no Sluice: the direct form alone, over the files on disk
        with open(args.direct, "w") as f:
            for name, _, q in QUERIES:
                f.write(f"{name}\t{q.format(t=direct_from(args))}\n")
        files = glob.glob(os.path.join(args.data_dir, "s3", "objects", args.bucket, TABLE, "*", "*.parquet"))
        print(json.dumps({"partitions": len({os.path.dirname(f) for f in files}), "files": len(files),
                          "bytes": sum(os.path.getsize(f) for f in files)}))
        return
    if not args.view:
        raise SystemExit("queries: --view FILE is required with --port")
    glue = client("glue", args.port)
    table = glue.get_table(DatabaseName=DATABASE, Name=TABLE)["Table"]
    cols = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    keys = [(c["Name"], c["Type"]) for c in table["PartitionKeys"]]
    hive_to_duck = {"bigint": "BIGINT", "string": "VARCHAR", "double": "DOUBLE", "date": "DATE",
                    "int": "INTEGER", "boolean": "BOOLEAN", "timestamp": "TIMESTAMP"}
    parts, token = [], None
    for _ in range(1000):
        kw = {"NextToken": token} if token else {}
        page = glue.get_partitions(DatabaseName=DATABASE, TableName=TABLE, **kw)
        parts += page["Partitions"]
        token = page.get("NextToken")
        if not token:
            break
    objects = os.path.join(args.data_dir, "s3", "objects")
    branches, all_files, total = [], [], 0
    for p in sorted(parts, key=lambda p: p["Values"]):
        loc = p["StorageDescriptor"]["Location"]
        assert loc.startswith(f"s3://{args.bucket}/"), loc
        d = os.path.join(objects, args.bucket, loc[len(f"s3://{args.bucket}/"):])
        files = sorted(os.path.join(d, f) for f in os.listdir(d)
                       if not f.startswith(("_", ".")) and os.path.getsize(os.path.join(d, f)) > 0)
        all_files += files
        total += sum(os.path.getsize(f) for f in files)
        select = [f'CAST("{c}" AS {hive_to_duck[t]}) AS "{c}"' for c, t in cols]
        select += [f'CAST({sql_quote(v)} AS {hive_to_duck[t]}) AS "{c}"' for (c, t), v in zip(keys, p["Values"])]
        flist = "[" + ", ".join(sql_quote(f) for f in files) + "]"
        branches.append(f"SELECT {', '.join(select)} FROM read_parquet({flist}, union_by_name=true)")
    view = f"CREATE OR REPLACE VIEW {TABLE} AS " + " UNION ALL ".join(branches)
    with open(args.direct, "w") as f:
        for name, _, q in QUERIES:
            f.write(f"{name}\t{q.format(t=direct_from(args))}\n")
    with open(args.view, "w") as f:
        for name, kind, q in QUERIES:
            sql = q.format(t=TABLE)
            f.write(f"{name}\t{view}; {sql}\n" if kind == "scan" else f"{name}\t{sql}\n")
    globbed = sorted(os.path.join(objects, args.bucket, TABLE, d, f)
                     for d in os.listdir(os.path.join(objects, args.bucket, TABLE))
                     if os.path.isdir(os.path.join(objects, args.bucket, TABLE, d))
                     for f in os.listdir(os.path.join(objects, args.bucket, TABLE, d)) if f.endswith(".parquet"))
    if globbed != all_files:
        raise SystemExit(f"the glob sees {len(globbed)} files, the catalog's partitions {len(all_files)}")
    print(json.dumps({"partitions": len(parts), "files": len(all_files), "bytes": total}))


def cmd_run(args):
    ath = Athena(args.port, args.bucket, args.poll_ms / 1e3)
    deadline = time.monotonic() + args.deadline
    names = set(args.only.split(",")) if args.only else None
    for name, kind, q in QUERIES:
        if (names and name not in names) or (args.kind and kind != args.kind):
            continue
        sql = q.format(t=TABLE)
        for _ in range(args.warmup):
            ath.execute(sql, args.timeout)
        samples = {k: [] for k in ("e2e", "start", "wait", "results", "polls", "engine", "server_total",
                                   "queue", "service")}
        rows = None
        for n in range(args.reps):
            if n and time.monotonic() > deadline:
                break
            ex, got, timing = ath.execute(sql, args.timeout)
            if ex["Status"]["State"] != "SUCCEEDED":
                raise SystemExit(f"{name}: {ex['Status']['State']}: {ex['Status'].get('StateChangeReason')}")
            rows = len(got) - 1  # the header row
            st = ex.get("Statistics", {})
            for k, v in timing.items():
                samples[k].append(round(v, 4))
            samples["engine"].append(st.get("EngineExecutionTimeInMillis"))
            samples["server_total"].append(st.get("TotalExecutionTimeInMillis"))
            samples["queue"].append(st.get("QueryQueueTimeInMillis"))
            samples["service"].append(st.get("ServiceProcessingTimeInMillis"))
        out = {"tool": "athena_bench", "variant": args.variant, "query": name, "kind": kind,
               "reps": len(samples["e2e"]), "rows": rows,
               "poll_ms": args.poll_ms, "samples_ms": samples["e2e"], "phases": samples,
               "p50_ms": percentile(samples["e2e"], 50), "p99_ms": percentile(samples["e2e"], 99),
               "max_ms": max(samples["e2e"]), "engine_p50_ms": percentile(samples["engine"], 50)}
        print(json.dumps(out), flush=True)
        log(f"sluice {args.variant:6} {name:10} reps {out['reps']:3} rows {rows:6}  p50 {out['p50_ms']:8.2f} ms  "
            f"p99 {out['p99_ms']:8.2f} ms  engine p50 {out['engine_p50_ms']} ms")
    if args.rtt_reps <= 0:
        return
    # The client's floor: one API round trip (GetQueryExecution of a finished query).
    qid = ath.api.start_query_execution(
        QueryString="SELECT 1", QueryExecutionContext={"Database": DATABASE},
        ResultConfiguration={"OutputLocation": f"s3://{args.bucket}/athena-results/"})["QueryExecutionId"]
    for _ in range(1000):
        if ath.api.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]["State"] in FINAL:
            break
        time.sleep(0.005)
    rtt = []
    for _ in range(args.rtt_reps):
        t0 = time.perf_counter()
        ath.api.get_query_execution(QueryExecutionId=qid)
        rtt.append(round((time.perf_counter() - t0) * 1e3, 4))
    print(json.dumps({"tool": "athena_bench", "variant": args.variant, "query": "rtt", "kind": "rtt", "reps": len(rtt), "samples_ms": rtt,
                      "p50_ms": percentile(rtt, 50), "p99_ms": percentile(rtt, 99), "max_ms": max(rtt)}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("setup", "gen", "queries", "run"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=name in ("setup", "run"),
                       help="Sluice's port (queries: without it, the direct form alone)")
        p.add_argument("--bucket", default="lake")
        p.add_argument("--timeout", type=float, default=60, help="seconds per statement")
        if name in ("setup", "gen"):
            p.add_argument("--rows", type=int, default=2_000_000)
            p.add_argument("--partitions", type=int, default=10)
        if name in ("gen", "queries"):
            p.add_argument("--data-dir", required=True, help="Sluice's --data-dir")
        if name == "gen":
            p.add_argument("--out", required=True, help="the query file to write")
        if name == "queries":
            p.add_argument("--direct", required=True, help="file for the read_parquet form")
            p.add_argument("--view", help="file for the view form (needs --port)")
        if name == "run":
            p.add_argument("--reps", type=int, default=10)
            p.add_argument("--warmup", type=int, default=1)
            p.add_argument("--poll-ms", type=float, default=2.0, help="sleep between polls")
            p.add_argument("--deadline", type=float, default=60, help="seconds for the whole run")
            p.add_argument("--rtt-reps", type=int, default=50)
            p.add_argument("--only", default="", help="comma-separated query names")
            p.add_argument("--kind", default="", help="only the queries of this kind (small, scan)")
            p.add_argument("--variant", default="e2e", help="label of this measurement in the output")
    args = ap.parse_args()
    {"setup": cmd_setup, "gen": cmd_gen, "queries": cmd_queries, "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    main()
