"""The warehouse over the PostgreSQL wire protocol (--pg-port), driven by the real psql.

Every test uses its own table names, so the tests share the session's server.
"""

import os
import signal
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sluice_helpers import unique_name

PSQL = "/usr/bin/psql"


@pytest.fixture(scope="module", autouse=True)
def _needs_pg_port(server):
    assert os.access(PSQL, os.X_OK), "psql is missing: make test installs postgresql-client-15"
    socket.create_connection((server.host, server.pg_port), timeout=2).close()


def psql(server, *args, sql=None, password="test", user="test", db="dev", check=True, timeout=60):
    env = dict(os.environ, PGPASSWORD=password, PGCONNECT_TIMEOUT="10")
    cmd = [PSQL, "-X", "-h", server.host, "-p", str(server.pg_port), "-U", user, "-d", db, *args]
    p = subprocess.run(cmd, input=sql, capture_output=True, text=True, env=env, timeout=timeout)
    if check:
        assert p.returncode == 0, f"psql {args} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p


def q(server, sql):
    """Runs one query with unaligned, tuples-only output; returns the rows as lists."""
    out = psql(server, "-At", "-v", "ON_ERROR_STOP=1", "-c", sql).stdout
    return [line.split("|") for line in out.splitlines()]


def test_connects_and_selects(server):
    assert q(server, "SELECT 1, 'a'") == [["1", "a"]]
    assert q(server, "SELECT version()")[0][0]


def test_create_insert_select(server):
    t = unique_name("psql_t")
    psql(server, "-v", "ON_ERROR_STOP=1", sql=f"""
        CREATE TABLE {t} (id INTEGER, name VARCHAR(32), amount DECIMAL(10,2), day DATE);
        INSERT INTO {t} VALUES (1, 'a', 1.50, '2024-01-01'), (2, 'b', 2.25, '2024-01-02');
    """)
    assert q(server, f"SELECT id, name, amount, day FROM {t} ORDER BY id") == [
        ["1", "a", "1.50", "2024-01-01"], ["2", "b", "2.25", "2024-01-02"]]


def test_dt_and_d_describe_tables(server):
    t = unique_name("psql_desc")
    psql(server, "-c", f"""CREATE TABLE {t} (id INTEGER NOT NULL, name VARCHAR(20), amount NUMERIC(10,2),
        day DATE, ts TIMESTAMP, ok BOOLEAN, big BIGINT, f DOUBLE PRECISION, code CHAR(3), PRIMARY KEY (id))""")
    out = psql(server, "-c", r"\dt").stdout
    assert t in out and "table" in out
    assert "pg_internal" not in out  # sluice's own tables stay hidden
    out = psql(server, "-c", rf"\d {t}").stdout
    assert f'Table "public.{t}"' in out, out
    rows = {line.split("|")[0].strip(): [c.strip() for c in line.split("|")[1:]]
            for line in out.splitlines() if line.count("|") >= 4}
    # PostgreSQL's type names (format_type), with the declared varchar/char lengths.
    assert rows["id"][:3] == ["integer", "", "not null"], out
    assert rows["name"][:3] == ["character varying(20)", "", ""], out
    assert rows["amount"][0] == "numeric(10,2)"
    assert rows["day"][0] == "date"
    assert rows["ts"][0] == "timestamp without time zone"
    assert rows["ok"][0] == "boolean"
    assert rows["big"][0] == "bigint"
    assert rows["f"][0] == "double precision"
    assert rows["code"][0] == "character(3)"
    assert "numeric(10,2)" in psql(server, "-c", rf"\d+ {t}").stdout
    out = psql(server, "-c", r"\dn").stdout
    assert "List of schemas" in out and " public " in out and "pg_internal" not in out
    out = psql(server, "-c", r"\l").stdout
    assert "List of databases" in out and " dev " in out and "UTF8" in out


def test_error_keeps_the_session(server):
    p = psql(server, "-At", sql="SELECT * FROM no_such_table_xyz;\nSELECT 40 + 2;\n")
    assert 'relation "no_such_table_xyz" does not exist' in p.stderr
    assert "42" in p.stdout.split()


def test_wrong_password_and_unknown_database(server):
    p = psql(server, "-c", "SELECT 1", password="nope", check=False)
    assert p.returncode == 2
    assert 'password authentication failed for user "test"' in p.stderr
    p = psql(server, "-c", "SELECT 1", db="no_such_db", check=False)
    assert p.returncode == 2
    assert 'database "no_such_db" does not exist' in p.stderr


def test_transaction_rollback(server):
    t = unique_name("psql_tx")
    psql(server, "-c", f"CREATE TABLE {t} (a INTEGER)")
    psql(server, sql=f"BEGIN;\nINSERT INTO {t} VALUES (1);\nROLLBACK;\n")
    assert q(server, f"SELECT count(*) FROM {t}") == [["0"]]
    # An error inside a transaction aborts it until ROLLBACK (25P02).
    p = psql(server, sql=f"BEGIN;\nSELECT * FROM missing_{t};\nINSERT INTO {t} VALUES (1);\nROLLBACK;\n")
    assert "current transaction is aborted" in p.stderr


def test_copy_from_s3_and_unload(server, s3, bucket):
    t = unique_name("psql_copy")
    s3.put_object(Bucket=bucket, Key="in/data.csv", Body=b"1,alpha\n2,beta\n3,gamma\n")
    psql(server, "-v", "ON_ERROR_STOP=1", sql=f"""
        CREATE TABLE {t} (id INTEGER, name VARCHAR(20));
        COPY {t} FROM 's3://{bucket}/in/data.csv'
          IAM_ROLE 'arn:aws:iam::000000000000:role/test' FORMAT AS CSV;
    """)
    assert q(server, f"SELECT count(*), max(name) FROM {t}") == [["3", "gamma"]]
    psql(server, "-v", "ON_ERROR_STOP=1", "-c",
         f"UNLOAD ('SELECT * FROM {t}') TO 's3://{bucket}/out/{t}_' "
         "IAM_ROLE 'arn:aws:iam::000000000000:role/test' FORMAT AS CSV")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="out/").get("Contents", [])]
    assert keys


def test_ctrl_c_cancels_the_running_query(server):
    env = dict(os.environ, PGPASSWORD="test")
    p = subprocess.Popen(
        [PSQL, "-X", "-h", server.host, "-p", str(server.pg_port), "-U", "test", "-d", "dev",
         "-c", "SELECT sum(i) FROM range(1000000000000) t(i)"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    # psql turns SIGINT into a CancelRequest once connected (before that, SIGINT ends psql):
    # give it time to connect, then repeat in case it lands before the query runs.
    time.sleep(1.5)
    deadline = time.monotonic() + 30
    while p.poll() is None and time.monotonic() < deadline:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
    out, err = p.communicate(timeout=10)
    assert "canceling statement due to user request" in err or "cancel" in err.lower(), err
    assert q(server, "SELECT 1") == [["1"]]


def test_twenty_concurrent_sessions(server):
    def one(i):
        return q(server, f"SELECT {i}, count(*) FROM range(100000)")

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    assert results == [[[str(i), "100000"]] for i in range(20)]
