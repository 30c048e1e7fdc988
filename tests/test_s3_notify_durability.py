"""S3 event notifications under kill -9: every object change that committed (every
acknowledged one, and every one a restart shows) has its notification delivered, at least
once, to an SQS QueueConfiguration and through EventBridge (rule -> SQS). Real server
processes, kill -9 at random moments; the seed is printed (rerun with SLUICE_CRASH_SEED=<seed>)."""

import json
import os
import random
import threading
import time

from sluice_helpers import crash_rng, create_queue_with_arn, drain_queue, make_client, make_s3, md5_hex, unique_bucket, unique_name, wait_for

ROUNDS = 3


def _drain(sqs, url, seen, parse):
    for body in drain_queue(sqs, url):
        seen.update(parse(json.loads(body)))


def _from_records(body):
    """(kind, key, etag) of an S3 event message; nothing for s3:TestEvent."""
    out = []
    for r in body.get("Records", []):
        o = r["s3"]["object"]
        kind = "created" if r["eventName"].startswith("ObjectCreated") else "removed"
        out.append((kind, o["key"], o.get("eTag", "") if kind == "created" else ""))
    return out


def _from_eventbridge(body):
    o = body["detail"]["object"]
    kind = "created" if body["detail-type"] == "Object Created" else "removed"
    return [(kind, o["key"], o.get("etag", "") if kind == "created" else "")]


def _load(s3, bucket, rng, prefix, acked_puts, acked_deletes, lock, stop, threads=6):
    """PUTs new keys and DELETEs acknowledged ones from several threads until `stop`."""
    def worker(tid):
        r = random.Random(rng.random())
        present, n = [], 0
        while not stop.is_set():
            try:
                if present and r.random() < 0.4:
                    key = present.pop(r.randrange(len(present)))
                    s3.delete_object(Bucket=bucket, Key=key)
                    with lock:
                        acked_deletes.add(key)
                else:
                    key, n = f"{prefix}-w{tid}-{n}", n + 1
                    body = os.urandom(r.randint(1, 2048))
                    s3.put_object(Bucket=bucket, Key=key, Body=body)
                    with lock:
                        acked_puts[key] = md5_hex(body)
                    present.append(key)
            except Exception:  # noqa: BLE001 - the server is being killed
                time.sleep(0.01)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    return ts


def test_kill9_delivers_every_committed_change(server_factory):
    rng = crash_rng("s3 notification crash test")
    srv = server_factory(name="s3-notify-crash")

    def clients():
        return (make_s3(srv.endpoint),
                make_client("sqs", srv.endpoint, max_pool_connections=16),
                make_client("events", srv.endpoint))

    s3, sqs, events = clients()
    bucket = unique_bucket("notify")
    s3.create_bucket(Bucket=bucket)
    url, arn = create_queue_with_arn(sqs, unique_name("s3n"))
    url_eb, arn_eb = create_queue_with_arn(sqs, unique_name("s3eb"))
    rule = unique_name("s3")
    events.put_rule(Name=rule, EventPattern=json.dumps(
        {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}}}))
    events.put_targets(Rule=rule, Targets=[{"Id": "q", "Arn": arn_eb}])
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "QueueConfigurations": [{"Id": "q", "QueueArn": arn,
                                 "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}],
        "EventBridgeConfiguration": {}})

    acked_puts, acked_deletes, lock = {}, set(), threading.Lock()
    for rnd in range(ROUNDS):
        if rnd > 0:
            srv.start()
            s3, sqs, events = clients()
        stop = threading.Event()
        threads = _load(s3, bucket, rng, f"r{rnd}", acked_puts, acked_deletes, lock, stop)
        time.sleep(rng.uniform(0.5, 1.5))
        srv.kill()
        stop.set()
        for t in threads:
            t.join(30)
            assert not t.is_alive(), "a client hung after the server was killed"
    srv.start()
    s3, sqs, events = clients()
    assert acked_puts and acked_deletes, "nothing was acknowledged before the kills"
    print(f"{len(acked_puts)} puts and {len(acked_deletes)} deletes acknowledged over {ROUNDS} kills")

    # What must have been notified: every object there now was created (with its ETag); every
    # acknowledged PUT's key that is gone now was removed; every acknowledged PUT was created.
    present = {o["Key"]: o["ETag"].strip('"')
               for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
               for o in page.get("Contents", [])}
    for key in acked_deletes:
        assert key not in present, f"acknowledged delete of {key} undone"
    want = {("created", k, e) for k, e in present.items()}
    want |= {("created", k, e) for k, e in acked_puts.items()}
    want |= {("removed", k, "") for k in acked_puts if k not in present}
    for name, q, parse in [("queue", url, _from_records), ("eventbridge", url_eb, _from_eventbridge)]:
        seen = set()
        try:
            wait_for(lambda: _drain(sqs, q, seen, parse) or want <= seen, 30, interval=0.2,
                     what=f"every committed change notified via {name}")
        except AssertionError as e:
            missing = sorted(want - seen)
            raise AssertionError(f"{e}: {len(missing)} of {len(want)} missing, e.g. {missing[:5]}") from None
    srv.stop()
