"""Glue Data Quality: DQDL rulesets, evaluation runs over catalog tables, results, and the
EVALUATE DATA QUALITY statement of SQL (glueetl .sql) jobs: FAIL, CONTINUE and QUARANTINE.

The data sits in the lake as JSON and Parquet files; catalog tables over it are made with
Athena, job output is read back through Athena external tables. Debian's botocore 1.29 and
AWS CLI 2.9 models predate RuleResults[].EvaluatedMetrics (both drop the field), so the
metrics are read from the raw JSON of a signed request.
"""

import datetime
import json
import time
import urllib.error
import urllib.request

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from sluice_helpers import (ACCESS_KEY, REGION, SECRET_KEY, make_client, make_s3,
                            unique_name)
from test_athena import put_ndjson, run_query

ROLE = "arn:aws:iam::000000000000:role/glue-dq"
DQ_RUN_TIMEOUT = 30.0
JOB_TIMEOUT = 60.0
JOB_FINAL_STATES = ("SUCCEEDED", "FAILED", "ERROR", "STOPPED", "TIMEOUT")


# ---------------------------------------------------------------------------------------
# Helpers


def code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def message(excinfo):
    return excinfo.value.response["Error"].get("Message", "")


def glue_raw(server, action, payload):
    """A SigV4-signed AWSGlue.<action> request; the response JSON exactly as sent."""
    body = json.dumps(payload).encode()
    url = f"{server.endpoint}/"
    req = AWSRequest(method="POST", url=url, data=body, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"AWSGlue.{action}"})
    creds = botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY)
    botocore.auth.SigV4Auth(creds, "glue", REGION).add_auth(req)
    http_req = urllib.request.Request(url, data=body, headers=dict(req.headers.items()),
                                      method="POST")
    try:
        with urllib.request.urlopen(http_req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait_dq_run(glue, run_id, timeout=DQ_RUN_TIMEOUT):
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        run = glue.get_data_quality_ruleset_evaluation_run(RunId=run_id)
        if not seen or seen[-1] != run["Status"]:
            seen.append(run["Status"])
        if run["Status"] in ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT"):
            return run, seen
        assert time.monotonic() < deadline, f"evaluation run {run_id} still {seen}"
        time.sleep(0.05)


def run_job(glue, name, args=None, timeout=JOB_TIMEOUT):
    run_id = glue.start_job_run(JobName=name, Arguments=args or {})["JobRunId"]
    deadline = time.monotonic() + timeout
    while True:
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        if run["JobRunState"] in JOB_FINAL_STATES:
            return run
        assert time.monotonic() < deadline, f"job run {run_id} still {run['JobRunState']}"
        time.sleep(0.05)


def keys_under(s3, bucket, prefix):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def parquet_rows(athena, db, bucket, table, location, columns, order_by="id"):
    """Rows of the Parquet files at `location`, through an Athena external table."""
    cols = ", ".join(f"{n} {t}" for n, t in columns)
    run_query(athena, f"CREATE EXTERNAL TABLE {table} ({cols}) STORED AS PARQUET "
                      f"LOCATION '{location}'", db, bucket)
    names = ", ".join(n for n, _ in columns)
    _, rows = run_query(athena, f"SELECT {names} FROM {table} ORDER BY {order_by}", db, bucket)
    assert rows[0] == [n for n, _ in columns], rows[0]
    return rows[1:]


@pytest.fixture
def cleanup(glue):
    """Records rulesets and jobs a test makes; deletes them afterwards."""
    made = {"rulesets": [], "jobs": []}
    yield made
    for name in made["rulesets"]:
        try:
            glue.delete_data_quality_ruleset(Name=name)
        except ClientError:
            pass
    for name in made["jobs"]:
        try:
            glue.delete_job(JobName=name)
        except ClientError:
            pass


def make_sql_job(glue, s3, bucket, cleanup, script, default_args=None):
    name = unique_name("dqjob")
    key = f"scripts/{name}.sql"
    s3.put_object(Bucket=bucket, Key=key, Body=script.encode())
    glue.create_job(Name=name, Role=ROLE,
                    Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/{key}"},
                    DefaultArguments={"--bucket": bucket, **(default_args or {})})
    cleanup["jobs"].append(name)
    return name


# ---------------------------------------------------------------------------------------
# The orders table: 10 rows with a missing user_id, a duplicate id and a negative amount


ORDERS = [
    (1, "u1", 10.0, "ok"), (2, "u2", 20.0, "ok"), (3, None, 5.0, "ok"), (4, "u4", -3.0, "bad"),
    (5, "u5", 15.0, "ok"), (6, "u6", 8.0, "ok"), (7, "u7", 12.0, "ok"), (8, "u8", 7.0, "ok"),
    (9, "u9", 6.0, "ok"), (9, "u10", 20.0, "ok"),
]  # sum(amount) = 100, mean 10


def make_orders_table(athena, s3, bucket, db):
    put_ndjson(s3, bucket, "lake/orders/part-0.json",
               [{"id": i, "user_id": u, "amount": a, "status": s} for i, u, a, s in ORDERS])
    run_query(athena, (
        "CREATE EXTERNAL TABLE orders (id int, user_id string, amount double, status string) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{bucket}/lake/orders/'"), db, bucket)
    _, rows = run_query(athena, "SELECT count(*) AS n, sum(amount) AS s FROM orders", db, bucket)
    assert rows == [["n", "s"], ["10", "100.0"]], rows


# (rule text, expected Result)
ORDER_RULES = [
    ("RowCount = 10", "PASS"),
    ('IsComplete "user_id"', "FAIL"),                         # one NULL: completeness 0.9
    ('ColumnValues "amount" >= 0', "FAIL"),                   # -3.0
    ('IsUnique "id"', "FAIL"),                                # id 9 twice: uniqueness 0.8
    ('IsUnique "user_id"', "PASS"),                           # NULLs do not count
    ('Mean "amount" between 9 and 11', "PASS"),               # 10.0
    ('DistinctValuesCount "status" = 2', "PASS"),
    ('CustomSql "select count(*) from primary where amount < 0" = 1', "PASS"),
    ('ColumnExists "status"', "PASS"),
    ('ColumnExists "nope"', "FAIL"),
    ('ColumnValues "amount" > 0 where "status = \'ok\'"', "PASS"),   # the -3.0 row is 'bad'
    ('Completeness "user_id" > 0.85', "PASS"),
    ('ColumnValues "amount" >= 0 with threshold > 0.8', "PASS"),
    ('(RowCount > 5) and (IsComplete "id")', "PASS"),
    ('Sum "amount" = 100', "PASS"),
    ('Mean "no_such_column" > 0', "ERROR"),
    ('ColumnValues "status" in ["ok", "bad"]', "PASS"),
    ('Mean "amount" between 10 and 11', "FAIL"),              # between is exclusive
]


# ---------------------------------------------------------------------------------------
# 1. Rulesets


def test_ruleset_crud_cli_and_boto3(aws, glue, db, cleanup):
    name = unique_name("rs_crud")
    cleanup["rulesets"] += [name, name + "_renamed", name + "_other"]
    target = {"DatabaseName": db, "TableName": "orders"}
    text = 'Rules = [ RowCount > 0, IsComplete "id" ]'

    out = aws.json("glue", "create-data-quality-ruleset", "--name", name, "--ruleset", text,
                   "--description", "first version",
                   "--target-table", f"DatabaseName={db},TableName=orders")
    assert out == {"Name": name}

    got = aws.json("glue", "get-data-quality-ruleset", "--name", name)
    assert got["Name"] == name
    assert got["Ruleset"] == text
    assert got["Description"] == "first version"
    assert got["TargetTable"] == target
    stamps = [datetime.datetime.fromisoformat(got[k]) for k in ("CreatedOn", "LastModifiedOn")]
    assert 0 <= (stamps[1] - stamps[0]).total_seconds() < 1, got

    got = glue.get_data_quality_ruleset(Name=name)
    created = got["CreatedOn"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - created).total_seconds()) < 60, created

    # Duplicate (CLI): AlreadyExistsException, the original is untouched.
    dup = aws("glue", "create-data-quality-ruleset", "--name", name,
              "--ruleset", "Rules = [ RowCount > 5 ]", check=False)
    assert dup.returncode != 0
    assert "AlreadyExistsException" in dup.stderr, dup.stderr
    assert glue.get_data_quality_ruleset(Name=name)["Ruleset"] == text

    # Invalid DQDL: InvalidInputException that points at the line and column.
    bad_name = unique_name("rs_bad")
    bad = aws("glue", "create-data-quality-ruleset", "--name", bad_name,
              "--ruleset", 'Rules = [\n  RowCount > 0,\n  Bogus "x"\n]', check=False)
    assert bad.returncode != 0
    assert "InvalidInputException" in bad.stderr, bad.stderr
    assert "line 3, column 3" in bad.stderr, bad.stderr
    with pytest.raises(ClientError) as e:
        glue.create_data_quality_ruleset(Name=bad_name, Ruleset="Rules = [\n  RowCount >> 0 ]")
    assert code(e) == "InvalidInputException"
    assert "line 2, column 13" in message(e), message(e)
    with pytest.raises(ClientError) as e:
        glue.get_data_quality_ruleset(Name=bad_name)
    assert code(e) == "EntityNotFoundException"

    # List: details without the rule text, with RuleCount; filters.
    listed = aws.json("glue", "list-data-quality-rulesets", "--filter", json.dumps({"Name": name}))
    assert len(listed["Rulesets"]) == 1, listed
    entry = listed["Rulesets"][0]
    assert entry["Name"] == name and entry["RuleCount"] == 2
    assert entry["Description"] == "first version" and entry["TargetTable"] == target
    assert "Ruleset" not in entry
    glue.create_data_quality_ruleset(Name=name + "_other", Ruleset="Rules = [ ColumnCount > 1 ]",
                                     TargetTable=target)
    by_table = glue.list_data_quality_rulesets(Filter={"TargetTable": target})["Rulesets"]
    assert sorted(r["Name"] for r in by_table) == [name, name + "_other"]
    paged, token = [], None
    while True:
        kw = {"NextToken": token} if token else {}
        page = glue.list_data_quality_rulesets(Filter={"TargetTable": target}, MaxResults=1, **kw)
        assert len(page["Rulesets"]) <= 1
        paged += [r["Name"] for r in page["Rulesets"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(paged) == [name, name + "_other"]

    # Update: new rules and description; LastModifiedOn moves, RuleCount follows.
    time.sleep(0.01)
    upd = glue.update_data_quality_ruleset(Name=name, Description="second version",
                                           Ruleset='Rules = [ RowCount > 1, IsUnique "id", '
                                                   'ColumnExists "id" ]')
    assert upd["Name"] == name and upd["Description"] == "second version"
    assert upd["Ruleset"].startswith("Rules = [ RowCount > 1")
    got = glue.get_data_quality_ruleset(Name=name)
    assert got["Description"] == "second version" and got["TargetTable"] == target
    assert got["CreatedOn"] == created and got["LastModifiedOn"] > created, got
    assert glue.list_data_quality_rulesets(Filter={"Name": name})["Rulesets"][0]["RuleCount"] == 3

    # An invalid update is refused and changes nothing.
    with pytest.raises(ClientError) as e:
        glue.update_data_quality_ruleset(Name=name, Ruleset="Rules = [ RowCount ]")
    assert code(e) == "InvalidInputException"
    assert "line 1, column" in message(e), message(e)
    assert glue.get_data_quality_ruleset(Name=name)["Ruleset"] == got["Ruleset"]

    # Rename onto an existing ruleset: refused, both stay.
    with pytest.raises(ClientError) as e:
        glue.update_data_quality_ruleset(Name=name, UpdatedName=name + "_other")
    assert code(e) == "AlreadyExistsException"
    assert glue.get_data_quality_ruleset(Name=name + "_other")["Ruleset"] == \
        "Rules = [ ColumnCount > 1 ]"
    assert glue.get_data_quality_ruleset(Name=name)["Description"] == "second version"

    # Rename (CLI): the old name is gone, the new one keeps the definition.
    out = aws.json("glue", "update-data-quality-ruleset", "--name", name,
                   "--updated-name", name + "_renamed")
    assert out["Name"] == name + "_renamed"
    with pytest.raises(ClientError) as e:
        glue.get_data_quality_ruleset(Name=name)
    assert code(e) == "EntityNotFoundException"
    got = glue.get_data_quality_ruleset(Name=name + "_renamed")
    assert got["Ruleset"].startswith("Rules = [ RowCount > 1") and got["TargetTable"] == target
    assert got["CreatedOn"] == created

    # Delete (CLI), then every call on the missing ruleset is EntityNotFoundException.
    aws("glue", "delete-data-quality-ruleset", "--name", name + "_renamed")
    gone = aws("glue", "delete-data-quality-ruleset", "--name", name + "_renamed", check=False)
    assert gone.returncode != 0 and "EntityNotFoundException" in gone.stderr, gone.stderr
    for call, kw in [(glue.get_data_quality_ruleset, {}),
                     (glue.delete_data_quality_ruleset, {}),
                     (glue.update_data_quality_ruleset, {"Description": "x"})]:
        with pytest.raises(ClientError) as e:
            call(Name=name + "_renamed", **kw)
        assert code(e) == "EntityNotFoundException", (call, e.value.response)
    assert [r["Name"] for r in glue.list_data_quality_rulesets(
        Filter={"TargetTable": target})["Rulesets"]] == [name + "_other"]


# ---------------------------------------------------------------------------------------
# 2. Evaluation runs over catalog tables


def test_evaluation_run_rule_results_score_and_metrics(server, aws, glue, athena, s3, bucket, db,
                                                        cleanup):
    make_orders_table(athena, s3, bucket, db)
    name = unique_name("rs_orders")
    cleanup["rulesets"].append(name)
    text = "Rules = [\n" + ",\n".join(f"  {r}" for r, _ in ORDER_RULES) + "\n]"
    glue.create_data_quality_ruleset(Name=name, Ruleset=text,
                                     TargetTable={"DatabaseName": db, "TableName": "orders"})
    source = {"GlueTable": {"DatabaseName": db, "TableName": "orders"}}

    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=1)
    run_id = glue.start_data_quality_ruleset_evaluation_run(
        DataSource=source, Role=ROLE, RulesetNames=[name])["RunId"]
    run, states = wait_dq_run(glue, run_id)
    assert run["Status"] == "SUCCEEDED", run
    assert set(states) <= {"STARTING", "RUNNING", "SUCCEEDED"}, states
    assert run["RunId"] == run_id and run["DataSource"] == source
    assert run["RulesetNames"] == [name] and run["Role"] == ROLE
    assert before <= run["StartedOn"] <= run["CompletedOn"], run
    assert isinstance(run["ExecutionTime"], int) and run["ExecutionTime"] >= 0
    assert len(run["ResultIds"]) == 1, run
    result_id = run["ResultIds"][0]

    res = glue.get_data_quality_result(ResultId=result_id)
    passed = sum(1 for _, want in ORDER_RULES if want == "PASS")
    assert res["Score"] == passed / len(ORDER_RULES), res["Score"]
    assert res["ResultId"] == result_id and res["RulesetName"] == name
    assert res["DataSource"] == source and res["RulesetEvaluationRunId"] == run_id
    assert run["StartedOn"] <= res["StartedOn"] <= res["CompletedOn"] <= run["CompletedOn"]
    rules = res["RuleResults"]
    assert [r["Name"] for r in rules] == [f"Rule_{i}" for i in range(1, len(ORDER_RULES) + 1)]
    assert [(r["Description"], r["Result"]) for r in rules] == ORDER_RULES
    for r in rules:
        assert bool(r.get("EvaluationMessage")) == (r["Result"] != "PASS"), r
    by_text = {r["Description"]: r for r in rules}
    assert "0.9" in by_text['IsComplete "user_id"']["EvaluationMessage"]
    assert "-3.0" in by_text['ColumnValues "amount" >= 0']["EvaluationMessage"]
    assert "nope" in by_text['ColumnExists "nope"']["EvaluationMessage"]
    assert "no_such_column" in by_text['Mean "no_such_column" > 0']["EvaluationMessage"]

    # The CLI shows the same results (its 2.9 model has no EvaluatedMetrics either).
    cli = aws.json("glue", "get-data-quality-result", "--result-id", result_id)
    assert cli["Score"] == res["Score"]
    assert [(r["Name"], r["Result"]) for r in cli["RuleResults"]] == \
        [(r["Name"], r["Result"]) for r in rules]

    # EvaluatedMetrics as the server sends them.
    status, raw = glue_raw(server, "GetDataQualityResult", {"ResultId": result_id})
    assert status == 200, raw
    metrics = {r["Name"]: r.get("EvaluatedMetrics") for r in raw["RuleResults"]}
    assert metrics["Rule_1"] == {"Dataset.*.RowCount": 10.0}
    assert metrics["Rule_2"] == {"Column.user_id.Completeness": 0.9}
    assert metrics["Rule_3"] == {"Column.amount.ColumnValues.Compliance": 0.9}
    assert metrics["Rule_4"] == {"Column.id.Uniqueness": 0.8}
    assert metrics["Rule_6"] == {"Column.amount.Mean": 10.0}
    assert metrics["Rule_7"] == {"Column.status.DistinctValuesCount": 2.0}
    assert metrics["Rule_8"] == {"Dataset.*.CustomSQL": 1.0}
    assert metrics["Rule_11"] == {"Column.amount.ColumnValues.Compliance": 1.0}
    assert metrics["Rule_14"] == {"Dataset.*.RowCount": 10.0, "Column.id.Completeness": 1.0}
    assert metrics["Rule_15"] == {"Column.amount.Sum": 100.0}
    assert raw["Score"] == res["Score"]

    # ListDataQualityResults by data source; StartedAfter in the future matches nothing.
    listed = glue.list_data_quality_results(Filter={"DataSource": source})["Results"]
    assert [r["ResultId"] for r in listed] == [result_id], listed
    assert listed[0]["DataSource"] == source and listed[0]["StartedOn"] == res["StartedOn"]
    later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    assert glue.list_data_quality_results(
        Filter={"DataSource": source, "StartedAfter": later})["Results"] == []


def test_evaluation_run_over_partitioned_parquet_with_two_rulesets(glue, athena, s3, bucket, db,
                                                                    cleanup):
    make_orders_table(athena, s3, bucket, db)
    run_query(athena, (
        "CREATE TABLE orders_pq WITH (format = 'PARQUET', "
        f"external_location = 's3://{bucket}/lake/orders_pq/', partitioned_by = ARRAY['status']) "
        "AS SELECT id, user_id, amount, status FROM orders"), db, bucket)
    a, b = unique_name("rs_a"), unique_name("rs_b")
    cleanup["rulesets"] += [a, b]
    glue.create_data_quality_ruleset(Name=a, Ruleset=(
        'Rules = [ RowCount = 10, DistinctValuesCount "status" = 2, '
        'ColumnValues "status" in ["ok", "bad"], Sum "amount" = 100 ]'))
    glue.create_data_quality_ruleset(Name=b, Ruleset=(
        'Rules = [ RowCount between 0 and 5, IsComplete "user_id", '
        'ColumnValues "amount" < 0 where "status = \'bad\'" ]'))
    source = {"GlueTable": {"DatabaseName": db, "TableName": "orders_pq"}}
    run_id = glue.start_data_quality_ruleset_evaluation_run(
        DataSource=source, Role=ROLE, RulesetNames=[a, b])["RunId"]
    run, _ = wait_dq_run(glue, run_id)
    assert run["Status"] == "SUCCEEDED", run
    assert len(run["ResultIds"]) == 2, run
    results = [glue.get_data_quality_result(ResultId=rid) for rid in run["ResultIds"]]
    by_ruleset = {r["RulesetName"]: r for r in results}
    assert set(by_ruleset) == {a, b}
    assert [x["Result"] for x in by_ruleset[a]["RuleResults"]] == ["PASS"] * 4
    assert by_ruleset[a]["Score"] == 1.0
    assert [x["Result"] for x in by_ruleset[b]["RuleResults"]] == ["FAIL", "FAIL", "PASS"]
    assert by_ruleset[b]["Score"] == 1 / 3
    for r in results:
        assert r["RulesetEvaluationRunId"] == run_id and r["DataSource"] == source
    listed = glue.list_data_quality_results(Filter={"DataSource": source})["Results"]
    assert sorted(r["ResultId"] for r in listed) == sorted(run["ResultIds"])


def test_evaluation_run_covers_the_other_rule_types(server, glue, athena, s3, bucket, db, cleanup):
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    data = [(1, "AB-1", 1.0, 1), (2, "AB-2", 2.0, 2), (3, "CD-3", 3.0, 3), (4, "CD-4", 4.0, 5),
            (5, "XY-5", 5.0, 30), (6, "AB-1", 6.0, 50)]  # (id, code, score, hours ago)
    put_ndjson(s3, bucket, "lake/events/part-0.json", [
        {"id": i, "code": c, "score": s,
         "ts": (now - datetime.timedelta(hours=h)).strftime("%Y-%m-%d %H:%M:%S")}
        for i, c, s, h in data])
    run_query(athena, (
        "CREATE EXTERNAL TABLE events (id int, code string, score double, ts timestamp) "
        "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
        f"LOCATION 's3://{bucket}/lake/events/'"), db, bucket)
    rules = [  # (rule, result, the metrics it reports or None to skip)
        ('StandardDeviation "score" between 1.7 and 1.71', "PASS",
         {"Column.score.StandardDeviation": pytest.approx((35 / 12) ** 0.5)}),
        ('Entropy "code" between 1.56 and 1.57', "PASS", None),   # ln: 2/6 AB-1, 1/6 each other
        ('Uniqueness "code" > 0.66', "PASS", {"Column.code.Uniqueness": pytest.approx(4 / 6)}),
        ('IsPrimaryKey "id"', "PASS", None),
        ('IsPrimaryKey "code"', "FAIL", None),
        ('IsPrimaryKey "code" "score"', "PASS", None),
        ('ColumnLength "code" = 4', "PASS", {"Column.code.ColumnLength.Compliance": 1.0,
                                             "Column.code.MinimumLength": 4.0,
                                             "Column.code.MaximumLength": 4.0}),
        ('ColumnLength "code" between 4 and 5', "FAIL", None),    # exclusive bounds
        ('ColumnValues "code" matches "[A-Z]{2}-[0-9]"', "PASS", None),
        ('ColumnValues "code" matches "[A-Z]{2}"', "FAIL", None),  # a full match is required
        ('ColumnValues "code" not in ["ZZ-0"]', "PASS", None),
        ('ColumnValues "code" in ["AB-1", "AB-2"] with threshold >= 0.5', "PASS",
         {"Column.code.ColumnValues.Compliance": 0.5}),
        ('DataFreshness "ts" <= 24 hours', "FAIL",
         {"Column.ts.DataFreshness.Compliance": pytest.approx(4 / 6)}),
        ('DataFreshness "ts" <= 3 days', "PASS", None),
        ('ColumnValues "ts" > (now() - 3 days)', "PASS", None),
        ('ColumnValues "ts" >= "2020-01-01"', "PASS", None),
        ("ColumnCount = 4", "PASS", {"Dataset.*.ColumnCount": 4.0}),
        ('(ColumnValues "score" > 5) or (RowCount = 6)', "PASS", None),
        ('(IsComplete "id") and (ColumnValues "score" <= 5)', "FAIL", None),
        ('Sum "score" = 9 where "code like \'AB%\'"', "PASS", {"Column.score.Sum": 9.0}),
        ('CustomSql "select id from primary where score < 6"', "FAIL", None),   # row-level: 5/6
        ('CustomSql "select id from primary where score > 0"', "PASS", None),
        ('CustomSql "select max(score) from primary" between 5 and 7', "PASS",
         {"Dataset.*.CustomSQL": 6.0}),
        ('CustomSql "select count(*) from no_such_table" > 0', "ERROR", None),
        ('DistinctValuesCount "code" in [5, 6]', "PASS", None),
    ]
    name = unique_name("rs_types")
    cleanup["rulesets"].append(name)
    text = "# one of each\nRules = [\n" + ",\n".join(r for r, _, _ in rules) + "\n]"
    glue.create_data_quality_ruleset(Name=name, Ruleset=text)
    run_id = glue.start_data_quality_ruleset_evaluation_run(
        DataSource={"GlueTable": {"DatabaseName": db, "TableName": "events"}}, Role=ROLE,
        RulesetNames=[name])["RunId"]
    run, _ = wait_dq_run(glue, run_id)
    assert run["Status"] == "SUCCEEDED", run
    status, res = glue_raw(server, "GetDataQualityResult", {"ResultId": run["ResultIds"][0]})
    assert status == 200, res
    got = [(r["Description"], r["Result"]) for r in res["RuleResults"]]
    assert got == [(r, want) for r, want, _ in rules], [
        (g, w) for g, w in zip(got, rules) if g[1] != w[1]]
    for (rule, _, metrics), r in zip(rules, res["RuleResults"]):
        if metrics is not None:
            assert r["EvaluatedMetrics"] == metrics, (rule, r)
    passed = sum(1 for _, want, _ in rules if want == "PASS")
    assert res["Score"] == passed / len(rules)


def test_evaluation_run_over_unreadable_data_fails(glue, athena, s3, bucket, db, cleanup):
    s3.put_object(Bucket=bucket, Key="lake/broken/part-0.parquet", Body=b"this is not parquet")
    run_query(athena, "CREATE EXTERNAL TABLE broken (id int) STORED AS PARQUET "
                      f"LOCATION 's3://{bucket}/lake/broken/'", db, bucket)
    name = unique_name("rs_broken")
    cleanup["rulesets"].append(name)
    glue.create_data_quality_ruleset(Name=name, Ruleset="Rules = [ RowCount > 0 ]")
    source = {"GlueTable": {"DatabaseName": db, "TableName": "broken"}}
    run_id = glue.start_data_quality_ruleset_evaluation_run(
        DataSource=source, Role=ROLE, RulesetNames=[name])["RunId"]
    run, _ = wait_dq_run(glue, run_id)
    assert run["Status"] == "FAILED", run
    assert run.get("ErrorString"), run
    assert run["ResultIds"] == [] and run["StartedOn"] <= run["CompletedOn"]
    assert glue.list_data_quality_results(Filter={"DataSource": source})["Results"] == []


def test_evaluation_run_errors(glue, athena, s3, bucket, db, cleanup):
    make_orders_table(athena, s3, bucket, db)
    name = unique_name("rs_err")
    cleanup["rulesets"].append(name)
    glue.create_data_quality_ruleset(Name=name, Ruleset="Rules = [ RowCount > 0 ]")
    cases = [
        ({"GlueTable": {"DatabaseName": db, "TableName": "no_such_table"}}, [name]),
        ({"GlueTable": {"DatabaseName": unique_name("nodb"), "TableName": "orders"}}, [name]),
        ({"GlueTable": {"DatabaseName": db, "TableName": "orders"}}, [name, unique_name("nors")]),
    ]
    for source, rulesets in cases:
        with pytest.raises(ClientError) as e:
            glue.start_data_quality_ruleset_evaluation_run(DataSource=source, Role=ROLE,
                                                           RulesetNames=rulesets)
        assert code(e) == "EntityNotFoundException", (source, rulesets, e.value.response)
    with pytest.raises(ClientError) as e:
        glue.get_data_quality_ruleset_evaluation_run(RunId="dqrun-" + "0" * 40)
    assert code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.get_data_quality_result(ResultId="dqresult-" + "0" * 40)
    assert code(e) == "EntityNotFoundException"
    # Nothing was recorded for the refused runs.
    assert glue.list_data_quality_results(
        Filter={"DataSource": {"GlueTable": {"DatabaseName": db, "TableName": "orders"}}}
    )["Results"] == []


def test_concurrent_evaluation_runs(glue, athena, s3, bucket, db, cleanup):
    make_orders_table(athena, s3, bucket, db)
    names = [unique_name(f"rs_conc{i}") for i in range(4)]
    cleanup["rulesets"] += names
    for i, name in enumerate(names):  # RowCount = 10 passes, RowCount = 11.. fail
        glue.create_data_quality_ruleset(
            Name=name, Ruleset=f'Rules = [ RowCount = {10 + i}, Sum "amount" = 100 ]')
    source = {"GlueTable": {"DatabaseName": db, "TableName": "orders"}}
    run_ids = [glue.start_data_quality_ruleset_evaluation_run(
        DataSource=source, Role=ROLE, RulesetNames=[name])["RunId"] for name in names]
    assert len(set(run_ids)) == len(run_ids)
    for i, run_id in enumerate(run_ids):
        run, _ = wait_dq_run(glue, run_id)
        assert run["Status"] == "SUCCEEDED", run
        res = glue.get_data_quality_result(ResultId=run["ResultIds"][0])
        assert res["RulesetName"] == names[i]
        assert [x["Result"] for x in res["RuleResults"]] == ["PASS" if i == 0 else "FAIL", "PASS"]
    listed = glue.list_data_quality_results(Filter={"DataSource": source}, MaxResults=3)
    assert len(listed["Results"]) == 3 and listed.get("NextToken"), listed
    rest = glue.list_data_quality_results(Filter={"DataSource": source},
                                          NextToken=listed["NextToken"])["Results"]
    everything = listed["Results"] + rest
    assert len({r["ResultId"] for r in everything}) == 4
    started = [r["StartedOn"] for r in everything]
    assert started == sorted(started, reverse=True), started


def test_rulesets_and_results_survive_restart(server_factory):
    srv = server_factory(name="dq-restart")
    s3, glue = make_s3(srv.endpoint), make_client("glue", srv.endpoint)
    athena = make_client("athena", srv.endpoint)
    bucket, db = "dq-restart-lake", "lake"
    s3.create_bucket(Bucket=bucket)
    glue.create_database(DatabaseInput={"Name": db})
    make_orders_table(athena, s3, bucket, db)
    glue.create_data_quality_ruleset(Name="kept", Ruleset='Rules = [ IsComplete "user_id" ]',
                                     Description="survives",
                                     TargetTable={"DatabaseName": db, "TableName": "orders"})
    run_id = glue.start_data_quality_ruleset_evaluation_run(
        DataSource={"GlueTable": {"DatabaseName": db, "TableName": "orders"}}, Role=ROLE,
        RulesetNames=["kept"])["RunId"]
    run, _ = wait_dq_run(glue, run_id)
    assert run["Status"] == "SUCCEEDED", run
    ruleset = glue.get_data_quality_ruleset(Name="kept")
    result = glue.get_data_quality_result(ResultId=run["ResultIds"][0])

    assert srv.stop() == 0, srv.log_text()
    srv.start()
    glue = make_client("glue", srv.endpoint)
    strip = lambda d: {k: v for k, v in d.items() if k != "ResponseMetadata"}  # noqa: E731
    assert strip(glue.get_data_quality_ruleset(Name="kept")) == strip(ruleset)
    assert strip(glue.get_data_quality_ruleset_evaluation_run(RunId=run_id)) == strip(run)
    assert strip(glue.get_data_quality_result(ResultId=run["ResultIds"][0])) == strip(result)
    assert [r["ResultId"] for r in glue.list_data_quality_results()["Results"]] == \
        run["ResultIds"]


# ---------------------------------------------------------------------------------------
# 3-5. EVALUATE DATA QUALITY in SQL jobs


GOOD = [{"id": i, "user_id": f"u{i}", "amount": float(10 * i)} for i in range(1, 6)]
BAD = GOOD + [{"id": 6, "user_id": None, "amount": 3.0},
              {"id": 7, "user_id": "u7", "amount": -1.0},
              {"id": 8, "user_id": None, "amount": -2.0}]
ID_USER_AMOUNT = [("id", "bigint"), ("user_id", "string"), ("amount", "double")]


def as_rows(records):
    return [[str(r["id"]), r["user_id"], str(r["amount"])] for r in records]


def test_job_fail_and_continue(glue, athena, s3, bucket, db, cleanup):
    put_ndjson(s3, bucket, "in/good/part-0.json", GOOD)
    put_ndjson(s3, bucket, "in/bad/part-0.json", BAD)
    ruleset = unique_name("rs_gate")
    cleanup["rulesets"].append(ruleset)
    glue.create_data_quality_ruleset(Name=ruleset, Ruleset=(
        'Rules = [ IsComplete "user_id", ColumnValues "amount" >= 0, RowCount > 0 ]'))
    script = (
        "-- the quality gate in front of the curated copy\n"
        "CREATE TABLE t AS SELECT * FROM read_json_auto('s3://${bucket}/in/${which}/');\n"
        "EVALUATE DATA QUALITY ON t RULESET '${ruleset}' ON FAILURE ${policy} CONTEXT 'gate';\n"
        "COPY (SELECT * FROM t ORDER BY id) TO 's3://${bucket}/out/${which}_${policy}/' "
        "(FORMAT PARQUET);\n")
    job = make_sql_job(glue, s3, bucket, cleanup, script, {"--ruleset": ruleset})

    bad = run_job(glue, job, {"--which": "bad", "--policy": "FAIL"})
    assert bad["JobRunState"] == "FAILED", bad
    err = bad.get("ErrorMessage", "")
    assert "Data quality rules failed" in err, err
    assert 'IsComplete "user_id"' in err and 'ColumnValues "amount" >= 0' in err, err
    assert "RowCount" not in err, err  # the passing rule is not reported
    assert keys_under(s3, bucket, "out/bad_FAIL/") == []  # the COPY never ran

    good = run_job(glue, job, {"--which": "good", "--policy": "FAIL"})
    assert good["JobRunState"] == "SUCCEEDED", good
    assert keys_under(s3, bucket, "out/good_FAIL/"), "no output written"

    cont = run_job(glue, job, {"--which": "bad", "--policy": "CONTINUE"})
    assert cont["JobRunState"] == "SUCCEEDED", cont

    assert parquet_rows(athena, db, bucket, "out_good", f"s3://{bucket}/out/good_FAIL/",
                        ID_USER_AMOUNT) == as_rows(GOOD)
    assert parquet_rows(athena, db, bucket, "out_cont", f"s3://{bucket}/out/bad_CONTINUE/",
                        ID_USER_AMOUNT) == as_rows(BAD)

    # One result per run, newest first, tied to the job run.
    listed = glue.list_data_quality_results(Filter={"JobName": job})["Results"]
    assert [r["JobRunId"] for r in listed] == [cont["Id"], good["Id"], bad["Id"]], listed
    assert all(r["JobName"] == job for r in listed)
    scores = {}
    for entry in listed:
        res = glue.get_data_quality_result(ResultId=entry["ResultId"])
        assert res["JobName"] == job and res["JobRunId"] == entry["JobRunId"]
        assert res["RulesetName"] == ruleset and res["EvaluationContext"] == "gate"
        scores[entry["JobRunId"]] = (res["Score"], [x["Result"] for x in res["RuleResults"]])
    assert scores[bad["Id"]] == (1 / 3, ["FAIL", "FAIL", "PASS"])
    assert scores[good["Id"]] == (1.0, ["PASS", "PASS", "PASS"])
    assert scores[cont["Id"]] == scores[bad["Id"]]
    only = glue.list_data_quality_results(Filter={"JobName": job, "JobRunId": good["Id"]})
    assert [r["JobRunId"] for r in only["Results"]] == [good["Id"]]


def test_job_default_policy_is_fail(glue, s3, bucket, cleanup):
    put_ndjson(s3, bucket, "in/bad/part-0.json", BAD)
    script = (
        "CREATE TABLE t AS SELECT * FROM read_json_auto('s3://${bucket}/in/bad/');\n"
        "EVALUATE DATA QUALITY ON t RULES 'Rules = [ RowCount = 8, "
        "ColumnValues \"amount\" > 0 where \"user_id <> ''u7''\" ]';\n"
        "COPY t TO 's3://${bucket}/out/default/' (FORMAT PARQUET);\n")
    job = make_sql_job(glue, s3, bucket, cleanup, script)
    run = run_job(glue, job)
    # The where clause (quotes doubled inside the SQL string) leaves out u7's -1.0 and, as
    # NULL <> 'u7' is not true, id 8's -2.0: every amount it selects is positive.
    assert run["JobRunState"] == "SUCCEEDED", run
    res = glue.list_data_quality_results(Filter={"JobName": job})["Results"]
    assert len(res) == 1
    full = glue.get_data_quality_result(ResultId=res[0]["ResultId"])
    assert [x["Result"] for x in full["RuleResults"]] == ["PASS", "PASS"]
    assert full["EvaluationContext"] == "EvaluateDataQuality"
    assert "RulesetName" not in full
    copied = keys_under(s3, bucket, "out/default/")
    assert copied, "no output written"

    s3.put_object(Bucket=bucket, Key=f"scripts/{job}.sql",
                  Body=script.replace("''u7''", "''u1''").encode())
    run = run_job(glue, job)
    assert run["JobRunState"] == "FAILED", run
    assert "Data quality rules failed" in run.get("ErrorMessage", ""), run
    assert "Rule_2" in run["ErrorMessage"] and "-1.0" in run["ErrorMessage"], run
    assert keys_under(s3, bucket, "out/default/") == copied  # the COPY did not run again
    assert len(glue.list_data_quality_results(Filter={"JobName": job})["Results"]) == 2


def test_job_quarantine(glue, athena, s3, bucket, db, cleanup):
    records = [
        {"id": 1, "user_id": "u1", "amount": 10.0, "kind": "sale"},
        {"id": 2, "user_id": "u2", "amount": 20.0, "kind": "sale"},
        {"id": 3, "user_id": None, "amount": 5.0, "kind": "sale"},       # IsComplete
        {"id": 4, "user_id": "u4", "amount": -7.0, "kind": "sale"},      # ColumnValues
        {"id": 5, "user_id": "u5", "amount": -4.0, "kind": "refund"},    # excluded by where
        {"id": 6, "user_id": "u6", "amount": 30.0, "kind": "sale"},
        {"id": 7, "user_id": "toolong", "amount": 1.0, "kind": "sale"},  # ColumnLength
        {"id": 8, "user_id": "u8", "amount": 2.0, "kind": "sale"},
    ]
    bad_ids = {3, 4, 7}
    put_ndjson(s3, bucket, "in/mixed/part-0.json", records[:4])
    put_ndjson(s3, bucket, "in/mixed/part-1.json", records[4:])
    script = (
        "CREATE TABLE sales AS SELECT * FROM read_json_auto('s3://${bucket}/in/${input}/');\n"
        "EVALUATE DATA QUALITY ON sales RULES 'Rules = [\n"
        "    IsComplete \"user_id\",\n"
        "    ColumnValues \"amount\" >= 0 where \"kind = ''sale''\",\n"
        "    ColumnLength \"user_id\" <= 4,\n"
        "    RowCount > 3\n"
        "  ]'\n"
        "  ON FAILURE QUARANTINE 's3://${bucket}/quarantine/sales/';\n"
        "COPY (SELECT * FROM sales ORDER BY id) TO 's3://${bucket}/curated/${input}/' "
        "(FORMAT PARQUET);\n")
    job = make_sql_job(glue, s3, bucket, cleanup, script, {"--input": "mixed"})
    run = run_job(glue, job)
    assert run["JobRunState"] == "SUCCEEDED", run

    cols = ID_USER_AMOUNT + [("kind", "string")]
    as_row = lambda r: [str(r["id"]), r["user_id"], str(r["amount"]), r["kind"]]  # noqa: E731
    quarantined = parquet_rows(athena, db, bucket, "quarantined",
                               f"s3://{bucket}/quarantine/sales/", cols)
    assert quarantined == [as_row(r) for r in records if r["id"] in bad_ids]
    curated = parquet_rows(athena, db, bucket, "curated", f"s3://{bucket}/curated/mixed/", cols)
    assert curated == [as_row(r) for r in records if r["id"] not in bad_ids]

    listed = glue.list_data_quality_results(Filter={"JobName": job})["Results"]
    assert len(listed) == 1, listed
    assert listed[0]["JobName"] == job and listed[0]["JobRunId"] == run["Id"]
    res = glue.get_data_quality_result(ResultId=listed[0]["ResultId"])
    assert res["JobRunId"] == run["Id"] and res["EvaluationContext"] == "EvaluateDataQuality"
    # The result describes the data before quarantine.
    assert [x["Result"] for x in res["RuleResults"]] == ["FAIL", "FAIL", "FAIL", "PASS"]
    assert res["Score"] == 0.25
    assert res["RuleResults"][2]["Description"] == 'ColumnLength "user_id" <= 4'

    # Clean input: every rule passes, nothing more is quarantined, all rows are copied.
    quarantine_keys = keys_under(s3, bucket, "quarantine/sales/")
    put_ndjson(s3, bucket, "in/clean/part-0.json", [r for r in records if r["id"] not in bad_ids])
    clean = run_job(glue, job, {"--input": "clean"})
    assert clean["JobRunState"] == "SUCCEEDED", clean
    assert keys_under(s3, bucket, "quarantine/sales/") == quarantine_keys
    assert parquet_rows(athena, db, bucket, "curated_clean", f"s3://{bucket}/curated/clean/",
                        cols) == curated
    listed = glue.list_data_quality_results(Filter={"JobName": job})["Results"]
    assert [r["JobRunId"] for r in listed] == [clean["Id"], run["Id"]]
    assert glue.get_data_quality_result(ResultId=listed[0]["ResultId"])["Score"] == 1.0


def test_job_evaluates_a_catalog_table(glue, athena, s3, bucket, db, cleanup):
    make_orders_table(athena, s3, bucket, db)
    script = (
        f"EVALUATE DATA QUALITY ON {db}.orders RULES 'Rules = [ RowCount = 10, "
        "IsComplete \"user_id\" ]' ON FAILURE CONTINUE CONTEXT 'completeness';\n"
        f"EVALUATE DATA QUALITY ON {db}.orders RULES 'Rules = [ Sum \"amount\" = 100 ]' "
        "CONTEXT 'totals';\n")
    job = make_sql_job(glue, s3, bucket, cleanup, script)
    run = run_job(glue, job)
    assert run["JobRunState"] == "SUCCEEDED", run
    listed = glue.list_data_quality_results(Filter={"JobRunId": run["Id"]})["Results"]
    assert len(listed) == 2, listed
    got = {}
    for entry in listed:
        res = glue.get_data_quality_result(ResultId=entry["ResultId"])
        assert res["JobName"] == job and res["JobRunId"] == run["Id"]
        got[res["EvaluationContext"]] = (res["Score"], [x["Result"] for x in res["RuleResults"]])
    assert got == {"completeness": (0.5, ["PASS", "FAIL"]), "totals": (1.0, ["PASS"])}


def test_job_with_invalid_dqdl_or_missing_ruleset_fails(glue, s3, bucket, cleanup):
    put_ndjson(s3, bucket, "in/good/part-0.json", GOOD)
    script = (
        "CREATE TABLE t AS SELECT * FROM read_json_auto('s3://${bucket}/in/good/');\n"
        "EVALUATE DATA QUALITY ON t RULES 'Rules = [\n"
        "  RowCount > 0,\n"
        "  IsComplete\n"
        "]' ON FAILURE CONTINUE;\n"
        "COPY t TO 's3://${bucket}/out/invalid/' (FORMAT PARQUET);\n")
    job = make_sql_job(glue, s3, bucket, cleanup, script)
    run = run_job(glue, job)
    assert run["JobRunState"] == "FAILED", run
    err = run.get("ErrorMessage", "")
    assert "line 4, column 1" in err, err  # the ']' where the column name should be
    assert "DQDL" in err, err
    assert keys_under(s3, bucket, "out/invalid/") == []
    assert glue.list_data_quality_results(Filter={"JobName": job})["Results"] == []

    missing = unique_name("rs_missing")
    script = (
        "CREATE TABLE t AS SELECT * FROM read_json_auto('s3://${bucket}/in/good/');\n"
        f"EVALUATE DATA QUALITY ON t RULESET '{missing}' ON FAILURE CONTINUE;\n")
    job = make_sql_job(glue, s3, bucket, cleanup, script)
    run = run_job(glue, job)
    assert run["JobRunState"] == "FAILED", run
    assert missing in run.get("ErrorMessage", ""), run
    assert glue.list_data_quality_results(Filter={"JobName": job})["Results"] == []


def test_job_quarantine_on_a_catalog_table_has_no_partial_effects(glue, athena, s3, bucket, db,
                                                                  cleanup):
    """QUARANTINE deletes the bad rows from the evaluated table. A catalog table read by the
    job cannot lose rows that way; whatever the run does, it must not fail half-way with
    quarantine files written for rows that were never removed."""
    make_orders_table(athena, s3, bucket, db)
    script = (
        f"EVALUATE DATA QUALITY ON {db}.orders RULES 'Rules = [ IsComplete \"user_id\" ]' "
        "ON FAILURE QUARANTINE 's3://${bucket}/quarantine/orders/';\n")
    job = make_sql_job(glue, s3, bucket, cleanup, script)
    run = run_job(glue, job)
    written = keys_under(s3, bucket, "quarantine/orders/")
    if run["JobRunState"] == "FAILED":
        err = run.get("ErrorMessage", "")
        assert written == [], f"the run failed ({err!r}) after writing {written}"
        assert "Binder Error" not in err, err
    else:
        assert run["JobRunState"] == "SUCCEEDED", run
    # The lake data of the catalog table is untouched either way.
    _, rows = run_query(athena, "SELECT count(*) AS n FROM orders", db, bucket)
    assert rows == [["n"], ["10"]]
