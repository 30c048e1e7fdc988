"""Redshift Data API (RedshiftData.*) over the warehouse: boto3 `redshift-data` and `aws redshift-data`.

Statements are run the way an application does: ExecuteStatement/BatchExecuteStatement,
poll DescribeStatement until FINISHED/FAILED/ABORTED, page GetStatementResult. Every test
uses its own table names, so the tests share the session's server.
"""

import json
import time
import urllib.error
import urllib.request

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest

from sluice_helpers import ACCESS_KEY, REGION, SECRET_KEY, client_error, make_client, unique_name

FINAL = ("FINISHED", "FAILED", "ABORTED")


def raw_call(server, action, body):
    """A signed RedshiftData.<action> request with members Debian's botocore model lacks
    (ClientToken, SessionKeepAliveSeconds, SessionId, ResultFormat): (HTTP status, JSON)."""
    data = json.dumps(body).encode()
    headers = {"X-Amz-Target": f"RedshiftData.{action}", "Content-Type": "application/x-amz-json-1.1"}
    req = AWSRequest(method="POST", url=f"{server.endpoint}/", data=data, headers=headers)
    creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    botocore.auth.SigV4Auth(creds, "redshift-data", REGION).add_auth(req)
    r = urllib.request.Request(f"{server.endpoint}/", data=data, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait(rsd, statement_id, timeout=60.0):
    deadline = time.monotonic() + timeout
    while True:
        d = rsd.describe_statement(Id=statement_id)
        if d["Status"] in FINAL:
            return d
        assert time.monotonic() < deadline, f"statement still {d['Status']} after {timeout}s: {d}"
        time.sleep(0.02)


def run(rsd, sql, expect="FINISHED", **kw):
    kw.setdefault("Database", "dev")
    kw.setdefault("WorkgroupName", "sluice-wg")
    out = rsd.execute_statement(Sql=sql, **kw)
    d = wait(rsd, out["Id"])
    if expect:
        assert d["Status"] == expect, (d.get("Error"), d)
    return d


def all_records(rsd, statement_id):
    records, pages, meta, total = [], 0, None, None
    kw = {}
    while True:
        page = rsd.get_statement_result(Id=statement_id, **kw)
        pages += 1
        records.extend(page["Records"])
        meta = meta or page["ColumnMetadata"]
        total = page["TotalNumRows"]
        if "NextToken" not in page:
            return records, meta, total, pages
        kw = {"NextToken": page["NextToken"]}


def table():
    return unique_name("t")


# ---------------------------------------------------------------------------------------
# Statements and results


def test_round_trip_with_typed_records_and_column_metadata(rsd):
    t = table()
    run(rsd, f"CREATE TABLE {t} (id INTEGER NOT NULL, big BIGINT, name VARCHAR(20), amount NUMERIC(10,2), "
             f"score FLOAT8, ok BOOLEAN, day DATE, ts TIMESTAMP)")
    d = run(rsd, f"INSERT INTO {t} VALUES (1, 9000000000, 'alpha', 12.50, 1.5, true, '2025-08-01', "
                 f"'2025-08-01 12:30:00'), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
    assert d["ResultRows"] == 2 and d["HasResultSet"] is False, d
    d = run(rsd, f"SELECT id, big, name, amount, score, ok, day, ts FROM {t} ORDER BY id")
    assert d["HasResultSet"] is True and d["ResultRows"] == 2, d
    assert d["Duration"] >= 0 and d["QueryString"].startswith("SELECT id"), d
    assert d["Database"] == "dev" and d["WorkgroupName"] == "sluice-wg", d
    records, meta, total, pages = all_records(rsd, d["Id"])
    assert total == 2 and pages == 1
    assert records[0] == [{"longValue": 1}, {"longValue": 9000000000}, {"stringValue": "alpha"},
                          {"stringValue": "12.50"}, {"doubleValue": 1.5}, {"booleanValue": True},
                          {"stringValue": "2025-08-01"}, {"stringValue": "2025-08-01 12:30:00"}]
    assert records[1][0] == {"longValue": 2}
    assert all(f == {"isNull": True} for f in records[1][1:]), records[1]
    types = {m["name"]: m["typeName"] for m in meta}
    assert types == {"id": "int4", "big": "int8", "name": "varchar", "amount": "numeric", "score": "float8",
                     "ok": "bool", "day": "date", "ts": "timestamp"}, meta
    amount = next(m for m in meta if m["name"] == "amount")
    assert (amount["precision"], amount["scale"], amount["isSigned"]) == (10, 2, True), amount
    assert all(m["label"] == m["name"] for m in meta)


def test_parameters_are_bound_by_name(rsd):
    t = table()
    run(rsd, f"CREATE TABLE {t} (id INT, name VARCHAR(20))")
    run(rsd, f"INSERT INTO {t} VALUES (:id, :name)",
        Parameters=[{"name": "id", "value": "7"}, {"name": "name", "value": "it's :name"}])
    d = run(rsd, f"SELECT name FROM {t} WHERE id = :id AND name <> ':id'", Parameters=[{"name": "id", "value": "7"}])
    assert d["QueryParameters"] == [{"name": "id", "value": "7"}]
    records, _, _, _ = all_records(rsd, d["Id"])
    assert records == [[{"stringValue": "it's :name"}]]
    with pytest.raises(Exception) as e:
        rsd.execute_statement(Database="dev", Sql="SELECT :missing", Parameters=[{"name": "id", "value": "1"}])
    assert client_error(e) == ("ValidationException", 400)


def test_large_result_is_paged(rsd):
    t = table()
    run(rsd, f"CREATE TABLE {t} AS SELECT generate_series AS n FROM generate_series(1, 12000)")
    d = run(rsd, f"SELECT n, 'row ' || n AS label FROM {t} ORDER BY n")
    assert d["ResultRows"] == 12000 and d["ResultSize"] > 0, d
    records, meta, total, pages = all_records(rsd, d["Id"])
    assert total == 12000 and pages == 3, (total, pages)  # 5,000 rows a page
    assert [r[0]["longValue"] for r in records] == list(range(1, 12001))
    assert records[-1][1] == {"stringValue": "row 12000"}
    # The paginator botocore ships walks the same tokens.
    got = sum(len(p["Records"]) for p in rsd.get_paginator("get_statement_result").paginate(Id=d["Id"]))
    assert got == 12000


def test_failed_statement_reports_the_warehouse_error(rsd):
    d = run(rsd, f"SELECT * FROM {table()}_missing", expect="FAILED")
    assert "does not exist" in d["Error"] and d["Error"].startswith("ERROR:"), d
    with pytest.raises(Exception) as e:
        rsd.get_statement_result(Id=d["Id"])
    assert client_error(e) == ("ResourceNotFoundException", 400)
    d = run(rsd, "SELECT 1", expect="FAILED", Database="nodb_here")
    assert 'database "nodb_here" does not exist' in d["Error"], d


def test_missing_database_defaults_to_dev(rsd, server):
    # The seed's Step Functions task passes only Sql (see src/redshift/data_api.md); Debian's
    # botocore model still marks Database required, so its check is off for this call.
    lax = make_client("redshift-data", server.endpoint, parameter_validation=False)
    out = lax.execute_statement(Sql="SELECT 42 AS answer;")
    assert out["Database"] == "dev"
    d = wait(rsd, out["Id"])
    assert d["Status"] == "FINISHED", d
    assert rsd.get_statement_result(Id=out["Id"])["Records"] == [[{"longValue": 42}]]


def test_batch_runs_in_one_transaction(rsd):
    t = table()
    run(rsd, f"CREATE TABLE {t} (id INT)")
    out = rsd.batch_execute_statement(Database="dev", WorkgroupName="sluice-wg", StatementName="batch-fail",
                                      Sqls=[f"INSERT INTO {t} VALUES (1)", f"INSERT INTO {t}_nope VALUES (2)",
                                            f"INSERT INTO {t} VALUES (3)"])
    d = wait(rsd, out["Id"])
    assert d["Status"] == "FAILED" and "does not exist" in d["Error"], d
    subs = d["SubStatements"]
    assert [s["Status"] for s in subs] == ["FINISHED", "FAILED", "ABORTED"], subs
    assert [s["Id"] for s in subs] == [f"{out['Id']}:{i}" for i in (1, 2, 3)]
    count = run(rsd, f"SELECT count(*) FROM {t}")
    assert rsd.get_statement_result(Id=count["Id"])["Records"] == [[{"longValue": 0}]]  # rolled back

    out = rsd.batch_execute_statement(Database="dev", Sqls=[f"INSERT INTO {t} VALUES (1), (2)",
                                                             f"SELECT id FROM {t} ORDER BY id"])
    d = wait(rsd, out["Id"])
    assert d["Status"] == "FINISHED", d
    assert d["SubStatements"][0]["ResultRows"] == 2 and d["SubStatements"][1]["HasResultSet"] is True
    rows = rsd.get_statement_result(Id=f"{out['Id']}:2")["Records"]
    assert rows == [[{"longValue": 1}], [{"longValue": 2}]]
    sub = rsd.describe_statement(Id=f"{out['Id']}:1")
    assert sub["QueryString"].startswith("INSERT") and sub["Status"] == "FINISHED", sub
    listed = rsd.list_statements(StatementName="batch-fail")["Statements"]
    assert listed and listed[0]["IsBatchStatement"] is True and len(listed[0]["QueryStrings"]) == 3


def test_cancel_a_long_statement(rsd):
    out = rsd.execute_statement(
        Database="dev", Sql="SELECT count(*) FROM generate_series(1, 200000) a, generate_series(1, 200000) b "
                            "WHERE a.generate_series * b.generate_series % 7 = 3")
    deadline = time.monotonic() + 30
    while rsd.describe_statement(Id=out["Id"])["Status"] != "STARTED":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # let it get going inside the engine
    started = time.monotonic()
    assert rsd.cancel_statement(Id=out["Id"])["Status"] is True
    d = wait(rsd, out["Id"], timeout=30)
    assert d["Status"] == "ABORTED", d
    assert time.monotonic() - started < 15
    with pytest.raises(Exception) as e:
        rsd.cancel_statement(Id=out["Id"])
    assert client_error(e) == ("ValidationException", 400)


def test_session_keeps_temporary_tables(rsd, server):
    status, out = raw_call(server, "ExecuteStatement", {"Database": "dev", "Sql": "CREATE TEMP TABLE scratch_x (v INT)",
                                                        "SessionKeepAliveSeconds": 60})
    assert status == 200 and out.get("SessionId"), out
    assert wait(rsd, out["Id"])["Status"] == "FINISHED"
    status, second = raw_call(server, "ExecuteStatement", {"Sql": "INSERT INTO scratch_x VALUES (5)",
                                                           "SessionId": out["SessionId"]})
    assert status == 200, second
    assert wait(rsd, second["Id"])["Status"] == "FINISHED"
    status, third = raw_call(server, "ExecuteStatement", {"Sql": "SELECT v FROM scratch_x", "SessionId": out["SessionId"]})
    assert wait(rsd, third["Id"])["Status"] == "FINISHED"
    assert rsd.get_statement_result(Id=third["Id"])["Records"] == [[{"longValue": 5}]]
    # A session runs one statement at a time and cannot be combined with connection members.
    status, err = raw_call(server, "ExecuteStatement", {"Sql": "SELECT 1", "SessionId": out["SessionId"], "Database": "dev"})
    assert (status, err["__type"]) == (400, "ValidationException"), err
    status, err = raw_call(server, "ExecuteStatement",
                           {"Sql": "SELECT 1", "SessionId": "01234567-89ab-cdef-0123-456789abcdef"})
    assert (status, err["__type"]) == (400, "ValidationException"), err


def test_result_format_csv(rsd, server):
    status, out = raw_call(server, "ExecuteStatement",
                           {"Database": "dev", "Sql": "SELECT 1 AS a, 'x,y' AS b", "ResultFormat": "CSV"})
    assert status == 200, out
    assert wait(rsd, out["Id"])["Status"] == "FINISHED"
    status, v2 = raw_call(server, "GetStatementResultV2", {"Id": out["Id"]})
    assert status == 200, v2
    assert v2["Records"] == [{"CSVRecords": 'a,b\n1,"x,y"\n'}], v2
    assert v2["TotalNumRows"] == 1 and v2["ColumnMetadata"][0]["typeName"] == "int4"
    with pytest.raises(Exception) as e:
        rsd.get_statement_result(Id=out["Id"])
    assert client_error(e) == ("ValidationException", 400)


# ---------------------------------------------------------------------------------------
# Listing


def test_list_statements_filters_and_pages(rsd):
    prefix = unique_name("job")
    ids = [run(rsd, "SELECT 1", StatementName=f"{prefix}-{i}")["Id"] for i in range(5)]
    run(rsd, f"SELECT * FROM {prefix}_missing", expect="FAILED", StatementName=f"{prefix}-bad")
    first = rsd.list_statements(StatementName=f"{prefix}-", MaxResults=3)
    assert len(first["Statements"]) == 3 and "NextToken" in first
    rest = rsd.list_statements(StatementName=f"{prefix}-", MaxResults=3, NextToken=first["NextToken"])
    listed = first["Statements"] + rest["Statements"]
    assert len(listed) == 6 and "NextToken" not in rest
    assert listed[0]["StatementName"] == f"{prefix}-bad"  # newest first
    finished = rsd.list_statements(StatementName=prefix, Status="FINISHED")["Statements"]
    assert sorted(s["Id"] for s in finished) == sorted(ids)
    failed = rsd.list_statements(StatementName=prefix, Status="FAILED")["Statements"]
    assert [s["StatementName"] for s in failed] == [f"{prefix}-bad"]
    s = finished[0]
    assert s["QueryString"] == "SELECT 1" and s["IsBatchStatement"] is False and "CreatedAt" in s


def test_list_databases_schemas_tables_and_describe_table(rsd):
    t = table()
    run(rsd, "CREATE SCHEMA IF NOT EXISTS rsd_sales")
    run(rsd, f"CREATE TABLE rsd_sales.{t} (id INTEGER NOT NULL, region VARCHAR(10) DEFAULT 'eu', "
             f"amount DECIMAL(12,3))")
    assert "dev" in rsd.list_databases(Database="dev", WorkgroupName="sluice-wg")["Databases"]
    schemas = rsd.list_schemas(Database="dev", WorkgroupName="sluice-wg")["Schemas"]
    assert {"information_schema", "pg_catalog", "public", "rsd_sales"} <= set(schemas), schemas
    assert rsd.list_schemas(Database="dev", SchemaPattern="rsd\\_sal%")["Schemas"] == ["rsd_sales"]
    tables = rsd.list_tables(Database="dev", SchemaPattern="rsd_sales", TablePattern=t[:8] + "%")["Tables"]
    assert {"name": t, "schema": "rsd_sales", "type": "TABLE"} in tables, tables
    desc = rsd.describe_table(Database="dev", Schema="rsd_sales", Table=t)
    assert desc["TableName"] == t
    cols = {c["name"]: c for c in desc["ColumnList"]}
    assert list(cols) == ["id", "region", "amount"]
    assert cols["id"]["typeName"] == "int4" and cols["id"]["nullable"] == 0
    assert cols["region"]["typeName"] == "varchar" and cols["region"]["nullable"] == 1
    assert "eu" in cols["region"].get("columnDefault", ""), cols["region"]
    assert (cols["amount"]["typeName"], cols["amount"]["precision"], cols["amount"]["scale"]) == ("numeric", 12, 3)
    assert cols["amount"]["schemaName"] == "rsd_sales" and cols["amount"]["tableName"] == t
    page = rsd.describe_table(Database="dev", Schema="rsd_sales", Table=t, MaxResults=2)
    assert len(page["ColumnList"]) == 2 and "NextToken" in page
    with pytest.raises(Exception) as e:
        rsd.list_schemas(Database="nodb_here")
    assert client_error(e)[0] in ("ResourceNotFoundException", "DatabaseConnectionException")


# ---------------------------------------------------------------------------------------
# Errors


def test_validation_and_not_found_errors(rsd):
    cases = [
        dict(Database="dev", Sql="SELECT 1", ClusterIdentifier="c1", WorkgroupName="sluice-wg"),
        dict(Database="dev", Sql="SELECT 1", ClusterIdentifier="Not_Valid"),
        dict(Database="dev", Sql="   "),
    ]
    for kw in cases:
        with pytest.raises(Exception) as e:
            rsd.execute_statement(**kw)
        assert client_error(e) == ("ValidationException", 400), kw
    missing = "01234567-89ab-cdef-0123-456789abcdef"
    for call in (rsd.describe_statement, rsd.get_statement_result, rsd.cancel_statement):
        with pytest.raises(Exception) as e:
            call(Id=missing)
        assert client_error(e) == ("ResourceNotFoundException", 400), call
        assert "Query does not exist" in str(e.value)
    with pytest.raises(Exception) as e:
        rsd.describe_statement(Id="not-a-statement-id")
    assert client_error(e) == ("ValidationException", 400)
    with pytest.raises(Exception) as e:
        rsd.get_statement_result(Id=run(rsd, "SELECT 1")["Id"], NextToken="garbage")
    assert client_error(e) == ("ValidationException", 400)
    # A statement without a result set has no result to fetch.
    d = run(rsd, "CREATE TABLE IF NOT EXISTS rsd_noresult (i INT)")
    with pytest.raises(Exception) as e:
        rsd.get_statement_result(Id=d["Id"])
    assert client_error(e) == ("ResourceNotFoundException", 400)


def test_client_token_is_idempotent(server):
    token = unique_name("tok")
    _, a = raw_call(server, "ExecuteStatement", {"Database": "dev", "Sql": "SELECT 1", "ClientToken": token})
    _, b = raw_call(server, "ExecuteStatement", {"Database": "dev", "Sql": "SELECT 1", "ClientToken": token})
    _, c = raw_call(server, "ExecuteStatement", {"Database": "dev", "Sql": "SELECT 1", "ClientToken": token + "x"})
    assert a["Id"] == b["Id"] != c["Id"]


# ---------------------------------------------------------------------------------------
# AWS CLI


def test_cli_round_trip(aws, rsd):
    t = table()

    def execute(sql):
        out = aws.json("redshift-data", "execute-statement", "--database", "dev", "--workgroup-name", "sluice-wg",
                       "--sql", sql)
        assert out["Database"] == "dev" and out["WorkgroupName"] == "sluice-wg", out
        return wait(rsd, out["Id"])  # each CLI run takes seconds: poll with boto3

    assert execute(f"CREATE TABLE {t} (id INT, name VARCHAR(10))")["Status"] == "FINISHED"
    assert execute(f"INSERT INTO {t} VALUES (1, 'one'), (2, NULL)")["ResultRows"] == 2
    statement_id = execute(f"SELECT id, name FROM {t} ORDER BY id")["Id"]
    d = aws.json("redshift-data", "describe-statement", "--id", statement_id)
    assert d["Status"] == "FINISHED" and d["ResultRows"] == 2 and d["HasResultSet"] is True, d
    res = aws.json("redshift-data", "get-statement-result", "--id", statement_id)
    assert res["Records"] == [[{"longValue": 1}, {"stringValue": "one"}], [{"longValue": 2}, {"isNull": True}]]
    assert [c["typeName"] for c in res["ColumnMetadata"]] == ["int4", "varchar"]
    assert res["TotalNumRows"] == 2
    bad = aws("redshift-data", "describe-statement", "--id", "01234567-89ab-cdef-0123-456789abcdef", check=False)
    assert bad.returncode != 0 and "ResourceNotFoundException" in bad.stderr
