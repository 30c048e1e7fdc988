"""Athena (AmazonAthena.*) over the lake: boto3 `athena` client and `aws athena`.

Queries are run the way a pipeline does: StartQueryExecution with a database and an S3
output location, poll GetQueryExecution until a final state, page GetQueryResults.
"""

import csv
import ctypes
import gzip
import importlib.util
import io
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import drop_database, client_error, make_client, make_s3, unique_name

REPO = Path(__file__).resolve().parent.parent
FINAL_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")
QUERY_TIMEOUT = 30.0


# ---------------------------------------------------------------------------------------
# Running queries


def start_query(athena, sql, db, bucket, prefix="results/", **kw):
    params = {"QueryString": sql,
              "ResultConfiguration": {"OutputLocation": f"s3://{bucket}/{prefix}"}}
    if db:
        params["QueryExecutionContext"] = {"Database": db}
    params.update(kw)
    return athena.start_query_execution(**params)["QueryExecutionId"]


def wait_query(athena, qid, timeout=QUERY_TIMEOUT):
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        ex = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if ex["Status"]["State"] in FINAL_STATES:
            return ex
        if time.monotonic() > deadline:
            raise AssertionError(f"query {qid} not finished after {timeout}s: {ex}")
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def fetch_results(athena, qid, page_size=1000):
    """All rows (lists of str/None) across pages, the column info and the page sizes."""
    rows, pages, columns, token = [], [], None, None
    while True:
        kw = {"NextToken": token} if token else {}
        page = athena.get_query_results(QueryExecutionId=qid, MaxResults=page_size, **kw)
        rs = page["ResultSet"]
        if columns is None:
            columns = rs.get("ResultSetMetadata", {}).get("ColumnInfo", [])
        got = [[d.get("VarCharValue") for d in r.get("Data", [])] for r in rs.get("Rows", [])]
        pages.append(len(got))
        rows.extend(got)
        token = page.get("NextToken")
        if not token:
            return rows, columns, pages


def run_query(athena, sql, db, bucket, expect="SUCCEEDED", **kw):
    """Runs one statement to a final state: (execution, rows). Rows only if SUCCEEDED; for
    SELECT the first row is the header."""
    qid = start_query(athena, sql, db, bucket, **kw)
    ex = wait_query(athena, qid)
    state = ex["Status"]["State"]
    if expect is not None:
        assert state == expect, (
            f"{sql!r}: expected {expect}, got {state}: "
            f"{ex['Status'].get('StateChangeReason')!r}")
    rows = fetch_results(athena, qid)[0] if state == "SUCCEEDED" else None
    return ex, rows


def flat(rows):
    """Every cell of a result, stripped (SHOW/DESCRIBE output has padding and tabs)."""
    out = []
    for r in rows or []:
        for v in r:
            if v is not None:
                out.extend(x.strip() for x in v.split("\t"))
    return [x for x in out if x]


def put_ndjson(s3, bucket, key, records):
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)


# ---------------------------------------------------------------------------------------
# The seed data: events over three days in August and September 2025


EVENTS = {
    "2025-08-01": [("u1", "click", 1.5), ("u2", "click", 2.25), ("u1", "purchase", 19.75),
                   ("u3", "view", 0.0), ("u2", "view", 0.5)],
    "2025-08-15": [("u4", "purchase", 100.0), ("u1", "click", 0.25), ("u5", "purchase", 7.5),
                   ("u4", "view", 1.0)],
    "2025-09-02": [("u2", "click", 3.0), ("u9", "purchase", 42.0)],
}


def expected_august():
    agg = defaultdict(lambda: [0, 0.0])
    for day, evs in EVENTS.items():
        if "2025-08-01" <= day <= "2025-08-31":
            for _user, action, amount in evs:
                agg[(day, action)][0] += 1
                agg[(day, action)][1] += amount
    return sorted((d, a, c, s) for (d, a), (c, s) in agg.items())


SEED_QUERY = ("SELECT event_date, action, COUNT(*) AS cnt, SUM(amount) AS amt FROM events "
              "WHERE event_date BETWEEN DATE '2025-08-01' AND DATE '2025-08-31' "
              "GROUP BY event_date, action ORDER BY event_date")


def check_seed_result(athena, s3, bucket, ex, rows):
    qid = ex["QueryExecutionId"]
    assert ex["StatementType"] == "DML"
    assert rows[0] == ["event_date", "action", "cnt", "amt"]
    body = rows[1:]
    dates = [r[0] for r in body]
    assert dates == sorted(dates), f"not ordered by event_date: {body}"
    got = sorted((r[0], r[1], int(r[2]), float(r[3])) for r in body)
    assert got == expected_august()

    _, columns, _ = fetch_results(athena, qid)
    assert [(c["Name"], c["Type"]) for c in columns] == [
        ("event_date", "date"), ("action", "varchar"), ("cnt", "bigint"), ("amt", "double")]

    # The result file and its metadata sit at the output location.
    assert ex["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/results/{qid}.csv"
    s3.head_object(Bucket=bucket, Key=f"results/{qid}.csv.metadata")
    text = s3.get_object(Bucket=bucket, Key=f"results/{qid}.csv")["Body"].read().decode()
    assert list(csv.reader(io.StringIO(text))) == [[v or "" for v in r] for r in rows]
    assert text.startswith('"event_date","action","cnt","amt"')

    stats = ex["Statistics"]
    for k in ("EngineExecutionTimeInMillis", "TotalExecutionTimeInMillis", "DataScannedInBytes"):
        assert isinstance(stats.get(k), int) and stats[k] >= 0, stats
    assert stats["DataScannedInBytes"] > 0, stats
    status = ex["Status"]
    assert status["SubmissionDateTime"] <= status["CompletionDateTime"]


def check_msck_partitions(glue, db, location):
    parts = glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == sorted(EVENTS)
    for p in parts:
        loc = p["StorageDescriptor"]["Location"].rstrip("/")
        assert loc == f"{location}event_date={p['Values'][0]}", p


def test_seed_json_end_to_end(athena, glue, s3, bucket, db):
    for day, evs in EVENTS.items():
        put_ndjson(s3, bucket, f"curated_json/events/event_date={day}/part-0.json",
                   [{"user_id": u, "action": a, "amount": m} for u, a, m in evs])
    location = f"s3://{bucket}/curated_json/events/"

    ex, _ = run_query(athena, (
        "CREATE EXTERNAL TABLE IF NOT EXISTS events (user_id string, action string, amount double) "
        "PARTITIONED BY (event_date date) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION '{location}';"), db, bucket)
    assert ex["StatementType"] == "DDL"

    t = glue.get_table(DatabaseName=db, Name="events")["Table"]
    assert t["TableType"] == "EXTERNAL_TABLE"
    assert t["PartitionKeys"] == [{"Name": "event_date", "Type": "date"}]
    sd = t["StorageDescriptor"]
    assert [(c["Name"], c["Type"]) for c in sd["Columns"]] == [
        ("user_id", "string"), ("action", "string"), ("amount", "double")]
    assert sd["Location"].rstrip("/") == location.rstrip("/")
    assert sd["SerdeInfo"]["SerializationLibrary"] == "org.openx.data.jsonserde.JsonSerDe"

    # No partitions yet: the table is empty until MSCK REPAIR registers them.
    assert glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"] == []
    _, rows = run_query(athena, "SELECT COUNT(*) AS n FROM events", db, bucket)
    assert rows == [["n"], ["0"]]

    run_query(athena, "MSCK REPAIR TABLE events;", db, bucket)
    check_msck_partitions(glue, db, location)

    ex, rows = run_query(athena, SEED_QUERY + ";", db, bucket)
    check_seed_result(athena, s3, bucket, ex, rows)

    # IF NOT EXISTS: running the DDL again changes nothing.
    run_query(athena, (
        "CREATE EXTERNAL TABLE IF NOT EXISTS events (user_id string, action string, amount double) "
        "PARTITIONED BY (event_date date) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION '{location}';"), db, bucket)
    assert len(glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]) == 3

    # All partitions, all rows.
    _, rows = run_query(athena, "SELECT COUNT(*), SUM(amount) FROM events", db, bucket)
    assert int(rows[1][0]) == sum(len(v) for v in EVENTS.values())
    assert float(rows[1][1]) == sum(m for v in EVENTS.values() for _u, _a, m in v)


# ---------------------------------------------------------------------------------------
# Parquet: the seed's DDL over Parquet files


def _sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def _duckdb_copy_sql(records, path):
    values = ", ".join(f"({_sql_str(u)}, {_sql_str(a)}, CAST({m!r} AS DOUBLE))"
                       for u, a, m in records)
    return (f"COPY (SELECT * FROM (VALUES {values}) AS t(user_id, action, amount)) "
            f"TO {_sql_str(str(path))} (FORMAT parquet)")


def _parquet_with_pyarrow(records, path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    table = pa.table({"user_id": [r[0] for r in records], "action": [r[1] for r in records],
                      "amount": pa.array([float(r[2]) for r in records], pa.float64())})
    pq.write_table(table, str(path))


def _parquet_with_duckdb_cli(records, path):
    exe = shutil.which("duckdb")
    subprocess.run([exe, "-c", _duckdb_copy_sql(records, path)], check=True,
                   capture_output=True, timeout=60)


def _libduckdb_path():
    env = os.environ.get("SLUICE_DUCKDB_LIB")
    if env:
        return Path(env)
    return REPO / ".cache" / "duckdb" / "lib" / "libduckdb.so"


def _parquet_with_libduckdb(records, path):
    """DuckDB's C API through ctypes (the library the build links sluice against)."""
    lib = ctypes.CDLL(str(_libduckdb_path()))
    lib.duckdb_open.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.duckdb_connect.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p)]
    lib.duckdb_query.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
    lib.duckdb_result_error.argtypes = [ctypes.c_void_p]
    lib.duckdb_result_error.restype = ctypes.c_char_p
    lib.duckdb_destroy_result.argtypes = [ctypes.c_void_p]
    lib.duckdb_disconnect.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    lib.duckdb_close.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
    dbh, conn = ctypes.c_void_p(), ctypes.c_void_p()
    result = ctypes.create_string_buffer(256)  # duckdb_result is 48 bytes
    assert lib.duckdb_open(None, ctypes.byref(dbh)) == 0, "duckdb_open failed"
    try:
        assert lib.duckdb_connect(dbh, ctypes.byref(conn)) == 0, "duckdb_connect failed"
        try:
            rc = lib.duckdb_query(conn, _duckdb_copy_sql(records, path).encode(), result)
            err = lib.duckdb_result_error(result) if rc != 0 else None
            lib.duckdb_destroy_result(result)
            assert rc == 0, f"duckdb COPY failed: {err!r}"
        finally:
            lib.duckdb_disconnect(ctypes.byref(conn))
    finally:
        lib.duckdb_close(ctypes.byref(dbh))


def _parquet_writer():
    """(name, write(records, path)) for the first Parquet writer available, or None."""
    if importlib.util.find_spec("pyarrow") is not None:
        return "pyarrow", _parquet_with_pyarrow
    if shutil.which("duckdb"):
        return "duckdb CLI", _parquet_with_duckdb_cli
    if _libduckdb_path().is_file():
        return "libduckdb", _parquet_with_libduckdb
    return None


def _upload_parquet_locally(s3, bucket, writer):
    with tempfile.TemporaryDirectory() as tmp:
        for day, evs in EVENTS.items():
            path = Path(tmp) / f"{day}.parquet"
            writer(evs, path)
            data = path.read_bytes()
            assert data[:4] == b"PAR1" and data[-4:] == b"PAR1"
            s3.put_object(Bucket=bucket, Key=f"curated/events/event_date={day}/part-0.parquet",
                          Body=data)


def _upload_parquet_with_unload(athena, s3, bucket, db):
    """No local writer: let Athena write the Parquet files (UNLOAD from a JSON table)."""
    for day, evs in EVENTS.items():
        put_ndjson(s3, bucket, f"staging/events/event_date={day}/part-0.json",
                   [{"user_id": u, "action": a, "amount": m} for u, a, m in evs])
    run_query(athena, (
        "CREATE EXTERNAL TABLE staging_events (user_id string, action string, amount double) "
        "PARTITIONED BY (event_date string) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{bucket}/staging/events/'"), db, bucket)
    run_query(athena, "MSCK REPAIR TABLE staging_events", db, bucket)
    ex, _ = run_query(athena, (
        "UNLOAD (SELECT user_id, action, amount, event_date FROM staging_events) "
        f"TO 's3://{bucket}/curated/events/' "
        "WITH (format = 'PARQUET', partitioned_by = ARRAY['event_date'])"), db, bucket,
        expect=None)
    if ex["Status"]["State"] != "SUCCEEDED":
        pytest.skip("no Parquet writer: pyarrow is not installed, no duckdb CLI or libduckdb, "
                    f"and Athena UNLOAD failed: {ex['Status'].get('StateChangeReason')}")


def test_seed_parquet_end_to_end(athena, glue, s3, bucket, db):
    writer = _parquet_writer()
    if writer is not None:
        _upload_parquet_locally(s3, bucket, writer[1])
    else:
        _upload_parquet_with_unload(athena, s3, bucket, db)
    location = f"s3://{bucket}/curated/events/"

    run_query(athena, (
        "CREATE EXTERNAL TABLE IF NOT EXISTS events (user_id string, action string, amount double) "
        "PARTITIONED BY (event_date date) "
        "STORED AS PARQUET "
        f"LOCATION '{location}';"), db, bucket)
    t = glue.get_table(DatabaseName=db, Name="events")["Table"]
    assert "parquet" in t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].lower()
    assert "parquet" in t["StorageDescriptor"]["InputFormat"].lower()

    run_query(athena, "MSCK REPAIR TABLE events;", db, bucket)
    check_msck_partitions(glue, db, location)

    ex, rows = run_query(athena, SEED_QUERY + ";", db, bucket)
    check_seed_result(athena, s3, bucket, ex, rows)


# ---------------------------------------------------------------------------------------
# DDL


def test_ddl_statements(athena, glue, s3, bucket):
    dbname = unique_name("ddl")
    try:
        ex, _ = run_query(athena, f"CREATE DATABASE {dbname}", None, bucket)
        assert ex["StatementType"] == "DDL"
        assert glue.get_database(Name=dbname)["Database"]["Name"] == dbname
        run_query(athena, f"CREATE DATABASE IF NOT EXISTS {dbname}", None, bucket)
        ex, _ = run_query(athena, f"CREATE DATABASE {dbname}", None, bucket, expect="FAILED")
        assert ex["Status"].get("StateChangeReason")

        _, rows = run_query(athena, "SHOW DATABASES", dbname, bucket)
        assert dbname in flat(rows)

        loc = f"s3://{bucket}/ddl/events/"
        run_query(athena, (
            "CREATE EXTERNAL TABLE events (user_id string, action string, amount double) "
            "PARTITIONED BY (event_date string) "
            "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
            f"LOCATION '{loc}'"), dbname, bucket)
        run_query(athena, (
            f"CREATE EXTERNAL TABLE {dbname}.other (x int) "
            "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
            f"LOCATION 's3://{bucket}/ddl/other/'"), dbname, bucket)

        _, rows = run_query(athena, "SHOW TABLES", dbname, bucket)
        assert sorted(flat(rows)) == ["events", "other"]
        _, rows = run_query(athena, f"SHOW TABLES IN {dbname}", None, bucket)
        assert sorted(flat(rows)) == ["events", "other"]

        _, rows = run_query(athena, "DESCRIBE events", dbname, bucket)
        cells = flat(rows)
        for name, typ in (("user_id", "string"), ("action", "string"), ("amount", "double"),
                          ("event_date", "string")):
            assert name in cells and typ in cells, rows

        _, rows = run_query(athena, "SHOW COLUMNS IN events", dbname, bucket)
        assert {"user_id", "action", "amount", "event_date"} <= set(flat(rows)), rows
        _, rows = run_query(athena, f"SHOW COLUMNS FROM {dbname}.events", None, bucket)
        assert {"user_id", "action", "amount", "event_date"} <= set(flat(rows)), rows

        _, rows = run_query(athena, "SHOW PARTITIONS events", dbname, bucket)
        assert flat(rows) == []

        # ALTER TABLE ADD PARTITION with an explicit location (not under the table).
        ploc = f"s3://{bucket}/elsewhere/sept-first/"
        put_ndjson(s3, bucket, "elsewhere/sept-first/data.json",
                   [{"user_id": "a", "action": "click", "amount": 1.25},
                    {"user_id": "b", "action": "view", "amount": 2.0}])
        add = (f"ALTER TABLE events ADD IF NOT EXISTS PARTITION (event_date='2025-09-01') "
               f"LOCATION '{ploc}'")
        run_query(athena, add, dbname, bucket)
        run_query(athena, add, dbname, bucket)  # IF NOT EXISTS: no error the second time
        p = glue.get_partition(DatabaseName=dbname, TableName="events",
                               PartitionValues=["2025-09-01"])["Partition"]
        assert p["StorageDescriptor"]["Location"].rstrip("/") == ploc.rstrip("/")

        _, rows = run_query(athena, "SHOW PARTITIONS events", dbname, bucket)
        assert flat(rows) == ["event_date=2025-09-01"]

        _, rows = run_query(athena, (
            "SELECT event_date, COUNT(*) AS n, SUM(amount) AS s FROM events "
            "GROUP BY event_date"), dbname, bucket)
        assert rows == [["event_date", "n", "s"], ["2025-09-01", "2", "3.25"]]

        run_query(athena, "ALTER TABLE events DROP PARTITION (event_date='2025-09-01')",
                  dbname, bucket)
        with pytest.raises(ClientError) as e:
            glue.get_partition(DatabaseName=dbname, TableName="events",
                               PartitionValues=["2025-09-01"])
        assert client_error(e)[0] == "EntityNotFoundException"
        _, rows = run_query(athena, "SHOW PARTITIONS events", dbname, bucket)
        assert flat(rows) == []
        run_query(athena, "ALTER TABLE events DROP IF EXISTS PARTITION (event_date='2025-09-01')",
                  dbname, bucket)

        run_query(athena, "DROP TABLE events", dbname, bucket)
        with pytest.raises(ClientError) as e:
            glue.get_table(DatabaseName=dbname, Name="events")
        assert client_error(e)[0] == "EntityNotFoundException"
        # External table: the data stays.
        s3.head_object(Bucket=bucket, Key="elsewhere/sept-first/data.json")
        run_query(athena, "DROP TABLE IF EXISTS events", dbname, bucket)
        run_query(athena, "DROP TABLE other", dbname, bucket)
        _, rows = run_query(athena, "SHOW TABLES", dbname, bucket)
        assert flat(rows) == []

        run_query(athena, f"DROP DATABASE {dbname}", None, bucket)
        with pytest.raises(ClientError) as e:
            glue.get_database(Name=dbname)
        assert client_error(e)[0] == "EntityNotFoundException"
        _, rows = run_query(athena, "SHOW DATABASES", None, bucket)
        assert dbname not in flat(rows)
        run_query(athena, f"DROP DATABASE IF EXISTS {dbname}", None, bucket)
    finally:
        drop_database(glue, dbname)


# ---------------------------------------------------------------------------------------
# CSV


def test_csv_table_with_header(athena, s3, bucket, db):
    s3.put_object(Bucket=bucket, Key="csv/fruits/a.csv",
                  Body=b"id,name,price\n1,apple,1.5\n2,banana,0.25\n")
    s3.put_object(Bucket=bucket, Key="csv/fruits/b.csv",
                  Body=b"id,name,price\n3,cherry,10.0\n4,date,2.75\n")
    run_query(athena, (
        "CREATE EXTERNAL TABLE fruits (id int, name string, price double) "
        "ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' "
        "STORED AS TEXTFILE "
        f"LOCATION 's3://{bucket}/csv/fruits/' "
        "TBLPROPERTIES ('skip.header.line.count'='1')"), db, bucket)

    ex, rows = run_query(athena, "SELECT id, name, price FROM fruits ORDER BY id", db, bucket)
    assert rows[0] == ["id", "name", "price"]
    got = [(int(r[0]), r[1], float(r[2])) for r in rows[1:]]
    assert got == [(1, "apple", 1.5), (2, "banana", 0.25), (3, "cherry", 10.0), (4, "date", 2.75)]
    _, columns, _ = fetch_results(athena, ex["QueryExecutionId"])
    assert [(c["Name"], c["Type"]) for c in columns] == [
        ("id", "integer"), ("name", "varchar"), ("price", "double")]

    _, rows = run_query(athena, (
        "SELECT COUNT(*) AS n, SUM(price) AS total FROM fruits WHERE name <> 'id'"), db, bucket)
    assert rows[1][0] == "4" and float(rows[1][1]) == 14.5


def make_events_table(athena, s3, bucket, db, table="events"):
    """The seed events as a partitioned JSON table, partitions registered."""
    for day, evs in EVENTS.items():
        put_ndjson(s3, bucket, f"{table}/event_date={day}/part-0.json",
                   [{"user_id": u, "action": a, "amount": m} for u, a, m in evs])
    run_query(athena, (
        f"CREATE EXTERNAL TABLE {table} (user_id string, action string, amount double) "
        "PARTITIONED BY (event_date date) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{bucket}/{table}/'"), db, bucket)
    run_query(athena, f"MSCK REPAIR TABLE {table}", db, bucket)


def test_json_serde_details(athena, s3, bucket, db):
    """Keys match columns case-insensitively, missing keys are NULL, unknown keys are ignored,
    nested structs and arrays work, .gz files are decompressed, _ and . files are skipped."""
    put_ndjson(s3, bucket, "j/a.json", [
        {"UserId": "u1", "score": 5, "props": {"country": "DE"}, "tags": ["a", "b"]},
        {"userid": "u2", "extra": {"ignored": True}, "tags": []},
    ])
    gz = gzip.compress(b'{"userid": "u3", "score": 7, "props": {"country": "FR"}, '
                       b'"tags": ["c"]}\n')
    s3.put_object(Bucket=bucket, Key="j/b.json.gz", Body=gz)
    s3.put_object(Bucket=bucket, Key="j/_SUCCESS", Body=b"")
    s3.put_object(Bucket=bucket, Key="j/.part-0.json.crc", Body=b"\x00garbage not json")
    run_query(athena, (
        "CREATE EXTERNAL TABLE j (userid string, score int, props struct<country:string>, "
        "tags array<string>) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{bucket}/j/'"), db, bucket)
    _, rows = run_query(athena, (
        "SELECT userid, score, props.country AS country, cardinality(tags) AS ntags "
        "FROM j ORDER BY userid"), db, bucket)
    assert rows == [["userid", "score", "country", "ntags"],
                    ["u1", "5", "DE", "2"],
                    ["u2", None, None, "0"],
                    ["u3", "7", "FR", "1"]]


def test_views_and_qualified_names(athena, glue, s3, bucket, db):
    make_events_table(athena, s3, bucket, db)
    total = sum(len(v) for v in EVENTS.values())
    for ref in (f"{db}.events", f'"{db}"."events"', f"awsdatacatalog.{db}.events"):
        _, rows = run_query(athena, f"SELECT COUNT(*) AS n FROM {ref}", None, bucket)
        assert rows == [["n"], [str(total)]], ref

    run_query(athena, ("CREATE VIEW purchases AS SELECT event_date, user_id, amount FROM events "
                       "WHERE action = 'purchase'"), db, bucket)
    _, rows = run_query(athena, "SELECT user_id, amount FROM purchases ORDER BY amount DESC",
                        db, bucket)
    want = sorted(((u, m) for evs in EVENTS.values() for u, a, m in evs if a == "purchase"),
                  key=lambda x: -x[1])
    assert [(r[0], float(r[1])) for r in rows[1:]] == want
    _, rows = run_query(athena, "SHOW VIEWS", db, bucket)
    assert flat(rows) == ["purchases"]
    # Views live in the Data Catalog, as Athena keeps them in Glue.
    t = glue.get_table(DatabaseName=db, Name="purchases")["Table"]
    assert t["TableType"] == "VIRTUAL_VIEW"
    run_query(athena, ("CREATE OR REPLACE VIEW purchases AS SELECT user_id FROM events "
                       "WHERE action = 'purchase' AND amount > 10"), db, bucket)
    _, rows = run_query(athena, "SELECT user_id FROM purchases ORDER BY user_id", db, bucket)
    assert rows == [["user_id"], ["u1"], ["u4"], ["u9"]]
    run_query(athena, "DROP VIEW purchases", db, bucket)
    with pytest.raises(ClientError) as e:
        glue.get_table(DatabaseName=db, Name="purchases")
    assert client_error(e)[0] == "EntityNotFoundException"


def test_ctas_parquet_and_insert_into(athena, glue, s3, bucket, db):
    make_events_table(athena, s3, bucket, db)
    ex, _ = run_query(athena, (
        "CREATE TABLE events_pq WITH (format = 'PARQUET', "
        f"external_location = 's3://{bucket}/ctas/events_pq/', "
        "partitioned_by = ARRAY['event_date']) AS "
        "SELECT user_id, action, amount, event_date FROM events"), db, bucket)
    qid = ex["QueryExecutionId"]
    total = sum(len(v) for v in EVENTS.values())
    assert athena.get_query_results(QueryExecutionId=qid).get("UpdateCount") == total

    t = glue.get_table(DatabaseName=db, Name="events_pq")["Table"]
    assert "parquet" in t["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"].lower()
    assert [k["Name"] for k in t["PartitionKeys"]] == ["event_date"]
    parts = glue.get_partitions(DatabaseName=db, TableName="events_pq")["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == sorted(EVENTS)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="ctas/events_pq/")
            .get("Contents", [])]
    assert {k.split("/")[2] for k in keys} == {f"event_date={d}" for d in EVENTS}, keys

    ex, rows = run_query(athena, SEED_QUERY.replace("FROM events", "FROM events_pq"), db, bucket)
    check_seed_result(athena, s3, bucket, ex, rows)

    run_query(athena, ("INSERT INTO events_pq SELECT 'u100', 'refund', -2.5, "
                       "DATE '2025-10-01'"), db, bucket)
    _, rows = run_query(athena, "SELECT COUNT(*) AS n, SUM(amount) AS s FROM events_pq",
                        db, bucket)
    assert int(rows[1][0]) == total + 1
    assert float(rows[1][1]) == sum(m for v in EVENTS.values() for _u, _a, m in v) - 2.5
    parts = glue.get_partitions(DatabaseName=db, TableName="events_pq")["Partitions"]
    assert "2025-10-01" in [p["Values"][0] for p in parts]


def test_concurrent_queries(athena, s3, bucket, db):
    make_events_table(athena, s3, bucket, db)

    def one(i):
        qid = start_query(athena, f"SELECT {i} AS i, COUNT(*) AS n FROM events", db, bucket)
        return qid, wait_query(athena, qid)

    with ThreadPoolExecutor(8) as pool:
        done = list(pool.map(one, range(16)))
    total = str(sum(len(v) for v in EVENTS.values()))
    for i, (qid, ex) in enumerate(done):
        assert ex["Status"]["State"] == "SUCCEEDED", ex["Status"]
        assert fetch_results(athena, qid)[0] == [["i", "n"], [str(i), total]]


# ---------------------------------------------------------------------------------------
# Failures


def test_failed_queries(athena, glue, bucket, db):
    ex, rows = run_query(athena, "SELEC 1 FROM nowhere", db, bucket, expect="FAILED")
    assert ex["Status"].get("StateChangeReason"), ex["Status"]
    assert rows is None
    with pytest.raises(ClientError) as e:
        athena.get_query_results(QueryExecutionId=ex["QueryExecutionId"])
    assert client_error(e)[0] == "InvalidRequestException"

    ex, _ = run_query(athena, "SELECT * FROM no_such_table_xyz", db, bucket, expect="FAILED")
    assert "no_such_table_xyz" in ex["Status"].get("StateChangeReason", "").lower(), ex["Status"]

    for i, location in enumerate(("file:///etc/", "hdfs://x/warehouse/", "/etc/")):
        ex, _ = run_query(athena, (
            f"CREATE EXTERNAL TABLE escape_{i} (line string) "
            "ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' STORED AS TEXTFILE "
            f"LOCATION '{location}'"), db, bucket, expect="FAILED")
        assert ex["Status"].get("StateChangeReason"), ex["Status"]
        with pytest.raises(ClientError) as e:
            glue.get_table(DatabaseName=db, Name=f"escape_{i}")
        assert client_error(e)[0] == "EntityNotFoundException"

    with pytest.raises(ClientError) as e:
        athena.get_query_execution(QueryExecutionId="00000000-0000-0000-0000-000000000000")
    assert client_error(e)[0] == "InvalidRequestException"

    # Still serving.
    _, rows = run_query(athena, "SELECT 1 AS one", db, bucket)
    assert rows == [["one"], ["1"]]


def test_engine_is_sandboxed(athena, bucket, db, tmp_path):
    """Only Athena SQL over the catalog: no host file reads or writes, no engine-specific
    statements (the engine underneath is an implementation detail)."""
    escapes = [
        "SELECT * FROM read_csv_auto('/etc/passwd')",
        "SELECT * FROM read_text('/etc/hostname')",
        "SELECT * FROM read_json_auto('/etc/os-release')",
        f"COPY (SELECT 1 AS x) TO '{tmp_path}/copied.csv'",
        f"ATTACH '{tmp_path}/attached.db' AS a",
        "LOAD httpfs",
        "PRAGMA version",
        "SET enable_progress_bar = false",
        "SELECT * FROM duckdb_settings()",
    ]
    unexpected = []
    for sql in escapes:
        # Engine commands do not parse as Athena SQL: InvalidRequestException, as AWS; the
        # rest fail when they run.
        try:
            ex, rows = run_query(athena, sql, db, bucket, expect=None)
        except ClientError as e:
            if client_error(e)[0] != "InvalidRequestException":
                unexpected.append((sql, client_error(e)))
            continue
        if ex["Status"]["State"] != "FAILED":
            unexpected.append((sql, ex["Status"]["State"], (rows or [])[:2]))
    written = sorted(os.listdir(tmp_path))
    assert (unexpected, written) == ([], []), (unexpected, written)

    _, rows = run_query(athena, "SELECT 1 AS one", db, bucket)
    assert rows == [["one"], ["1"]]


def test_unnamed_columns_are_col_n(athena, bucket, db):
    ex, rows = run_query(athena, "SELECT 1, 'a' AS letter, 2.5E0", db, bucket)
    assert rows == [["_col0", "letter", "_col2"], ["1", "a", "2.5"]]
    _, columns, _ = fetch_results(athena, ex["QueryExecutionId"])
    assert [c["Type"] for c in columns] == ["integer", "varchar", "double"]


# ---------------------------------------------------------------------------------------
# Results pagination


def test_result_pagination(athena, s3, bucket, db):
    sql = "SELECT n FROM UNNEST(sequence(1, 10000)) AS t(n)"
    qid = start_query(athena, sql, db, bucket)
    ex = wait_query(athena, qid)
    assert ex["Status"]["State"] == "SUCCEEDED", ex["Status"]
    rows, columns, pages = fetch_results(athena, qid, page_size=1000)
    assert len(rows) == 10001
    assert rows[0] == ["n"]
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(1, 10001)]
    assert all(p <= 1000 for p in pages) and sum(pages) == 10001, pages
    assert pages[0] == 1000 and len(pages) == 11, pages
    assert [(c["Name"], c["Type"]) for c in columns] == [("n", "bigint")]

    small, _, pages = fetch_results(athena, qid, page_size=7)
    assert small[:8] == rows[:8] and pages[0] == 7

    text = s3.get_object(Bucket=bucket, Key=f"results/{qid}.csv")["Body"].read().decode()
    lines = text.splitlines()
    assert len(lines) == 10001 and lines[1] == '"1"' and lines[-1] == '"10000"'


# ---------------------------------------------------------------------------------------
# Query history and work groups


def test_query_history_and_workgroup(athena, bucket, db):
    a = start_query(athena, "SELECT 1 AS a", db, bucket)
    b = start_query(athena, "SELECT 2 AS b", db, bucket)
    ea, eb = wait_query(athena, a), wait_query(athena, b)
    assert ea["Status"]["State"] == eb["Status"]["State"] == "SUCCEEDED"
    assert ea["Query"] == "SELECT 1 AS a"
    assert ea["WorkGroup"] == "primary"
    assert ea["QueryExecutionContext"]["Database"] == db

    ids = [i for page in athena.get_paginator("list_query_executions").paginate()
           for i in page["QueryExecutionIds"]]
    assert a in ids and b in ids
    ids = [i for page in athena.get_paginator("list_query_executions").paginate(
        WorkGroup="primary") for i in page["QueryExecutionIds"]]
    assert a in ids and b in ids
    assert ids.index(b) < ids.index(a)  # newest first

    bogus = "11111111-2222-3333-4444-555555555555"
    r = athena.batch_get_query_execution(QueryExecutionIds=[a, b, bogus])
    got = {x["QueryExecutionId"]: x for x in r["QueryExecutions"]}
    assert set(got) == {a, b}
    assert got[b]["Query"] == "SELECT 2 AS b"
    assert got[b]["Status"]["State"] == "SUCCEEDED"
    assert [u["QueryExecutionId"] for u in r.get("UnprocessedQueryExecutionIds", [])] == [bogus]

    wg = athena.get_work_group(WorkGroup="primary")["WorkGroup"]
    assert wg["Name"] == "primary" and wg["State"] == "ENABLED"
    names = [w["Name"] for w in athena.list_work_groups()["WorkGroups"]]
    assert "primary" in names

    # Stopping a finished query is accepted and changes nothing.
    athena.stop_query_execution(QueryExecutionId=a)
    ex = athena.get_query_execution(QueryExecutionId=a)["QueryExecution"]
    assert ex["Status"]["State"] == "SUCCEEDED"
    rows, _, _ = fetch_results(athena, a)
    assert rows == [["a"], ["1"]]


def test_values_nulls_and_types(athena, s3, bucket, db):
    """How values and types come back (Athena engine 3): NULL is an absent VarCharValue and
    an empty unquoted CSV field; timestamps have milliseconds; decimals keep their scale."""
    ex, rows = run_query(athena, (
        "SELECT CAST(NULL AS varchar) AS nothing, true AS yes, DATE '2025-08-01' AS d, "
        "CAST('2025-08-01 10:11:12' AS timestamp) AS ts, CAST(12.5 AS DECIMAL(10,2)) AS dec, "
        "BIGINT '9007199254740993' AS big, 'it''s, \"quoted\"' AS s"), db, bucket)
    qid = ex["QueryExecutionId"]
    _, columns, _ = fetch_results(athena, qid)
    text = s3.get_object(Bucket=bucket, Key=f"results/{qid}.csv")["Body"].read().decode()
    want_values = [None, "true", "2025-08-01", "2025-08-01 10:11:12.000", "12.50",
                   "9007199254740993", 'it\'s, "quoted"']
    got = {
        "header": rows[0],
        "values": rows[1],
        "types": [c["Type"] for c in columns],
        "decimal precision/scale": (columns[4].get("Precision"), columns[4].get("Scale")),
        "csv": text.splitlines(),
    }
    want = {
        "header": ["nothing", "yes", "d", "ts", "dec", "big", "s"],
        "values": want_values,
        "types": ["varchar", "boolean", "date", "timestamp", "decimal", "bigint", "varchar"],
        "decimal precision/scale": (10, 2),
        "csv": ['"nothing","yes","d","ts","dec","big","s"',
                ',"true","2025-08-01","2025-08-01 10:11:12.000","12.50","9007199254740993",'
                '"it\'s, ""quoted"""'],
    }
    diff = {k: (got[k], want[k]) for k in want if got[k] != want[k]}
    assert diff == {}, "got, want: " + repr(diff)


def test_missing_output_location_is_rejected(athena, db):
    """Neither the request nor the primary work group names an output location."""
    with pytest.raises(ClientError) as e:
        athena.start_query_execution(QueryString="SELECT 1", QueryExecutionContext={"Database": db})
    assert client_error(e)[0] == "InvalidRequestException"


def test_workgroup_output_location(athena, s3, bucket, db):
    wg = unique_name("wg")
    athena.create_work_group(Name=wg, Configuration={"ResultConfiguration": {
        "OutputLocation": f"s3://{bucket}/wg-results/"}}, Description="test group")
    got = athena.get_work_group(WorkGroup=wg)["WorkGroup"]
    assert got["Name"] == wg and got["State"] == "ENABLED"
    assert got["Configuration"]["ResultConfiguration"]["OutputLocation"] == \
        f"s3://{bucket}/wg-results/"
    assert wg in [w["Name"] for w in athena.list_work_groups()["WorkGroups"]]
    with pytest.raises(ClientError) as e:
        athena.create_work_group(Name=wg)
    assert client_error(e)[0] == "InvalidRequestException"

    qid = athena.start_query_execution(QueryString="SELECT 7 AS seven", WorkGroup=wg,
                                       QueryExecutionContext={"Database": db})["QueryExecutionId"]
    ex = wait_query(athena, qid)
    assert ex["Status"]["State"] == "SUCCEEDED", ex["Status"]
    assert ex["WorkGroup"] == wg
    assert ex["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/wg-results/{qid}.csv"
    s3.head_object(Bucket=bucket, Key=f"wg-results/{qid}.csv")
    assert fetch_results(athena, qid)[0] == [["seven"], ["7"]]
    ids = athena.list_query_executions(WorkGroup=wg)["QueryExecutionIds"]
    assert ids == [qid]

    with pytest.raises(ClientError) as e:
        athena.get_work_group(WorkGroup=unique_name("nowg"))
    assert client_error(e)[0] == "InvalidRequestException"


def test_named_queries(athena, db):
    nid = athena.create_named_query(Name="daily totals", Database=db, Description="d",
                                    QueryString="SELECT 1")["NamedQueryId"]
    nq = athena.get_named_query(NamedQueryId=nid)["NamedQuery"]
    assert (nq["Name"], nq["Database"], nq["QueryString"], nq["NamedQueryId"]) == (
        "daily totals", db, "SELECT 1", nid)
    assert nq.get("WorkGroup", "primary") == "primary"
    ids = [i for p in athena.get_paginator("list_named_queries").paginate()
           for i in p["NamedQueryIds"]]
    assert nid in ids
    athena.delete_named_query(NamedQueryId=nid)
    with pytest.raises(ClientError) as e:
        athena.get_named_query(NamedQueryId=nid)
    assert client_error(e)[0] == "InvalidRequestException"


def test_athena_state_survives_restart(server_factory):
    srv = server_factory(name="athena-restart")
    bucket, db = "restart-lake", "lake"
    make_s3(srv.endpoint).create_bucket(Bucket=bucket)
    athena = make_client("athena", srv.endpoint)
    make_s3(srv.endpoint).put_object(Bucket=bucket, Key="t/x=1/a.csv", Body=b"1,one\n2,two\n")
    run_query(athena, f"CREATE DATABASE {db}", None, bucket)
    run_query(athena, (
        "CREATE EXTERNAL TABLE t (id int, name string) PARTITIONED BY (x string) "
        "ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' "
        f"LOCATION 's3://{bucket}/t/'"), db, bucket)
    run_query(athena, "MSCK REPAIR TABLE t", db, bucket)
    ex, rows = run_query(athena, "SELECT x, id, name FROM t ORDER BY id", db, bucket)
    qid = ex["QueryExecutionId"]
    assert rows == [["x", "id", "name"], ["1", "1", "one"], ["1", "2", "two"]]

    assert srv.stop() == 0, srv.log_text()
    srv.start()
    athena = make_client("athena", srv.endpoint)
    _, rows2 = run_query(athena, "SELECT x, id, name FROM t ORDER BY id", db, bucket)
    assert rows2 == rows
    # The history too: the earlier execution and its results are still there.
    ex2 = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
    assert ex2["Status"]["State"] == "SUCCEEDED" and ex2["Query"] == ex["Query"]
    assert fetch_results(athena, qid)[0] == rows


def test_start_query_execution_cli(aws, athena, bucket, db):
    out = aws.json("athena", "start-query-execution",
                   "--query-string", "SELECT 40 + 2 AS answer, 'x' AS s",
                   "--query-execution-context", f"Database={db}",
                   "--result-configuration", f"OutputLocation=s3://{bucket}/cli/")
    qid = out["QueryExecutionId"]
    ex = wait_query(athena, qid)
    assert ex["Status"]["State"] == "SUCCEEDED", ex["Status"]
    assert ex["ResultConfiguration"]["OutputLocation"] == f"s3://{bucket}/cli/{qid}.csv"
    res = aws.json("athena", "get-query-results", "--query-execution-id", qid)
    rows = [[d.get("VarCharValue") for d in r["Data"]] for r in res["ResultSet"]["Rows"]]
    assert rows == [["answer", "s"], ["42", "x"]]


# ---------------------------------------------------------------------------------------
# DataScannedInBytes: the bytes of the files a query read


def _sizes(s3, bucket, prefix):
    """Object key -> size under `prefix` (list_objects_v2, all pages)."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["Size"]
    return out


def _scanned(athena, sql, db, bucket):
    ex, rows = run_query(athena, sql, db, bucket)
    return ex["Statistics"]["DataScannedInBytes"], rows


def _make_parquet_events(athena, s3, bucket, db):
    writer = _parquet_writer()
    if writer is None:
        pytest.skip("no Parquet writer (pyarrow, duckdb CLI or libduckdb)")
    _upload_parquet_locally(s3, bucket, writer[1])
    run_query(athena, (
        "CREATE EXTERNAL TABLE events (user_id string, action string, amount double) "
        "PARTITIONED BY (event_date date) STORED AS PARQUET "
        f"LOCATION 's3://{bucket}/curated/events/'"), db, bucket)
    run_query(athena, "MSCK REPAIR TABLE events", db, bucket)
    return _sizes(s3, bucket, "curated/events/")


def test_data_scanned_counts_only_the_partitions_read(athena, s3, bucket, db):
    sizes = _make_parquet_events(athena, s3, bucket, db)
    assert len(sizes) == 3
    full = sum(sizes.values())
    august = sum(v for k, v in sizes.items() if "event_date=2025-08-" in k)
    september = sum(v for k, v in sizes.items() if "event_date=2025-09-" in k)

    scanned, _ = _scanned(athena, "SELECT action, sum(amount) AS s FROM events GROUP BY action",
                          db, bucket)
    assert scanned == full
    scanned, rows = _scanned(athena, SEED_QUERY, db, bucket)
    assert sorted(r[:3] for r in rows[1:]) == [[d, a, str(c)] for d, a, c, _s in expected_august()]
    assert scanned == august < full
    scanned, _ = _scanned(athena, ("SELECT user_id FROM events WHERE event_date = DATE '2025-09-02' "
                                   "AND amount > 1"), db, bucket)
    assert scanned == september
    scanned, _ = _scanned(athena, ("SELECT user_id FROM events WHERE event_date >= DATE '2025-08-15' "
                                   "AND action <> 'none'"), db, bucket)
    assert scanned == full - sizes["curated/events/event_date=2025-08-01/part-0.parquet"]
    scanned, rows = _scanned(athena, "SELECT user_id FROM events WHERE event_date > DATE '2030-01-01'",
                             db, bucket)
    assert rows == [["user_id"]] and scanned == 0


def test_data_scanned_of_unpartitioned_tables_and_joins(athena, s3, bucket, db):
    sizes = _make_parquet_events(athena, s3, bucket, db)
    august = sum(v for k, v in sizes.items() if "event_date=2025-08-" in k)
    put_ndjson(s3, bucket, "users/a.json", [{"user_id": "u1", "name": "Ann"}, {"user_id": "u2", "name": "Bo"}])
    put_ndjson(s3, bucket, "users/b.json", [{"user_id": "u4", "name": "Di"}])
    users = sum(_sizes(s3, bucket, "users/").values())
    run_query(athena, ("CREATE EXTERNAL TABLE users (user_id string, name string) "
                       "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
                       f"LOCATION 's3://{bucket}/users/'"), db, bucket)

    scanned, rows = _scanned(athena, "SELECT name FROM users WHERE user_id = 'u4'", db, bucket)
    assert rows[1:] == [["Di"]] and scanned == users

    scanned, rows = _scanned(athena, (
        "SELECT u.name, count(*) AS n FROM events e JOIN users u ON e.user_id = u.user_id "
        "WHERE e.event_date BETWEEN DATE '2025-08-01' AND DATE '2025-08-31' "
        "GROUP BY u.name ORDER BY u.name"), db, bucket)
    assert rows[1:] == [["Ann", "3"], ["Bo", "2"], ["Di", "2"]]
    assert scanned == august + users

    # A table read twice is counted twice, as Athena reads it twice.
    scanned, _ = _scanned(athena, (
        "SELECT count(*) FROM events a JOIN events b ON a.user_id = b.user_id "
        "WHERE a.event_date = DATE '2025-09-02' AND b.event_date = DATE '2025-08-15'"), db, bucket)
    assert scanned == (sizes["curated/events/event_date=2025-09-02/part-0.parquet"]
                       + sizes["curated/events/event_date=2025-08-15/part-0.parquet"])

    # Queries of no table scan nothing.
    scanned, _ = _scanned(athena, "SELECT 1 AS one", db, bucket)
    assert scanned == 0


def test_data_scanned_of_json_partitions_and_ctas(athena, s3, bucket, db):
    make_events_table(athena, s3, bucket, db)
    sizes = _sizes(s3, bucket, "events/")
    full = sum(sizes.values())
    august = sum(v for k, v in sizes.items() if "event_date=2025-08-" in k)
    scanned, _ = _scanned(athena, "SELECT count(user_id) FROM events", db, bucket)
    assert scanned == full
    # One scan per partition: the pruned ones are not read (partitions that look alike in
    # DuckDB's plan count as the largest ones, never less than read).
    scanned, _ = _scanned(athena, SEED_QUERY, db, bucket)
    assert august <= scanned < full

    # CREATE TABLE AS counts the files of the tables it reads, as before.
    ex, _ = run_query(athena, (
        "CREATE TABLE events_copy WITH (format = 'PARQUET', "
        f"external_location = 's3://{bucket}/ctas/events_copy/') AS "
        "SELECT user_id, action, amount FROM events"), db, bucket)
    assert ex["Statistics"]["DataScannedInBytes"] == full
