"""Athena features beyond the basics: partition projection, prepared statements and
ExecutionParameters, and the `sluice sql` command, against a real server."""
import json
import subprocess

import pytest

from test_athena import put_ndjson, run_query


def test_partition_projection_reads_only_projected_partitions(athena, s3, bucket, db):
    for region in ("us", "eu"):
        for day in ("2025/08/01", "2025/08/02", "2024/01/01"):
            put_ndjson(s3, bucket, f"proj/{region}/{day}/x.json", [{"v": 1}, {"v": 2}])
    run_query(athena, (
        "CREATE EXTERNAL TABLE logs (v int) PARTITIONED BY (region string, dt string) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{bucket}/proj/' TBLPROPERTIES ("
        "'projection.enabled'='true', 'projection.region.type'='enum', 'projection.region.values'='us,eu', "
        "'projection.dt.type'='date', 'projection.dt.range'='2025/01/01,NOW', 'projection.dt.format'='yyyy/MM/dd', "
        f"'storage.location.template'='s3://{bucket}/proj/${{region}}/${{dt}}/')"), db, bucket)
    _, rows = run_query(athena, "SELECT region, dt, sum(v) AS s FROM logs GROUP BY 1, 2 ORDER BY 1, 2", db, bucket)
    # 2024/01/01 is outside the projected date range.
    assert rows == [["region", "dt", "s"], ["eu", "2025/08/01", "3"], ["eu", "2025/08/02", "3"],
                    ["us", "2025/08/01", "3"], ["us", "2025/08/02", "3"]]
    _, rows = run_query(athena, "SELECT count(*) FROM logs WHERE region = 'eu'", db, bucket)
    assert rows == [["_col0"], ["4"]]


def test_prepared_statements_and_execution_parameters(athena, s3, bucket, db):
    put_ndjson(s3, bucket, "ev/a.json", [{"action": "click", "amount": 1.0}, {"action": "click", "amount": 5.0},
                                         {"action": "view", "amount": 9.0}])
    run_query(athena, (
        "CREATE EXTERNAL TABLE ev (action string, amount double) "
        f"ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://{bucket}/ev/'"), db, bucket)
    run_query(athena, "PREPARE by_action FROM SELECT count(*) AS n FROM ev WHERE action = ? AND amount > ?", db, bucket)
    _, rows = run_query(athena, "EXECUTE by_action USING 'click', 2", db, bucket)
    assert rows == [["n"], ["1"]]
    _, rows = run_query(athena, "SELECT count(*) AS n FROM ev WHERE action = ?", db, bucket,
                        ExecutionParameters=["'view'"])
    assert rows == [["n"], ["1"]]
    # Parameters are literals only: SQL riding along is refused, not run.
    ex, _ = run_query(athena, "SELECT count(*) AS n FROM ev WHERE action = ?", db, bucket, expect="FAILED",
                      ExecutionParameters=["'view' OR 1=1"])
    assert "not a literal" in ex["Status"]["StateChangeReason"]
    ex, _ = run_query(athena, "SELECT ? , ?", db, bucket, expect="FAILED", ExecutionParameters=["1"])
    assert "parameters" in ex["Status"]["StateChangeReason"]
    run_query(athena, "DEALLOCATE PREPARE by_action", db, bucket)
    run_query(athena, "EXECUTE by_action USING 'click', 2", db, bucket, expect="FAILED")


def test_sluice_sql_command(server, sluice_bin, athena, s3, bucket, db):
    put_ndjson(s3, bucket, "cli/a.json", [{"k": "a", "n": 1}, {"k": "b", "n": None}])
    run_query(athena, (f"CREATE EXTERNAL TABLE cli (k string, n int) ROW FORMAT SERDE "
                       f"'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://{bucket}/cli/'"), db, bucket)
    base = [sluice_bin, "sql", "--endpoint", server.endpoint, "--database", db]
    out = subprocess.run(base + ["SELECT k, n FROM cli ORDER BY k"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "| k | n    |" in out.stdout and "| b | NULL |" in out.stdout and "2 rows" in out.stdout
    out = subprocess.run(base + ["--format", "json", "SELECT k, n FROM cli ORDER BY k"], capture_output=True,
                         text=True, timeout=60)
    assert [json.loads(line) for line in out.stdout.splitlines()] == [{"k": "a", "n": "1"}, {"k": "b", "n": None}]
    out = subprocess.run(base + ["--format", "csv", "SELECT 'x,y' AS a"], capture_output=True, text=True, timeout=60)
    assert out.stdout == 'a\n"x,y"\n'
    bad = subprocess.run(base + ["SELECT * FROM missing_table"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 1 and "TABLE_NOT_FOUND" in bad.stderr
    down = subprocess.run([sluice_bin, "sql", "--endpoint", "http://127.0.0.1:1", "SELECT 1"], capture_output=True,
                          text=True, timeout=60)
    assert down.returncode == 1 and "cannot reach the server" in down.stderr
