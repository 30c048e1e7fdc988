"""Step Functions (AWSStepFunctions.*): state machines, executions and their history,
task tokens and activities, and the service integrations that make Sluice's pipelines
(Glue jobs, Athena queries, EventBridge) run from one endpoint.

Executions are driven the way a pipeline does it: CreateStateMachine, StartExecution,
poll DescribeExecution until a final status, then look at GetExecutionHistory and at
what the tasks left in the lake (Glue job runs, S3 objects, Athena results).
"""

import datetime
import json
import threading
import time
import urllib.error
import urllib.request

import botocore.auth
import botocore.credentials
import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from sluice_helpers import (ACCESS_KEY, REGION, SECRET_KEY, client_error, empty_bucket, list_all_keys,
                            make_client, make_s3, unique_bucket, unique_name, wait_for)
from test_glue_jobs import SEED_EVENTS, put_script, seed_job_boto3, wait_run

ROLE = "arn:aws:iam::000000000000:role/StatesExecutionRole"
ACCOUNT = "000000000000"
FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")
SEED_JOB = "etl-events"  # the job name the seed's state machine starts


# ---------------------------------------------------------------------------------------
# Helpers


def sfn_client(endpoint, **kw):
    # StartSyncExecution has the host prefix "sync-" (sync-states.<region>.amazonaws.com):
    # on a plain endpoint it must not be injected.
    return make_client("stepfunctions", endpoint, inject_host_prefix=False, **kw)


@pytest.fixture(scope="module")
def sfn(server):
    return sfn_client(server.endpoint)


@pytest.fixture(scope="module")
def events(server):
    return make_client("events", server.endpoint)


def code(excinfo):
    return client_error(excinfo)[0]


def machine_arn(name):
    return f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"


def states_api(server, action, body):
    """A signed AWSStepFunctions.<action> call (for actions boto3 1.26 does not know)."""
    data = json.dumps(body).encode()
    req = AWSRequest(method="POST", url=f"{server.endpoint}/", data=data, headers={
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AWSStepFunctions.{action}"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY), "states", REGION).add_auth(req)
    r = urllib.request.Request(req.url, data=data, headers=dict(req.headers.items()), method="POST")
    try:
        with urllib.request.urlopen(r, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def wait_execution(sfn, arn, timeout=30.0, until=FINAL):
    """DescribeExecution until the status is in `until`; returns it."""
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        ex = sfn.describe_execution(executionArn=arn)
        if ex["status"] in until:
            return ex
        if time.monotonic() > deadline:
            raise AssertionError(f"execution {arn} not in {until} after {timeout}s: {ex}\n"
                                 f"history: {[e['type'] for e in history(sfn, arn)]}")
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def history(sfn, arn, **kw):
    """Every event of an execution, across pages."""
    out, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=arn, **kw, **({"nextToken": token} if token else {}))
        out.extend(page["events"])
        token = page.get("nextToken")
        if not token:
            return out


def types(events):
    return [e["type"] for e in events]


def details(event):
    """The one *EventDetails member of a history event ({} if it has none)."""
    ds = [v for k, v in event.items() if k.endswith("EventDetails")]
    assert len(ds) <= 1, event
    return ds[0] if ds else {}


def wait_history(sfn, arn, event_type, timeout=15.0):
    """Waits until the execution's history has an event of `event_type`; returns the events."""
    return wait_for(lambda: (lambda evs: evs if event_type in types(evs) else None)(history(sfn, arn)),
                    timeout, interval=0.05, what=f"{event_type} in the history of {arn}")


def run(sfn, arn, input=None, timeout=30.0, **kw):
    """StartExecution and wait for its final status."""
    args = {"stateMachineArn": arn, **kw}
    if input is not None:
        args["input"] = input if isinstance(input, str) else json.dumps(input)
    ex_arn = sfn.start_execution(**args)["executionArn"]
    return wait_execution(sfn, ex_arn, timeout)


class Machines:
    """Creates state machines (unique names) and cleans them up: stops what still runs."""

    def __init__(self, sfn):
        self.sfn = sfn
        self.arns = []

    def __call__(self, definition, name=None, type="STANDARD", prefix="sm"):
        name = name or unique_name(prefix)
        text = definition if isinstance(definition, str) else json.dumps(definition)
        arn = self.sfn.create_state_machine(name=name, definition=text, roleArn=ROLE, type=type)["stateMachineArn"]
        assert arn == machine_arn(name)
        self.arns.append(arn)
        return arn

    def cleanup(self):
        for arn in self.arns:
            try:
                for ex in self.sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
                    self.sfn.stop_execution(executionArn=ex["executionArn"])
                self.sfn.delete_state_machine(stateMachineArn=arn)
            except ClientError:
                pass


@pytest.fixture
def machines(sfn):
    m = Machines(sfn)
    yield m
    m.cleanup()


@pytest.fixture
def glue_jobs(glue):
    """Creates Glue jobs running SQL scripts; deletes them afterwards: glue_jobs(script_uri, name=)."""
    made = []

    def create(script_location, name=None, **kw):
        name = name or unique_name("job")
        glue.create_job(Name=name, Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": script_location}, **kw)
        made.append(name)
        return name

    yield create
    for name in made:
        try:
            glue.delete_job(JobName=name)
        except ClientError:
            pass


def pass_choice_succeed():
    return {
        "Comment": "Pass -> Choice -> Succeed",
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Result": {"kind": "big", "n": 7}, "ResultPath": "$.prepared",
                        "Next": "Route"},
            "Route": {"Type": "Choice",
                      "Choices": [{"Variable": "$.prepared.n", "NumericGreaterThan": 5, "Next": "Done"}],
                      "Default": "Reject"},
            "Done": {"Type": "Succeed"},
            "Reject": {"Type": "Fail", "Error": "TooSmall", "Cause": "n is not above 5"},
        },
    }


def waiting(seconds, then="Done"):
    """Waits `seconds` then ends with a Pass."""
    return {"StartAt": "Hold", "States": {
        "Hold": {"Type": "Wait", "Seconds": seconds, "Next": then},
        then: {"Type": "Pass", "Result": "done", "ResultPath": "$.after", "End": True}}}


# ---------------------------------------------------------------------------------------
# 1. State machines: CRUD and errors, through the CLI and boto3


BAD_TARGET = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"},
                                          "B": {"Type": "Succeed"}}}


def test_state_machine_crud_and_errors_cli_and_boto3(aws, sfn, server):
    name = unique_name("crud")
    definition = json.dumps(pass_choice_succeed())
    out = aws.json("stepfunctions", "create-state-machine", "--name", name, "--definition", definition,
                   "--role-arn", ROLE)
    arn = out["stateMachineArn"]
    assert arn == machine_arn(name), out
    assert "creationDate" in out, out
    try:
        d = sfn.describe_state_machine(stateMachineArn=arn)
        assert d["name"] == name and d["stateMachineArn"] == arn
        assert json.loads(d["definition"]) == pass_choice_succeed()
        assert d["roleArn"] == ROLE
        assert d["type"] == "STANDARD"
        assert d["status"] == "ACTIVE"
        assert d["creationDate"] == sfn.describe_state_machine(stateMachineArn=arn)["creationDate"]
        cli = aws.json("stepfunctions", "describe-state-machine", "--state-machine-arn", arn)
        assert cli["definition"] == d["definition"] and cli["type"] == "STANDARD", cli

        listed = {m["stateMachineArn"]: m for m in sfn.list_state_machines()["stateMachines"]}
        assert listed[arn]["name"] == name and listed[arn]["type"] == "STANDARD", listed[arn]
        cli_list = aws.json("stepfunctions", "list-state-machines")["stateMachines"]
        assert arn in [m["stateMachineArn"] for m in cli_list]

        # Creating the same machine again is idempotent; a different definition conflicts.
        again = sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE)
        assert again["stateMachineArn"] == arn
        assert again["creationDate"] == d["creationDate"]
        other = json.dumps({"StartAt": "X", "States": {"X": {"Type": "Succeed"}}})
        with pytest.raises(ClientError) as e:
            sfn.create_state_machine(name=name, definition=other, roleArn=ROLE)
        assert code(e) == "StateMachineAlreadyExists", e.value.response
        dup = aws("stepfunctions", "create-state-machine", "--name", name, "--definition", other,
                  "--role-arn", ROLE, check=False)
        assert dup.returncode != 0 and "StateMachineAlreadyExists" in dup.stderr, dup.stderr

        # UpdateStateMachine replaces the definition.
        upd = sfn.update_state_machine(stateMachineArn=arn, definition=other)
        assert "updateDate" in upd, upd
        assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == json.loads(other)
        ex = run(sfn, arn, {"x": 1})
        assert ex["status"] == "SUCCEEDED" and json.loads(ex["output"]) == {"x": 1}, ex
        # ... but not with an invalid one.
        with pytest.raises(ClientError) as e:
            sfn.update_state_machine(stateMachineArn=arn, definition=json.dumps(BAD_TARGET))
        assert code(e) == "InvalidDefinition"
        assert json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"]) == json.loads(other)
        # DescribeStateMachineForExecution: the machine the execution ran.
        for_ex = sfn.describe_state_machine_for_execution(executionArn=ex["executionArn"])
        assert for_ex["stateMachineArn"] == arn and json.loads(for_ex["definition"]) == json.loads(other), for_ex
    finally:
        assert aws.json("stepfunctions", "delete-state-machine", "--state-machine-arn", arn) == {}

    with pytest.raises(ClientError) as e:
        sfn.describe_state_machine(stateMachineArn=arn)
    assert code(e) == "StateMachineDoesNotExist"
    assert arn not in [m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]]
    missing = aws("stepfunctions", "describe-state-machine", "--state-machine-arn", arn, check=False)
    assert missing.returncode != 0 and "StateMachineDoesNotExist" in missing.stderr, missing.stderr
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn)
    assert code(e) == "StateMachineDoesNotExist"

    # Malformed ARNs.
    for bad_arn in ("not-an-arn", f"arn:aws:s3:::{name}"):
        with pytest.raises(ClientError) as e:
            sfn.describe_state_machine(stateMachineArn=bad_arn)
        assert code(e) == "InvalidArn", (bad_arn, e.value.response)
    with pytest.raises(ClientError) as e:
        sfn.describe_execution(executionArn="not-an-arn")
    assert code(e) == "InvalidArn"
    with pytest.raises(ClientError) as e:
        sfn.describe_execution(executionArn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{name}:nope")
    assert code(e) == "ExecutionDoesNotExist"

    # Invalid definitions: the message names the problem, AWS style.
    bad_name = unique_name("bad")
    with pytest.raises(ClientError) as e:
        sfn.create_state_machine(name=bad_name, definition=json.dumps(BAD_TARGET), roleArn=ROLE)
    assert code(e) == "InvalidDefinition"
    msg = e.value.response["Error"]["Message"]
    assert msg.startswith("Invalid State Machine Definition: "), msg
    assert "MISSING_TRANSITION_TARGET" in msg and "Nowhere" in msg, msg
    cli_bad = aws("stepfunctions", "create-state-machine", "--name", bad_name, "--definition",
                  json.dumps(BAD_TARGET), "--role-arn", ROLE, check=False)
    assert cli_bad.returncode != 0 and "InvalidDefinition" in cli_bad.stderr, cli_bad.stderr
    assert "MISSING_TRANSITION_TARGET" in cli_bad.stderr, cli_bad.stderr
    for what, text in {
        "not JSON": "{not json",
        "no StartAt": json.dumps({"States": {"A": {"Type": "Succeed"}}}),
        "unknown StartAt": json.dumps({"StartAt": "Z", "States": {"A": {"Type": "Succeed"}}}),
        "unknown type": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Dance", "End": True}}}),
        "Task without Resource": json.dumps({"StartAt": "A", "States": {"A": {"Type": "Task", "End": True}}}),
    }.items():
        with pytest.raises(ClientError) as e:
            sfn.create_state_machine(name=bad_name, definition=text, roleArn=ROLE)
        assert code(e) == "InvalidDefinition", (what, e.value.response)
    with pytest.raises(ClientError) as e:
        sfn.describe_state_machine(stateMachineArn=machine_arn(bad_name))
    assert code(e) == "StateMachineDoesNotExist"

    # Invalid names.
    for bad in ("has space", "a/b", "x" * 81, "star*"):
        with pytest.raises(ClientError) as e:
            sfn.create_state_machine(name=bad, definition=definition, roleArn=ROLE)
        assert code(e) == "InvalidName", (bad, e.value.response)

    # ValidateStateMachineDefinition (newer than this boto3: a raw call).
    status, body = states_api(server, "ValidateStateMachineDefinition", {"definition": definition})
    assert status == 200 and body["result"] == "OK" and body["diagnostics"] == [], body
    status, body = states_api(server, "ValidateStateMachineDefinition", {"definition": json.dumps(BAD_TARGET)})
    assert status == 200 and body["result"] == "FAIL", body
    # Two problems: A's Next names no state, and B is unreachable (AWS: the same code).
    got = sorted((d["code"], d["location"], d["severity"]) for d in body["diagnostics"])
    assert got == [("MISSING_TRANSITION_TARGET", "/States/A/Next", "ERROR"),
                   ("MISSING_TRANSITION_TARGET", "/States/B", "ERROR")], body
    assert "Nowhere" in [d for d in body["diagnostics"] if d["location"] == "/States/A/Next"][0]["message"]


def test_express_machine_type_and_type_validation(sfn, machines):
    arn = machines({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}, type="EXPRESS")
    assert sfn.describe_state_machine(stateMachineArn=arn)["type"] == "EXPRESS"
    raw = make_client("stepfunctions", sfn.meta.endpoint_url, parameter_validation=False)
    with pytest.raises(ClientError) as e:
        raw.create_state_machine(name=unique_name("t"), definition=json.dumps(
            {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}), roleArn=ROLE, type="WEIRD")
    assert code(e) == "ValidationException"


# ---------------------------------------------------------------------------------------
# 2. The seed's ETL orchestration with a real Glue job


SEED_DEFINITION = {
    "Comment": "ETL Orchestration",
    "StartAt": "RunGlue",
    "States": {
        "RunGlue": {
            "Type": "Task",
            "Resource": "arn:aws:states:::glue:startJobRun",
            "Parameters": {"JobName": "etl-events"},
            "Retry": [{"ErrorEquals": ["Glue.AWSGlueException"], "MaxAttempts": 3}],
            "Next": "LoadToRedshift",
        },
        "LoadToRedshift": {
            "Type": "Task",
            "Resource": "arn:aws:states:::aws-sdk:redshift-data:executeStatement",
            "Parameters": {"Sql": "CALL sp_load_events();"},
            "End": True,
        },
    },
}


def redshift_sql(rsd, sql):
    """Runs one statement through the Redshift Data API and waits for it to finish."""
    sid = rsd.execute_statement(Database="dev", WorkgroupName="sluice-wg", Sql=sql)["Id"]
    d = wait_for(lambda: (lambda d: d if d["Status"] in ("FINISHED", "FAILED", "ABORTED") else None)(
        rsd.describe_statement(Id=sid)), 30, interval=0.1, what="the statement")
    assert d["Status"] == "FINISHED", d
    return d


def test_seed_etl_orchestration_runs_glue_then_redshift(sfn, glue, s3, bucket, machines, server):
    rsd = make_client("redshift-data", server.endpoint)
    table = unique_name("etl_log")
    redshift_sql(rsd, f"CREATE TABLE {table} (loaded_at TIMESTAMP, note VARCHAR(32))")
    redshift_sql(rsd, f"""CREATE OR REPLACE PROCEDURE sp_load_events() AS $$
        BEGIN
          INSERT INTO {table} VALUES (GETDATE(), 'loaded');
          RAISE INFO 'events loaded';
        END;
        $$ LANGUAGE plpgsql""")
    seed_job_boto3(glue, s3, bucket, SEED_JOB)
    try:
        arn = machines(SEED_DEFINITION, prefix="seed_etl")
        ex = run(sfn, arn, {"trigger": "manual"})
        assert ex["status"] == "SUCCEEDED", ex

        events = history(sfn, ex["executionArn"])
        assert types(events) == [
            "ExecutionStarted",
            "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited",
            "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited",
            "ExecutionSucceeded"], types(events)
        assert details(events[1])["name"] == "RunGlue"
        assert json.loads(details(events[1])["input"]) == {"trigger": "manual"}
        scheduled = details(events[2])
        assert scheduled["resource"] == "arn:aws:states:::glue:startJobRun", scheduled
        assert scheduled["resourceType"] == "glue", scheduled
        assert json.loads(scheduled["parameters"]) == {"JobName": SEED_JOB}, scheduled
        started = json.loads(details(events[4])["output"])
        run_id = started["JobRunId"]
        assert run_id.startswith("jr_"), started
        assert details(events[6])["name"] == "LoadToRedshift"
        assert json.loads(details(events[6])["input"]) == started  # RunGlue's output is its input
        assert details(events[7])["resource"] == "arn:aws:states:::aws-sdk:redshift-data:executeStatement"

        # executeStatement returns at once (as on AWS); the CALL runs in the warehouse.
        out = json.loads(ex["output"])
        assert out["Database"] == "dev" and out["Id"], out
        d = wait_for(lambda: (lambda d: d if d["Status"] in ("FINISHED", "FAILED") else None)(
            rsd.describe_statement(Id=out["Id"])), 30, interval=0.1, what="the CALL")
        assert d["Status"] == "FINISHED", d
        assert d["QueryString"] == "CALL sp_load_events();"
        sid = rsd.execute_statement(Database="dev", WorkgroupName="sluice-wg",
                                    Sql=f"SELECT count(*) AS n, min(note) AS note FROM {table}")["Id"]
        wait_for(lambda: rsd.describe_statement(Id=sid)["Status"] == "FINISHED", 30, what="the count")
        records = rsd.get_statement_result(Id=sid)["Records"]
        assert records == [[{"longValue": 1}, {"stringValue": "loaded"}]], records

        # The Glue run the execution started is real and does the seed's ETL.
        jr = wait_run(glue, SEED_JOB, run_id)
        assert jr["JobRunState"] == "SUCCEEDED", jr
        keys = list_all_keys(s3, bucket, Prefix="curated/events/")
        assert sorted({k.split("/")[2] for k in keys}) == [f"event_date={d}" for d in sorted(SEED_EVENTS)], keys
    finally:
        glue.delete_job(JobName=SEED_JOB)
        redshift_sql(rsd, f"DROP TABLE {table}")


def test_glue_sync_failure_is_caught(sfn, glue, s3, bucket, machines, glue_jobs):
    ok_job = glue_jobs(put_script(s3, bucket, "scripts/ok.sql",
                                  f"COPY (SELECT 1 AS x) TO 's3://{bucket}/out/' (FORMAT PARQUET);\n"))
    bad_job = glue_jobs(put_script(s3, bucket, "scripts/bad.sql", "SELECT * FROM nope;\n"))
    definition = {
        "StartAt": "RunGlue",
        "States": {
            "RunGlue": {
                "Type": "Task",
                "Resource": "arn:aws:states:::glue:startJobRun.sync",
                "Parameters": {"JobName.$": "$.job"},
                "ResultPath": "$.run",
                "Catch": [{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Recover"}],
                "Next": "Done",
            },
            "Done": {"Type": "Pass", "Parameters": {"state.$": "$.run.JobRunState", "id.$": "$.run.Id"},
                     "End": True},
            "Recover": {"Type": "Pass", "Parameters": {"failed.$": "$.job", "error.$": "$.error.Error"},
                        "Next": "Failed"},
            "Failed": {"Type": "Fail", "Error": "EtlFailed", "Cause": "the Glue job failed"},
        },
    }
    arn = machines(definition, prefix="glue_sync")

    # A succeeding job: .sync waits for it and the task's result is the JobRun.
    ex = run(sfn, arn, {"job": ok_job})
    assert ex["status"] == "SUCCEEDED", ex
    out = json.loads(ex["output"])
    assert out["state"] == "SUCCEEDED", out
    jr = glue.get_job_run(JobName=ok_job, RunId=out["id"])["JobRun"]
    assert jr["JobRunState"] == "SUCCEEDED", jr
    assert [k for k in list_all_keys(s3, bucket, Prefix="out/") if k.endswith(".parquet")], "no output"
    task_out = json.loads(details([e for e in history(sfn, ex["executionArn"]) if e["type"] == "TaskSucceeded"][0])["output"])
    assert task_out["JobName"] == ok_job and task_out["JobRunState"] == "SUCCEEDED", task_out

    # A failing job fails the task with States.TaskFailed; Catch routes to Recover, then Fail.
    ex = run(sfn, arn, {"job": bad_job})
    assert ex["status"] == "FAILED", ex
    assert ex["error"] == "EtlFailed" and ex["cause"] == "the Glue job failed", ex
    events = history(sfn, ex["executionArn"])
    assert types(events) == [
        "ExecutionStarted",
        "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed", "TaskStateExited",
        "PassStateEntered", "PassStateExited",
        "FailStateEntered",
        "ExecutionFailed"], types(events)
    failed = details(events[4])
    assert failed["error"] == "States.TaskFailed", failed
    assert "FAILED" in failed["cause"] and "nope" in failed["cause"], failed
    recover_out = json.loads(details(events[7])["output"])
    assert recover_out == {"failed": bad_job, "error": "States.TaskFailed"}, recover_out
    runs = glue.get_job_runs(JobName=bad_job)["JobRuns"]
    assert len(runs) == 1 and runs[0]["JobRunState"] == "FAILED", runs


# ---------------------------------------------------------------------------------------
# 3. Reference architecture D: S3 upload -> EventBridge -> Step Functions -> Glue -> event


def test_s3_upload_event_drives_glue_pipeline(sfn, events, glue, s3, aws, machines, glue_jobs):
    upload = unique_bucket("sfn-upload")
    lake = unique_bucket("sfn-lake")
    s3.create_bucket(Bucket=upload)
    s3.create_bucket(Bucket=lake)
    rules = []
    try:
        aws("s3api", "put-bucket-notification-configuration", "--bucket", upload,
            "--notification-configuration", '{"EventBridgeConfiguration":{}}')
        job = glue_jobs(put_script(s3, lake, "scripts/events_to_parquet.sql", (
            "COPY (SELECT user_id, action, amount, CAST(\"timestamp\" AS DATE) AS event_date\n"
            "      FROM read_json_auto('${src}'))\n"
            "  TO '${dst}' (FORMAT PARQUET, PARTITION_BY (event_date));\n")))
        done_source = unique_name("sluice.pipeline").replace("_", ".")
        pipeline = machines({
            "Comment": "S3 upload -> Glue ETL -> done event",
            "StartAt": "RunEtl",
            "States": {
                "RunEtl": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::glue:startJobRun.sync",
                    "Parameters": {
                        "JobName": job,
                        "Arguments": {
                            "--src.$": "States.Format('s3://{}/{}', $.detail.bucket.name, $.detail.object.key)",
                            "--dst": f"s3://{lake}/curated/events/",
                        },
                    },
                    "ResultSelector": {"JobRunId.$": "$.Id", "State.$": "$.JobRunState"},
                    "ResultPath": "$.etl",
                    "Next": "Notify",
                },
                "Notify": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::events:putEvents",
                    "Parameters": {"Entries": [{
                        "Source": done_source,
                        "DetailType": "EtlDone",
                        "Detail": {"key.$": "$.detail.object.key", "run.$": "$.etl.JobRunId"},
                    }]},
                    "ResultPath": "$.notified",
                    "End": True,
                },
            },
        }, prefix="arch_d")
        # The "done" event goes to a second machine that records what it got.
        recorder = machines({"StartAt": "Got", "States": {"Got": {"Type": "Pass", "End": True}}},
                            prefix="recorder")
        for pattern, target in (
                ({"source": ["aws.s3"], "detail-type": ["Object Created"],
                  "detail": {"bucket": {"name": [upload]}}}, pipeline),
                ({"source": [done_source], "detail-type": ["EtlDone"]}, recorder)):
            rule = unique_name("rule")
            events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
            rules.append(rule)
            out = events.put_targets(Rule=rule, Targets=[{"Id": "1", "Arn": target, "RoleArn": ROLE}])
            assert out["FailedEntryCount"] == 0, out

        day = "2025-08-15"
        body = "".join(json.dumps({"user_id": u, "action": a, "amount": m, "timestamp": f"{day}T10:00:00"}) + "\n"
                       for u, a, m in SEED_EVENTS[day])
        key = f"incoming/events-{day}.json"
        s3.put_object(Bucket=upload, Key=key, Body=body.encode())

        def finished(machine):
            exs = sfn.list_executions(stateMachineArn=machine)["executions"]
            return exs if exs and all(e["status"] != "RUNNING" for e in exs) else None

        exs = wait_for(lambda: finished(pipeline), 45, interval=0.2, what="the pipeline execution")
        assert len(exs) == 1, exs
        assert exs[0]["status"] == "SUCCEEDED", (exs, sfn.describe_execution(executionArn=exs[0]["executionArn"]))
        assert [e["executionArn"] for e in sfn.list_executions(stateMachineArn=pipeline,
                                                               statusFilter="SUCCEEDED")["executions"]] == \
            [exs[0]["executionArn"]]
        ex = sfn.describe_execution(executionArn=exs[0]["executionArn"])
        event_in = json.loads(ex["input"])
        assert event_in["source"] == "aws.s3" and event_in["detail-type"] == "Object Created", event_in
        assert event_in["detail"]["bucket"]["name"] == upload and event_in["detail"]["object"]["key"] == key
        out = json.loads(ex["output"])
        assert out["etl"]["State"] == "SUCCEEDED", out
        assert out["notified"]["FailedEntryCount"] == 0, out

        # The Glue job run exists, read the uploaded object and wrote the curated partition.
        jr = glue.get_job_run(JobName=job, RunId=out["etl"]["JobRunId"])["JobRun"]
        assert jr["JobRunState"] == "SUCCEEDED", jr
        assert jr["Arguments"]["--src"] == f"s3://{upload}/{key}", jr
        curated = list_all_keys(s3, lake, Prefix="curated/events/")
        assert curated and all(k.startswith(f"curated/events/event_date={day}/") for k in curated), curated

        # The "done" event reached the recorder machine.
        rec = wait_for(lambda: finished(recorder), 20, interval=0.2, what="the done event")
        assert len(rec) == 1 and rec[0]["status"] == "SUCCEEDED", rec
        done = json.loads(sfn.describe_execution(executionArn=rec[0]["executionArn"])["input"])
        assert done["source"] == done_source and done["detail-type"] == "EtlDone", done
        assert done["detail"] == {"key": key, "run": out["etl"]["JobRunId"]}, done
    finally:
        for rule in rules:
            try:
                events.remove_targets(Rule=rule, Ids=["1"])
                events.delete_rule(Name=rule)
            except ClientError:
                pass
        empty_bucket(s3, upload)
        empty_bucket(s3, lake)


# ---------------------------------------------------------------------------------------
# 4. History: ids, order, details, paging


def test_history_shape_order_and_paging(sfn, aws, machines):
    arn = machines(pass_choice_succeed(), prefix="hist")
    ex = run(sfn, arn, {"id": "h1"})
    assert ex["status"] == "SUCCEEDED", ex
    assert json.loads(ex["output"]) == {"id": "h1", "prepared": {"kind": "big", "n": 7}}
    assert ex["startDate"] <= ex["stopDate"]
    events = history(sfn, ex["executionArn"])
    assert types(events) == [
        "ExecutionStarted",
        "PassStateEntered", "PassStateExited",
        "ChoiceStateEntered", "ChoiceStateExited",
        "SucceedStateEntered", "SucceedStateExited",
        "ExecutionSucceeded"], types(events)
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    assert [e["previousEventId"] for e in events] == list(range(0, len(events)))
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps), stamps
    # (Sluice stamps the final event a millisecond or so after stopDate: allow a little.)
    slack = datetime.timedelta(milliseconds=50)
    assert ex["startDate"] <= stamps[0] and stamps[-1] <= ex["stopDate"] + slack, (ex["startDate"], ex["stopDate"], stamps)
    assert details(events[0])["input"] == ex["input"]
    assert details(events[0])["roleArn"] == ROLE
    assert details(events[1])["name"] == "Prepare" and json.loads(details(events[1])["input"]) == {"id": "h1"}
    assert details(events[2])["name"] == "Prepare"
    assert json.loads(details(events[2])["output"]) == json.loads(ex["output"])
    assert details(events[3])["name"] == "Route" and details(events[5])["name"] == "Done"
    assert json.loads(details(events[7])["output"]) == json.loads(ex["output"])

    # reverseOrder: the same events, newest first.
    rev = history(sfn, ex["executionArn"], reverseOrder=True)
    assert rev == list(reversed(events))

    # Pages of 3.
    pages, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=ex["executionArn"], maxResults=3,
                                         **({"nextToken": token} if token else {}))
        pages.append(page["events"])
        token = page.get("nextToken")
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 2], [len(p) for p in pages]
    assert [e for p in pages for e in p] == events
    # The CLI pages through it all.
    cli = aws.json("stepfunctions", "get-execution-history", "--execution-arn", ex["executionArn"],
                   "--page-size", "2")
    assert [e["type"] for e in cli["events"]] == types(events)

    # The other branch: Choice default -> Fail.
    small = machines({**pass_choice_succeed(), "States": {
        **pass_choice_succeed()["States"],
        "Prepare": {"Type": "Pass", "Result": {"kind": "small", "n": 2}, "ResultPath": "$.prepared",
                    "Next": "Route"}}}, prefix="hist_fail")
    ex = run(sfn, small)
    assert ex["status"] == "FAILED" and ex["error"] == "TooSmall" and ex["cause"] == "n is not above 5", ex
    assert "output" not in ex
    events = history(sfn, ex["executionArn"])
    assert types(events) == ["ExecutionStarted", "PassStateEntered", "PassStateExited", "ChoiceStateEntered",
                             "ChoiceStateExited", "FailStateEntered", "ExecutionFailed"], types(events)
    assert details(events[-1]) == {"error": "TooSmall", "cause": "n is not above 5"}


def test_list_executions_filter_and_paging(sfn, aws, machines):
    arn = machines(pass_choice_succeed(), prefix="list")
    done = [run(sfn, arn, {"i": i}, name=f"run-{i}")["executionArn"] for i in range(5)]
    waiting_arn = machines(waiting(60), prefix="list_wait")
    running = sfn.start_execution(stateMachineArn=waiting_arn, name="long")["executionArn"]

    listed = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["executionArn"] for e in listed] == list(reversed(done))  # newest first
    assert all(e["status"] == "SUCCEEDED" and e["stateMachineArn"] == arn for e in listed), listed
    assert [e["name"] for e in listed] == [f"run-{i}" for i in reversed(range(5))]
    assert all("stopDate" in e for e in listed), listed

    paged, token = [], None
    while True:
        page = sfn.list_executions(stateMachineArn=arn, maxResults=2, **({"nextToken": token} if token else {}))
        assert len(page["executions"]) <= 2
        paged.extend(e["executionArn"] for e in page["executions"])
        token = page.get("nextToken")
        if not token:
            break
    assert paged == list(reversed(done))
    assert sfn.list_executions(stateMachineArn=arn, statusFilter="FAILED")["executions"] == []

    run_list = sfn.list_executions(stateMachineArn=waiting_arn, statusFilter="RUNNING")["executions"]
    assert [e["executionArn"] for e in run_list] == [running], run_list
    assert "stopDate" not in run_list[0]
    cli = aws.json("stepfunctions", "list-executions", "--state-machine-arn", waiting_arn,
                   "--status-filter", "RUNNING")
    assert [e["executionArn"] for e in cli["executions"]] == [running], cli
    sfn.stop_execution(executionArn=running)
    assert sfn.list_executions(stateMachineArn=waiting_arn, statusFilter="RUNNING")["executions"] == []
    assert [e["status"] for e in sfn.list_executions(stateMachineArn=waiting_arn)["executions"]] == ["ABORTED"]

    with pytest.raises(ClientError) as e:
        sfn.list_executions(stateMachineArn=machine_arn(unique_name("gone")))
    assert code(e) == "StateMachineDoesNotExist"


# ---------------------------------------------------------------------------------------
# 5. Express: StartSyncExecution


def test_express_start_sync_execution(sfn, machines):
    arn = machines({
        "StartAt": "Shape",
        "States": {
            "Shape": {"Type": "Pass", "Parameters": {
                "sum.$": "States.MathAdd($.a, $.b)",
                "greeting.$": "States.Format('hello {}', $.who)",
                "execution.$": "$$.Execution.Name"}, "Next": "Check"},
            "Check": {"Type": "Choice",
                      "Choices": [{"Variable": "$.sum", "NumericGreaterThan": 100, "Next": "TooBig"}],
                      "Default": "Ok"},
            "Ok": {"Type": "Succeed"},
            "TooBig": {"Type": "Fail", "Error": "Overflow", "Cause": "sum above 100"},
        },
    }, type="EXPRESS", prefix="express")
    r = sfn.start_sync_execution(stateMachineArn=arn, name="sync-1", input=json.dumps({"a": 2, "b": 40, "who": "lake"}))
    assert r["status"] == "SUCCEEDED", r
    assert json.loads(r["output"]) == {"sum": 42, "greeting": "hello lake", "execution": "sync-1"}, r
    assert r["name"] == "sync-1" and r["stateMachineArn"] == arn, r
    assert r["executionArn"].startswith(f"arn:aws:states:{REGION}:{ACCOUNT}:express:"), r
    assert r["startDate"] <= r["stopDate"], r
    assert "billingDetails" in r, r

    r = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({"a": 100, "b": 1, "who": "x"}))
    assert r["status"] == "FAILED", r
    assert r["error"] == "Overflow" and r["cause"] == "sum above 100", r
    assert "output" not in r, r

    with pytest.raises(ClientError) as e:
        sfn.start_sync_execution(stateMachineArn=arn, input="{broken")
    assert code(e) == "InvalidExecutionInput"

    # StartExecution on an EXPRESS machine runs asynchronously.
    ex_arn = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"a": 1, "b": 1, "who": "y"}))["executionArn"]
    ex = wait_execution(sfn, ex_arn)
    assert ex["status"] == "SUCCEEDED" and json.loads(ex["output"])["sum"] == 2, ex

    # STANDARD machines have no synchronous executions.
    standard = machines({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}, prefix="standard")
    with pytest.raises(ClientError) as e:
        sfn.start_sync_execution(stateMachineArn=standard, input="{}")
    assert code(e) == "StateMachineTypeNotSupported", e.value.response


def test_nested_execution_sync(sfn, machines):
    child = machines({"StartAt": "Double", "States": {"Double": {
        "Type": "Pass", "Parameters": {"doubled.$": "States.MathAdd($.n, $.n)"}, "End": True}}}, prefix="child")
    parent = machines({
        "StartAt": "Child",
        "States": {
            "Child": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
                      "Parameters": {"StateMachineArn": child, "Input": {"n.$": "$.n"}},
                      "ResultSelector": {"out.$": "$.Output", "status.$": "$.Status"},
                      "End": True},
        },
    }, prefix="parent")
    ex = run(sfn, parent, {"n": 21})
    assert ex["status"] == "SUCCEEDED", ex
    assert json.loads(ex["output"]) == {"out": {"doubled": 42}, "status": "SUCCEEDED"}, ex
    kids = sfn.list_executions(stateMachineArn=child)["executions"]
    assert len(kids) == 1 and kids[0]["status"] == "SUCCEEDED", kids


# ---------------------------------------------------------------------------------------
# 6. Task tokens: activities and .waitForTaskToken


def activity_worker(endpoint, activity_arn, respond, results):
    """A worker thread: GetActivityTask (long poll), then respond(client, task)."""
    client = sfn_client(endpoint, read_timeout=75)

    def work():
        try:
            task = client.get_activity_task(activityArn=activity_arn, workerName="it-worker")
            results.append(task)
            if task.get("taskToken"):
                respond(client, task)
        except Exception as e:  # noqa: BLE001
            results.append(e)

    t = threading.Thread(target=work, daemon=True)
    t.start()
    return t


def test_activity_task_success_failure_and_unknown_tokens(sfn, server, machines):
    activity_name = unique_name("act")
    act = sfn.create_activity(name=activity_name)["activityArn"]
    assert act == f"arn:aws:states:{REGION}:{ACCOUNT}:activity:{activity_name}"
    try:
        assert sfn.create_activity(name=activity_name)["activityArn"] == act  # idempotent
        desc = sfn.describe_activity(activityArn=act)
        assert desc["name"] == activity_name and desc["activityArn"] == act and "creationDate" in desc, desc
        assert act in [a["activityArn"] for a in sfn.list_activities()["activities"]]

        arn = machines({
            "StartAt": "Work",
            "States": {
                "Work": {"Type": "Task", "Resource": act,
                         "Parameters": {"order.$": "$.order", "step": "pack"},
                         "ResultPath": "$.worker", "End": True},
            },
        }, prefix="activity")

        # Success: the worker gets the effective parameters as input; its output is the result.
        results = []

        def succeed(client, task):
            client.send_task_heartbeat(taskToken=task["taskToken"])
            client.send_task_success(taskToken=task["taskToken"],
                                     output=json.dumps({"packed": json.loads(task["input"])["order"]}))

        worker = activity_worker(server.endpoint, act, succeed, results)
        ex_arn = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"order": "o-1"}))["executionArn"]
        ex = wait_execution(sfn, ex_arn, timeout=20)
        worker.join(10)
        assert not [r for r in results if isinstance(r, Exception)], results
        assert json.loads(results[0]["input"]) == {"order": "o-1", "step": "pack"}, results
        assert ex["status"] == "SUCCEEDED", ex
        assert json.loads(ex["output"]) == {"order": "o-1", "worker": {"packed": "o-1"}}, ex
        token = results[0]["taskToken"]
        evs = history(sfn, ex_arn)
        assert types(evs) == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted",
                              "TaskSucceeded", "TaskStateExited", "ExecutionSucceeded"], types(evs)
        assert details(evs[2])["resource"] == act

        # The token is spent.
        with pytest.raises(ClientError) as e:
            sfn.send_task_success(taskToken=token, output="{}")
        assert code(e) == "TaskDoesNotExist"

        # Failure: the execution fails with the worker's error and cause.
        results = []
        worker = activity_worker(server.endpoint, act, lambda client, task: client.send_task_failure(
            taskToken=task["taskToken"], error="Warehouse.OutOfStock", cause="no boxes left"), results)
        ex_arn = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"order": "o-2"}))["executionArn"]
        ex = wait_execution(sfn, ex_arn, timeout=20)
        worker.join(10)
        assert ex["status"] == "FAILED", ex
        assert ex["error"] == "Warehouse.OutOfStock" and ex["cause"] == "no boxes left", ex
        evs = history(sfn, ex_arn)
        assert types(evs)[-2:] == ["TaskFailed", "ExecutionFailed"], types(evs)
        assert details(evs[-2])["error"] == "Warehouse.OutOfStock"

        # Unknown tokens.
        for call in (lambda t: sfn.send_task_success(taskToken=t, output="{}"),
                     lambda t: sfn.send_task_failure(taskToken=t, error="E"),
                     lambda t: sfn.send_task_heartbeat(taskToken=t)):
            with pytest.raises(ClientError) as e:
                call("no-such-token-" + unique_name("t"))
            assert code(e) == "TaskDoesNotExist"
    finally:
        sfn.delete_activity(activityArn=act)
    with pytest.raises(ClientError) as e:
        sfn.describe_activity(activityArn=act)
    assert code(e) == "ActivityDoesNotExist"
    assert act not in [a["activityArn"] for a in sfn.list_activities()["activities"]]


def test_wait_for_task_token_through_eventbridge(sfn, events, machines):
    """putEvents.waitForTaskToken sends $$.Task.Token in the event; a rule hands the event to
    a recorder machine; the test reads the token there and calls SendTaskSuccess."""
    source = unique_name("sluice.approvals").replace("_", ".")
    recorder = machines({"StartAt": "Got", "States": {"Got": {"Type": "Pass", "End": True}}}, prefix="tok_rec")
    rule = unique_name("tokrule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source]}))
    events.put_targets(Rule=rule, Targets=[{"Id": "1", "Arn": recorder, "RoleArn": ROLE}])
    try:
        arn = machines({
            "StartAt": "AskApproval",
            "States": {
                "AskApproval": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::events:putEvents.waitForTaskToken",
                    "Parameters": {"Entries": [{
                        "Source": source, "DetailType": "ApprovalRequested",
                        "Detail": {"token.$": "$$.Task.Token", "order.$": "$.order"}}]},
                    "ResultPath": "$.approval",
                    "TimeoutSeconds": 60,
                    "End": True,
                },
            },
        }, prefix="tok")
        ex_arn = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"order": "o-9"}))["executionArn"]

        def recorded():
            exs = sfn.list_executions(stateMachineArn=recorder)["executions"]
            if not exs:
                st = sfn.describe_execution(executionArn=ex_arn)
                # It must wait for the token, not end.
                assert st["status"] == "RUNNING", (st["status"], st.get("error"), st.get("cause"))
                return None
            return exs

        recs = wait_for(recorded, 15, interval=0.1, what="the approval event")
        event = json.loads(sfn.describe_execution(executionArn=recs[0]["executionArn"])["input"])
        assert event["detail"]["order"] == "o-9", event
        token = event["detail"]["token"]
        assert isinstance(token, str) and token, event
        assert sfn.describe_execution(executionArn=ex_arn)["status"] == "RUNNING"
        sfn.send_task_heartbeat(taskToken=token)
        sfn.send_task_success(taskToken=token, output=json.dumps({"approved": True, "by": "ops"}))
        ex = wait_execution(sfn, ex_arn, timeout=10)
        assert ex["status"] == "SUCCEEDED", ex
        assert json.loads(ex["output"]) == {"order": "o-9", "approval": {"approved": True, "by": "ops"}}, ex
        with pytest.raises(ClientError) as e:
            sfn.send_task_success(taskToken=token, output="{}")
        assert code(e) == "TaskDoesNotExist"
    finally:
        events.remove_targets(Rule=rule, Ids=["1"])
        events.delete_rule(Name=rule)


# ---------------------------------------------------------------------------------------
# 7. Stop, names, timeouts, Retry and Catch


def test_stop_execution_aborts(sfn, aws, machines):
    arn = machines(waiting(60), prefix="stop")
    ex_arn = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"k": 1}))["executionArn"]
    wait_history(sfn, ex_arn, "WaitStateEntered")
    t0 = time.monotonic()
    out = sfn.stop_execution(executionArn=ex_arn, error="Operator.Cancelled", cause="not needed")
    assert "stopDate" in out, out
    ex = wait_execution(sfn, ex_arn, timeout=5)
    assert time.monotonic() - t0 < 5
    assert ex["status"] == "ABORTED", ex
    assert "stopDate" in ex and "output" not in ex, ex
    evs = history(sfn, ex_arn)
    assert types(evs) == ["ExecutionStarted", "WaitStateEntered", "ExecutionAborted"], types(evs)
    assert details(evs[-1]).get("error") == "Operator.Cancelled", evs[-1]
    assert details(evs[-1]).get("cause") == "not needed", evs[-1]
    # Stopping it again changes nothing.
    sfn.stop_execution(executionArn=ex_arn)
    assert sfn.describe_execution(executionArn=ex_arn)["status"] == "ABORTED"
    # The CLI sees the same.
    cli = aws.json("stepfunctions", "describe-execution", "--execution-arn", ex_arn)
    assert cli["status"] == "ABORTED", cli
    with pytest.raises(ClientError) as e:
        sfn.stop_execution(executionArn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:nope:nope")
    assert code(e) == "ExecutionDoesNotExist"


def test_execution_names_are_idempotent_while_running(sfn, aws, machines):
    arn = machines(waiting(60), prefix="names")
    first = sfn.start_execution(stateMachineArn=arn, name="nightly", input='{"day":"2025-08-01"}')
    assert first["executionArn"] == f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{arn.split(':')[-1]}:nightly"
    # Same name and input while it runs: the same execution.
    again = sfn.start_execution(stateMachineArn=arn, name="nightly", input='{"day":"2025-08-01"}')
    assert again["executionArn"] == first["executionArn"]
    assert again["startDate"] == first["startDate"]
    # Another input: a conflict.
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, name="nightly", input='{"day":"2025-08-02"}')
    assert code(e) == "ExecutionAlreadyExists"
    cli = aws("stepfunctions", "start-execution", "--state-machine-arn", arn, "--name", "nightly",
              "--input", '{"day":"2025-08-02"}', check=False)
    assert cli.returncode != 0 and "ExecutionAlreadyExists" in cli.stderr, cli.stderr
    assert len(sfn.list_executions(stateMachineArn=arn)["executions"]) == 1
    # Once it is closed the name stays taken, even with the same input.
    sfn.stop_execution(executionArn=first["executionArn"])
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, name="nightly", input='{"day":"2025-08-01"}')
    assert code(e) == "ExecutionAlreadyExists"

    # Bad input and bad names.
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, input="{not json")
    assert code(e) == "InvalidExecutionInput"
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, name="bad name")
    assert code(e) == "InvalidName"
    # No input means {}.
    ex_arn = sfn.start_execution(stateMachineArn=arn)["executionArn"]
    assert sfn.describe_execution(executionArn=ex_arn)["input"] == "{}"
    sfn.stop_execution(executionArn=ex_arn)


def test_timeouts(sfn, server, machines):
    # The execution's TimeoutSeconds: TIMED_OUT, not later than it says.
    arn = machines({**waiting(30), "TimeoutSeconds": 1}, prefix="exec_timeout")
    t0 = time.monotonic()
    ex = run(sfn, arn, {"x": 1}, timeout=10)
    assert ex["status"] == "TIMED_OUT", ex
    assert time.monotonic() - t0 < 5
    assert 0.9 <= (ex["stopDate"] - ex["startDate"]).total_seconds() < 3, ex
    evs = history(sfn, ex["executionArn"])
    assert types(evs) == ["ExecutionStarted", "WaitStateEntered", "ExecutionTimedOut"], types(evs)
    assert details(evs[-1]).get("error") == "States.Timeout", evs[-1]

    # A task's TimeoutSeconds: an activity nobody works on times out with States.Timeout,
    # which States.TaskFailed does not catch and States.Timeout does.
    act = sfn.create_activity(name=unique_name("idle"))["activityArn"]
    try:
        arn = machines({
            "StartAt": "Work",
            "States": {
                "Work": {"Type": "Task", "Resource": act, "TimeoutSeconds": 1,
                         "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Wrong"},
                                   {"ErrorEquals": ["States.Timeout"], "ResultPath": "$.timeout",
                                    "Next": "TimedOut"}],
                         "End": True},
                "Wrong": {"Type": "Fail", "Error": "WrongCatcher"},
                "TimedOut": {"Type": "Pass", "End": True},
            },
        }, prefix="task_timeout")
        ex = run(sfn, arn, {"x": 2}, timeout=10)
        assert ex["status"] == "SUCCEEDED", ex
        out = json.loads(ex["output"])
        assert out["x"] == 2 and out["timeout"]["Error"] == "States.Timeout", out
        evs = history(sfn, ex["executionArn"])
        assert "TaskTimedOut" in types(evs) and "TaskFailed" not in types(evs), types(evs)
    finally:
        sfn.delete_activity(activityArn=act)


def test_retry_then_catch_on_a_missing_glue_job(sfn, glue, machines):
    missing = unique_name("no_such_job")
    arn = machines({
        "StartAt": "GetJob",
        "States": {
            "GetJob": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:glue:getJob",
                "Parameters": {"JobName.$": "$.job"},
                "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 2,
                           "BackoffRate": 1.5, "MaxDelaySeconds": 1}],
                "Catch": [{"ErrorEquals": ["Glue.EntityNotFoundException"], "ResultPath": "$.error",
                           "Next": "JobMissing"}],
                "Next": "Found",
            },
            "Found": {"Type": "Succeed"},
            "JobMissing": {"Type": "Choice",
                           "Choices": [{"Variable": "$.strict", "BooleanEquals": True, "Next": "Fail"}],
                           "Default": "Skip"},
            "Skip": {"Type": "Pass", "Parameters": {"skipped.$": "$.job", "why.$": "$.error.Error"}, "End": True},
            "Fail": {"Type": "Fail", "Error": "JobMissing", "Cause": "the job does not exist"},
        },
    }, prefix="retry")
    ex = run(sfn, arn, {"job": missing, "strict": False}, timeout=20)
    assert ex["status"] == "SUCCEEDED", ex
    assert json.loads(ex["output"]) == {"skipped": missing, "why": "Glue.EntityNotFoundException"}, ex
    evs = history(sfn, ex["executionArn"])
    failed = [e for e in evs if e["type"] == "TaskFailed"]
    assert len(failed) == 3, types(evs)  # the first attempt and two retries
    assert all(details(e)["error"] == "Glue.EntityNotFoundException" for e in failed), failed
    assert all(missing in details(e)["cause"] for e in failed), failed
    assert [e["type"] for e in evs].count("TaskScheduled") == 3
    gaps = [(b["timestamp"] - a["timestamp"]).total_seconds() for a, b in zip(failed, failed[1:])]
    assert all(0.9 <= g < 3 for g in gaps), gaps  # IntervalSeconds 1, capped by MaxDelaySeconds 1

    ex = run(sfn, arn, {"job": missing, "strict": True}, timeout=20)
    assert ex["status"] == "FAILED" and ex["error"] == "JobMissing", ex

    # An existing job is found on the first try.
    job = unique_name("exists")
    glue.create_job(Name=job, Role=ROLE, Command={"Name": "glueetl", "ScriptLocation": "s3://nowhere/x.sql"})
    try:
        ex = run(sfn, arn, {"job": job, "strict": True})
        assert ex["status"] == "SUCCEEDED", ex
        out = json.loads(ex["output"])
        assert out["Job"]["Name"] == job, out
        assert "TaskFailed" not in types(history(sfn, ex["executionArn"]))
    finally:
        glue.delete_job(JobName=job)


def test_unavailable_services_fail_the_task(sfn, machines):
    # Lambda tasks run (tests/test_lambda.py); a service Sluice lacks fails the task.
    for resource, service in (
            ("arn:aws:states:::aws-sdk:redshiftdata:executeStatement", "redshiftdata"),):
        arn = machines({"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": resource, "Parameters": {"x": 1},
            "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Caught"}], "End": True},
            "Caught": {"Type": "Pass", "End": True}}}, prefix="unavail")
        ex = run(sfn, arn)
        assert ex["status"] == "SUCCEEDED", (resource, ex)
        out = json.loads(ex["output"])
        assert out["Error"] == "States.TaskFailed", (resource, out)
        assert service in out["Cause"].lower(), (resource, out)


# ---------------------------------------------------------------------------------------
# Heartbeats, Map and Parallel, the context object and intrinsics, EventBridge inputs


def test_activity_heartbeat_timeout(sfn, server, machines):
    """HeartbeatSeconds: a worker that took the task and went silent fails it with
    States.HeartbeatTimeout long before the task's TimeoutSeconds."""
    act = sfn.create_activity(name=unique_name("silent"))["activityArn"]
    try:
        arn = machines({"StartAt": "Work", "States": {"Work": {
            "Type": "Task", "Resource": act, "HeartbeatSeconds": 1, "TimeoutSeconds": 8, "End": True}}},
            prefix="heartbeat")
        results = []
        worker = activity_worker(server.endpoint, act, lambda client, task: None, results)  # never answers
        t0 = time.monotonic()
        ex_arn = sfn.start_execution(stateMachineArn=arn, input="{}")["executionArn"]
        ex = wait_execution(sfn, ex_arn, timeout=15)
        took = time.monotonic() - t0
        worker.join(5)
        assert results and results[0].get("taskToken"), results
        assert ex["status"] == "FAILED", ex
        assert ex["error"] == "States.HeartbeatTimeout", (ex["error"], ex.get("cause"), round(took, 1))
        assert took < 5, took
        assert "TaskTimedOut" in types(history(sfn, ex_arn))
    finally:
        sfn.delete_activity(activityArn=act)


def test_map_and_parallel(sfn, machines):
    # Inline Map: ItemSelector with the context object, MaxConcurrency bounds the parallelism.
    arn = machines({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
        "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index", "tag.$": "$.tag"},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Hold", "States": {
            "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Shape"},
            "Shape": {"Type": "Pass", "Parameters": {"v.$": "$.value", "i.$": "$.index", "t.$": "$.tag"},
                      "End": True}}},
        "ResultPath": "$.results", "End": True}}}, prefix="map")
    ex = run(sfn, arn, {"items": [10, 20, 30, 40], "tag": "t"}, timeout=20)
    assert ex["status"] == "SUCCEEDED", ex
    assert json.loads(ex["output"])["results"] == [{"v": v, "i": i, "t": "t"} for i, v in enumerate([10, 20, 30, 40])]
    took = (ex["stopDate"] - ex["startDate"]).total_seconds()
    assert 1.9 <= took < 3.5, took  # 4 items of 1 s, two at a time
    evs = history(sfn, ex["executionArn"])
    ts = types(evs)
    assert ts[:3] == ["ExecutionStarted", "MapStateEntered", "MapStateStarted"], ts
    assert ts[-3:] == ["MapStateSucceeded", "MapStateExited", "ExecutionSucceeded"], ts
    assert ts.count("MapIterationStarted") == 4 and ts.count("MapIterationSucceeded") == 4, ts
    assert details(evs[2]).get("length") == 4, evs[2]
    assert sorted(details(e)["index"] for e in evs if e["type"] == "MapIterationStarted") == [0, 1, 2, 3]
    assert [e["id"] for e in evs] == list(range(1, len(evs) + 1))

    # Without MaxConcurrency the items run together.
    unbounded = machines({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "Hold", "States": {"Hold": {"Type": "Wait", "Seconds": 1, "End": True}}},
        "End": True}}}, prefix="map_all")
    ex = run(sfn, unbounded, {"items": [1, 2, 3, 4, 5, 6]}, timeout=20)
    assert ex["status"] == "SUCCEEDED" and json.loads(ex["output"]) == [1, 2, 3, 4, 5, 6], ex
    assert (ex["stopDate"] - ex["startDate"]).total_seconds() < 2.5

    # ToleratedFailureCount is a Distributed Map field (AWS refuses it on an inline Map).
    item_check = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericGreaterThan": 2, "Next": "F"}],
              "Default": "P"},
        "P": {"Type": "Pass", "End": True},
        "F": {"Type": "Fail", "Error": "Item.TooBig", "Cause": "too big"}}}
    with pytest.raises(ClientError) as e:
        machines({"StartAt": "M", "States": {"M": {"Type": "Map", "ToleratedFailureCount": 1,
                                                   "ItemProcessor": item_check, "End": True}}})
    assert code(e) == "InvalidDefinition" and "ToleratedFailureCount" in e.value.response["Error"]["Message"]
    distributed = machines({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "ToleratedFailureCount": 1,
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, **item_check},
        "End": True}}}, type="EXPRESS", prefix="map_tol")
    r = sfn.start_sync_execution(stateMachineArn=distributed, input=json.dumps({"items": [1, 2, 3]}))
    assert r["status"] == "SUCCEEDED", r
    assert json.loads(r["output"])[:2] == [1, 2], r
    r = sfn.start_sync_execution(stateMachineArn=distributed, input=json.dumps({"items": [1, 3, 4]}))
    assert r["status"] == "FAILED" and r["error"] == "States.ExceedToleratedFailureThreshold", r

    # Parallel: one output per branch, in branch order; a failing branch fails the state
    # with its own error, which Catch sees.
    par = machines({"StartAt": "Both", "States": {
        "Both": {"Type": "Parallel", "Branches": [
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 1, "Next": "A"},
                                           "A": {"Type": "Pass", "Result": "a", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "InputPath": "$.x", "End": True}}},
            {"StartAt": "Check", "States": {
                "Check": {"Type": "Choice", "Choices": [{"Variable": "$.fail", "BooleanEquals": True,
                                                         "Next": "Boom"}], "Default": "Fine"},
                "Fine": {"Type": "Succeed"},
                "Boom": {"Type": "Fail", "Error": "Branch.Boom", "Cause": "third branch"}}}],
            "ResultSelector": {"first.$": "$[0]", "second.$": "$[1]"},
            "Catch": [{"ErrorEquals": ["Branch.Boom"], "ResultPath": "$.caught", "Next": "Recovered"}],
            "End": True},
        "Recovered": {"Type": "Pass", "End": True}}}, prefix="parallel")
    ex = run(sfn, par, {"x": 5, "fail": False}, timeout=10)
    assert ex["status"] == "SUCCEEDED", ex
    assert json.loads(ex["output"]) == {"first": "a", "second": 5}, ex
    ts = types(history(sfn, ex["executionArn"]))
    assert ts[:3] == ["ExecutionStarted", "ParallelStateEntered", "ParallelStateStarted"], ts
    assert ts[-3:] == ["ParallelStateSucceeded", "ParallelStateExited", "ExecutionSucceeded"], ts
    ex = run(sfn, par, {"x": 5, "fail": True}, timeout=10)
    assert ex["status"] == "SUCCEEDED", ex
    assert json.loads(ex["output"])["caught"] == {"Error": "Branch.Boom", "Cause": "third branch"}, ex
    assert "ParallelStateFailed" in types(history(sfn, ex["executionArn"]))


def test_context_object_intrinsics_and_io_paths(sfn, machines):
    arn = machines({
        "StartAt": "Shape",
        "States": {
            "Shape": {"Type": "Pass", "Parameters": {
                "name.$": "$$.Execution.Name", "id.$": "$$.Execution.Id", "state.$": "$$.State.Name",
                "machine.$": "$$.StateMachine.Name", "original.$": "$$.Execution.Input.k",
                "len.$": "States.ArrayLength($.arr)", "json.$": "States.StringToJson($.s)",
                "text.$": "States.JsonToString($.o)", "b64.$": "States.Base64Encode('hi')",
                "sha.$": "States.Hash('abc', 'SHA-256')", "parts.$": "States.ArrayPartition($.arr, 2)",
                "range.$": "States.ArrayRange(1, 9, 3)", "second.$": "States.ArrayGetItem($.arr, 1)",
                "unique.$": "States.ArrayUnique($.dup)", "split.$": "States.StringSplit('a,b,c', ',')",
                "merged.$": "States.JsonMerge($.o, $.o2, false)", "msg.$": "States.Format('{} is {}', $.k, 1)",
                "uuid.$": "States.UUID()"},
                "ResultPath": "$.shaped", "Next": "Pause"},
            "Pause": {"Type": "Wait", "SecondsPath": "$.shaped.len", "Next": "Keep"},
            "Keep": {"Type": "Pass", "InputPath": "$.shaped", "ResultPath": "$.kept", "OutputPath": "$.kept",
                     "Next": "Drop"},
            "Drop": {"Type": "Pass", "Result": "ignored", "ResultPath": None, "End": True},
        },
    }, type="EXPRESS", prefix="ctx")
    r = sfn.start_sync_execution(stateMachineArn=arn, name="ctx-run", input=json.dumps(
        {"k": "kv", "arr": [1, 2, 3], "s": '{"a":1}', "o": {"x": [1]}, "o2": {"y": 2}, "dup": [1, 1, 2]}))
    assert r["status"] == "SUCCEEDED", r
    out = json.loads(r["output"])
    assert (r["stopDate"] - r["startDate"]).total_seconds() >= 2.9  # Wait SecondsPath = 3
    uuid_text = out.pop("uuid")
    assert len(uuid_text) == 36 and uuid_text.count("-") == 4, uuid_text
    assert out == {
        "name": "ctx-run", "id": r["executionArn"], "state": "Shape", "machine": arn.split(":")[-1],
        "original": "kv", "len": 3, "json": {"a": 1}, "text": '{"x":[1]}', "b64": "aGk=",
        "sha": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        "parts": [[1, 2], [3]], "range": [1, 4, 7], "second": 2, "unique": [1, 2],
        "split": ["a", "b", "c"], "merged": {"x": [1], "y": 2}, "msg": "kv is 1"}, out

    # A runtime error (a path that selects nothing) is not caught by States.ALL.
    bad = machines({"StartAt": "P", "States": {
        "P": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:glue:getJobs", "InputPath": "$.missing",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": True},
        "C": {"Type": "Pass", "End": True}}}, type="EXPRESS", prefix="runtime")
    r = sfn.start_sync_execution(stateMachineArn=bad, input="{}")
    assert r["status"] == "FAILED" and r["error"] == "States.Runtime", r
    assert "$.missing" in r["cause"], r


def test_eventbridge_target_input_path(sfn, events, machines):
    source = unique_name("sluice.orders").replace("_", ".")
    arn = machines({"StartAt": "Got", "States": {"Got": {"Type": "Pass", "End": True}}}, prefix="eb_input")
    rule = unique_name("inrule")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": [source], "detail": {"total": [{"numeric": [">", 10]}]}}))
    try:
        events.put_targets(Rule=rule, Targets=[{"Id": "1", "Arn": arn, "RoleArn": ROLE, "InputPath": "$.detail"}])
        out = events.put_events(Entries=[
            {"Source": source, "DetailType": "Order", "Detail": json.dumps({"order": "small", "total": 5})},
            {"Source": source, "DetailType": "Order", "Detail": json.dumps({"order": "big", "total": 50})}])
        assert out["FailedEntryCount"] == 0, out
        exs = wait_for(lambda: [e for e in sfn.list_executions(stateMachineArn=arn)["executions"]
                                if e["status"] == "SUCCEEDED"], 15, interval=0.1, what="the order execution")
        time.sleep(0.5)  # the small order must not start anything
        exs = sfn.list_executions(stateMachineArn=arn)["executions"]
        assert len(exs) == 1, exs
        ex = sfn.describe_execution(executionArn=exs[0]["executionArn"])
        assert json.loads(ex["input"]) == {"order": "big", "total": 50}, ex
        assert json.loads(ex["output"]) == {"order": "big", "total": 50}, ex
    finally:
        events.remove_targets(Rule=rule, Ids=["1"])
        events.delete_rule(Name=rule)


# ---------------------------------------------------------------------------------------
# 8. Durability: kill -9 during a Wait


def durable_machine():
    return {
        "StartAt": "Before",
        "States": {
            "Before": {"Type": "Pass", "Result": {"step": 1}, "ResultPath": "$.before", "Next": "Hold"},
            "Hold": {"Type": "Wait", "Seconds": 4, "Next": "After"},
            "After": {"Type": "Pass", "Result": "done", "ResultPath": "$.after", "End": True},
        },
    }


DURABLE_TYPES = ["ExecutionStarted", "PassStateEntered", "PassStateExited", "WaitStateEntered",
                 "WaitStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"]


def test_running_execution_survives_kill9_and_keeps_its_wait_deadline(server_factory):
    srv = server_factory(name="sfn-crash")
    sfn = sfn_client(srv.endpoint)
    name = unique_name("durable")
    arn = sfn.create_state_machine(name=name, definition=json.dumps(durable_machine()), roleArn=ROLE)["stateMachineArn"]
    quick = sfn.create_state_machine(name=unique_name("quick"), roleArn=ROLE, definition=json.dumps(
        {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}))["stateMachineArn"]
    finished = run(sfn, quick, {"before": "crash"})
    assert finished["status"] == "SUCCEEDED"

    ex_arn = sfn.start_execution(stateMachineArn=arn, name="crash-1", input=json.dumps({"in": 1}))["executionArn"]
    wait_history(sfn, ex_arn, "WaitStateEntered", timeout=5)
    time.sleep(2)  # half-way through the 4 s wait
    srv.kill()
    srv.start()
    sfn = sfn_client(srv.endpoint)

    # The execution is still there (RUNNING or already done) and completes.
    ex = wait_execution(sfn, ex_arn, timeout=15)
    assert ex["status"] == "SUCCEEDED", (ex, types(history(sfn, ex_arn)))
    assert json.loads(ex["output"]) == {"in": 1, "before": {"step": 1}, "after": "done"}, ex
    took = (ex["stopDate"] - ex["startDate"]).total_seconds()
    # The Wait kept its original deadline: not 2 s + restart + another 4 s.
    assert 4.0 <= took <= 5.5, took
    evs = history(sfn, ex_arn)
    assert types(evs) == DURABLE_TYPES, types(evs)
    assert [e["id"] for e in evs] == list(range(1, len(evs) + 1))
    assert [e["previousEventId"] for e in evs] == list(range(0, len(evs)))
    assert sum(1 for e in evs if e["type"] == "WaitStateEntered") == 1

    # What finished before the crash is still there.
    assert sfn.describe_execution(executionArn=finished["executionArn"])["status"] == "SUCCEEDED"
    assert [e["name"] for e in sfn.list_executions(stateMachineArn=arn)["executions"]] == ["crash-1"]



def test_running_execution_survives_a_graceful_restart(server_factory):
    """SIGTERM during a Wait: the server stops cleanly and the execution resumes after the
    restart (it is not aborted: nobody called StopExecution)."""
    srv = server_factory(name="sfn-term")
    sfn = sfn_client(srv.endpoint)
    arn = sfn.create_state_machine(name=unique_name("graceful"), definition=json.dumps(durable_machine()),
                                   roleArn=ROLE)["stateMachineArn"]
    ex_arn = sfn.start_execution(stateMachineArn=arn, name="term-1", input=json.dumps({"in": 2}))["executionArn"]
    wait_history(sfn, ex_arn, "WaitStateEntered", timeout=5)
    time.sleep(1)
    assert srv.stop() == 0
    srv.start()
    sfn = sfn_client(srv.endpoint)
    ex = wait_execution(sfn, ex_arn, timeout=15)
    assert ex["status"] == "SUCCEEDED", (ex["status"], types(history(sfn, ex_arn)))
    assert json.loads(ex["output"]) == {"in": 2, "before": {"step": 1}, "after": "done"}, ex
    took = (ex["stopDate"] - ex["startDate"]).total_seconds()
    assert 4.0 <= took <= 5.5, took
    assert types(history(sfn, ex_arn)) == DURABLE_TYPES


# ---------------------------------------------------------------------------------------
# 9. Athena from a state machine


def test_athena_query_tasks(sfn, s3, bucket, machines):
    output = f"s3://{bucket}/athena-results/"
    arn = machines({
        "StartAt": "Submit",
        "States": {
            # aws-sdk: returns at once with the id.
            "Submit": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:athena:startQueryExecution",
                       "Parameters": {"QueryString": "SELECT 1", "ResultConfiguration": {"OutputLocation": output}},
                       "ResultPath": "$.submitted", "Next": "RunSync"},
            # The optimized .sync integration waits for the query.
            "RunSync": {"Type": "Task", "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
                        "Parameters": {"QueryString": "SELECT 1 AS one, 'lake' AS name",
                                       "ResultConfiguration": {"OutputLocation": output}},
                        "ResultSelector": {"id.$": "$.QueryExecution.QueryExecutionId",
                                           "state.$": "$.QueryExecution.Status.State"},
                        "ResultPath": "$.query", "Next": "Results"},
            "Results": {"Type": "Task", "Resource": "arn:aws:states:::athena:getQueryResults",
                        "Parameters": {"QueryExecutionId.$": "$.query.id"},
                        "ResultSelector": {"rows.$": "$.ResultSet.Rows"},
                        "ResultPath": "$.results", "End": True},
        },
    }, prefix="athena")
    ex = run(sfn, arn, {}, timeout=30)
    assert ex["status"] == "SUCCEEDED", ex
    out = json.loads(ex["output"])
    assert isinstance(out["submitted"]["QueryExecutionId"], str) and out["submitted"]["QueryExecutionId"], out
    assert out["query"]["state"] == "SUCCEEDED", out
    rows = [[d.get("VarCharValue") for d in r["Data"]] for r in out["results"]["rows"]]
    assert rows == [["one", "name"], ["1", "lake"]], rows

    # The aws-sdk submission ran too: Athena knows it and wrote its result file.
    athena = make_client("athena", sfn.meta.endpoint_url)
    qid = out["submitted"]["QueryExecutionId"]
    q = wait_for(lambda: (lambda x: x if x["Status"]["State"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None)(
        athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]), 20, what="the aws-sdk query")
    assert q["Status"]["State"] == "SUCCEEDED", q
    assert q["Query"] == "SELECT 1", q
    keys = list_all_keys(s3, bucket, Prefix="athena-results/")
    assert f"athena-results/{qid}.csv" in keys and f"athena-results/{out['query']['id']}.csv" in keys, keys

    # A failing query fails the .sync task with States.TaskFailed.
    bad = machines({"StartAt": "Q", "States": {"Q": {
        "Type": "Task", "Resource": "arn:aws:states:::athena:startQueryExecution.sync",
        "Parameters": {"QueryString": "SELECT * FROM no_such_table_anywhere",
                       "ResultConfiguration": {"OutputLocation": output}}, "End": True}}}, prefix="athena_bad")
    ex = run(sfn, bad, {}, timeout=30)
    assert ex["status"] == "FAILED" and ex["error"] == "States.TaskFailed", ex
    assert "FAILED" in ex["cause"], ex


def test_distributed_map_reads_items_from_s3_and_writes_results(sfn, s3, bucket, machines):
    """ItemReader (CSV with a header row) and ResultWriter go through the lake."""
    s3.put_object(Bucket=bucket, Key="in/items.csv", Body=b"id,amount\n1,10\n2,20\n3,30\n")
    definition = {"StartAt": "M", "States": {"M": {
        "Type": "Map",
        "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                       "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                       "Parameters": {"Bucket": bucket, "Key.$": "$.key"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                          "StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {
                              "id.$": "$.id", "cents.$": "States.MathAdd(States.StringToJson($.amount), 1)"}, "End": True}}},
        "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": bucket, "Prefix": "out"}},
        "End": True}}}
    arn = sfn.create_state_machine(name=unique_name("dmap"), type="EXPRESS", definition=json.dumps(definition),
                                   roleArn="arn:aws:iam::000000000000:role/r")["stateMachineArn"]
    machines.arns.append(arn)
    r = sfn.start_sync_execution(stateMachineArn=arn, input=json.dumps({"key": "in/items.csv"}))
    assert r["status"] == "SUCCEEDED", r
    details = json.loads(r["output"])["ResultWriterDetails"]
    assert details["Bucket"] == bucket and details["Key"].startswith("out/") and details["Key"].endswith("/manifest.json")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=details["Key"])["Body"].read())
    [succeeded] = manifest["ResultFiles"]["SUCCEEDED"]
    results = json.loads(s3.get_object(Bucket=bucket, Key=succeeded["Key"])["Body"].read())
    assert sorted(json.loads(x["Output"])["cents"] for x in results) == [11, 21, 31]
    assert manifest["ResultFiles"]["FAILED"] == []


def test_sync_glue_task_is_not_started_twice_after_kill_9(server_factory):
    """A .sync task re-attaches to the job run it started before the crash instead of starting another."""
    srv = server_factory()
    s3c, gl, sf = make_s3(srv.endpoint), make_client("glue", srv.endpoint), sfn_client(srv.endpoint)
    bucket = unique_bucket("sync")
    s3c.create_bucket(Bucket=bucket)
    s3c.put_object(Bucket=bucket, Key="sleep.py", Body=b"import time\ntime.sleep(6)\n")
    gl.create_job(Name="sleeper", Role="r", Command={"Name": "pythonshell", "ScriptLocation": f"s3://{bucket}/sleep.py"})
    definition = {"StartAt": "G", "States": {"G": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync",
                                                   "Parameters": {"JobName": "sleeper"}, "End": True}}}
    arn = sf.create_state_machine(name=unique_name("gsync"), definition=json.dumps(definition),
                                  roleArn="arn:aws:iam::000000000000:role/r")["stateMachineArn"]
    ex = sf.start_execution(stateMachineArn=arn)["executionArn"]
    wait_for(lambda: gl.get_job_runs(JobName="sleeper")["JobRuns"], timeout=10)
    srv.kill()
    srv.start()
    sf, gl = sfn_client(srv.endpoint), make_client("glue", srv.endpoint)
    d = wait_execution(sf, ex, timeout=30)
    # The run the task had started ended with the crash (ERROR); the task failed with it
    # instead of starting a second run.
    assert d["status"] == "FAILED", d
    runs = gl.get_job_runs(JobName="sleeper")["JobRuns"]
    assert [r["JobRunState"] for r in runs] == ["ERROR"], runs
