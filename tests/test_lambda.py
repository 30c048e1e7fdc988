"""Lambda: functions that really run through the Lambda Runtime API (issue 14).

One server for the module, with asynchronous retry delays scaled down (config.json
lambda.retry_delay_scale), plus one that is killed with SIGKILL for the durability test.
"""

import base64
import io
import json
import os
import random
import shutil
import signal
import subprocess
import time
import zipfile

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import (SluiceServer, client_error, empty_bucket, make_client, make_s3,
                            unique_bucket, wait_for)

ROLE = "arn:aws:iam::000000000000:role/lambda-role"
AWS_CLI = "/usr/bin/aws"


def make_zip(files):
    """files: {name: text or (text, mode)} -> zip bytes (Unix modes kept)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files.items():
            text, mode = content if isinstance(content, tuple) else (content, 0o644)
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
    return buf.getvalue()


def start_server(sluice_bin, base, name):
    srv = SluiceServer(sluice_bin, base / "data", base / "server.log", name=name)
    (base / "data").mkdir(parents=True, exist_ok=True)
    (base / "data" / "config.json").write_text(json.dumps({
        "access_keys": [{"access_key_id": "test", "secret_access_key": "test"}],
        "region": "us-east-1", "lambda": {"retry_delay_scale": 0.002}}))
    return srv.start()


@pytest.fixture(scope="module")
def lsrv(sluice_bin, tmp_root):
    srv = start_server(sluice_bin, tmp_root / "lambda-main", "sluice-lambda")
    yield srv
    assert srv.stop() == 0, srv.log_text()


@pytest.fixture(scope="module")
def lam(lsrv):
    return make_client("lambda", lsrv.endpoint)


def create(lam, name, code, handler="app.handler", runtime="python3.12", **kw):
    return lam.create_function(FunctionName=name, Runtime=runtime, Role=ROLE, Handler=handler,
                               Code={"ZipFile": code}, **kw)


def invoke(lam, name, event=None, **kw):
    r = lam.invoke(FunctionName=name, Payload=json.dumps(event if event is not None else {}), **kw)
    return r, json.loads(r["Payload"].read() or b"null")


def fname(prefix):
    return f"{prefix}-{os.urandom(4).hex()}"


# The python runtime: context, output in the log tail, errors, warm reuse.
APP = """
import os, json, time
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    print("handling", json.dumps(event))
    if event.get("fail"):
        raise ValueError("boom: " + event["fail"])
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"event": event, "count": COUNT, "pid": os.getpid(),
            "name": context.function_name, "request_id": context.aws_request_id,
            "memory": context.memory_limit_in_mb, "remaining": context.get_remaining_time_in_millis(),
            "group": context.log_group_name, "stream": context.log_stream_name,
            "arn": context.invoked_function_arn, "region": os.environ["AWS_REGION"],
            "greeting": os.environ.get("GREETING"), "tmp": os.environ["TMPDIR"]}
"""


def test_python_function_runs_warm_with_context_logs_and_errors(lam):
    name = fname("py")
    out = create(lam, name, make_zip({"app.py": APP}), Timeout=5, MemorySize=256,
                 Environment={"Variables": {"GREETING": "hi"}})
    assert out["State"] == "Active" and out["LastUpdateStatus"] == "Successful"
    assert out["CodeSha256"] and out["Handler"] == "app.handler"

    r, body = invoke(lam, name, {"n": 1}, LogType="Tail")
    assert r["StatusCode"] == 200 and "FunctionError" not in r
    assert body["event"] == {"n": 1} and body["name"] == name and body["memory"] == "256"
    assert body["group"] == f"/aws/lambda/{name}" and body["greeting"] == "hi"
    assert body["arn"].endswith(f":function:{name}") and body["region"] == "us-east-1"
    assert 0 < body["remaining"] <= 5000
    log = base64.b64decode(r["LogResult"]).decode()
    assert f"START RequestId: {body['request_id']} Version: $LATEST" in log
    assert 'handling {"n": 1}' in log
    assert f"END RequestId: {body['request_id']}" in log
    assert "REPORT RequestId:" in log and "Billed Duration:" in log and "Init Duration:" in log

    # Warm: the same process, the module imported once.
    r2, body2 = invoke(lam, name, {"n": 2})
    assert body2["pid"] == body["pid"] and body2["count"] == 2

    r3, err = invoke(lam, name, {"fail": "bad"})
    assert r3["FunctionError"] == "Unhandled"
    assert err["errorType"] == "ValueError" and err["errorMessage"] == "boom: bad"
    assert isinstance(err["stackTrace"], list) and err["requestId"]

    # An update retires the warm worker: the new environment shows.
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"GREETING": "yo"}})
    _, body4 = invoke(lam, name, {})
    assert body4["greeting"] == "yo" and body4["pid"] != body["pid"]
    assert lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"] == {"GREETING": "yo"}

    # DryRun and Event.
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    assert lam.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")["StatusCode"] == 202


def test_timeout_kills_the_worker_and_the_next_invoke_gets_a_new_one(lam):
    name = fname("slow")
    create(lam, name, make_zip({"app.py": APP}), Timeout=1)
    _, first = invoke(lam, name, {})
    t = time.monotonic()
    r, err = invoke(lam, name, {"sleep": 30}, LogType="Tail")
    assert time.monotonic() - t < 10
    assert r["FunctionError"] == "Unhandled"
    assert "Task timed out after 1.00 seconds" in err["errorMessage"]
    assert "Task timed out after 1.00 seconds" in base64.b64decode(r["LogResult"]).decode()
    _, after = invoke(lam, name, {})
    assert after["pid"] != first["pid"] and after["count"] == 1
    with pytest.raises(OSError):
        os.kill(first["pid"], 0)  # the timed-out worker is gone


def test_handler_load_errors_are_function_errors(lam):
    cases = {
        "nomod.handler": "Runtime.ImportModuleError",
        "app.missing": "Runtime.HandlerNotFound",
        "broken.handler": "Runtime.UserCodeSyntaxError",
        "nodots": "Runtime.MalformedHandlerName",
    }
    code = make_zip({"app.py": APP, "broken.py": "def handler(:\n"})
    for handler, error_type in cases.items():
        name = fname("bad")
        create(lam, name, code, handler=handler)
        r, err = invoke(lam, name, {})
        assert r["FunctionError"] == "Unhandled", handler
        assert err["errorType"] == error_type, (handler, err)


def test_shell_bootstrap_on_provided_runtime_with_the_aws_cli(lsrv, tmp_path):
    bootstrap = """#!/bin/sh
set -eu
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  HEADERS="$(mktemp)"
  EVENT="$(curl -sS -LD "$HEADERS" "$API/invocation/next")"
  ID="$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)"
  echo "shell got $EVENT"
  if [ "$EVENT" = '{"crash":true}' ]; then exit 3; fi
  curl -sS -X POST "$API/invocation/$ID/response" -d "{\\"echo\\":$EVENT,\\"fn\\":\\"$AWS_LAMBDA_FUNCTION_NAME\\"}" >/dev/null
done
"""
    zpath = tmp_path / "fn.zip"
    zpath.write_bytes(make_zip({"bootstrap": (bootstrap, 0o755)}))
    env = dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=str(tmp_path / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"), AWS_PAGER="")
    name = fname("sh")

    def cli(*args):
        return subprocess.run([AWS_CLI, "--endpoint-url", lsrv.endpoint, "lambda", *args], env=env,
                              capture_output=True, text=True, timeout=60)

    p = cli("create-function", "--function-name", name, "--runtime", "provided.al2023",
            "--role", ROLE, "--handler", "unused", "--zip-file", f"fileb://{zpath}")
    assert p.returncode == 0, p.stderr
    out = tmp_path / "out.json"
    p = cli("invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out",
            "--payload", '{"x":1}', str(out))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["StatusCode"] == 200
    assert json.loads(out.read_text()) == {"echo": {"x": 1}, "fn": name}

    # The bootstrap exits mid-invocation: Runtime.ExitError, and the next invoke works.
    p = cli("invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out",
            "--payload", '{"crash":true}', str(out))
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["FunctionError"] == "Unhandled"
    err = json.loads(out.read_text())
    assert err["errorType"] == "Runtime.ExitError" and "exit status 3" in err["errorMessage"]
    p = cli("invoke", "--function-name", name, "--cli-binary-format", "raw-in-base64-out",
            "--payload", '{"x":2}', str(out))
    assert json.loads(out.read_text())["echo"] == {"x": 2}


def test_api_errors_and_limits(lam):
    name = fname("api")
    code = make_zip({"app.py": APP})
    create(lam, name, code)
    with pytest.raises(ClientError) as e:
        create(lam, name, code)
    assert client_error(e) == ("ResourceConflictException", 409)
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName="no-such-function")
    assert client_error(e) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="no-such-function")
    assert client_error(e) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        create(lam, fname("zip"), b"this is not a zip file")
    assert client_error(e) == ("InvalidParameterValueException", 400)
    assert "Could not unzip" in str(e.value)
    with pytest.raises(ClientError) as e:
        create(lam, fname("env"), code, Environment={"Variables": {"AWS_REGION": "x"}})
    assert client_error(e) == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as e:
        create(lam, fname("old"), code, runtime="python2.7")
    assert client_error(e) == ("InvalidParameterValueException", 400)
    with pytest.raises(ClientError) as e:
        create(lam, fname("java"), code, runtime="java21")
    assert client_error(e)[0] == "InvalidParameterValueException" and "java21" in str(e.value)
    with pytest.raises(ClientError) as e:
        create(lam, fname("t"), code, Timeout=901)
    assert client_error(e) == ("ValidationException", 400)
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name, Payload=b"{not json")
    assert client_error(e) == ("InvalidRequestContentException", 400)
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"x": "a" * 300000}))
    assert client_error(e) == ("RequestTooLargeException", 413)
    # Operations Sluice does not build answer 501 naming themselves.
    with pytest.raises(ClientError) as e:
        lam.get_function_url_config(FunctionName=name)
    assert client_error(e) == ("NotImplemented", 501) and "GetFunctionUrlConfig" in str(e.value)

    # Tags, listing, code update, concurrency, delete.
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"team": "data", "env": "dev"})
    lam.untag_resource(Resource=arn, TagKeys=["env"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "data"}
    assert name in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    new = lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"}))
    assert new["LastUpdateStatus"] == "Successful"
    assert invoke(lam, name)[1] == "v2"
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=name)
    assert client_error(e) == ("TooManyRequestsException", 429)
    lam.delete_function_concurrency(FunctionName=name)

    # Resource policies (kept and returned, as IaC tools expect; not enforced).
    with pytest.raises(ClientError) as e:
        lam.get_policy(FunctionName=name)
    assert client_error(e) == ("ResourceNotFoundException", 404)
    st = json.loads(lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::b")["Statement"])
    assert st["Principal"] == {"Service": "s3.amazonaws.com"}
    assert st["Condition"] == {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"}}
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction", Principal="*")
    assert client_error(e) == ("ResourceConflictException", 409)
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["s3"]
    lam.remove_permission(FunctionName=name, StatementId="s3")
    with pytest.raises(ClientError) as e:
        lam.remove_permission(FunctionName=name, StatementId="s3")
    assert client_error(e) == ("ResourceNotFoundException", 404)
    lam.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as e:
        lam.get_function_configuration(FunctionName=name)
    assert client_error(e) == ("ResourceNotFoundException", 404)


def test_handler_reaches_sluice_s3_through_boto3_without_an_endpoint(lsrv, lam):
    s3 = make_s3(lsrv.endpoint)
    bucket = unique_bucket("lambda-boto3")
    s3.create_bucket(Bucket=bucket)
    try:
        name = fname("boto")
        code = ("import boto3\n"
                "def handler(event, context):\n"
                "    s3 = boto3.client('s3')\n"
                "    s3.put_object(Bucket=event['bucket'], Key='from-lambda.txt', Body=b'hello')\n"
                "    return [o['Key'] for o in s3.list_objects_v2(Bucket=event['bucket'])['Contents']]\n")
        create(lam, name, make_zip({"app.py": code}), Timeout=30)
        r, body = invoke(lam, name, {"bucket": bucket})
        assert "FunctionError" not in r, body
        assert body == ["from-lambda.txt"]
        assert s3.get_object(Bucket=bucket, Key="from-lambda.txt")["Body"].read() == b"hello"
    finally:
        empty_bucket(s3, bucket)


SEED_HANDLER = """
def lambda_handler(event, context):
    bucket = event['detail']['bucket']['name']
    key = event['detail']['object']['key']
    print(f"File uploaded: s3://{bucket}/{key}")
"""


def sluice_logs(srv, sluice_bin, name):
    p = subprocess.run([str(sluice_bin), "logs", "function", name, "--endpoint", srv.endpoint],
                       capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test"))
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_seed_handler_runs_on_an_s3_upload_through_eventbridge(lsrv, lam, sluice_bin):
    s3 = make_s3(lsrv.endpoint)
    events = make_client("events", lsrv.endpoint)
    bucket = unique_bucket("lambda-seed")
    s3.create_bucket(Bucket=bucket)
    name = fname("seed")
    arn = create(lam, name, make_zip({"app.py": SEED_HANDLER}), handler="app.lambda_handler")["FunctionArn"]
    rule = fname("uploads")
    try:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
        events.put_rule(Name=rule, EventPattern=json.dumps({
            "source": ["aws.s3"], "detail-type": ["Object Created"],
            "detail": {"bucket": {"name": [bucket]}}}))
        events.put_targets(Rule=rule, Targets=[{"Id": "fn", "Arn": arn}])
        s3.put_object(Bucket=bucket, Key="incoming/data.csv", Body=b"a,b\n1,2\n")
        expected = f"File uploaded: s3://{bucket}/incoming/data.csv"
        log = wait_for(lambda: (lambda t: t if expected in t else None)(sluice_logs(lsrv, sluice_bin, name)),
                       timeout=20, interval=0.1, what="the handler's output")
        assert "START RequestId:" in log and "REPORT RequestId:" in log
    finally:
        events.remove_targets(Rule=rule, Ids=["fn"])
        events.delete_rule(Name=rule)
        empty_bucket(s3, bucket)


def test_async_failures_are_retried_twice_then_sent_to_the_sqs_on_failure_destination(lsrv, lam):
    sqs = make_client("sqs", lsrv.endpoint)
    url = sqs.create_queue(QueueName=fname("failures"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = fname("retry")
    create(lam, name, make_zip({"app.py": APP}))
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=2,
                                         DestinationConfig={"OnFailure": {"Destination": qarn}})
    assert lam.get_function_event_invoke_config(FunctionName=name)["MaximumRetryAttempts"] == 2
    r = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": "always"}))
    assert r["StatusCode"] == 202

    def received():
        m = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages")
        return m[0] if m else None

    msg = wait_for(received, timeout=20, what="the on-failure record")
    record = json.loads(msg["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(f":function:{name}:$LATEST")
    assert record["requestPayload"] == {"fail": "always"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorType"] == "ValueError"


ASYNC_APP = """
import os, time
def handler(event, context):
    time.sleep(0.1)
    with open(os.environ["OUT"], "a") as f:
        f.write(f"{event['i']} {os.getpid()}\\n")
"""


def test_accepted_async_invokes_survive_kill_9(sluice_bin, tmp_path):
    seed = int(os.environ.get("SLUICE_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rng = random.Random(seed)
    out = tmp_path / "done.txt"
    out.touch()
    srv = start_server(sluice_bin, tmp_path / "srv", "sluice-lambda-crash")
    try:
        lam = make_client("lambda", srv.endpoint)
        create(lam, "durable", make_zip({"app.py": ASYNC_APP}), Environment={"Variables": {"OUT": str(out)}})
        n = 24
        for i in range(n):
            assert lam.invoke(FunctionName="durable", InvocationType="Event",
                              Payload=json.dumps({"i": i}))["StatusCode"] == 202
        time.sleep(rng.uniform(0, 0.6))  # the crash point
        srv.kill()
        before = out.read_text().split()
        pids = {int(p) for p in before[1::2]}
        # Workers die with the server (PR_SET_PDEATHSIG).
        def gone():
            for pid in pids:
                try:
                    os.kill(pid, 0)
                    return False
                except OSError:
                    pass
            return True
        wait_for(gone, timeout=5, what="the workers to die with the server")
        srv.start()
        lam = make_client("lambda", srv.endpoint)

        def all_done():
            ids = {int(x) for x in out.read_text().split()[0::2]}
            return ids == set(range(n))
        wait_for(all_done, timeout=30, interval=0.1, what=f"every accepted invoke to run (seed {seed})")
    finally:
        srv.kill()


RECORDER = """
import json, os
def handler(event, context):
    with open(os.environ["OUT"], "a") as f:
        f.write(json.dumps(event) + "\\n")
    if isinstance(event, dict) and event.get("fail"):
        raise KeyError("missing")
    return {"got": event}
"""


def test_s3_sns_and_step_functions_invoke_functions(lsrv, lam, tmp_path):
    out = tmp_path / "events.jsonl"
    out.touch()
    name = fname("rec")
    arn = create(lam, name, make_zip({"app.py": RECORDER}),
                 Environment={"Variables": {"OUT": str(out)}})["FunctionArn"]

    def seen(pred):
        return wait_for(lambda: next((e for e in map(json.loads, out.read_text().splitlines()) if pred(e)), None),
                        timeout=20, interval=0.05, what="the function to be invoked")

    # S3 LambdaFunctionConfigurations: S3's event message.
    s3 = make_s3(lsrv.endpoint)
    bucket = unique_bucket("lambda-notify")
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
        got = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
        assert got[0]["LambdaFunctionArn"] == arn
        s3.put_object(Bucket=bucket, Key="x/y.json", Body=b"{}")
        rec = seen(lambda e: isinstance(e, dict) and "Records" in e and "s3" in e["Records"][0])
        assert rec["Records"][0]["s3"]["object"]["key"] == "x/y.json"
    finally:
        empty_bucket(s3, bucket)

    # SNS lambda subscriptions.
    sns = make_client("sns", lsrv.endpoint)
    topic = sns.create_topic(Name=fname("t"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="hello lambda")
    rec = seen(lambda e: isinstance(e, dict) and e.get("Records", [{}])[0].get("EventSource") == "aws:sns")
    assert rec["Records"][0]["Sns"]["Message"] == "hello lambda"

    # Step Functions: lambda:invoke, a plain function ARN, and the function's error as the task's.
    sfn = make_client("stepfunctions", lsrv.endpoint)
    definition = {"StartAt": "Invoke", "States": {
        "Invoke": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                   "Parameters": {"FunctionName": arn, "Payload.$": "$"}, "OutputPath": "$.Payload", "Next": "Plain"},
        "Plain": {"Type": "Task", "Resource": arn, "End": True}}}
    machine = sfn.create_state_machine(name=fname("m"), definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"v": 1}))["executionArn"]
    d = wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" else None)(sfn.describe_execution(executionArn=ex)),
                 timeout=20, what="the execution")
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"got": {"got": {"v": 1}}}
    ex = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"fail": True}))["executionArn"]
    d = wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" else None)(sfn.describe_execution(executionArn=ex)),
                 timeout=20, what="the execution")
    assert d["status"] == "FAILED" and d["error"] == "KeyError", d


BATCH_APP = """
import json, os
def handler(event, context):
    failures = []
    with open(os.environ["OUT"], "a") as f:
        for r in event["Records"]:
            assert r["eventSource"] == "aws:sqs"
            f.write(json.dumps({"id": r["messageId"], "body": r["body"],
                                "count": r["attributes"]["ApproximateReceiveCount"]}) + "\\n")
            if r["body"].startswith("bad"):
                failures.append({"itemIdentifier": r["messageId"]})
    return {"batchItemFailures": failures}
"""


def test_sqs_event_source_mapping_with_partial_batch_failures(lsrv, lam, tmp_path):
    sqs = make_client("sqs", lsrv.endpoint)
    url = sqs.create_queue(QueueName=fname("esm"), Attributes={"VisibilityTimeout": "3"})["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    out = tmp_path / "batches.jsonl"
    out.touch()
    name = fname("esm")
    create(lam, name, make_zip({"app.py": BATCH_APP}), Environment={"Variables": {"OUT": str(out)}})
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(EventSourceArn=qarn + "-missing", FunctionName=name)
    assert client_error(e) == ("InvalidParameterValueException", 400)
    m = lam.create_event_source_mapping(EventSourceArn=qarn, FunctionName=name, BatchSize=10,
                                        FunctionResponseTypes=["ReportBatchItemFailures"])
    assert m["State"] == "Enabled" and m["FunctionArn"].endswith(f":function:{name}")
    assert [x["UUID"] for x in lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]] == [m["UUID"]]
    for body in ("good-1", "bad-1", "good-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)

    def seen():
        return [json.loads(line) for line in out.read_text().splitlines()]
    # The failed item comes back after the visibility timeout; the others were deleted.
    wait_for(lambda: any(r["body"] == "bad-1" and r["count"] == "2" for r in seen()), timeout=20,
             what="the failed item to be retried")
    lam.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
    bodies = [r["body"] for r in seen()]
    assert bodies.count("good-1") == 1 and bodies.count("good-2") == 1, bodies
    assert lam.get_event_source_mapping(UUID=m["UUID"])["State"] == "Disabled"
    lam.delete_event_source_mapping(UUID=m["UUID"])
    with pytest.raises(ClientError) as e:
        lam.get_event_source_mapping(UUID=m["UUID"])
    assert client_error(e) == ("ResourceNotFoundException", 404)


NODE_APP = """
exports.handler = async (event, context) => {
  console.log('node got', JSON.stringify(event));
  if (event.fail) throw new TypeError('node boom');
  return { echo: event, name: context.functionName, left: context.getRemainingTimeInMillis() > 0 };
};
"""


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_nodejs_function(lam):
    name = fname("node")
    create(lam, name, make_zip({"index.js": NODE_APP}), handler="index.handler", runtime="nodejs20.x")
    r, body = invoke(lam, name, {"a": 1}, LogType="Tail")
    assert "FunctionError" not in r, body
    assert body == {"echo": {"a": 1}, "name": name, "left": True}
    assert "INFO\tnode got {\"a\":1}" in base64.b64decode(r["LogResult"]).decode()
    r, err = invoke(lam, name, {"fail": True})
    assert r["FunctionError"] == "Unhandled"
    assert err["errorType"] == "TypeError" and err["errorMessage"] == "node boom"


def test_concurrent_invokes_get_a_worker_each_up_to_the_reserved_concurrency(lam):
    import concurrent.futures
    name = fname("conc")
    create(lam, name, make_zip({"app.py": APP}), Timeout=10)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 2

    def call(_):
        try:
            return invoke(lam, name, {"sleep": 1.5})[1]["pid"]
        except ClientError as e:
            return client_error(e)
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        results = list(pool.map(call, range(3)))
    pids = [r for r in results if isinstance(r, int)]
    assert len(set(pids)) == 2, results
    assert results.count(("TooManyRequestsException", 429)) == 1, results


def test_init_error_of_a_custom_runtime_is_the_invoke_error(lam):
    bootstrap = """#!/bin/sh
curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/init/error" \\
  -H 'Lambda-Runtime-Function-Error-Type: Custom.InitFailed' \\
  -d '{"errorMessage":"no config","errorType":"Custom.InitFailed"}' >/dev/null
exit 1
"""
    name = fname("init")
    create(lam, name, make_zip({"bootstrap": (bootstrap, 0o755)}), runtime="provided.al2", handler="x")
    r, err = invoke(lam, name, {})
    assert r["FunctionError"] == "Unhandled"
    assert err == {"errorMessage": "no config", "errorType": "Custom.InitFailed"}
    name = fname("noboot")
    create(lam, name, make_zip({"other": "x"}), runtime="provided.al2023", handler="x")
    r, err = invoke(lam, name, {})
    assert r["FunctionError"] == "Unhandled" and err["errorType"] == "Runtime.InvalidEntrypoint"


def fname_published(lam, v_code):
    """A function created with Publish: the reply is version 1."""
    name = fname("pub")
    assert create(lam, name, make_zip({"app.py": v_code % 4}), Publish=True)["Version"] == "1"
    return name


def test_versions_and_weighted_aliases(lam):
    name = fname("ver")
    v_code = "import os\ndef handler(e, c):\n    return {'v': %d, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION']}\n"
    create(lam, name, make_zip({"app.py": v_code % 1}))
    v1 = lam.publish_version(FunctionName=name)
    assert v1["Version"] == "1" and v1["FunctionArn"].endswith(f"{name}:1")
    assert lam.publish_version(FunctionName=name)["Version"] == "1"  # nothing changed
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": v_code % 2}))
    assert lam.publish_version(FunctionName=name)["Version"] == "2"
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": v_code % 3}))
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1", "2"]
    assert lam.update_function_code(FunctionName=fname_published(lam, v_code), ZipFile=make_zip({"app.py": v_code % 5}),
                                    Publish=True)["Version"] == "2"

    r, body = invoke(lam, name, Qualifier="1")
    assert body == {"v": 1, "version": "1"} and r["ExecutedVersion"] == "1"
    assert invoke(lam, name)[1]["v"] == 3
    assert invoke(lam, f"{name}:2")[1]["v"] == 2
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Version"] == "1"

    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert alias["AliasArn"].endswith(f"{name}:live")
    assert invoke(lam, name, Qualifier="live")[1]["v"] == 1
    lam.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    seen = {invoke(lam, name, Qualifier="live")[1]["v"] for _ in range(40)}
    assert seen == {1, 2}
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["live"]
    with pytest.raises(ClientError) as e:
        invoke(lam, name, Qualifier="7")
    assert client_error(e) == ("ResourceNotFoundException", 404)
    with pytest.raises(ClientError) as e:
        lam.delete_function(FunctionName=name, Qualifier="2")  # the alias routes to it
    assert client_error(e) == ("ResourceConflictException", 409)
    with pytest.raises(ClientError) as e:  # qualifiers Sluice does not resolve there are refused
        lam.put_function_event_invoke_config(FunctionName=name, Qualifier="1", MaximumRetryAttempts=0)
    assert client_error(e) == ("NotImplemented", 501)
    lam.delete_alias(FunctionName=name, Name="live")
    with pytest.raises(ClientError) as e:
        lam.get_alias(FunctionName=name, Name="live")
    assert client_error(e) == ("ResourceNotFoundException", 404)
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "2"]
    assert invoke(lam, name)[1]["v"] == 3  # the function itself is still there
    listed = [f for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL")
              for f in page["Functions"]]
    assert [f["Version"] for f in listed if f["FunctionName"] == name] == ["$LATEST", "2"]


TOKEN_APP = """
import boto3, json
def handler(event, context):
    boto3.client("stepfunctions").send_task_success(taskToken=event["token"],
                                                    output=json.dumps({"approved": event["who"]}))
"""


def test_step_functions_wait_for_task_token_with_a_handler_calling_back(lsrv, lam):
    name = fname("token")
    arn = create(lam, name, make_zip({"app.py": TOKEN_APP}), Timeout=30)["FunctionArn"]
    sfn = make_client("stepfunctions", lsrv.endpoint)
    definition = {"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": arn, "Payload": {"token.$": "$$.Task.Token", "who.$": "$.who"}},
        "End": True}}}
    machine = sfn.create_state_machine(name=fname("w"), definition=json.dumps(definition), roleArn=ROLE)["stateMachineArn"]
    ex = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"who": "ops"}))["executionArn"]
    d = wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" else None)(sfn.describe_execution(executionArn=ex)),
                 timeout=30, what="the execution")
    assert d["status"] == "SUCCEEDED", d
    assert json.loads(d["output"]) == {"approved": "ops"}


def test_layers_are_the_functions_opt(lam):
    layer = fname("lib")
    v1 = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": make_zip({"python/greet.py": "WORD = 'one'\n"})},
                                   CompatibleRuntimes=["python3.12"])
    v2 = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": make_zip({"python/greet.py": "WORD = 'two'\n"})})
    assert (v1["Version"], v2["Version"]) == (1, 2)
    assert v2["LayerVersionArn"] == v2["LayerArn"] + ":2"
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=layer)["LayerVersions"]] == [2, 1]
    assert lam.get_layer_version_by_arn(Arn=v1["LayerVersionArn"])["Version"] == 1
    name = fname("layered")
    code = "import greet\ndef handler(e, c):\n    return greet.WORD\n"
    out = create(lam, name, make_zip({"app.py": code}), Layers=[v1["LayerVersionArn"]])
    assert out["Layers"][0]["Arn"] == v1["LayerVersionArn"]
    assert invoke(lam, name)[1] == "one"
    lam.update_function_configuration(FunctionName=name, Layers=[v2["LayerVersionArn"]])
    assert invoke(lam, name)[1] == "two"
    with pytest.raises(ClientError) as e:
        lam.update_function_configuration(FunctionName=name, Layers=[v2["LayerArn"] + ":9"])
    assert client_error(e) == ("InvalidParameterValueException", 400)
    lam.delete_layer_version(LayerName=layer, VersionNumber=1)
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=layer)["LayerVersions"]] == [2]
