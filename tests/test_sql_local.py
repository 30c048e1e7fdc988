"""`sluice sql --local`: DuckDB over a data dir's lake files, read-only, without a server,
and while the server runs on the same data dir."""

import json
import subprocess

from test_athena import put_ndjson, run_query


def local(sluice_bin, data_dir, sql, *args):
    p = subprocess.run([str(sluice_bin), "sql", "--local", "--data-dir", str(data_dir), *args, sql],
                       capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def test_sql_local_reads_the_lake_in_place(server, s3, athena, bucket, db, sluice_bin, tmp_path):
    put_ndjson(s3, bucket, "ev/day=1/a.json", [{"id": 1, "v": "x"}, {"id": 2, "v": "y"}])
    put_ndjson(s3, bucket, "ev/day=2/b.json", [{"id": 3, "v": "z"}])
    run_query(athena, (f"CREATE EXTERNAL TABLE ev (id bigint, v string) PARTITIONED BY (day int) "
                       "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
                       f"LOCATION 's3://{bucket}/ev/'"), db, bucket)
    data = server.data_dir

    # s3://bucket/key names the object's file; globs and hive partitioning as in DuckDB.
    rc, out, err = local(sluice_bin, data, f"SELECT day, count(*) AS n FROM read_json_auto('s3://{bucket}/ev/*/*.json', "
                                           "hive_partitioning=true) GROUP BY 1 ORDER BY 1", "--format", "csv")
    assert rc == 0, err
    assert out.splitlines() == ["day,n", "1,2", "2,1"], out
    # A Glue catalog table is a view <database>.<table>; --database makes names resolve there.
    rc, out, err = local(sluice_bin, data, f"SELECT id, v FROM {db}.ev ORDER BY id", "--format", "json")
    assert rc == 0, err
    assert [json.loads(line) for line in out.splitlines()] == [
        {"id": "1", "v": "x"}, {"id": "2", "v": "y"}, {"id": "3", "v": "z"}], out
    rc, out, err = local(sluice_bin, data, "SELECT sum(id) AS s FROM ev", "--database", db)
    assert rc == 0, err
    assert "| 6 |" in out and "1 row" in out, out

    # Read-only: only queries, one at a time, and only the lake's files.
    rc, _, err = local(sluice_bin, data, f"COPY (SELECT 1) TO 's3://{bucket}/x.csv'")
    assert rc == 1 and "only queries" in err, err
    rc, _, err = local(sluice_bin, data, "SELECT 1; DROP TABLE x")
    assert rc == 1 and "one statement at a time" in err, err
    rc, _, err = local(sluice_bin, data, "SELECT * FROM read_csv('/etc/hostname')")
    assert rc == 1 and "disabled" in err, err
    rc, _, err = local(sluice_bin, data, f"SELECT * FROM 's3://{bucket}/nothing-here/*.json'")
    assert rc == 1 and f"s3://{bucket}/nothing-here" in err, err
    # The server was not disturbed: it still writes and reads.
    s3.put_object(Bucket=bucket, Key="after.txt", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="after.txt")["Body"].read() == b"ok"

    # What is not a data dir says so.
    rc, _, err = local(sluice_bin, tmp_path / "missing", "SELECT 1")
    assert rc == 1 and "no data directory" in err and "--data-dir" in err, err
    rc, _, err = local(sluice_bin, tmp_path, "SELECT 1")
    assert rc == 1 and "not a Sluice data directory" in err, err


def test_sql_local_without_a_server(sluice_bin, tmp_path):
    """A data dir no server runs on (here one without a catalog yet), from its parent folder
    with the default --data-dir ./sluice-data."""
    objects = tmp_path / "sluice-data" / "s3" / "objects" / "lake" / "raw"
    objects.mkdir(parents=True)
    (objects / "a.csv").write_text("x,y\n1,2\n3,4\n")
    p = subprocess.run([str(sluice_bin), "sql", "--local", "SELECT sum(x) AS sx, sum(y) AS sy FROM 's3://lake/raw/a.csv'",
                        "--format", "csv"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["sx,sy", "4,6"], p.stdout
