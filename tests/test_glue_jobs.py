"""Glue ETL jobs: definitions, SQL and Python-shell runs, stop/timeout/retries, bookmarks.

Jobs are driven the way a pipeline does it: CreateJob, StartJobRun, poll GetJobRun until a
final state, then look at what the run left in the lake (S3 objects, catalog partitions,
Athena queries) and in its logs (`sluice logs job`).
"""

import csv
import io
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from sluice_helpers import ACCESS_KEY, REGION, SECRET_KEY, client_error, list_all_keys, make_client, unique_name
from test_athena import put_ndjson, run_query

REPO = Path(__file__).resolve().parent.parent
ROLE = "arn:aws:iam::000000000000:role/GlueJobRole"
FINAL_STATES = ("SUCCEEDED", "FAILED", "STOPPED", "TIMEOUT", "ERROR")


# ---------------------------------------------------------------------------------------
# Helpers


def put_script(s3, bucket, key, text):
    s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
    return f"s3://{bucket}/{key}"


def wait_run(glue, job, run_id, timeout=60.0, until=FINAL_STATES, interval=0.5):
    deadline = time.monotonic() + timeout
    delay = 0.05
    while True:
        run = glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
        if run["JobRunState"] in until:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {job}/{run_id} not in {until} after {timeout}s: {run}")
        time.sleep(delay)
        delay = min(delay * 2, interval)


def start(glue, job, **kw):
    return glue.start_job_run(JobName=job, **kw)["JobRunId"]


def run_job(glue, job, expect="SUCCEEDED", timeout=60.0, **kw):
    """Starts a run and waits for its final state; returns the JobRun."""
    run_id = start(glue, job, **kw)
    run = wait_run(glue, job, run_id, timeout)
    if expect is not None:
        assert run["JobRunState"] == expect, (
            f"{job}/{run_id}: expected {expect}, got {run['JobRunState']}: {run.get('ErrorMessage')!r}")
    return run


def code(excinfo):
    return client_error(excinfo)[0]


def glue_api(server, action, body):
    """A signed AWSGlue.<action> call (for Sluice's own actions boto3 does not know)."""
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=f"{server.endpoint}/", data=data, headers={
        "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"AWSGlue.{action}"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY), "glue", REGION).add_auth(req)
    r = urllib.request.Request(req.url, data=data, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def sluice_logs(sluice_bin, server, job, run_id=None, stream=None):
    args = [str(sluice_bin), "logs", "job", job]
    if run_id:
        args.append(run_id)
    args += ["--endpoint", server.endpoint]
    if stream:
        args += ["--stream", stream]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY, "AWS_DEFAULT_REGION": REGION})
    out = subprocess.run(args, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0, f"{' '.join(args)} -> {out.returncode}\n{out.stdout}\n{out.stderr}"
    return out.stdout


def pid_alive(pid):
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.fixture
def jobs(glue):
    """Creates jobs (unique names) and deletes them afterwards: jobs(script, **CreateJob)."""
    made = []

    def create(script_location, kind="glueetl", name=None, **kw):
        name = name or unique_name("job")
        command = {"Name": kind, "ScriptLocation": script_location}
        if kind == "pythonshell":
            command["PythonVersion"] = "3.9"
        glue.create_job(Name=name, Role=ROLE, Command=command, **kw)
        made.append(name)
        return name

    yield create
    for name in made:
        try:
            for run in glue.get_job_runs(JobName=name)["JobRuns"]:
                if run["JobRunState"] in ("STARTING", "RUNNING", "STOPPING"):
                    glue.batch_stop_job_run(JobName=name, JobRunIds=[run["Id"]])
            glue.delete_job(JobName=name)
        except ClientError:
            pass


# A Python shell script that records its pid (and a child's) in S3 and then sleeps.
SLEEPER_PY = """\
import os, subprocess, sys, time
import boto3
from awsglue.utils import getResolvedOptions

args = getResolvedOptions(sys.argv, ["JOB_RUN_ID", "bucket", "seconds"])
child = subprocess.Popen(["sleep", args["seconds"]])
boto3.client("s3").put_object(Bucket=args["bucket"], Key="pids/" + args["JOB_RUN_ID"],
                              Body=("%d %d" % (os.getpid(), child.pid)).encode())
print("sleeping", args["seconds"], flush=True)
time.sleep(int(args["seconds"]))
print("woke up", flush=True)
"""


def wait_pids(s3, bucket, run_id, timeout=30.0):
    """The (script pid, child pid) a SLEEPER_PY run stored once it runs."""
    def get():
        try:
            body = s3.get_object(Bucket=bucket, Key=f"pids/{run_id}")["Body"].read().decode()
        except ClientError:
            return None
        return [int(x) for x in body.split()]
    return tuple(_wait(get, timeout, f"the pids of {run_id}"))


def _wait(predicate, timeout, what, interval=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------------------------------
# 1. Definitions: CRUD and errors


def test_job_crud_and_errors_cli_and_boto3(aws, glue, server, s3, bucket):
    script = put_script(s3, bucket, "scripts/noop.sql", "SELECT 1 AS one;\n")
    name = unique_name("crud")
    out = aws.json("glue", "create-job", "--name", name, "--role", ROLE,
                   "--command", f"Name=glueetl,ScriptLocation={script},PythonVersion=3",
                   "--default-arguments", json.dumps({"--src": "s3://x/in/", "--mode": "a"}),
                   "--non-overridable-arguments", json.dumps({"--fixed": "yes"}),
                   "--max-retries", "2", "--timeout", "30",
                   "--execution-property", "MaxConcurrentRuns=3",
                   "--description", "first version")
    assert out == {"Name": name}
    try:
        job = aws.json("glue", "get-job", "--job-name", name)["Job"]
        assert job["Name"] == name
        assert job["Role"] == ROLE
        assert job["Command"]["Name"] == "glueetl"
        assert job["Command"]["ScriptLocation"] == script
        assert job["Command"]["PythonVersion"] == "3"
        assert job["DefaultArguments"] == {"--src": "s3://x/in/", "--mode": "a"}
        assert job["NonOverridableArguments"] == {"--fixed": "yes"}
        assert job["MaxRetries"] == 2
        assert job["Timeout"] == 30
        assert job["ExecutionProperty"]["MaxConcurrentRuns"] == 3
        assert job["Description"] == "first version"
        assert "CreatedOn" in job and "LastModifiedOn" in job

        # boto3 sees the same definition, with datetimes.
        bjob = glue.get_job(JobName=name)["Job"]
        assert bjob["DefaultArguments"] == job["DefaultArguments"]
        assert bjob["CreatedOn"] <= bjob["LastModifiedOn"]

        assert name in aws.json("glue", "list-jobs")["JobNames"]
        assert name in glue.list_jobs()["JobNames"]
        got = {j["Name"]: j for j in glue.get_jobs()["Jobs"]}
        assert got[name]["Command"]["ScriptLocation"] == script

        # Duplicates.
        dup = aws("glue", "create-job", "--name", name, "--role", ROLE,
                  "--command", f"Name=glueetl,ScriptLocation={script}", check=False)
        assert dup.returncode != 0 and "AlreadyExistsException" in dup.stderr, dup.stderr
        with pytest.raises(ClientError) as e:
            glue.create_job(Name=name, Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": script})
        assert code(e) == "AlreadyExistsException"

        # UpdateJob replaces the definition (fields not in JobUpdate are gone).
        other = put_script(s3, bucket, "scripts/other.py", "print('hi')\n")
        aws.json("glue", "update-job", "--job-name", name, "--job-update", json.dumps({
            "Role": ROLE, "Command": {"Name": "pythonshell", "ScriptLocation": other, "PythonVersion": "3.9"},
            "DefaultArguments": {"--other": "1"}, "Timeout": 5}))
        job2 = glue.get_job(JobName=name)["Job"]
        assert job2["Command"]["Name"] == "pythonshell"
        assert job2["Command"]["ScriptLocation"] == other
        assert job2["DefaultArguments"] == {"--other": "1"}
        assert job2["Timeout"] == 5
        assert "NonOverridableArguments" not in job2, job2
        assert "Description" not in job2, job2
        assert job2.get("MaxRetries", 0) == 0
        assert job2["CreatedOn"] == bjob["CreatedOn"]
        assert job2["LastModifiedOn"] >= bjob["LastModifiedOn"]

        # A bad update is refused and leaves the job as it was.
        with pytest.raises(ClientError) as e:
            glue.update_job(JobName=name, JobUpdate={"Role": ROLE, "MaxRetries": 11, "Command": {
                "Name": "pythonshell", "ScriptLocation": other}})
        assert code(e) == "InvalidInputException"
        assert glue.get_job(JobName=name)["Job"]["Timeout"] == 5
    finally:
        assert aws.json("glue", "delete-job", "--job-name", name) == {"JobName": name}

    # Gone.
    missing = aws("glue", "get-job", "--job-name", name, check=False)
    assert missing.returncode != 0 and "EntityNotFoundException" in missing.stderr, missing.stderr
    with pytest.raises(ClientError) as e:
        glue.get_job(JobName=name)
    assert code(e) == "EntityNotFoundException"
    assert name not in glue.list_jobs()["JobNames"]
    with pytest.raises(ClientError) as e:
        glue.update_job(JobName=name, JobUpdate={"Role": ROLE, "Command": {"Name": "glueetl", "ScriptLocation": script}})
    assert code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.start_job_run(JobName=name)
    assert code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.get_job_runs(JobName=name)
    assert code(e) == "EntityNotFoundException"

    # Invalid definitions (boto3 would refuse Timeout=0 itself: skip its validation).
    raw = make_client("glue", server.endpoint, parameter_validation=False)
    bad = {
        "no ScriptLocation": {"Command": {"Name": "glueetl"}},
        "Timeout 0": {"Command": {"Name": "glueetl", "ScriptLocation": script}, "Timeout": 0},
        "MaxRetries 11": {"Command": {"Name": "glueetl", "ScriptLocation": script}, "MaxRetries": 11},
        "MaxRetries -1": {"Command": {"Name": "glueetl", "ScriptLocation": script}, "MaxRetries": -1},
        "non-s3 script": {"Command": {"Name": "glueetl", "ScriptLocation": "/etc/passwd.sql"}},
        "unknown command": {"Command": {"Name": "notakind", "ScriptLocation": script}},
    }
    for what, fields in bad.items():
        bad_name = unique_name("bad")
        with pytest.raises(ClientError) as e:
            raw.create_job(Name=bad_name, Role=ROLE, **fields)
        assert code(e) == "InvalidInputException", (what, e.value.response)
        with pytest.raises(ClientError) as e:
            glue.get_job(JobName=bad_name)
        assert code(e) == "EntityNotFoundException", what
    # The same through the CLI.
    cli_bad = aws("glue", "create-job", "--name", unique_name("bad"), "--role", ROLE,
                  "--command", f"Name=glueetl,ScriptLocation={script}", "--max-retries", "11", check=False)
    assert cli_bad.returncode != 0 and "InvalidInputException" in cli_bad.stderr, cli_bad.stderr


def test_run_lookup_errors(glue, jobs, s3, bucket):
    name = jobs(put_script(s3, bucket, "scripts/one.sql", "SELECT 1;"))
    with pytest.raises(ClientError) as e:
        glue.get_job_run(JobName=name, RunId="jr_" + "0" * 64)
    assert code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.get_job_run(JobName=unique_name("nojob"), RunId="jr_" + "0" * 64)
    assert code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.start_job_run(JobName=unique_name("nojob"))
    assert code(e) == "EntityNotFoundException"
    assert glue.get_job_runs(JobName=name)["JobRuns"] == []
    with pytest.raises(ClientError) as e:
        glue.get_job_bookmark(JobName=name)
    assert code(e) == "EntityNotFoundException"


# ---------------------------------------------------------------------------------------
# 2. The seed example: JSON events -> Parquet partitioned by event_date -> Athena


SEED_EVENTS = {
    "2025-08-01": [("u1", "click", 1.5), ("u2", "click", 2.25), ("u1", "purchase", 19.75),
                   ("u3", "view", 0.0), ("u2", "view", 0.5)],
    "2025-08-15": [("u4", "purchase", 100.0), ("u1", "click", 0.25), ("u5", "purchase", 7.5),
                   ("u4", "view", 1.0)],
    "2025-09-02": [("u2", "click", 3.0), ("u9", "purchase", 42.0)],
}
SEED_COUNTS = [[day, str(len(evs))] for day, evs in sorted(SEED_EVENTS.items())]
SEED_ROWS = sum(len(evs) for evs in SEED_EVENTS.values())


def write_seed_events(directory):
    """One JSON-lines file per day, as the seed's raw/events/ layout."""
    directory.mkdir(parents=True, exist_ok=True)
    for day, evs in SEED_EVENTS.items():
        lines = [json.dumps({"user_id": u, "action": a, "amount": m, "timestamp": f"{day}T{10 + i:02d}:15:00"})
                 for i, (u, a, m) in enumerate(evs)]
        (directory / f"events-{day}.json").write_text("\n".join(lines) + "\n")


def seed_job_cli(aws, bucket, tmp_path, name):
    """Uploads the raw events and the example script with the CLI and creates the job."""
    write_seed_events(tmp_path / "raw")
    aws("s3", "cp", "--recursive", tmp_path / "raw", f"s3://{bucket}/raw/events/")
    aws("s3", "cp", REPO / "examples" / "glue" / "events_to_parquet.sql", f"s3://{bucket}/scripts/events_to_parquet.sql")
    aws.json("glue", "create-job", "--name", name, "--role", ROLE,
             "--command", f"Name=glueetl,ScriptLocation=s3://{bucket}/scripts/events_to_parquet.sql",
             "--default-arguments", json.dumps({"--src": f"s3://{bucket}/raw/events/",
                                                "--dst": f"s3://{bucket}/curated/events/"}))


def run_cli(aws, glue, name, timeout=60.0):
    """aws glue start-job-run; waits (boto3 polls: each CLI call costs a second); the final
    state as `aws glue get-job-run` shows it."""
    run_id = aws.json("glue", "start-job-run", "--job-name", name)["JobRunId"]
    assert run_id.startswith("jr_"), run_id
    wait_run(glue, name, run_id, timeout)
    return aws.json("glue", "get-job-run", "--job-name", name, "--run-id", run_id)["JobRun"]


def seed_job_boto3(glue, s3, bucket, name, **arguments):
    for day, evs in SEED_EVENTS.items():
        put_ndjson(s3, bucket, f"raw/events/events-{day}.json",
                   [{"user_id": u, "action": a, "amount": m, "timestamp": f"{day}T{10 + i:02d}:15:00"}
                    for i, (u, a, m) in enumerate(evs)])
    script = put_script(s3, bucket, "scripts/events_to_parquet.sql",
                        (REPO / "examples" / "glue" / "events_to_parquet.sql").read_text())
    glue.create_job(Name=name, Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": script},
                    DefaultArguments={"--src": f"s3://{bucket}/raw/events/", "--dst": f"s3://{bucket}/curated/events/",
                                      **arguments})


def curated_listing(aws, bucket):
    out = aws("s3", "ls", "--recursive", f"s3://{bucket}/curated/events/").stdout
    return sorted(line.split()[-1] for line in out.splitlines() if line.strip())


def test_seed_example_end_to_end_with_msck(aws, glue, athena, s3, bucket, db, tmp_path, server, sluice_bin):
    name = unique_name("seed")
    seed_job_cli(aws, bucket, tmp_path, name)
    try:
        run = run_cli(aws, glue, name)
        assert run["JobRunState"] == "SUCCEEDED", run
        assert run["Attempt"] == 0
        assert run["JobName"] == name
        assert isinstance(run["ExecutionTime"], int) and run["ExecutionTime"] >= 0
        assert run["StartedOn"] <= run["CompletedOn"]
        assert "ErrorMessage" not in run, run

        keys = curated_listing(aws, bucket)
        folders = sorted({k.split("/")[2] for k in keys})
        assert folders == [f"event_date={d}" for d in sorted(SEED_EVENTS)], keys
        assert all(re.fullmatch(r"curated/events/event_date=[0-9-]+/[^/]+\.parquet", k) for k in keys), keys

        logs = sluice_logs(sluice_bin, server, name, run["Id"], stream="output")
        assert "statement 1" in logs, logs
        assert re.search(rf"statement 1\b.*\b{SEED_ROWS}\b", logs), logs

        run_query(athena, ("CREATE EXTERNAL TABLE events (user_id string, action string, amount double) "
                           "PARTITIONED BY (event_date date) STORED AS PARQUET "
                           f"LOCATION 's3://{bucket}/curated/events/'"), db, bucket)
        # Made after the job ran: no partitions until MSCK REPAIR.
        assert glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"] == []
        run_query(athena, "MSCK REPAIR TABLE events", db, bucket)
        parts = glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]
        assert sorted(p["Values"][0] for p in parts) == sorted(SEED_EVENTS)
        _, rows = run_query(athena, "SELECT event_date, count(*) AS n FROM events GROUP BY event_date "
                                    "ORDER BY event_date", db, bucket)
        assert rows == [["event_date", "n"]] + SEED_COUNTS
        _, rows = run_query(athena, "SELECT action, count(*) AS n, sum(amount) AS amt FROM events "
                                    "WHERE event_date = DATE '2025-08-15' GROUP BY action ORDER BY action",
                            db, bucket)
        assert [(r[0], int(r[1]), float(r[2])) for r in rows[1:]] == [
            ("click", 1, 0.25), ("purchase", 2, 107.5), ("view", 1, 1.0)]
    finally:
        aws("glue", "delete-job", "--job-name", name)


def test_seed_example_registers_partitions_of_existing_table(glue, athena, s3, bucket, db, jobs):
    location = f"s3://{bucket}/curated/events/"
    run_query(athena, ("CREATE EXTERNAL TABLE events (user_id string, action string, amount double) "
                       "PARTITIONED BY (event_date date) STORED AS PARQUET "
                       f"LOCATION '{location}'"), db, bucket)
    name = unique_name("seedcat")
    seed_job_boto3(glue, s3, bucket, name, **{"--job-bookmark-option": "job-bookmark-enable"})
    try:
        run_job(glue, name)

        # The job registered the partitions itself: no MSCK REPAIR.
        parts = glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]
        assert sorted(p["Values"][0] for p in parts) == sorted(SEED_EVENTS)
        for p in parts:
            assert p["StorageDescriptor"]["Location"].rstrip("/") == f"{location}event_date={p['Values'][0]}", p
        count_sql = "SELECT event_date, count(*) AS n FROM events GROUP BY event_date ORDER BY event_date"
        _, rows = run_query(athena, count_sql, db, bucket)
        assert rows == [["event_date", "n"]] + SEED_COUNTS

        # Again with nothing new: the bookmark skips every file and the run writes nothing.
        before = list_all_keys(s3, bucket, Prefix="curated/events/")
        run_job(glue, name)
        assert list_all_keys(s3, bucket, Prefix="curated/events/") == before
        _, rows = run_query(athena, count_sql, db, bucket)
        assert rows == [["event_date", "n"]] + SEED_COUNTS
        assert len(glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]) == len(SEED_EVENTS)

        # A new batch is appended: to an existing day and a new one; the curated data stays.
        put_ndjson(s3, bucket, "raw/events/events-late.json", [
            {"user_id": "u7", "action": "view", "amount": 2.0, "timestamp": "2025-09-02T23:00:00"},
            {"user_id": "u8", "action": "click", "amount": 1.0, "timestamp": "2025-09-03T01:00:00"}])
        run_job(glue, name)
        counts = dict(SEED_COUNTS)
        counts["2025-09-02"] = str(int(counts["2025-09-02"]) + 1)
        counts["2025-09-03"] = "1"
        _, rows = run_query(athena, count_sql, db, bucket)
        assert rows == [["event_date", "n"]] + [[d, n] for d, n in sorted(counts.items())]
        assert set(before) < set(list_all_keys(s3, bucket, Prefix="curated/events/"))
        counts_now = [[d, n] for d, n in sorted(counts.items())]

        # Another job reads the catalog table as db.table and writes one CSV object.
        summary = put_script(s3, bucket, "scripts/summary.sql", (
            f"COPY (SELECT CAST(event_date AS VARCHAR) AS event_date, count(*) AS n FROM {db}.events "
            "GROUP BY 1 ORDER BY 1)\n"
            f"TO 's3://{bucket}/reports/summary.csv' (FORMAT CSV, HEADER);\n"))
        reader = jobs(summary)
        run_job(glue, reader)
        text = s3.get_object(Bucket=bucket, Key="reports/summary.csv")["Body"].read().decode()
        assert list(csv.reader(io.StringIO(text))) == [["event_date", "n"]] + counts_now
    finally:
        glue.delete_job(JobName=name)


# ---------------------------------------------------------------------------------------
# 3. Python shell jobs


WRITER_PY = """\
import json, os, sys
import boto3
from awsglue.utils import getResolvedOptions

args = getResolvedOptions(sys.argv, ["JOB_NAME", "JOB_RUN_ID", "bucket", "a", "b", "c"])
s3 = boto3.client("s3")
report = {"args": args, "argv": sys.argv[1:], "endpoint": bool(os.environ.get("AWS_ENDPOINT_URL"))}
s3.put_object(Bucket=args["bucket"], Key="out/" + args["JOB_RUN_ID"] + ".json", Body=json.dumps(report).encode())
print("hello-from-the-script", args["JOB_NAME"])
print("a-line-on-stderr", file=sys.stderr)
"""


def test_python_shell_job_writes_through_boto3(glue, jobs, s3, bucket, server, sluice_bin):
    script = put_script(s3, bucket, "scripts/writer.py", WRITER_PY)
    name = jobs(script, kind="pythonshell",
                DefaultArguments={"--bucket": bucket, "--a": "default-a", "--b": "default-b"},
                NonOverridableArguments={"--c": "fixed-c"})
    run = run_job(glue, name, Arguments={"--b": "run-b", "--c": "overridden?"})
    run_id = run["Id"]
    assert run_id.startswith("jr_")
    assert run["Arguments"] == {"--b": "run-b", "--c": "overridden?"}

    report = json.loads(s3.get_object(Bucket=bucket, Key=f"out/{run_id}.json")["Body"].read())
    assert report["args"] == {"JOB_NAME": name, "JOB_RUN_ID": run_id, "bucket": bucket,
                              "a": "default-a", "b": "run-b", "c": "fixed-c"}
    argv = report["argv"]
    for flag in ("--JOB_NAME", "--JOB_ID", "--JOB_RUN_ID", "--job-bookmark-option"):
        assert flag in argv, argv
    assert argv[argv.index("--job-bookmark-option") + 1] == "job-bookmark-disable"
    assert report["endpoint"] is True

    out = sluice_logs(sluice_bin, server, name, run_id, stream="output")
    assert f"hello-from-the-script {name}" in out, out
    assert "a-line-on-stderr" not in out, out
    err = sluice_logs(sluice_bin, server, name, run_id, stream="error")
    assert "a-line-on-stderr" in err and "hello-from-the-script" not in err, err
    both = sluice_logs(sluice_bin, server, name)  # the latest run, both streams
    assert "hello-from-the-script" in both and "a-line-on-stderr" in both, both

    status, reply = glue_api(server, "GetJobRunLogs", {"JobName": name, "RunId": run_id, "Stream": "output"})
    assert status == 200, reply
    assert "hello-from-the-script" in reply["Log"]
    status, reply = glue_api(server, "GetJobRunLogs", {"JobName": name, "RunId": "jr_nope", "Stream": "output"})
    assert status == 400 and "EntityNotFoundException" in json.dumps(reply), (status, reply)


def test_python_shell_failures(glue, jobs, s3, bucket, server, sluice_bin):
    token = uuid.uuid4().hex[:8]
    raising = jobs(put_script(s3, bucket, "scripts/raise.py", (
        "print('about to fail')\n"
        f"raise RuntimeError('kaboom-{token}')\n")), kind="pythonshell")
    exiting = jobs(put_script(s3, bucket, "scripts/exit3.py", (
        "import sys\n"
        "sys.stderr.write('first stderr line\\n')\n"
        f"sys.stderr.write('giving up {token}\\n')\n"
        "sys.exit(3)\n")), kind="pythonshell")
    r1 = start(glue, raising)
    r2 = start(glue, exiting)
    run = wait_run(glue, raising, r1)
    assert run["JobRunState"] == "FAILED", run
    assert "exit code 1" in run["ErrorMessage"], run
    assert f"RuntimeError: kaboom-{token}" in run["ErrorMessage"], run
    assert run["StartedOn"] <= run["CompletedOn"]
    assert "about to fail" in sluice_logs(sluice_bin, server, raising, r1, stream="output")
    assert f"kaboom-{token}" in sluice_logs(sluice_bin, server, raising, r1, stream="error")

    run = wait_run(glue, exiting, r2)
    assert run["JobRunState"] == "FAILED", run
    assert run["ErrorMessage"] == f"Command failed with exit code 3: giving up {token}", run


# ---------------------------------------------------------------------------------------
# 4. SQL jobs that fail


def test_sql_job_failures(glue, jobs, s3, bucket, tmp_path):
    escape = tmp_path / f"escape-{uuid.uuid4().hex[:6]}.parquet"
    cases = {
        # name: (script key, script text or None, check(error message))
        "bad_sql": ("bad.sql", "CREATE TABLE t AS SELECT 1 AS x;\n\nSELEC x FROM t;\nSELECT 2;\n",
                    lambda m: m.startswith("statement 2 (line 3): ")),
        "missing_script": ("does-not-exist.sql", None, lambda m: "does-not-exist.sql" in m),
        "install": ("install.sql", "SELECT 1;\nINSTALL httpfs;\n",
                    lambda m: m.startswith("statement 2 (line 2): ") and "INSTALL" in m.upper()),
        "attach": ("attach.sql", f"ATTACH '{tmp_path}/x.db' AS x;\n", lambda m: "ATTACH" in m.upper()),
        "set": ("set.sql", "SET threads = 1;\n", lambda m: "SET" in m.upper()),
        "pragma": ("pragma.sql", "PRAGMA version;\n", lambda m: "PRAGMA" in m.upper()),
        "missing_arg": ("missing-arg.sql", "SELECT '${no_such_arg_xyz}' AS v;\n",
                        lambda m: "no_such_arg_xyz" in m),
        "copy_local": ("copy-local.sql", f"COPY (SELECT 1 AS x) TO '{escape}' (FORMAT PARQUET);\n",
                       lambda m: "s3" in m.lower()),
        "pyspark": ("spark_job.py", "from pyspark.context import SparkContext\nSparkContext()\n",
                    lambda m: "spark" in m.lower()),
    }
    started = {}
    for case, (key, text, _check) in cases.items():
        location = f"s3://{bucket}/scripts/{key}"
        if text is not None:
            put_script(s3, bucket, f"scripts/{key}", text)
        name = jobs(location)
        started[case] = (name, start(glue, name))
    problems = []
    for case, (name, run_id) in started.items():
        run = wait_run(glue, name, run_id)
        msg = run.get("ErrorMessage", "")
        if run["JobRunState"] != "FAILED" or not cases[case][2](msg):
            problems.append((case, run["JobRunState"], msg))
    assert problems == []
    assert not escape.exists()
    assert not (tmp_path / "x.db").exists()


# ---------------------------------------------------------------------------------------
# 5. Stop and MaxConcurrentRuns


def test_batch_stop_job_run(glue, jobs, s3, bucket):
    name = jobs(put_script(s3, bucket, "scripts/sleeper.py", SLEEPER_PY), kind="pythonshell",
                DefaultArguments={"--bucket": bucket, "--seconds": "60"})
    run_id = start(glue, name)
    pids = wait_pids(s3, bucket, run_id)
    assert all(pid_alive(p) for p in pids), pids
    assert glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]["JobRunState"] == "RUNNING"

    t0 = time.monotonic()
    reply = glue.batch_stop_job_run(JobName=name, JobRunIds=[run_id, "jr_" + "f" * 64])
    assert reply["SuccessfulSubmissions"] == [{"JobName": name, "JobRunId": run_id}], reply
    assert [e["JobRunId"] for e in reply["Errors"]] == ["jr_" + "f" * 64], reply
    assert reply["Errors"][0]["ErrorDetail"]["ErrorCode"], reply
    run = wait_run(glue, name, run_id, timeout=10)
    assert run["JobRunState"] == "STOPPED", run
    assert time.monotonic() - t0 < 10
    assert run["ExecutionTime"] < 30, run
    _wait(lambda: not any(pid_alive(p) for p in pids), 5, f"processes {pids} to end")

    # Stopping a finished run is an error entry, not a failure of the call.
    reply = glue.batch_stop_job_run(JobName=name, JobRunIds=[run_id])
    assert reply["SuccessfulSubmissions"] == [] and len(reply["Errors"]) == 1, reply


def test_max_concurrent_runs(glue, jobs, s3, bucket):
    script = put_script(s3, bucket, "scripts/sleeper.py", SLEEPER_PY)
    one = jobs(script, kind="pythonshell", DefaultArguments={"--bucket": bucket, "--seconds": "60"})
    first = start(glue, one)
    wait_pids(s3, bucket, first)
    with pytest.raises(ClientError) as e:
        glue.start_job_run(JobName=one)
    assert code(e) == "ConcurrentRunsExceededException"
    assert len(glue.get_job_runs(JobName=one)["JobRuns"]) == 1
    glue.batch_stop_job_run(JobName=one, JobRunIds=[first])
    assert wait_run(glue, one, first, timeout=10)["JobRunState"] == "STOPPED"
    # Room again once the first run ended.
    again = start(glue, one)
    wait_run(glue, one, again, until=("RUNNING",) + FINAL_STATES, timeout=10)
    glue.batch_stop_job_run(JobName=one, JobRunIds=[again])
    assert wait_run(glue, one, again, timeout=10)["JobRunState"] == "STOPPED"

    two = jobs(script, kind="pythonshell", DefaultArguments={"--bucket": bucket, "--seconds": "60"},
               ExecutionProperty={"MaxConcurrentRuns": 2})
    a, b = start(glue, two), start(glue, two)
    with pytest.raises(ClientError) as e:
        glue.start_job_run(JobName=two)
    assert code(e) == "ConcurrentRunsExceededException"
    reply = glue.batch_stop_job_run(JobName=two, JobRunIds=[a, b])
    assert sorted(s["JobRunId"] for s in reply["SuccessfulSubmissions"]) == sorted([a, b]), reply
    for r in (a, b):
        assert wait_run(glue, two, r, timeout=10)["JobRunState"] == "STOPPED"


# ---------------------------------------------------------------------------------------
# 6. Timeout (the one slow test: a run's Timeout is whole minutes)


def test_run_timeout(glue, jobs, s3, bucket):
    name = jobs(put_script(s3, bucket, "scripts/sleeper.py", SLEEPER_PY), kind="pythonshell",
                DefaultArguments={"--bucket": bucket, "--seconds": "300"}, Timeout=10)
    run_id = start(glue, name, Timeout=1)  # the run's Timeout overrides the job's
    pids = wait_pids(s3, bucket, run_id)
    t0 = time.monotonic()
    run = wait_run(glue, name, run_id, timeout=100, interval=1.0)
    assert run["JobRunState"] == "TIMEOUT", run
    assert run["Timeout"] == 1, run
    assert 55 <= run["ExecutionTime"] <= 80, run
    assert time.monotonic() - t0 < 80
    _wait(lambda: not any(pid_alive(p) for p in pids), 5, f"processes {pids} to end")


# ---------------------------------------------------------------------------------------
# 7. Retries


def test_max_retries(glue, jobs, s3, bucket):
    name = jobs(put_script(s3, bucket, "scripts/fail.py", "import sys\nsys.exit('always fails')\n"),
                kind="pythonshell", MaxRetries=1)
    first = start(glue, name, Arguments={"--tag": "t1"})

    def two_final_runs():
        runs = glue.get_job_runs(JobName=name)["JobRuns"]
        return runs if len(runs) >= 2 and all(r["JobRunState"] in FINAL_STATES for r in runs) else None

    runs = _wait(two_final_runs, 30, "the run and its retry")
    time.sleep(0.5)  # a (wrong) second retry would start right after the first one failed
    runs = glue.get_job_runs(JobName=name)["JobRuns"]
    assert [r["Id"] for r in runs] == [f"{first}_attempt_1", first], runs
    retry, orig = runs
    assert orig["Attempt"] == 0 and orig["JobRunState"] == "FAILED", orig
    assert "PreviousRunId" not in orig, orig
    assert retry["Attempt"] == 1 and retry["JobRunState"] == "FAILED", retry
    assert retry["PreviousRunId"] == first, retry
    assert retry["Arguments"] == {"--tag": "t1"}, retry
    assert "always fails" in orig["ErrorMessage"] and "always fails" in retry["ErrorMessage"]
    assert orig["CompletedOn"] <= retry["StartedOn"]


# ---------------------------------------------------------------------------------------
# 8. Job bookmarks


BOOKMARK_SQL = """\
CREATE TABLE staged AS SELECT id, '${JOB_RUN_ID}' AS run FROM read_json_auto('${src}');
SELECT CAST('${check}' AS INTEGER) AS ok;
COPY staged TO '${dst}' (FORMAT PARQUET);
"""


def test_job_bookmarks(glue, athena, jobs, s3, bucket, db, server, sluice_bin):
    src, dst = f"s3://{bucket}/in/", f"s3://{bucket}/out/"
    name = jobs(put_script(s3, bucket, "scripts/bookmarked.sql", BOOKMARK_SQL),
                DefaultArguments={"--src": src, "--dst": dst, "--check": "1",
                                  "--job-bookmark-option": "job-bookmark-enable"})
    run_query(athena, f"CREATE EXTERNAL TABLE copied (id bigint, run string) STORED AS PARQUET LOCATION '{dst}'",
              db, bucket)

    def ids_by_run():
        if not list_all_keys(s3, bucket, Prefix="out/"):
            return {}
        _, rows = run_query(athena, "SELECT run, id FROM copied", db, bucket)
        out = {}
        for run, i in rows[1:]:
            out.setdefault(run, []).append(int(i))
        return {k: sorted(v) for k, v in out.items()}

    def put(key, ids):
        put_ndjson(s3, bucket, f"in/{key}", [{"id": i} for i in ids])

    def bookmark():
        return glue.get_job_bookmark(JobName=name)["JobBookmarkEntry"]

    with pytest.raises(ClientError) as e:
        glue.get_job_bookmark(JobName=name)
    assert code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.start_job_run(JobName=name, Arguments={"--job-bookmark-option": "job-bookmark-sometimes"})
    assert code(e) == "InvalidInputException"

    all_runs = []

    def run(expect="SUCCEEDED", **kw):
        r = run_job(glue, name, expect=expect, **kw)
        all_runs.append(r["Id"])
        return r["Id"]

    put("a.json", [1, 2])
    put("b.json", [3])
    r1 = run()
    assert ids_by_run() == {r1: [1, 2, 3]}
    bm = bookmark()
    assert bm["JobName"] == name
    assert bm["Run"] == 1 and bm["RunId"] == r1 and bm["Attempt"] == 0, bm
    assert isinstance(bm["Version"], int) and bm["Version"] >= 1, bm
    assert isinstance(json.loads(bm["JobBookmark"]), dict), bm

    put("c.json", [4])
    r2 = run()
    assert ids_by_run() == {r1: [1, 2, 3], r2: [4]}
    bm2 = bookmark()
    assert bm2["Run"] == 2 and bm2["RunId"] == r2 and bm2["PreviousRunId"] == r1, bm2
    assert bm2["Version"] > bm["Version"], (bm, bm2)

    # Nothing new: the run succeeds and skips the rest of the script.
    out_keys = list_all_keys(s3, bucket, Prefix="out/")
    assert len(out_keys) == 2 and all(re.fullmatch(r"out/part-[^/]+\.parquet", k) for k in out_keys), out_keys
    r3 = run()
    assert list_all_keys(s3, bucket, Prefix="out/") == out_keys
    assert "No new data" in sluice_logs(sluice_bin, server, name, r3, stream="output")

    # A failed run does not move the bookmark; the next run reads the same new file.
    put("d.json", [5])
    before = bookmark()
    r4 = run(expect="FAILED", Arguments={"--check": "not-a-number"})
    assert glue.get_job_run(JobName=name, RunId=r4)["JobRun"]["ErrorMessage"].startswith("statement 2 (line 2): ")
    after = bookmark()
    assert (after["RunId"], after["Run"]) == (before["RunId"], before["Run"]), (before, after)
    r5 = run()
    assert ids_by_run()[r5] == [5]

    # pause reads only new data and leaves the bookmark where it was.
    put("e.json", [6])
    rp = run(Arguments={"--job-bookmark-option": "job-bookmark-pause"})
    assert ids_by_run()[rp] == [6]
    assert bookmark()["RunId"] == r5
    r6 = run()
    assert ids_by_run()[r6] == [6]

    # A changed object (new ETag) is new data.
    put("a.json", [10, 11])
    r7 = run()
    assert ids_by_run()[r7] == [10, 11]

    # disable reads everything and does not move the bookmark.
    rd = run(Arguments={"--job-bookmark-option": "job-bookmark-disable"})
    assert ids_by_run()[rd] == [3, 4, 5, 6, 10, 11]
    assert bookmark()["RunId"] == r7

    # Rewind to the state after r2: a (changed since), d and e are new again.
    entry = glue.reset_job_bookmark(JobName=name, RunId=r2)["JobBookmarkEntry"]
    assert entry["JobName"] == name
    r8 = run()
    assert ids_by_run()[r8] == [5, 6, 10, 11]

    # A whole reset: everything again.
    entry = glue.reset_job_bookmark(JobName=name)["JobBookmarkEntry"]
    assert entry["JobName"] == name
    r9 = run()
    by_run = ids_by_run()
    assert by_run[r9] == [3, 4, 5, 6, 10, 11]
    assert set(by_run) == {r1, r2, r5, rp, r6, r7, rd, r8, r9}  # r3 (nothing new), r4 (failed): no rows
    assert bookmark()["RunId"] == r9

    # GetJobRuns: newest first, in pages.
    paged, token = [], None
    while True:
        page = glue.get_job_runs(JobName=name, MaxResults=3, **({"NextToken": token} if token else {}))
        assert len(page["JobRuns"]) <= 3
        paged.extend(r["Id"] for r in page["JobRuns"])
        token = page.get("NextToken")
        if not token:
            break
    assert paged == list(reversed(all_runs))


# ---------------------------------------------------------------------------------------
# 9. SQL runs: private catalogs, sources, append and overwrite


def test_each_run_has_a_private_catalog(glue, jobs, s3, bucket):
    creator = jobs(put_script(s3, bucket, "scripts/create.sql", (
        "CREATE TABLE t AS SELECT 42 AS x;\n"
        "CREATE TABLE only_in_one_run AS SELECT x FROM t;\n"
        "COPY (SELECT x, '${JOB_RUN_ID}' AS run FROM t) TO '${dst}' (FORMAT CSV, HEADER);\n")),
        DefaultArguments={"--dst": f"s3://{bucket}/private/"})
    r1 = run_job(glue, creator)["Id"]
    r2 = run_job(glue, creator)["Id"]  # CREATE TABLE t again: no "already exists"
    keys = list_all_keys(s3, bucket, Prefix="private/")
    assert len(keys) == 2, keys
    runs = set()
    for k in keys:
        rows = list(csv.reader(io.StringIO(s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode())))
        assert rows[0] == ["x", "run"] and rows[1][0] == "42", rows
        runs.add(rows[1][1])
    assert runs == {r1, r2}

    reader = jobs(put_script(s3, bucket, "scripts/read-other.sql", "SELECT * FROM only_in_one_run;\n"))
    run = run_job(glue, reader, expect="FAILED")
    assert run["ErrorMessage"].startswith("statement 1 (line 1): ") and "only_in_one_run" in run["ErrorMessage"], run


def test_sql_sources_and_copy_modes(glue, jobs, s3, bucket):
    put_ndjson(s3, bucket, "raw/x.json", [{"v": 1}, {"v": 2}])
    put_ndjson(s3, bucket, "raw/y.json", [{"v": 3}, {"v": 4}, {"v": 5}])
    s3.put_object(Bucket=bucket, Key="raw/z.csv", Body=b"v\n100\n")
    s3.put_object(Bucket=bucket, Key="app/stale.txt", Body=b"old")
    name = jobs(put_script(s3, bucket, "scripts/sources.sql", (
        f"CREATE TABLE g AS SELECT * FROM 's3://{bucket}/raw/*.json';\n"
        f"CREATE TABLE one AS SELECT * FROM 's3://{bucket}/raw/x.json';\n"
        f"CREATE TABLE c AS SELECT * FROM read_csv_auto('s3://{bucket}/raw/z.csv');\n"
        "COPY (SELECT (SELECT count(*) FROM g) AS glob_rows, (SELECT sum(v) FROM g) AS glob_sum,\n"
        "             (SELECT count(*) FROM one) AS one_rows, (SELECT max(v) FROM c) AS csv_max)\n"
        f"  TO 's3://{bucket}/counts/result.csv' (FORMAT CSV, HEADER);\n"
        f"COPY (SELECT 1 AS v) TO 's3://{bucket}/app/' (FORMAT PARQUET${{mode}});\n")),
        DefaultArguments={"--mode": ""})
    r1 = run_job(glue, name)["Id"]
    text = s3.get_object(Bucket=bucket, Key="counts/result.csv")["Body"].read().decode()
    assert list(csv.reader(io.StringIO(text))) == [["glob_rows", "glob_sum", "one_rows", "csv_max"],
                                                   ["5", "15", "2", "100"]]
    app = sorted(list_all_keys(s3, bucket, Prefix="app/"))
    assert len(app) == 2 and "app/stale.txt" in app, app
    part = [k for k in app if k != "app/stale.txt"][0]
    assert re.fullmatch(r"app/part-[0-9a-zA-Z]+-\d+\.parquet", part), part

    # Without OVERWRITE a second run appends.
    r2 = run_job(glue, name)["Id"]
    assert r2 != r1
    app2 = sorted(list_all_keys(s3, bucket, Prefix="app/"))
    assert len(app2) == 3 and set(app) < set(app2), app2

    # OVERWRITE: what was under the prefix is replaced by this run's file.
    run_job(glue, name, Arguments={"--mode": ", OVERWRITE"})
    app3 = list_all_keys(s3, bucket, Prefix="app/")
    assert len(app3) == 1 and re.fullmatch(r"app/part-[0-9a-zA-Z]+-\d+\.parquet", app3[0]), app3


# ---------------------------------------------------------------------------------------
# Bookmarks over catalog tables, retries of bookmarked runs


def csv_rows_under(s3, bucket, prefix):
    """(run, id) of every data row of the CSV objects under prefix (with headers id,run)."""
    out = []
    for key in list_all_keys(s3, bucket, Prefix=prefix):
        rows = list(csv.reader(io.StringIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode())))
        assert rows and rows[0] == ["id", "run"], (key, rows)
        out.extend((run, int(i)) for i, run in rows[1:])
    return out


def by_run(pairs):
    out = {}
    for run, i in pairs:
        out.setdefault(run, []).append(i)
    return {k: sorted(v) for k, v in out.items()}


def test_bookmark_over_a_catalog_table(glue, athena, jobs, s3, bucket, db):
    run_query(athena, ("CREATE EXTERNAL TABLE src (id bigint) "
                       "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
                       f"LOCATION 's3://{bucket}/tbl/'"), db, bucket)
    name = jobs(put_script(s3, bucket, "scripts/from-table.sql", (
        f"COPY (SELECT id, '${{JOB_RUN_ID}}' AS run FROM {db}.src) TO 's3://{bucket}/tout/' (FORMAT CSV, HEADER);\n")),
        DefaultArguments={"--job-bookmark-option": "job-bookmark-enable"})
    put_ndjson(s3, bucket, "tbl/a.json", [{"id": 1}, {"id": 2}])
    put_ndjson(s3, bucket, "tbl/b.json", [{"id": 3}])
    r1 = run_job(glue, name)["Id"]
    assert by_run(csv_rows_under(s3, bucket, "tout/")) == {r1: [1, 2, 3]}
    put_ndjson(s3, bucket, "tbl/c.json", [{"id": 4}])
    r2 = run_job(glue, name)["Id"]
    assert by_run(csv_rows_under(s3, bucket, "tout/")) == {r1: [1, 2, 3], r2: [4]}
    # Nothing new in the table: the run succeeds and copies no rows.
    r3 = run_job(glue, name)["Id"]
    assert by_run(csv_rows_under(s3, bucket, "tout/")) == {r1: [1, 2, 3], r2: [4]}
    bm = glue.get_job_bookmark(JobName=name)["JobBookmarkEntry"]
    assert bm["RunId"] in (r2, r3), bm
    # Without the bookmark the whole table is read.
    rd = run_job(glue, name, Arguments={"--job-bookmark-option": "job-bookmark-disable"})["Id"]
    assert by_run(csv_rows_under(s3, bucket, "tout/"))[rd] == [1, 2, 3, 4]


def test_bookmarked_overwrite_with_nothing_new_keeps_the_output(glue, athena, jobs, s3, bucket, db):
    """A bookmarked run that reads nothing new writes nothing, as on AWS Glue: an
    OVERWRITE of a catalog table's (now empty) new rows does not empty the output."""
    run_query(athena, ("CREATE EXTERNAL TABLE ow_src (id bigint) "
                       "ROW FORMAT SERDE 'org.openx.data.jsonserde.JsonSerDe' "
                       f"LOCATION 's3://{bucket}/owsrc/'"), db, bucket)
    name = jobs(put_script(s3, bucket, "scripts/ow.sql", (
        f"COPY (SELECT id, '${{JOB_RUN_ID}}' AS run FROM {db}.ow_src) TO 's3://{bucket}/owout/' "
        "(FORMAT CSV, HEADER, OVERWRITE);\n")),
        DefaultArguments={"--job-bookmark-option": "job-bookmark-enable"})
    put_ndjson(s3, bucket, "owsrc/a.json", [{"id": 1}, {"id": 2}])
    r1 = run_job(glue, name)["Id"]
    keys = list_all_keys(s3, bucket, Prefix="owout/")
    assert by_run(csv_rows_under(s3, bucket, "owout/")) == {r1: [1, 2]}
    run_job(glue, name)
    assert list_all_keys(s3, bucket, Prefix="owout/") == keys
    assert by_run(csv_rows_under(s3, bucket, "owout/")) == {r1: [1, 2]}
    # New data: the OVERWRITE replaces the output with the new rows.
    put_ndjson(s3, bucket, "owsrc/b.json", [{"id": 3}])
    r3 = run_job(glue, name)["Id"]
    assert by_run(csv_rows_under(s3, bucket, "owout/")) == {r3: [3]}


RETRY_SQL = """\
CREATE TABLE staged AS SELECT id, '${JOB_RUN_ID}' AS run FROM read_json_auto('${src}');
SELECT CAST(CASE WHEN ends_with('${JOB_RUN_ID}', '_attempt_1') THEN '1' ELSE 'first attempt fails' END AS INTEGER);
COPY staged TO '${dst}' (FORMAT CSV, HEADER);
"""


def test_retry_of_a_bookmarked_run_rereads_its_input(glue, jobs, s3, bucket):
    name = jobs(put_script(s3, bucket, "scripts/retry.sql", RETRY_SQL), MaxRetries=1,
                DefaultArguments={"--src": f"s3://{bucket}/in/", "--dst": f"s3://{bucket}/out/",
                                  "--job-bookmark-option": "job-bookmark-enable"})
    put_ndjson(s3, bucket, "in/a.json", [{"id": 1}, {"id": 2}])
    put_ndjson(s3, bucket, "in/b.json", [{"id": 3}])
    first = start(glue, name)
    retry_id = f"{first}_attempt_1"

    def retried():
        try:
            return wait_run(glue, name, retry_id, timeout=0)
        except (ClientError, AssertionError):
            return None

    retry = _wait(retried, 30, "the retry to finish")
    orig = glue.get_job_run(JobName=name, RunId=first)["JobRun"]
    assert orig["JobRunState"] == "FAILED" and orig["ErrorMessage"].startswith("statement 2 (line 2): "), orig
    assert retry["JobRunState"] == "SUCCEEDED", retry
    assert retry["Attempt"] == 1 and retry["PreviousRunId"] == first, retry
    # The failed attempt read a and b but did not advance the bookmark: the retry reads them.
    assert by_run(csv_rows_under(s3, bucket, "out/")) == {retry_id: [1, 2, 3]}
    bm = glue.get_job_bookmark(JobName=name)["JobBookmarkEntry"]
    assert bm["RunId"] == retry_id and bm["Attempt"] == 1, bm


# ---------------------------------------------------------------------------------------
# A server crash while a run is active


def test_run_active_when_the_server_dies_ends_error(server_factory):
    from sluice_helpers import make_s3, unique_bucket
    srv = server_factory()
    s3, glue = make_s3(srv.endpoint), make_client("glue", srv.endpoint)
    bucket = unique_bucket("crash")
    s3.create_bucket(Bucket=bucket)
    name = unique_name("crash")
    glue.create_job(Name=name, Role=ROLE, Command={
        "Name": "pythonshell", "ScriptLocation": put_script(s3, bucket, "scripts/sleeper.py", SLEEPER_PY)},
        DefaultArguments={"--bucket": bucket, "--seconds": "60"})
    run_id = start(glue, name)
    pids = wait_pids(s3, bucket, run_id)
    try:
        srv.kill()
        srv.start()
        glue = make_client("glue", srv.endpoint)
        run = glue.get_job_run(JobName=name, RunId=run_id)["JobRun"]
        assert run["JobRunState"] == "ERROR", run
        assert run.get("ErrorMessage"), run
        assert "CompletedOn" in run, run
        # The job survived and runs again.
        s3 = make_s3(srv.endpoint)
        s3.put_object(Bucket=bucket, Key="scripts/ok.sql", Body=b"SELECT 1;")
        glue.update_job(JobName=name, JobUpdate={"Role": ROLE, "Command": {
            "Name": "glueetl", "ScriptLocation": f"s3://{bucket}/scripts/ok.sql"}})
        run_job(glue, name)
    finally:
        for pid in pids:  # the orphaned script of the killed server, if it is still there
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass


# ---------------------------------------------------------------------------------------
# Error positions, stopping a SQL run


def test_sql_error_names_the_statement_and_its_line(glue, jobs, s3, bucket):
    """Line L is where the failing statement starts, not a comment above it."""
    name = jobs(put_script(s3, bucket, "scripts/commented.sql", (
        "-- Step one: a table.\n"                      # line 1
        "CREATE TABLE t AS SELECT 1 AS x;\n"           # line 2
        "\n"                                           # line 3
        "-- Step two: a typo.\n"                       # line 4
        "-- (on the next line)\n"                      # line 5
        "SELECT no_such_column FROM t;\n")))           # line 6
    run = run_job(glue, name, expect="FAILED")
    msg = run["ErrorMessage"]
    assert msg.startswith("statement 2 (line 6): "), msg
    assert "no_such_column" in msg, msg


def test_stop_a_long_sql_statement(glue, jobs, s3, bucket):
    name = jobs(put_script(s3, bucket, "scripts/long.sql", (
        "SELECT sum((i * i) % 7) FROM range(1000000000000) t(i);\n"
        f"COPY (SELECT 1 AS x) TO 's3://{bucket}/after-stop/x.csv' (FORMAT CSV);\n")))
    run_id = start(glue, name)
    run = wait_run(glue, name, run_id, until=("RUNNING",) + FINAL_STATES, timeout=10)
    assert run["JobRunState"] == "RUNNING", run
    time.sleep(1)  # let the query get going
    reply = glue.batch_stop_job_run(JobName=name, JobRunIds=[run_id])
    assert [s["JobRunId"] for s in reply["SuccessfulSubmissions"]] == [run_id], reply
    t0 = time.monotonic()
    run = wait_run(glue, name, run_id, timeout=15)
    assert run["JobRunState"] == "STOPPED", run
    assert time.monotonic() - t0 < 10
    assert list_all_keys(s3, bucket, Prefix="after-stop/") == []
