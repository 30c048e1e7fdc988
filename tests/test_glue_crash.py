"""Glue job runs, crawls and Data Quality evaluation runs across kill -9: an acknowledged run
or crawl never vanishes and is never RUNNING forever; stored items that cannot resume do not stop the server from starting.

Real processes, SIGKILL at random points (seeds printed), bounded rounds.
"""

import json
import sqlite3
import time

from sluice_helpers import crash_rng, make_client, make_s3, unique_bucket, unique_name

ROLE = "arn:aws:iam::000000000000:role/GlueJobRole"
ACTIVE = ("STARTING", "RUNNING", "STOPPING", "WAITING")
# Long enough (a few hundred ms) that a random kill often lands inside it.
SLOW_SQL = ("CREATE TABLE t AS SELECT count(*) AS n FROM range(150000000) r(i) WHERE i % 7 = 3;\n"
            "COPY t TO '${dst}' (FORMAT CSV, HEADER);\n")


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(delay)
        delay = min(delay * 2, 0.5)


def all_runs(glue, job):
    runs, token = [], None
    while True:
        page = glue.get_job_runs(JobName=job, **({"NextToken": token} if token else {}))
        runs.extend(page["JobRuns"])
        token = page.get("NextToken")
        if not token:
            return runs


def test_job_runs_survive_kill9(server_factory):
    rng = crash_rng("glue crash test")
    seed = rng.crash_seed
    srv = server_factory()
    s3, glue = make_s3(srv.endpoint), make_client("glue", srv.endpoint)
    bucket = unique_bucket("gcrash")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="scripts/slow.sql", Body=SLOW_SQL.encode())
    job = unique_name("crash")
    glue.create_job(Name=job, Role=ROLE, MaxRetries=1,
                    Command={"Name": "glueetl", "ScriptLocation": f"s3://{bucket}/scripts/slow.sql"},
                    DefaultArguments={"--dst": f"s3://{bucket}/out/"})
    acknowledged = []
    interrupted = 0
    for rnd in range(3):
        run_id = glue.start_job_run(JobName=job)["JobRunId"]
        acknowledged.append(run_id)
        time.sleep(rng.uniform(0, 0.4))
        srv.kill()
        srv.start()
        glue = make_client("glue", srv.endpoint)
        # Every run ends: none is left active, and each acknowledged one is there.
        runs = wait_until(lambda: (lambda rs: rs if all(r["JobRunState"] not in ACTIVE for r in rs) else None)(
            all_runs(glue, job)), 90, f"round {rnd} (seed {seed}): every run to end")
        by_id = {r["Id"]: r for r in runs}
        assert set(acknowledged) <= set(by_id), (seed, acknowledged, list(by_id))
        state = by_id[run_id]["JobRunState"]
        assert state in ("SUCCEEDED", "ERROR"), (seed, by_id[run_id])
        if state == "ERROR":
            # Interrupted by the crash: retried per MaxRetries, and the retry completed.
            interrupted += 1
            retry = by_id.get(f"{run_id}_attempt_1")
            assert retry is not None, (seed, list(by_id))
            assert retry["JobRunState"] == "SUCCEEDED" and retry["PreviousRunId"] == run_id, (seed, retry)
    print(f"seed {seed}: {interrupted} of 3 runs interrupted by kill -9")

    # A run that was active, of a job deleted since, and a record that is not JSON: the
    # server starts, the run ends ERROR, nothing is retried.
    srv.stop()
    db = sqlite3.connect(srv.data_dir / "glue" / "catalog.db")
    ghost = {"Id": "jr_" + "0" * 64, "JobName": "gone", "Attempt": 0, "JobRunState": "RUNNING", "StartedOn": 1.0}
    db.execute("INSERT INTO documents(kind, name, doc) VALUES('job_run', ?, ?)", (f"gone/{ghost['Id']}", json.dumps(ghost)))
    db.execute("INSERT INTO documents(kind, name, doc) VALUES('job_run', 'gone/jr_bad', '{not json')")
    db.execute("INSERT INTO documents(kind, name, doc) VALUES('job_retry', 'gone/jr_bad', '[1]')")
    db.commit()
    db.close()
    srv.start()
    srv.stop()  # and again, after the server marked what it could
    srv.start()
    db = sqlite3.connect(srv.data_dir / "glue" / "catalog.db")
    (doc,) = db.execute("SELECT doc FROM documents WHERE kind='job_run' AND name=?", (f"gone/{ghost['Id']}",)).fetchone()
    db.close()
    assert json.loads(doc)["JobRunState"] == "ERROR", doc
    glue = make_client("glue", srv.endpoint)
    assert all(r["JobRunState"] not in ACTIVE for r in all_runs(glue, job))


def test_crawl_and_data_quality_run_survive_kill9(server_factory):
    rng = crash_rng("glue crash test")
    seed = rng.crash_seed
    srv = server_factory()
    s3, glue = make_s3(srv.endpoint), make_client("glue", srv.endpoint)
    bucket = unique_bucket("ccrash")
    s3.create_bucket(Bucket=bucket)
    for day in range(3):
        s3.put_object(Bucket=bucket, Key=f"data/sales/day={day}/part-0.json", Body=b'{"id": 1, "amount": 2.5}\n')
    db = unique_name("crawldb")
    glue.create_database(DatabaseInput={"Name": db})
    crawler = unique_name("crawler")
    glue.create_crawler(Name=crawler, Role="r", DatabaseName=db, Targets={"S3Targets": [{"Path": f"s3://{bucket}/data/"}]})
    glue.start_crawler(Name=crawler)
    time.sleep(rng.uniform(0, 0.05))
    srv.kill()
    srv.start()
    glue = make_client("glue", srv.endpoint)
    # The acknowledged crawl ran (again, if the crash cut it short) and is recorded.
    c = wait_until(lambda: (lambda c: c if c["State"] == "READY" and "LastCrawl" in c else None)(
        glue.get_crawler(Name=crawler)["Crawler"]), 60, f"the crawl to finish (seed {seed})")
    assert c["LastCrawl"]["Status"] == "SUCCEEDED", (seed, c)
    tables = glue.get_tables(DatabaseName=db)["TableList"]
    assert [t["Name"] for t in tables] == ["sales"], (seed, tables)
    # LastCrawl survives a restart.
    srv.stop()
    srv.start()
    glue = make_client("glue", srv.endpoint)
    c = glue.get_crawler(Name=crawler)["Crawler"]
    assert c["State"] == "READY" and c["LastCrawl"]["Status"] == "SUCCEEDED", c
    glue.delete_crawler(Name=crawler)

    # A Data Quality evaluation run acknowledged before kill -9 completes after the restart.
    ruleset = unique_name("rules")
    glue.create_data_quality_ruleset(Name=ruleset, Ruleset="Rules = [ RowCount = 3 ]")
    run_id = glue.start_data_quality_ruleset_evaluation_run(
        DataSource={"GlueTable": {"DatabaseName": db, "TableName": "sales"}}, Role=ROLE,
        RulesetNames=[ruleset])["RunId"]
    time.sleep(rng.uniform(0, 0.05))
    srv.kill()
    srv.start()
    glue = make_client("glue", srv.endpoint)
    run = wait_until(lambda: (lambda r: r if r["Status"] not in ("STARTING", "RUNNING") else None)(
        glue.get_data_quality_ruleset_evaluation_run(RunId=run_id)), 60, f"the evaluation to end (seed {seed})")
    assert run["Status"] == "SUCCEEDED" and len(run["ResultIds"]) == 1, (seed, run)
    result = glue.get_data_quality_result(ResultId=run["ResultIds"][0])
    assert [r["Result"] for r in result["RuleResults"]] == ["PASS"], (seed, result)
