"""The SQL engine is shared by Athena, the warehouse (psql, Redshift Data API) and Glue SQL
jobs: no statement from one front end may change another's state, touch host files or
reveal host paths. Each front end refuses the rest with its own error."""

import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import client_error

PSQL = "/usr/bin/psql"

# Statements a client of the warehouse might try; none may run.
ATTACKS = [
    "DETACH awsdatacatalog",
    "ATTACH '{data}/redshift/evil.duckdb' AS evil",
    "EXPORT DATABASE '{data}/redshift/exported'",
    "COPY (SELECT 1) TO '{data}/redshift/x.csv'",
    "USE awsdatacatalog",
    "CREATE SCHEMA awsdatacatalog.evil",
    "CREATE OR REPLACE MACRO memory.main.regexp_like(s, p) AS true",
    "PRAGMA database_list",
    "SELECT name, value FROM duckdb_settings()",
    "SELECT path FROM duckdb_databases()",
    "SELECT current_setting('home_directory')",
    "SELECT * FROM read_text('{data}/s3/index.db')",
    "SELECT * FROM glob('{data}/**')",
    "SELECT * FROM '{data}/s3/index.db'",
    "WITH x AS (SELECT * FROM query('SELECT 1')) SELECT * FROM x",
    "CHECKPOINT",
    "INSTALL httpfs",
    "SELECT 1 /* ; */ ; DETACH awsdatacatalog",
]


def psql(server, sql):
    env = dict(os.environ, PGPASSWORD="test", PGCONNECT_TIMEOUT="10")
    cmd = [PSQL, "-X", "-At", "-v", "ON_ERROR_STOP=1", "-v", "VERBOSITY=verbose", "-h", server.host,
           "-p", str(server.pg_port), "-U", "test", "-d", "dev", "-c", sql]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=60)


def athena_query(athena, s3, sql):
    bucket = "sql-lanes-results"
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError:
        pass
    qid = athena.start_query_execution(
        QueryString=sql, ResultConfiguration={"OutputLocation": f"s3://{bucket}/out/"})["QueryExecutionId"]
    deadline = time.monotonic() + 60
    while True:
        ex = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]
        if ex["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return ex
        assert time.monotonic() < deadline, ex
        time.sleep(0.02)


def data_files(server):
    return sorted(str(p.relative_to(server.data_dir)) for p in server.data_dir.rglob("*")
                  if "redshift" in p.parts)


def test_psql_cannot_leave_the_warehouse(server, athena, s3):
    data = str(server.data_dir.resolve())
    before = data_files(server)
    for attack in ATTACKS:
        sql = attack.format(data=data)
        p = psql(server, sql)
        assert p.returncode != 0, (sql, p.stdout)
        assert ("42501" in p.stderr) or ("0A000" in p.stderr) or ("42601" in p.stderr), (sql, p.stderr)
        assert data not in p.stderr.replace(sql, "") and "/root" not in p.stderr, (sql, p.stderr)
    assert data_files(server) == before
    # Athena still has its catalog; the warehouse still works.
    ex = athena_query(athena, s3, "SELECT 1 AS one")
    assert ex["Status"]["State"] == "SUCCEEDED", ex["Status"]
    assert psql(server, "SELECT 41 + 1").stdout.strip() == "42"


def test_data_api_statements_fail_with_the_warehouse_error(server, rsd, athena, s3):
    data = str(server.data_dir.resolve())
    for attack in ("DETACH awsdatacatalog", "SELECT path FROM duckdb_databases()",
                   f"ATTACH '{data}/redshift/evil2.duckdb' AS evil2"):
        sid = rsd.execute_statement(Sql=attack, Database="dev", WorkgroupName="sluice-wg")["Id"]
        deadline = time.monotonic() + 60
        while (d := rsd.describe_statement(Id=sid))["Status"] not in ("FINISHED", "FAILED", "ABORTED"):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert d["Status"] == "FAILED", (attack, d)
        assert data not in d.get("Error", ""), d
    assert not (server.data_dir / "redshift" / "evil2.duckdb").exists()
    assert athena_query(athena, s3, "SELECT 1")["Status"]["State"] == "SUCCEEDED"


def test_athena_runs_athena_sql_only(server, athena, s3):
    data = str(server.data_dir.resolve())
    # Not Athena statements at all: refused by StartQueryExecution, as AWS does.
    for sql in ("DETACH awsdatacatalog", "ATTACH 'x.db' AS x", "SET threads = 1", "PRAGMA version",
                "SELECT 1; DETACH awsdatacatalog", "SELECT 1 -- x\n; CHECKPOINT"):
        with pytest.raises(ClientError) as e:
            athena_query(athena, s3, sql)
        assert client_error(e)[0] == "InvalidRequestException", sql
    # Engine functions, files and the warehouse's catalog: the query fails.
    for sql in (f"SELECT * FROM read_text('{data}/s3/index.db')", f"SELECT * FROM glob('{data}/**')",
                "SELECT * FROM dev.pg_internal.pg_user", "SELECT * FROM query('SELECT 42')",
                "SELECT 'HOME'.getenv()", f"SELECT count(*) FROM '{data}/s3/index.db'"):
        ex = athena_query(athena, s3, sql)
        assert ex["Status"]["State"] == "FAILED", (sql, ex["Status"])
        assert data not in ex["Status"].get("StateChangeReason", "").replace(sql, ""), ex["Status"]
    assert athena_query(athena, s3, "SELECT 1")["Status"]["State"] == "SUCCEEDED"


def test_locations_with_dot_segments_are_refused(server, athena, s3, rsd):
    bucket = "sql-lanes-dots"
    try:
        s3.create_bucket(Bucket=bucket)
    except ClientError:
        pass
    ex = athena_query(athena, s3, (
        "CREATE TABLE dots_ctas WITH (format = 'JSON', "
        f"external_location = 's3://{bucket}/a/../../x/') AS SELECT 1 AS v"))
    assert ex["Status"]["State"] == "FAILED", ex["Status"]
    assert "Invalid S3 location" in ex["Status"]["StateChangeReason"], ex["Status"]
    sid = rsd.execute_statement(Sql=f"UNLOAD ('SELECT 1') TO 's3://{bucket}/b/../../y/' "
                                    "IAM_ROLE 'arn:aws:iam::123456789012:role/r'",
                                Database="dev", WorkgroupName="sluice-wg")["Id"]
    deadline = time.monotonic() + 60
    while (d := rsd.describe_statement(Id=sid))["Status"] not in ("FINISHED", "FAILED", "ABORTED"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert d["Status"] == "FAILED" and "Invalid S3 URI" in d["Error"], d
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert not any(".." in k.split("/") for k in keys), keys
