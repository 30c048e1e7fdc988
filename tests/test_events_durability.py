"""EventBridge and Scheduler under kill -9: every acknowledged event is delivered (at least
once) to every matched target and archived; retries, dead-letter queues and Scheduler
firings survive the crash. Real server processes, kill -9 at random moments; the seed is
printed (rerun with SLUICE_CRASH_SEED=<seed>)."""

import datetime
import json
import random
import sqlite3
import threading
import time

from sluice_helpers import crash_rng, create_queue_with_arn, drain_queue, make_client, unique_name, wait_for

ACCOUNT = "000000000000"
REGION = "us-east-1"
ROUNDS = 3  # kill -9 rounds of the PutEvents crash test


def _clients(srv):
    return (make_client("events", srv.endpoint, max_pool_connections=16),
            make_client("sqs", srv.endpoint, max_pool_connections=16))


def _drain_queue(sqs, url, seen, key):
    """Receives (and deletes) what the queue holds; adds key(body) of each to `seen`."""
    seen.update(key(json.loads(b)) for b in drain_queue(sqs, url))


def _archived_marks(srv, archive):
    db = sqlite3.connect(f"file:{srv.data_dir}/events/events.db?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT event FROM archived WHERE archive=?", (archive,)).fetchall()
    finally:
        db.close()
    return {json.loads(r[0])["detail"]["mark"] for r in rows}


def _put_until_killed(events, bus, source, rng, acked, stop, lock, prefix, threads=4):
    """PutEvents from several threads until `stop`; acknowledged marks go into `acked`."""
    def worker(tid):
        n = 0
        r = random.Random(rng.random())
        while not stop.is_set():
            batch = [f"{prefix}-{tid}-{n + i}" for i in range(r.randint(1, 10))]
            n += len(batch)
            try:
                out = events.put_events(Entries=[
                    {"Source": source, "DetailType": "crash", "EventBusName": bus,
                     "Detail": json.dumps({"mark": m})} for m in batch])
            except Exception:  # noqa: BLE001 - the server is being killed
                continue
            with lock:
                for m, e in zip(batch, out["Entries"]):
                    if "EventId" in e:
                        acked.add(m)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    return ts


def test_kill9_keeps_acknowledged_events(server_factory):
    rng = crash_rng("events crash test")
    srv = server_factory(name="events-crash")
    events, sqs = _clients(srv)
    bus = unique_name("crash")
    events.create_event_bus(Name=bus)
    archive = unique_name("crash")[:48]
    events.create_archive(ArchiveName=archive, EventSourceArn=f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}")
    url, arn = create_queue_with_arn(sqs, unique_name("crash"))
    url2, arn2 = create_queue_with_arn(sqs, unique_name("crash2"))
    events.put_rule(Name="to-sqs", EventBusName=bus, EventPattern=json.dumps({"source": ["crash.test"]}))
    events.put_targets(Rule="to-sqs", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    # A second rule and target: every matched target gets every acknowledged event.
    events.put_rule(Name="to-sqs-2", EventBusName=bus, EventPattern=json.dumps({"detail-type": ["crash"]}))
    events.put_targets(Rule="to-sqs-2", EventBusName=bus, Targets=[
        {"Id": "q2", "Arn": arn2, "InputPath": "$.detail"}])

    acked, lock = set(), threading.Lock()
    for rnd in range(ROUNDS):
        if rnd > 0:
            srv.start()
            events, sqs = _clients(srv)
        stop = threading.Event()
        threads = _put_until_killed(events, bus, "crash.test", rng, acked, stop, lock, f"r{rnd}")
        time.sleep(rng.uniform(0.3, 1.0))
        srv.kill()
        stop.set()
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "a client hung after the server was killed"
    srv.start()
    events, sqs = _clients(srv)
    assert acked, "nothing was acknowledged before the kills"
    print(f"{len(acked)} events acknowledged over {ROUNDS} kills")

    delivered = set()
    delivered2 = set()
    for q, seen, key in [(url, delivered, lambda b: b["detail"]["mark"]), (url2, delivered2, lambda b: b["mark"])]:
        try:
            wait_for(lambda: _drain_queue(sqs, q, seen, key) or acked <= seen,
                     30, interval=0.2, what=f"every acknowledged event to reach {q}")
        except AssertionError as e:
            raise AssertionError(f"{e}: {len(acked - seen)} of {len(acked)} missing") from None
    missing = acked - _archived_marks(srv, archive)
    assert not missing, f"{len(missing)} acknowledged events not archived: {sorted(missing)[:10]}"
    srv.stop()


def test_kill9_keeps_retries_and_dead_letters(server_factory):
    """A target that fails (its queue does not exist yet) keeps retrying across kill -9 and
    succeeds once the queue exists; a target out of retries dead-letters across kill -9."""
    rng = crash_rng("events crash test")
    srv = server_factory(name="events-retry")
    events, sqs = _clients(srv)
    later_name = unique_name("later")
    later_arn = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{later_name}"
    dlq_url, dlq_arn = create_queue_with_arn(sqs, unique_name("dlq"))
    events.put_rule(Name="retry", EventPattern=json.dumps({"source": ["retry.test"]}))
    events.put_targets(Rule="retry", Targets=[
        {"Id": "later", "Arn": later_arn},
        {"Id": "dead", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{unique_name('never')}",
         "RetryPolicy": {"MaximumRetryAttempts": 1, "MaximumEventAgeInSeconds": 60},
         "DeadLetterConfig": {"Arn": dlq_arn}}])

    acked, lock = set(), threading.Lock()
    stop = threading.Event()
    threads = _put_until_killed(events, "default", "retry.test", rng, acked, stop, lock, "r", threads=2)
    time.sleep(rng.uniform(0.2, 0.5))
    stop.set()
    for t in threads:
        t.join(30)
    # Kill while first attempts, retries or dead-letter sends are due (backoff 1 s, 2 s, ...).
    time.sleep(rng.uniform(0.0, 1.0))
    srv.kill()
    srv.start()
    events, sqs = _clients(srv)
    assert acked
    print(f"{len(acked)} events acknowledged before the kill")
    url = sqs.create_queue(QueueName=later_name)["QueueUrl"]

    delivered, dead = set(), set()
    mark = lambda b: b["detail"]["mark"]  # noqa: E731
    wait_for(lambda: (_drain_queue(sqs, dlq_url, dead, mark) or acked <= dead),
             30, interval=0.2, what="every acknowledged event in the dead-letter queue")
    wait_for(lambda: (_drain_queue(sqs, url, delivered, mark) or acked <= delivered),
             30, interval=0.2, what="every acknowledged event delivered once its queue exists")
    srv.stop()


def test_kill9_scheduler_fires_due_schedules(server_factory):
    """A one-time at() schedule due while the server is down fires after the restart (once);
    one due around a kill -9 fires at least once, never zero times."""
    rng = crash_rng("events crash test")
    srv = server_factory(name="sched-crash")
    _, sqs = _clients(srv)
    scheduler = make_client("scheduler", srv.endpoint)
    url, arn = create_queue_with_arn(sqs, unique_name("sched"))

    def at(seconds):
        t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
        return f"at({t.strftime('%Y-%m-%dT%H:%M:%S')})"

    def create(name, expr):
        scheduler.create_schedule(Name=name, ScheduleExpression=expr, FlexibleTimeWindow={"Mode": "OFF"},
                                  Target={"Arn": arn, "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/s",
                                          "Input": json.dumps({"name": name})})

    t0 = time.monotonic()
    # Due while the server is down.
    create("down", at(4))
    # Due around the kill: schedules a second apart.
    around = [f"around{i}" for i in range(3)]
    for i, name in enumerate(around):
        create(name, at(1 + i))
    time.sleep(rng.uniform(1.0, 3.5))
    srv.kill()
    time.sleep(max(0.0, t0 + 5.5 - time.monotonic()))
    srv.start()
    _, sqs = _clients(srv)

    got = []

    def collect():
        while True:
            out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
            if not out:
                break
            for m in out:
                got.append(json.loads(m["Body"])["name"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return set(got) >= {"down", *around}

    try:
        wait_for(collect, 20, interval=0.2, what="every due schedule to fire")
    except AssertionError as e:
        raise AssertionError(f"{e}; fired: {sorted(got)}") from None
    assert got.count("down") == 1, got
    srv.stop()


def test_kill9_resumes_a_running_replay(server_factory):
    """A replay interrupted by kill -9 resumes after the restart: every archived event of the
    window reaches the replay's target (at least once) and the replay completes."""
    rng = crash_rng("events crash test")
    srv = server_factory(name="replay-crash")
    events, sqs = _clients(srv)
    bus_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"
    archive = unique_name("rp")[:48]
    events.create_archive(ArchiveName=archive, EventSourceArn=bus_arn,
                          EventPattern=json.dumps({"source": ["replay.src"]}))
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    marks = [f"m{i}" for i in range(2000)]
    for i in range(0, len(marks), 10):
        out = events.put_events(Entries=[{"Source": "replay.src", "DetailType": "r",
                                          "Detail": json.dumps({"mark": m})} for m in marks[i:i + 10]])
        assert out["FailedEntryCount"] == 0
    url, arn = create_queue_with_arn(sqs, unique_name("replayed"))
    events.put_rule(Name="replayed", EventPattern=json.dumps({"source": ["replay.src"],
                                                             "replay-name": [{"exists": True}]}))
    events.put_targets(Rule="replayed", Targets=[{"Id": "q", "Arn": arn}])
    end = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=1)
    time.sleep(1.1)  # the window's end is in the past
    name = unique_name("rp")
    events.start_replay(ReplayName=name, EventSourceArn=f"arn:aws:events:{REGION}:{ACCOUNT}:archive/{archive}",
                        EventStartTime=start, EventEndTime=end, Destination={"Arn": bus_arn})
    time.sleep(rng.uniform(0.0, 0.1))
    state = events.describe_replay(ReplayName=name)["State"]
    srv.kill()
    print(f"replay {state} at the kill")
    srv.start()
    events, sqs = _clients(srv)
    wait_for(lambda: events.describe_replay(ReplayName=name)["State"] == "COMPLETED", 30, interval=0.2,
             what="the replay to complete after the restart")
    got = set()
    try:
        wait_for(lambda: _drain_queue(sqs, url, got, lambda b: b["detail"]["mark"]) or set(marks) <= got,
                 30, interval=0.2, what="every archived event replayed")
    except AssertionError as e:
        raise AssertionError(f"{e}: {len(set(marks) - got)} of {len(marks)} missing") from None
    srv.stop()
