"""Step Functions under hostile or broken input: nesting bombs, JSONata Sluice cannot run
yet, AWS's size and name limits, stored executions that cannot resume, and kill -9 while
executions wait, run Maps and wait for callbacks (nothing acknowledged is lost)."""

import json
import os
import sqlite3
import threading
import time

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import crash_rng, make_client, wait_for
from test_states import states_api

ROLE = "arn:aws:iam::000000000000:role/StatesExecutionRole"
FINAL = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


def sfn_client(endpoint):
    return make_client("stepfunctions", endpoint, inject_host_prefix=False)


@pytest.fixture(scope="module")
def sfn(server):
    return sfn_client(server.endpoint)


def uname(prefix):
    return f"{prefix}-{os.urandom(5).hex()}"


def create(sfn, definition, name=None, type_="STANDARD", **kw):
    return sfn.create_state_machine(name=name or uname("m"), definition=json.dumps(definition),
                                    roleArn=ROLE, type=type_, **kw)["stateMachineArn"]


def finish(sfn, arn, timeout=30):
    return wait_for(lambda: (lambda d: d if d["status"] in FINAL else None)(sfn.describe_execution(executionArn=arn)),
                    timeout, interval=0.05, what=f"{arn} to finish")


def error_of(excinfo):
    err = excinfo.value
    return err.response["Error"]["Code"], err.response["ResponseMetadata"]["HTTPStatusCode"], err.response["Error"]["Message"]


def attempt(call):
    """(code, HTTP status, message) of a failing boto3 call."""
    with pytest.raises(ClientError) as e:
        call()
    return error_of(e)


def raw_error(server, action, body):
    """(code, HTTP status, message) of a failing call boto3 1.26 does not know."""
    status, out = states_api(server, action, body)
    assert status >= 400, out
    return out.get("__type", "").split("#")[-1], status, out.get("message", out.get("Message", ""))


PASS = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


# ---------------------------------------------------------------------------------------
# Deep JSON


def test_deeply_nested_input_is_refused_and_the_server_lives(server, sfn):
    standard = create(sfn, PASS)
    express = create(sfn, PASS, type_="EXPRESS")
    bomb = "[" * 100000
    for call in (lambda: sfn.start_execution(stateMachineArn=standard, input=bomb),
                 lambda: sfn.start_sync_execution(stateMachineArn=express, input=bomb)):
        with pytest.raises(ClientError) as e:
            call()
        code, status, message = error_of(e)
        assert (code, status) == ("InvalidExecutionInput", 400)
        assert len(message) < 1000  # the input is not echoed back whole
    # Still serving, and an input of legitimate depth runs.
    ok = "[" * 100 + "]" * 100
    arn = sfn.start_execution(stateMachineArn=standard, input=ok)["executionArn"]
    assert finish(sfn, arn)["output"] == ok.replace("][", "],[")


def test_intrinsics_and_callbacks_cannot_build_unbounded_documents(server, sfn):
    # States.StringToJson of a nesting bomb fails the execution (not the server) ...
    deep = {"StartAt": "S", "States": {"S": {"Type": "Pass", "Parameters": {"v.$": "States.StringToJson($.s)"}, "End": True}}}
    arn = sfn.start_execution(stateMachineArn=create(sfn, deep), input=json.dumps({"s": "[" * 50000}))["executionArn"]
    d = finish(sfn, arn)
    assert d["status"] == "FAILED" and d["error"] == "States.IntrinsicFailure", d
    # ... and a loop that nests its data one level deeper per state stops at the bound.
    grow = {"StartAt": "W", "States": {
        "W": {"Type": "Pass", "Parameters": {"w.$": "$"}, "Next": "C"},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "D"}], "Default": "W"},
        "D": {"Type": "Succeed"}}}
    arn = sfn.start_execution(stateMachineArn=create(sfn, grow))["executionArn"]
    d = finish(sfn, arn)
    assert d["status"] == "FAILED" and d["error"] == "States.DataLimitExceeded", d
    # A callback's output is bounded like any request.
    act = sfn.create_activity(name=uname("a"))["activityArn"]
    task = {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": act, "End": True}}}
    arn = sfn.start_execution(stateMachineArn=create(sfn, task))["executionArn"]
    token = wait_for(lambda: sfn.get_activity_task(activityArn=act).get("taskToken"), 10, what="the activity task")
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken=token, output="[" * 100000)
    assert error_of(e)[:2] == ("InvalidOutput", 400)
    sfn.send_task_success(taskToken=token, output='{"done": true}')
    assert finish(sfn, arn)["output"] == '{"done":true}'


# ---------------------------------------------------------------------------------------
# JSONata


JSONATA_FIELDS = [
    ("Wait", {"Type": "Wait", "Seconds": "{% $states.input.delay %}", "End": True}, "Seconds"),
    ("Task", {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:listActivities", "Arguments": {},
              "TimeoutSeconds": "{% $states.input.t %}", "End": True}, "TimeoutSeconds"),
    ("Task", {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sfn:listActivities", "Arguments": {},
              "HeartbeatSeconds": "{% $states.input.h %}", "TimeoutSeconds": 60, "End": True}, "HeartbeatSeconds"),
    ("Map", {"Type": "Map", "MaxConcurrency": "{% $states.input.c %}", "Items": [1, 2],
             "ItemProcessor": {"StartAt": "E", "States": {"E": {"Type": "Pass", "End": True}}}, "End": True},
     "MaxConcurrency"),
]


@pytest.mark.parametrize("state_name,state,field", JSONATA_FIELDS, ids=[f for _, _, f in JSONATA_FIELDS])
def test_jsonata_is_refused_as_not_implemented(server, sfn, state_name, state, field):
    definition = {"QueryLanguage": "JSONata", "StartAt": state_name, "States": {state_name: state}}
    text = json.dumps(definition)
    existing = create(sfn, PASS)
    errors = [attempt(lambda: sfn.create_state_machine(name=uname("j"), definition=text, roleArn=ROLE)),
              attempt(lambda: sfn.update_state_machine(stateMachineArn=existing, definition=text)),
              raw_error(server, "ValidateStateMachineDefinition", {"definition": text})]
    for code, status, message in errors:
        assert (code, status) == ("NotImplemented", 501), message
        assert "JSONata" in message and f"'{field}'" in message and f"'{state_name}'" in message, message
    # The machine that was there is unchanged and still runs.
    arn = sfn.start_execution(stateMachineArn=existing, input='{"a": 1}')["executionArn"]
    assert finish(sfn, arn)["status"] == "SUCCEEDED"


def test_jsonata_in_one_state_of_a_jsonpath_machine_and_test_state(server, sfn):
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "C", "States": {"C": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 + 1 %}",
                                              "End": True}}}]}}}
    with pytest.raises(ClientError) as e:
        create(sfn, definition)
    code, status, message = error_of(e)
    assert (code, status) == ("NotImplemented", 501) and "'C'" in message and "'Output'" in message, message
    state = {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% 1 %}", "End": True}
    assert raw_error(server, "TestState", {"definition": json.dumps(state), "roleArn": ROLE})[1] == 501


# ---------------------------------------------------------------------------------------
# Limits


def test_aws_size_and_name_limits(server, sfn):
    big = {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "x" * (1048576 + 1), "End": True}}}
    with pytest.raises(ClientError) as e:
        create(sfn, big)
    assert error_of(e)[:2] == ("ValidationException", 400)
    assert raw_error(server, "ValidateStateMachineDefinition", {"definition": json.dumps(big)})[:2] == \
        ("ValidationException", 400)

    arn = create(sfn, PASS)
    # Input: 262,144 bytes as UTF-8 (a 2-byte character counts twice).
    fits = json.dumps({"s": "x" * (262144 - 10)})
    assert len(fits.encode()) == 262144 - 10 + 9
    out = finish(sfn, sfn.start_execution(stateMachineArn=arn, input=fits)["executionArn"])
    assert out["status"] == "SUCCEEDED"
    too_big = json.dumps({"s": "\u00e9" * (262144 // 2)}, ensure_ascii=False)
    with pytest.raises(ClientError) as e:
        sfn.start_execution(stateMachineArn=arn, input=too_big)
    assert error_of(e)[:2] == ("ValidationException", 400)

    for bad in ("x" * 81, "a b", "a\u0085b", "a/b"):
        assert attempt(lambda: sfn.start_execution(stateMachineArn=arn, name=bad))[:2] == ("InvalidName", 400), bad
        assert attempt(lambda: sfn.create_activity(name=bad))[:2] == ("InvalidName", 400), bad
    # 80 characters, non-ASCII ones counting one each, are fine.
    sfn.start_execution(stateMachineArn=arn, name="\u00e9" * 80)

    with pytest.raises(ClientError) as e:
        create(sfn, PASS, tags=[{"key": f"k{i}", "value": "v"} for i in range(51)])
    assert error_of(e)[:2] == ("TooManyTags", 400)
    with pytest.raises(ClientError) as e:
        create(sfn, PASS, tags=[{"key": "k" * 129, "value": "v"}])
    assert error_of(e)[:2] == ("ValidationException", 400)
    create(sfn, PASS, tags=[{"key": f"k{i}", "value": "v" * 256} for i in range(50)])

    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken="t" * 1025, output="{}")
    assert error_of(e)[:2] == ("InvalidToken", 400)
    with pytest.raises(ClientError) as e:
        sfn.send_task_success(taskToken="t" * 100, output=json.dumps("x" * 262144))
    assert error_of(e)[:2] == ("ValidationException", 400)
    with pytest.raises(ClientError) as e:
        sfn.send_task_failure(taskToken="t" * 100, error="e" * 257)
    assert error_of(e)[:2] == ("ValidationException", 400)


def test_history_quota_of_25000_events_fails_the_execution(server, sfn):
    # Each item adds 4 events (iteration started / Pass entered / exited / iteration succeeded).
    def machine(items):
        return {"StartAt": "M", "States": {"M": {
            "Type": "Map", "MaxConcurrency": 40, "End": True, "ResultSelector": {"n.$": "States.ArrayLength($)"},
            "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1, "End": True}}}}}}, \
            json.dumps(list(range(items)))
    definition, items = machine(6300)
    arn = sfn.start_execution(stateMachineArn=create(sfn, definition), input=items)["executionArn"]
    d = finish(sfn, arn, 120)
    assert (d["status"], d["error"]) == ("FAILED", "States.Runtime"), d
    assert "25000" in d["cause"]
    events, token = [], None
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {}))
        events += page["events"]
        token = page.get("nextToken")
        if not token:
            break
    assert len(events) == 25000 and events[-1]["type"] == "ExecutionFailed"
    assert [e["id"] for e in events] == list(range(1, 25001))


# ---------------------------------------------------------------------------------------
# Resume


def test_an_execution_that_cannot_resume_is_failed_not_a_crash_loop(server_factory):
    srv = server_factory(name="states-resume")
    sfn = sfn_client(srv.endpoint)
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 300, "End": True}}}
    a = create(sfn, wait, name="resume-a")
    b = create(sfn, wait, name="resume-b")
    c = create(sfn, wait, name="resume-c")
    ea = sfn.start_execution(stateMachineArn=a, name="ea")["executionArn"]
    eb = sfn.start_execution(stateMachineArn=b, name="eb")["executionArn"]
    ec = sfn.start_execution(stateMachineArn=c, name="ec")["executionArn"]
    wait_for(lambda: len(sfn.get_execution_history(executionArn=ec)["events"]) >= 2, 10, what="the Wait to start")
    srv.kill()
    db = sqlite3.connect(srv.data_dir / "states" / "states.db")
    with db:
        # a: a machine an older build stored with JSONata (it used to abort every start).
        row = db.execute("SELECT doc FROM documents WHERE kind='machine' AND name='resume-a'").fetchone()
        m = json.loads(row[0])
        m["definition"] = json.dumps({"QueryLanguage": "JSONata", "StartAt": "W",
                                      "States": {"W": {"Type": "Wait", "Seconds": "{% 1 %}", "End": True}}})
        db.execute("UPDATE documents SET doc=? WHERE kind='machine' AND name='resume-a'", (json.dumps(m),))
        # b: an execution document that is not JSON any more, nested past every bound.
        db.execute("UPDATE documents SET doc=? WHERE kind='execution' AND name=?", ("[" * 100000, eb))
        # c: a checkpoint of the wrong shape.
        row = db.execute("SELECT doc FROM documents WHERE kind='execution' AND name=?", (ec,)).fetchone()
        doc = json.loads(row[0])
        doc["sluice:checkpoint"] = {"state": "W", "input": {}, "entered_ms": "yesterday"}
        db.execute("UPDATE documents SET doc=? WHERE kind='execution' AND name=?", (json.dumps(doc), ec))
    db.close()
    for _ in range(2):  # and the next start after that is clean too
        srv.start()
        sfn = sfn_client(srv.endpoint)
        for arn in (ea, eb, ec):
            d = finish(sfn, arn, timeout=10)
            assert d["status"] == "FAILED" and d["error"] == "States.Runtime", d
            assert sfn.get_execution_history(executionArn=arn, reverseOrder=True)["events"][0]["type"] == "ExecutionFailed"
        assert "JSONata" in sfn.describe_execution(executionArn=ea)["cause"]
        srv.kill()


# ---------------------------------------------------------------------------------------
# kill -9


CRASH_MACHINES = {
    "wait": {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},
        "P": {"Type": "Pass", "Parameters": {"n.$": "$.n", "doubled.$": "States.MathAdd($.n, $.n)"}, "End": True}}},
    "map": {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 3, "ItemSelector": {"v.$": "$$.Map.Item.Value"},
        "ItemProcessor": {"StartAt": "W", "States": {
            "W": {"Type": "Wait", "Seconds": 1, "Next": "A"},
            "A": {"Type": "Pass", "Parameters": {"sq.$": "States.MathAdd($.v, 1)"}, "End": True}}},
        "End": True}}},
    "retry": {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "Parameters": {"FunctionName": "absent", "Payload": {}},
              "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 1}],
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "D"}], "End": True},
        "D": {"Type": "Pass", "Parameters": {"n.$": "$.n", "caught.$": "$.err.Error"}, "End": True}}},
}


def crash_expected(kind, n):
    if kind == "wait":
        return {"n": n, "doubled": 2 * n}
    if kind == "map":
        return [{"sq": n + i + 1} for i in range(3)]
    if kind == "retry":
        return {"n": n, "caught": "Lambda.ResourceNotFoundException"}
    return {"n": n, "answer": {"echo": n}}


def crash_input(kind, n):
    return {"items": [n, n + 1, n + 2]} if kind == "map" else {"n": n}


def test_kill9_keeps_started_executions_and_acknowledged_callbacks(server_factory):
    rng = crash_rng("states crash test")
    srv = server_factory(name="states-crash")
    sfn = sfn_client(srv.endpoint)
    activity = sfn.create_activity(name="crash-worker")["activityArn"]
    machines = {k: create(sfn, d, name=f"crash-{k}") for k, d in CRASH_MACHINES.items()}
    machines["callback"] = create(sfn, {"StartAt": "T", "States": {
        "T": {"Type": "Task", "Resource": activity, "TimeoutSeconds": 120, "ResultPath": "$.answer", "Next": "D"},
        "D": {"Type": "Succeed"}}}, name="crash-callback")
    started = {}  # execution ARN -> expected output (acknowledged StartExecution only)
    acked = set()  # the n of executions whose SendTaskSuccess was acknowledged
    redelivered = []  # ... whose task was handed out again (the callback was not applied)
    held = []  # tasks answered in a burst right before the kill (the widest window for loss)
    counter = iter(range(1, 1 << 30))

    def answer(client, token, n):
        try:
            client.send_task_success(taskToken=token, output=json.dumps({"echo": n}))
        except ClientError as e:
            if e.response["Error"]["Code"] != "TaskDoesNotExist":
                raise
            return
        except Exception:
            return  # the server is gone: not acknowledged
        acked.add(n)

    def worker(endpoint, stop, hold):
        client = sfn_client(endpoint)
        while not stop.is_set():
            try:
                task = client.get_activity_task(activityArn=activity, workerName="w")
            except Exception:
                return
            if not task.get("taskToken"):
                continue
            n = json.loads(task["input"])["n"]
            if n in acked:
                redelivered.append(n)
            elif hold and n % 8 == 7:
                held.append((task["taskToken"], n))
            else:
                answer(client, task["taskToken"], n)

    def starter(endpoint, stop):
        client = sfn_client(endpoint)
        kinds = list(machines)
        while not stop.is_set():
            n = next(counter)
            kind = kinds[n % len(kinds)]
            try:
                arn = client.start_execution(stateMachineArn=machines[kind], name=f"{kind}-{n}",
                                             input=json.dumps(crash_input(kind, n)))["executionArn"]
            except Exception:
                return
            started[arn] = crash_expected(kind, n)
            time.sleep(0.02)

    for round_ in range(3):
        if round_:
            srv.start()
        stop = threading.Event()
        threads = [threading.Thread(target=starter, args=(srv.endpoint, stop), daemon=True)]
        threads += [threading.Thread(target=worker, args=(srv.endpoint, stop, True), daemon=True) for _ in range(2)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.5))
        # Answer the held tasks in a burst and kill right after the last acknowledgement.
        client = sfn_client(srv.endpoint)
        burst = list(held)
        held.clear()
        for token, n in burst:
            answer(client, token, n)
        stop.set()
        srv.kill()
        for t in threads:
            t.join(timeout=70)
            assert not t.is_alive(), "a client hung after the kill"
        print(f"round {round_}: {len(started)} started, {len(acked)} callbacks acknowledged ({len(burst)} in the burst)")

    srv.start()
    sfn = sfn_client(srv.endpoint)
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(srv.endpoint, stop, False), daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        wrong = []
        for arn, expected in started.items():
            d = wait_for(lambda: redelivered or (lambda d: d if d["status"] in FINAL else None)(
                sfn.describe_execution(executionArn=arn)), 60, what=f"{arn} to finish")
            assert not redelivered, f"acknowledged callbacks not applied (their task was sent again): {redelivered}"
            if d["status"] != "SUCCEEDED" or json.loads(d["output"]) != expected:
                wrong.append((arn, d["status"], d.get("output"), d.get("cause"), expected))
        assert not wrong, f"{len(wrong)} of {len(started)} executions did not complete as they would have: {wrong[:5]}"
        assert not redelivered, f"acknowledged callbacks not applied (their task was sent again): {redelivered}"
    finally:
        stop.set()
        srv.kill()
        for t in threads:
            t.join(timeout=70)
