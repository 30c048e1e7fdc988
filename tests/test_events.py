"""EventBridge: buses, rules, targets, PutEvents, patterns, input transformation, archives,
replays, S3 bucket notifications, bursts and restarts.

Sluice's only built-in target is another event bus, so deliveries are observed through
"sinks": a bus with an archive, whose DescribeArchive EventCount says how many events
reached it (delivery and archiving run on a background thread, so counts are polled with a
deadline). What a target received is proved by chaining: a rule on the sink bus whose
pattern only matches the expected (transformed) content forwards to a second sink.
Negative checks ("nothing else arrived") wait for a barrier event that enters the delivery
queue after everything under test (see EB.drain).
"""

import datetime
import hashlib
import json
import os
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import MiB, client_error, empty_bucket, make_client, make_s3, unique_bucket, unique_name

ACCOUNT = "000000000000"
REGION = "us-east-1"
ARN_PREFIX = f"arn:aws:events:{REGION}:{ACCOUNT}"


# ---------------------------------------------------------------------------------------
# Helpers


def bus_arn(bus):
    return f"{ARN_PREFIX}:event-bus/{bus}"


def rule_arn(rule, bus="default"):
    return f"{ARN_PREFIX}:rule/{rule}" if bus == "default" else f"{ARN_PREFIX}:rule/{bus}/{rule}"


def archive_arn(name):
    return f"{ARN_PREFIX}:archive/{name}"


def code(excinfo):
    return client_error(excinfo)[0]


def message(excinfo):
    return excinfo.value.response["Error"].get("Message", "")


def full_event(**over):
    """A complete event for TestEventPattern."""
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Order Placed",
             "source": "shop.orders", "account": ACCOUNT, "time": "2024-05-01T12:00:00Z",
             "region": REGION, "resources": ["arn:aws:s3:::bucket-a"],
             "detail": {"user": "kim", "amount": 42.5, "items": 3, "ip": "10.1.2.3",
                        "tags": ["new", "vip"], "file": "photo.PNG", "coupon": None}}
    event.update(over)
    return event


def make_events(endpoint, **kw):
    return make_client("events", endpoint, max_pool_connections=16, **kw)


def archived_events(server, archive):
    """The archived events of `archive`, read from Sluice's database (diagnostics only)."""
    try:
        db = sqlite3.connect(f"file:{server.data_dir}/events/events.db?mode=ro", uri=True, timeout=5)
        try:
            rows = db.execute("SELECT event FROM archived WHERE archive=? ORDER BY ms, seq",
                              (archive,)).fetchall()
        finally:
            db.close()
        return [json.loads(r[0]) for r in rows]
    except Exception as e:  # noqa: BLE001 - only for failure messages
        return [f"<could not read the archive: {e}>"]


class Sink:
    """An event bus with an archive that counts what reaches the bus."""

    def __init__(self, eb, name, arn, archive):
        self.eb = eb
        self.name = name
        self.arn = arn
        self.archive = archive

    def count(self):
        return self.eb.events.describe_archive(ArchiveName=self.archive)["EventCount"]

    def contents(self):
        return archived_events(self.eb.server, self.archive) if self.eb.server else []

    def wait(self, n, timeout=10.0, what=None):
        """Waits until the archive holds n events; fails at once if it holds more."""
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            c = self.count()
            if c > n:
                raise AssertionError(f"sink {self.name} ({what or ''}): {c} events, expected {n}:\n"
                                     f"{json.dumps(self.contents(), indent=1)[:3000]}")
            if c == n:
                return c
            if time.monotonic() > deadline:
                raise AssertionError(f"sink {self.name} ({what or ''}): {c} events after {timeout}s, "
                                     f"expected {n}:\n{json.dumps(self.contents(), indent=1)[:3000]}")
            time.sleep(delay)
            delay = min(delay * 1.5, 0.25)

    def expect(self, n, what=None):
        """After EB.drain(): exactly n events, with the contents in the failure message."""
        c = self.count()
        assert c == n, (f"sink {self.name} ({what or ''}): {c} events, expected {n}:\n"
                        f"{json.dumps(self.contents(), indent=1)[:3000]}")


class EB:
    """Creates buses, sinks and rules with unique names and deletes them afterwards."""

    def __init__(self, events, server=None):
        self.events = events
        self.server = server
        self.rules = []     # (bus, name)
        self.archives = []
        self.buses = []
        self._barrier = None

    def bus(self, prefix="bus", **kw):
        name = unique_name(prefix)
        arn = self.events.create_event_bus(Name=name, **kw)["EventBusArn"]
        assert arn == bus_arn(name)
        self.buses.append(name)
        return name, arn

    def sink(self, prefix="sink", pattern=None):
        name, arn = self.bus(prefix)
        archive = unique_name("ar")
        kw = {"EventPattern": json.dumps(pattern)} if pattern else {}
        self.events.create_archive(ArchiveName=archive, EventSourceArn=arn, **kw)
        self.archives.append(archive)
        return Sink(self, name, arn, archive)

    def rule(self, pattern, targets=(), bus="default", name=None, **kw):
        """PutRule + PutTargets; targets are Sinks, ARNs or full target dicts."""
        name = name or unique_name("rule")
        args = {"Name": name, "EventPattern": json.dumps(pattern), **kw}
        if bus != "default":
            args["EventBusName"] = bus
        arn = self.events.put_rule(**args)["RuleArn"]
        assert arn == rule_arn(name, bus)
        self.rules.append((bus, name))
        if targets:
            ts = []
            for i, t in enumerate(targets):
                if isinstance(t, Sink):
                    t = {"Id": f"t{i}", "Arn": t.arn}
                elif isinstance(t, str):
                    t = {"Id": f"t{i}", "Arn": t}
                ts.append(t)
            out = self.events.put_targets(Rule=name, EventBusName=bus, Targets=ts)
            assert out["FailedEntryCount"] == 0, out["FailedEntries"]
        return name, arn

    def put(self, *entries, bus=None):
        """PutEvents; every entry must be accepted. Entries: dicts with Detail as a dict."""
        es = []
        for e in entries:
            e = dict(e)
            e.setdefault("DetailType", "test")
            if not isinstance(e.get("Detail"), str):
                e["Detail"] = json.dumps(e.get("Detail", {}))
            if bus and "EventBusName" not in e:
                e["EventBusName"] = bus
            es.append(e)
        out = self.events.put_events(Entries=es)
        assert out["FailedEntryCount"] == 0, out["Entries"]
        return [r["EventId"] for r in out["Entries"]]

    def drain(self, rounds=2, timeout=10.0):
        """Waits until everything queued before this call was delivered and archived.

        The delivery queue is ordered by due time and served by one thread, so once a
        barrier event put now has gone through a rule and reached its sink's archive, every
        delivery queued earlier is done; each round covers one more forwarding hop."""
        if self._barrier is None:
            token = uuid.uuid4().hex
            sink = self.sink("barrier")
            self.rule({"source": ["sluice.test.barrier"], "detail": {"token": [token]}}, [sink])
            self._barrier = (token, sink, 0)
        token, sink, n = self._barrier
        for _ in range(rounds):
            self.put({"Source": "sluice.test.barrier", "Detail": {"token": token}})
            n += 1
            sink.wait(n, timeout, "barrier")
        self._barrier = (token, sink, n)

    def cleanup(self):
        for bus, name in reversed(self.rules):
            try:
                self.events.delete_rule(Name=name, EventBusName=bus, Force=True)
            except ClientError:
                pass
        for a in self.archives:
            try:
                self.events.delete_archive(ArchiveName=a)
            except ClientError:
                pass
        for b in self.buses:
            try:
                self.events.delete_event_bus(Name=b)
            except ClientError:
                pass


@pytest.fixture(scope="session")
def events(server):
    return make_events(server.endpoint)


@pytest.fixture
def eb(events, server):
    e = EB(events, server)
    yield e
    e.cleanup()


@pytest.fixture
def nbucket(s3):
    """Makes buckets with EventBridge notifications on; removes them afterwards."""
    made = []

    def create(prefix="ev"):
        name = unique_bucket(prefix)
        s3.create_bucket(Bucket=name)
        s3.put_bucket_notification_configuration(
            Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}})
        made.append(name)
        return name

    yield create
    for b in made:
        empty_bucket(s3, b)


def s3_pattern(bucket, **detail):
    return {"source": ["aws.s3"], "detail": {"bucket": {"name": [bucket]}, **detail}}


# ---------------------------------------------------------------------------------------
# Delivery latency


def test_each_event_is_delivered_without_waiting_for_the_next(events, eb):
    """Events put one at a time, on an otherwise quiet server, each reach the target within
    seconds: delivery must not wait for a later event to wake it up."""
    src = "prompt." + uuid.uuid4().hex[:8]
    sink = eb.sink("prompt")
    eb.rule({"source": [src]}, [sink])
    latencies = []
    for i in range(1, 11):
        t0 = time.monotonic()
        eb.put({"Source": src, "Detail": {"i": i}})
        sink.wait(i, timeout=5.0, what=f"event {i} of 10, each put alone "
                                       f"(earlier latencies {[round(x, 3) for x in latencies]})")
        latencies.append(time.monotonic() - t0)
    assert max(latencies) < 2.0, latencies


# ---------------------------------------------------------------------------------------
# 1. The seed's rule, end to end with the AWS CLI


def test_seed_rule_s3_upload_to_sink_with_cli(aws, events, eb, s3, tmp_path):
    bucket = unique_bucket("my-upload-bucket")
    other = unique_bucket("other-upload-bucket")
    try:
        aws("s3", "mb", f"s3://{bucket}")
        aws("s3api", "put-bucket-notification-configuration", "--bucket", bucket,
            "--notification-configuration", '{"EventBridgeConfiguration":{}}')
        conf = s3.get_bucket_notification_configuration(Bucket=bucket)
        assert conf.get("EventBridgeConfiguration") == {}, conf
        assert "QueueConfigurations" not in conf and "TopicConfigurations" not in conf
        s3.create_bucket(Bucket=other)
        s3.put_bucket_notification_configuration(
            Bucket=other, NotificationConfiguration={"EventBridgeConfiguration": {}})

        # A queue or a Lambda function that does not exist is refused ...
        out = aws("s3api", "put-bucket-notification-configuration", "--bucket", other,
                  "--notification-configuration", json.dumps({"QueueConfigurations": [{
                      "QueueArn": "arn:aws:sqs:us-east-1:000000000000:uploads",
                      "Events": ["s3:ObjectCreated:*"]}]}), check=False)
        assert out.returncode != 0
        assert "InvalidArgument" in out.stderr, out.stderr
        assert "Unable to validate the following destination configurations" in out.stderr, out.stderr
        with pytest.raises(ClientError) as e:
            s3.put_bucket_notification_configuration(Bucket=other, NotificationConfiguration={
                "LambdaFunctionConfigurations": [{
                    "LambdaFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:f",
                    "Events": ["s3:ObjectCreated:*"]}],
                "EventBridgeConfiguration": {}})
        assert client_error(e) == ("InvalidArgument", 400)
        # ... and leave the previous configuration alone.
        assert s3.get_bucket_notification_configuration(Bucket=other).get("EventBridgeConfiguration") == {}

        sink = eb.sink("seed")
        name = unique_name("seed_rule")
        pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"],
                   "detail": {"bucket": {"name": [bucket]}}}
        out = aws.json("events", "put-rule", "--name", name, "--event-pattern", json.dumps(pattern),
                       "--description", "uploads to the bucket")
        eb.rules.append(("default", name))
        assert out == {"RuleArn": rule_arn(name)}
        out = aws.json("events", "put-targets", "--rule", name, "--targets",
                       json.dumps([{"Id": "sink", "Arn": sink.arn}]))
        assert out == {"FailedEntryCount": 0, "FailedEntries": []}
        rule = events.describe_rule(Name=name)
        assert rule["State"] == "ENABLED" and rule["EventBusName"] == "default"
        assert json.loads(rule["EventPattern"]) == pattern
        assert rule["Description"] == "uploads to the bucket"
        assert events.list_targets_by_rule(Rule=name)["Targets"] == [{"Id": "sink", "Arn": sink.arn}]

        src = tmp_path / "report.csv"
        src.write_text("id,amount\n1,10\n2,20\n")
        aws("s3", "cp", src, f"s3://{bucket}/uploads/report.csv")
        sink.wait(1, what="the upload")

        # An upload to another bucket and a delete do not match.
        aws("s3", "cp", src, f"s3://{other}/uploads/report.csv")
        aws("s3", "rm", f"s3://{bucket}/uploads/report.csv")
        eb.drain()
        sink.expect(1, "after the other bucket's upload and the delete")

        # A second upload counts again.
        s3.put_object(Bucket=bucket, Key="uploads/second.txt", Body=b"again")
        sink.wait(2, what="the second upload")
    finally:
        empty_bucket(s3, bucket)
        empty_bucket(s3, other)


# ---------------------------------------------------------------------------------------
# 2. Every S3 reason reaches the rule for it


def test_every_s3_reason_reaches_its_rule(aws, s3, eb, nbucket, tmp_path):
    bucket = nbucket("reasons")
    expected = {  # reason -> (detail-type, events)
        "PutObject": ("Object Created", 1),
        "CopyObject": ("Object Created", 1),
        "CompleteMultipartUpload": ("Object Created", 1),
        "PutObjectTagging": ("Object Tags Added", 1),
        "DeleteObject": ("Object Deleted", 1),
        "DeleteObjects": ("Object Deleted", 2),
    }
    sinks = {}
    for reason, (dtype, _n) in expected.items():
        sinks[reason] = eb.sink(reason[:12])
        eb.rule({"source": ["aws.s3"], "detail-type": [dtype],
                 "resources": [f"arn:aws:s3:::{bucket}"],
                 "detail": {"bucket": {"name": [bucket]}, "reason": [reason]}}, [sinks[reason]])
    every = eb.sink("every")
    eb.rule(s3_pattern(bucket), [every])

    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"alpha")
    s3.copy_object(Bucket=bucket, Key="b.txt", CopySource={"Bucket": bucket, "Key": "a.txt"})
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.write(os.urandom(9 * MiB))
    aws("s3", "cp", big, f"s3://{bucket}/big.bin")  # > 8 MiB: the CLI uploads in parts
    assert s3.head_object(Bucket=bucket, Key="big.bin")["ETag"].strip('"').endswith("-2")
    s3.put_object_tagging(Bucket=bucket, Key="a.txt",
                          Tagging={"TagSet": [{"Key": "stage", "Value": "raw"}]})
    s3.delete_object(Bucket=bucket, Key="b.txt")
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a.txt"}, {"Key": "big.bin"}]})

    total = sum(n for _t, n in expected.values())
    every.wait(total, what="all the bucket's events")
    eb.drain()
    for reason, (dtype, n) in expected.items():
        sinks[reason].expect(n, f"{reason} / {dtype}")
    every.expect(total, "all the bucket's events")


def test_s3_event_shape(s3, events, eb, nbucket):
    """Each field of an "Object Created" event, proved by a rule per field; the request id
    (known only once the PUT answered) through a replay of an archive of the default bus."""
    bucket = nbucket("shape")
    body = b"hello events"
    key = "dir/file name.txt"
    checks = {
        "envelope": {"source": ["aws.s3"], "detail-type": ["Object Created"], "account": [ACCOUNT],
                     "region": [REGION], "version": ["0"], "id": [{"exists": True}],
                     "time": [{"wildcard": "20*-*-*T*:*:*Z"}],
                     "resources": [f"arn:aws:s3:::{bucket}"], "detail": {"bucket": {"name": [bucket]}}},
        "key-size": s3_pattern(bucket, object={"key": [key], "size": [len(body)]}),
        "etag": s3_pattern(bucket, object={"etag": [hashlib.md5(body).hexdigest()]}),  # unquoted
        "sequencer": s3_pattern(bucket, object={"sequencer": [{"exists": True}]}),
        "version": s3_pattern(bucket, version=["0"]),
        "requester": s3_pattern(bucket, requester=[{"exists": True}]),
        "source-ip": s3_pattern(bucket, **{"source-ip-address": [{"cidr": "127.0.0.0/8"}]}),
        "reason": s3_pattern(bucket, reason=["PutObject"]),
    }
    sinks = {}
    for name, pattern in checks.items():
        sinks[name] = eb.sink(name)
        eb.rule(pattern, [sinks[name]])
    archive = unique_name("shape")
    events.create_archive(ArchiveName=archive, EventSourceArn=bus_arn("default"),
                          EventPattern=json.dumps(s3_pattern(bucket)))
    eb.archives.append(archive)

    start = int(time.time()) - 1
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert put["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    rid = put["ResponseMetadata"]["RequestId"]
    for name, sink in sinks.items():
        sink.wait(1, what=name)
    deadline = time.monotonic() + 20
    while events.describe_archive(ArchiveName=archive)["EventCount"] < 1:
        assert time.monotonic() < deadline, "the default-bus archive never got the event"
        time.sleep(0.05)
    end = next_second()

    dest, dest_arn = eb.bus("shape")
    rid_sink = eb.sink("reqid")
    eb.rule({"source": ["aws.s3"], "detail": {"request-id": [rid]}},
            [{"Id": "f", "Arn": rid_sink.arn, "InputPath": "$.detail"}], bus=dest)
    replay = unique_name("shape")
    events.start_replay(ReplayName=replay, EventSourceArn=archive_arn(archive),
                        EventStartTime=datetime.datetime.fromtimestamp(start, datetime.timezone.utc),
                        EventEndTime=datetime.datetime.fromtimestamp(end, datetime.timezone.utc),
                        Destination={"Arn": dest_arn})
    r, _ = wait_replay(events, replay)
    assert r["State"] == "COMPLETED", r
    rid_sink.wait(1, what=f"detail.request-id == x-amz-request-id {rid}")


# ---------------------------------------------------------------------------------------
# 3. Buses, rules and targets: CRUD, pagination, tags, state, errors


def test_event_bus_crud_cli_and_boto3(aws, events):
    prefix = unique_name("crudbus")
    names = [f"{prefix}_{i}" for i in range(5)]
    try:
        out = aws.json("events", "create-event-bus", "--name", names[0],
                       "--tags", "Key=team,Value=data", "Key=env,Value=test")
        assert out["EventBusArn"] == bus_arn(names[0])
        for n in names[1:]:
            assert events.create_event_bus(Name=n)["EventBusArn"] == bus_arn(n)

        d = events.describe_event_bus(Name=names[0])
        assert d["Name"] == names[0] and d["Arn"] == bus_arn(names[0])
        d = events.describe_event_bus(Name=bus_arn(names[1]))  # by ARN too
        assert d["Name"] == names[1]
        default = events.describe_event_bus()
        assert default["Name"] == "default" and default["Arn"] == bus_arn("default")
        assert any(b["Name"] == "default" for b in events.list_event_buses()["EventBuses"])

        # Pagination over a name prefix.
        page = events.list_event_buses(NamePrefix=prefix, Limit=2)
        seen = [b["Name"] for b in page["EventBuses"]]
        assert len(seen) == 2 and "NextToken" in page
        while "NextToken" in page:
            page = events.list_event_buses(NamePrefix=prefix, Limit=2, NextToken=page["NextToken"])
            assert len(page["EventBuses"]) <= 2
            seen += [b["Name"] for b in page["EventBuses"]]
        assert sorted(seen) == sorted(names)
        listed = aws.json("events", "list-event-buses", "--name-prefix", prefix)["EventBuses"]
        assert sorted(b["Name"] for b in listed) == sorted(names)
        assert all(b["Arn"] == bus_arn(b["Name"]) for b in listed)

        # Tags.
        arn = bus_arn(names[0])
        tags = events.list_tags_for_resource(ResourceARN=arn)["Tags"]
        assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "test"), ("team", "data")]
        events.tag_resource(ResourceARN=arn, Tags=[{"Key": "env", "Value": "prod"},
                                                   {"Key": "owner", "Value": "kim"}])
        events.untag_resource(ResourceARN=arn, TagKeys=["team"])
        tags = events.list_tags_for_resource(ResourceARN=arn)["Tags"]
        assert sorted((t["Key"], t["Value"]) for t in tags) == [("env", "prod"), ("owner", "kim")]
        with pytest.raises(ClientError) as e:
            events.list_tags_for_resource(ResourceARN=bus_arn("no_such_bus_" + uuid.uuid4().hex[:6]))
        assert code(e) == "ResourceNotFoundException"

        # Errors.
        with pytest.raises(ClientError) as e:
            events.create_event_bus(Name=names[0])
        assert code(e) == "ResourceAlreadyExistsException"
        for bad in ("default", "bad name!", "x" * 257, "aws.partner"):
            with pytest.raises(ClientError) as e:
                events.create_event_bus(Name=bad)
            assert code(e) in ("ValidationException", "ResourceAlreadyExistsException"), (bad, code(e))
        with pytest.raises(ClientError) as e:
            events.create_event_bus(Name="bad name!")
        assert code(e) == "ValidationException"
        with pytest.raises(ClientError) as e:
            events.describe_event_bus(Name="no_such_bus_" + uuid.uuid4().hex[:8])
        assert code(e) == "ResourceNotFoundException"
        with pytest.raises(ClientError) as e:
            events.delete_event_bus(Name="default")
        assert code(e) == "ValidationException"
        assert events.describe_event_bus(Name="default")["Name"] == "default"

        # Delete.
        aws("events", "delete-event-bus", "--name", names[0])
        with pytest.raises(ClientError) as e:
            events.describe_event_bus(Name=names[0])
        assert code(e) == "ResourceNotFoundException"
        out = events.put_events(Entries=[{"Source": "a.b", "DetailType": "t", "Detail": "{}",
                                          "EventBusName": names[0]}])
        assert out["FailedEntryCount"] == 1
        assert out["Entries"][0]["ErrorCode"] == "InvalidArgument"
        # The name can be used again.
        assert events.create_event_bus(Name=names[0])["EventBusArn"] == bus_arn(names[0])
        assert events.list_tags_for_resource(ResourceARN=bus_arn(names[0]))["Tags"] == []
    finally:
        for n in names:
            try:
                events.delete_event_bus(Name=n)
            except ClientError:
                pass


def test_rule_crud_pagination_tags_and_errors(aws, events, eb):
    bus, barn = eb.bus("rules")
    prefix = "r" + uuid.uuid4().hex[:6]
    pattern = {"source": ["crud.test"]}
    for i in range(7):
        name = f"{prefix}-{i}"
        kw = {"Description": f"rule {i}"}
        if i == 0:
            kw["Tags"] = [{"Key": "team", "Value": "data"}]
        if i == 6:
            kw["State"] = "DISABLED"
        eb.rule(pattern, bus=bus, name=name, **kw)
    # A rule of the same name on the default bus is another rule.
    eb.rule({"source": ["other"]}, name=f"{prefix}-0")

    # Describe.
    r = events.describe_rule(Name=f"{prefix}-0", EventBusName=bus)
    assert r["Name"] == f"{prefix}-0"
    assert r["Arn"] == f"{ARN_PREFIX}:rule/{bus}/{prefix}-0"
    assert r["EventBusName"] == bus
    assert json.loads(r["EventPattern"]) == pattern
    assert r["State"] == "ENABLED"
    assert r["Description"] == "rule 0"
    assert events.describe_rule(Name=f"{prefix}-6", EventBusName=barn)["State"] == "DISABLED"
    d = events.describe_rule(Name=f"{prefix}-0")
    assert d["Arn"] == f"{ARN_PREFIX}:rule/{prefix}-0" and json.loads(d["EventPattern"]) == {"source": ["other"]}
    cli = aws.json("events", "describe-rule", "--name", f"{prefix}-3", "--event-bus-name", bus)
    assert cli["Arn"] == rule_arn(f"{prefix}-3", bus) and cli["Description"] == "rule 3"

    # ListRules: NamePrefix, Limit / NextToken, the boto3 paginator and the CLI.
    page = events.list_rules(EventBusName=bus, NamePrefix=prefix, Limit=3)
    names = [x["Name"] for x in page["Rules"]]
    assert len(names) == 3 and page.get("NextToken")
    sizes = [3]
    while page.get("NextToken"):
        page = events.list_rules(EventBusName=bus, NamePrefix=prefix, Limit=3, NextToken=page["NextToken"])
        sizes.append(len(page["Rules"]))
        names += [x["Name"] for x in page["Rules"]]
    assert sizes == [3, 3, 1]
    assert names == sorted(f"{prefix}-{i}" for i in range(7))
    pages = list(events.get_paginator("list_rules").paginate(
        EventBusName=bus, NamePrefix=prefix, PaginationConfig={"PageSize": 2}))
    assert [x["Name"] for p in pages for x in p["Rules"]] == names
    assert len(pages) == 4
    assert [x["Name"] for x in events.list_rules(EventBusName=bus, NamePrefix=f"{prefix}-1")["Rules"]] == \
        [f"{prefix}-1"]
    cli = aws.json("events", "list-rules", "--event-bus-name", bus, "--name-prefix", prefix,
                   "--max-items", "4")
    assert len(cli["Rules"]) == 4 and cli.get("NextToken")
    listed = {x["Name"]: x for x in events.list_rules(EventBusName=bus, NamePrefix=prefix)["Rules"]}
    assert listed[f"{prefix}-6"]["State"] == "DISABLED"
    assert listed[f"{prefix}-2"]["Arn"] == rule_arn(f"{prefix}-2", bus)

    # Update in place: the pattern and description change, tags stay.
    events.put_rule(Name=f"{prefix}-0", EventBusName=bus, EventPattern=json.dumps({"source": ["v2"]}),
                    Description="second version")
    r = events.describe_rule(Name=f"{prefix}-0", EventBusName=bus)
    assert json.loads(r["EventPattern"]) == {"source": ["v2"]} and r["Description"] == "second version"

    # Tags on rules (custom bus ARN form).
    arn = rule_arn(f"{prefix}-0", bus)
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "team", "Value": "data"}]
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": "cost", "Value": "42"}])
    events.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert events.list_tags_for_resource(ResourceARN=arn)["Tags"] == [{"Key": "cost", "Value": "42"}]
    assert events.list_tags_for_resource(ResourceARN=rule_arn(f"{prefix}-0"))["Tags"] == []

    # Schedules: default bus only.
    sched = unique_name("sched")
    out = events.put_rule(Name=sched, ScheduleExpression="rate(1 hour)")
    eb.rules.append(("default", sched))
    assert out["RuleArn"] == rule_arn(sched)
    assert events.describe_rule(Name=sched)["ScheduleExpression"] == "rate(1 hour)"
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=unique_name("sched"), EventBusName=bus, ScheduleExpression="rate(1 hour)")
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=unique_name("sched"), ScheduleExpression="every hour")
    assert code(e) == "ValidationException"

    # Errors.
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=unique_name("nothing"))
    assert code(e) == "ValidationException"
    for bad in ("bad name", "x" * 65, "a/b"):
        with pytest.raises(ClientError) as e:
            events.put_rule(Name=bad, EventPattern=json.dumps(pattern))
        assert code(e) == "ValidationException", bad
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=unique_name("st"), EventPattern=json.dumps(pattern), State="PAUSED")
    assert code(e) == "ValidationException"
    missing_bus = "no_such_bus_" + uuid.uuid4().hex[:8]
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=unique_name("nb"), EventBusName=missing_bus, EventPattern=json.dumps(pattern))
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        events.list_rules(EventBusName=missing_bus)
    assert code(e) == "ResourceNotFoundException"
    missing = {"Name": f"{prefix}-missing", "EventBusName": bus}
    for call, args in ((events.describe_rule, missing), (events.enable_rule, missing),
                       (events.disable_rule, missing),
                       (events.list_targets_by_rule, {"Rule": f"{prefix}-missing", "EventBusName": bus})):
        with pytest.raises(ClientError) as e:
            call(**args)
        assert code(e) == "ResourceNotFoundException", call
    with pytest.raises(ClientError) as e:
        events.put_targets(Rule=f"{prefix}-missing", EventBusName=bus,
                           Targets=[{"Id": "a", "Arn": barn}])
    assert code(e) == "ResourceNotFoundException"

    # A bus with rules can be deleted once its rules are gone.
    for i in range(7):
        events.delete_rule(Name=f"{prefix}-{i}", EventBusName=bus)
    assert events.list_rules(EventBusName=bus, NamePrefix=prefix)["Rules"] == []
    with pytest.raises(ClientError) as e:
        events.describe_rule(Name=f"{prefix}-1", EventBusName=bus)
    assert code(e) == "ResourceNotFoundException"
    events.delete_event_bus(Name=bus)
    with pytest.raises(ClientError) as e:
        events.describe_event_bus(Name=bus)
    assert code(e) == "ResourceNotFoundException"


def test_targets_crud_limits_and_refused_services(aws, events, eb):
    sinks = [eb.sink(f"tg{i}") for i in range(2)]
    name, arn = eb.rule({"source": ["targets.test"]})

    ts = [{"Id": f"bus{i}", "Arn": sinks[i % 2].arn} for i in range(4)]
    out = events.put_targets(Rule=name, Targets=ts)
    assert out["FailedEntryCount"] == 0 and out["FailedEntries"] == []

    # Services Sluice does not have yet are refused per target, naming the service; good
    # entries still land.
    refused = {
        "stream": "arn:aws:kinesis:us-east-1:000000000000:stream/clicks",
    }
    out = events.put_targets(Rule=name, Targets=[{"Id": k, "Arn": v} for k, v in refused.items()]
                             + [{"Id": "bus4", "Arn": sinks[0].arn},
                                {"Id": "bad-arn", "Arn": "not-an-arn"},
                                {"Id": "rule-arn", "Arn": rule_arn("some_rule")}])
    assert out["FailedEntryCount"] == 3, out["FailedEntries"]
    failed = {f["TargetId"]: f for f in out["FailedEntries"]}
    assert set(failed) == {"stream", "bad-arn", "rule-arn"}
    for tid, service in (("stream", "kinesis"),):
        assert failed[tid]["ErrorCode"] == "ValidationException"
        assert service in failed[tid]["ErrorMessage"], failed[tid]
    listed = events.list_targets_by_rule(Rule=name)["Targets"]
    assert sorted(t["Id"] for t in listed) == ["bus0", "bus1", "bus2", "bus3", "bus4"]

    # At most five targets; replacing an existing Id is not a new target.
    out = events.put_targets(Rule=name, Targets=[{"Id": "bus5", "Arn": sinks[1].arn},
                                                 {"Id": "bus0", "Arn": sinks[1].arn}])
    assert out["FailedEntryCount"] == 1
    assert out["FailedEntries"][0]["TargetId"] == "bus5"
    assert out["FailedEntries"][0]["ErrorCode"] == "LimitExceededException"
    listed = {t["Id"]: t for t in events.list_targets_by_rule(Rule=name)["Targets"]}
    assert len(listed) == 5 and listed["bus0"]["Arn"] == sinks[1].arn
    with pytest.raises(ClientError) as e:
        events.put_targets(Rule=name, Targets=[{"Id": f"x{i}", "Arn": sinks[0].arn} for i in range(11)])
    assert code(e) == "ValidationException"

    # Pagination and ListRuleNamesByTarget.
    page = events.list_targets_by_rule(Rule=name, Limit=2)
    ids = [t["Id"] for t in page["Targets"]]
    while page.get("NextToken"):
        page = events.list_targets_by_rule(Rule=name, Limit=2, NextToken=page["NextToken"])
        ids += [t["Id"] for t in page["Targets"]]
    assert sorted(ids) == sorted(listed)
    other, _ = eb.rule({"source": ["targets.other"]}, [sinks[1]])
    by_target = events.list_rule_names_by_target(TargetArn=sinks[1].arn)["RuleNames"]
    assert sorted(by_target) == sorted([name, other])
    by_target = events.list_rule_names_by_target(TargetArn=sinks[0].arn)["RuleNames"]
    assert by_target == [name]

    # RemoveTargets: unknown ids are reported, known ones removed.
    out = events.remove_targets(Rule=name, Ids=["bus1", "nope"])
    assert out["FailedEntryCount"] == 1 and out["FailedEntries"][0]["TargetId"] == "nope"
    assert sorted(t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]) == \
        ["bus0", "bus2", "bus3", "bus4"]

    # DeleteRule is refused while targets remain, unless forced.
    with pytest.raises(ClientError) as e:
        events.delete_rule(Name=name)
    assert code(e) == "ValidationException"
    assert "target" in message(e).lower()
    out = aws("events", "delete-rule", "--name", other, check=False)
    assert out.returncode != 0 and "ValidationException" in out.stderr
    events.remove_targets(Rule=other, Ids=["t0"])
    events.delete_rule(Name=other)
    events.delete_rule(Name=name, Force=True)
    for n in (name, other):
        with pytest.raises(ClientError) as e:
            events.describe_rule(Name=n)
        assert code(e) == "ResourceNotFoundException"
    assert events.list_rule_names_by_target(TargetArn=sinks[1].arn)["RuleNames"] == []


def test_disabled_rule_delivers_nothing(aws, events, eb):
    sink = eb.sink("state")
    src = "state." + uuid.uuid4().hex[:8]
    name, _ = eb.rule({"source": [src]}, [sink])
    late, _ = eb.rule({"source": [src]}, [sink], State="DISABLED")
    eb.put({"Source": src})
    sink.wait(1, what="enabled rule")

    aws("events", "disable-rule", "--name", name)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    eb.put({"Source": src}, {"Source": src})
    eb.drain()
    sink.expect(1, "both rules disabled")

    events.enable_rule(Name=late)
    eb.put({"Source": src})
    sink.wait(2, what="the re-enabled rule")
    events.enable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "ENABLED"
    eb.put({"Source": src})
    sink.wait(4, what="two enabled rules")
    # PutRule without State enables; with State=DISABLED disables.
    events.put_rule(Name=late, EventPattern=json.dumps({"source": [src]}), State="DISABLED")
    eb.put({"Source": src})
    sink.wait(5, what="one enabled rule")
    eb.drain()
    sink.expect(5)


# ---------------------------------------------------------------------------------------
# 4. PutEvents


def test_put_events_entries_and_error_codes(events, eb):
    bus, barn = eb.bus("pe")
    src = "pe." + uuid.uuid4().hex[:8]
    sink_default, sink_bus, sink_time = eb.sink("ped"), eb.sink("peb"), eb.sink("pet")
    eb.rule({"source": [src]}, [sink_default])
    eb.rule({"source": [src]}, [sink_bus], bus=bus)
    # Time and Resources of an entry become the event's time and resources.
    eb.rule({"source": [src], "time": ["2024-01-02T03:04:05Z"], "resources": ["arn:aws:s3:::x"],
             "detail-type": ["by name"], "account": [ACCOUNT], "region": [REGION], "detail": {"n": [3]}},
            [sink_time], bus=bus)

    entries = [
        {"Source": src, "DetailType": "ok", "Detail": '{"n": 1}'},
        {"DetailType": "no source", "Detail": "{}"},
        {"Source": src, "Detail": "{}"},
        {"Source": src, "DetailType": "no detail"},
        {"Source": src, "DetailType": "array", "Detail": "[1, 2]"},
        {"Source": src, "DetailType": "text", "Detail": "not json"},
        {"Source": "aws.s3", "DetailType": "spoof", "Detail": "{}"},
        {"Source": src, "DetailType": "unknown bus", "Detail": "{}", "EventBusName": "no_such_" + uuid.uuid4().hex[:6]},
        {"Source": src, "DetailType": "by arn", "Detail": '{"n": 2}', "EventBusName": barn},
        {"Source": src, "DetailType": "by name", "Detail": '{"n": 3}', "EventBusName": bus,
         "Resources": ["arn:aws:s3:::x"], "Time": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)},
    ]
    out = events.put_events(Entries=entries)
    assert out["FailedEntryCount"] == 7, out["Entries"]
    got = out["Entries"]
    assert len(got) == 10
    expected_codes = [None, "InvalidArgument", "InvalidArgument", "InvalidArgument", "MalformedDetail",
                      "MalformedDetail", "NotAuthorizedForSourceException", "InvalidArgument", None, None]
    assert [g.get("ErrorCode") for g in got] == expected_codes, got
    for g in got:
        if g.get("ErrorCode"):
            assert "EventId" not in g and g.get("ErrorMessage"), g
        else:
            uuid.UUID(g["EventId"])
    ids = [g["EventId"] for g in got if "EventId" in g]
    assert len(set(ids)) == 3
    sink_default.wait(1, what="the default-bus entry")
    sink_bus.wait(2, what="the custom-bus entries")
    sink_time.wait(1, what="the entry with Time and Resources")
    eb.drain()
    sink_default.expect(1)
    sink_bus.expect(2)
    sink_time.expect(1)

    # 0 or 11 entries: the whole request is refused.
    with pytest.raises(ClientError) as e:
        events.put_events(Entries=[{"Source": src, "DetailType": "x", "Detail": "{}"}] * 11)
    assert code(e) == "ValidationException"


def test_put_events_size_limit(events, eb):
    src = "size." + uuid.uuid4().hex[:8]
    sink = eb.sink("size")
    eb.rule({"source": [src]}, [sink])

    def entry(detail):
        return {"Source": src, "DetailType": "size", "Detail": detail}

    # Over 256 KB in one entry, or in total over ten entries.
    with pytest.raises(ClientError) as e:
        events.put_events(Entries=[entry(json.dumps({"k": "x" * (300 * 1024)}))])
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        events.put_events(Entries=[entry(json.dumps({"k": "x" * (27 * 1024)}))] * 10)
    assert code(e) == "ValidationException"

    # Under the limit: accepted and delivered.
    out = events.put_events(Entries=[entry(json.dumps({"k": "x" * (240 * 1024)}))])
    assert out["FailedEntryCount"] == 0, out
    out = events.put_events(Entries=[entry(json.dumps({"k": "x" * (20 * 1024)}))] * 10)
    assert out["FailedEntryCount"] == 0, out
    sink.wait(11, what="the entries under the limit")

    # AWS counts the bytes of Source, DetailType, Detail (and Resources, Time), not their
    # JSON-escaped form: 200 KB of Detail full of quotes is under the limit.
    detail = json.dumps({"k": ["x"] * 40000})
    assert 190 * 1024 < len(detail.encode()) < 200 * 1024
    out = events.put_events(Entries=[entry(detail)])
    assert out["FailedEntryCount"] == 0, out
    sink.wait(12, what="the quote-heavy 200 KB entry")


def test_put_events_cli_and_bus_isolation(aws, events, eb):
    src = "iso." + uuid.uuid4().hex[:8]
    bus_a, arn_a = eb.bus("isoa")
    bus_b, _ = eb.bus("isob")
    sinks = {k: eb.sink(f"iso{k}") for k in ("default", "a", "b")}
    eb.rule({"source": [src]}, [sinks["default"]])
    eb.rule({"source": [src]}, [sinks["a"]], bus=bus_a)
    eb.rule({"source": [src]}, [sinks["b"]], bus=bus_b)

    entries = [{"Source": src, "DetailType": "cli", "Detail": json.dumps({"i": i}), "EventBusName": bus_a}
               for i in range(3)]
    entries.append({"Source": src, "DetailType": "cli", "Detail": "{}"})
    entries.append({"Source": "aws.ec2", "DetailType": "x", "Detail": "{}"})
    out = aws.json("events", "put-events", "--entries", json.dumps(entries))
    assert out["FailedEntryCount"] == 1 and len(out["Entries"]) == 5
    assert all("EventId" in x for x in out["Entries"][:4]), out
    assert out["Entries"][4]["ErrorCode"] == "NotAuthorizedForSourceException"

    sinks["a"].wait(3, what="bus a")
    sinks["default"].wait(1, what="default bus")
    eb.drain()
    sinks["a"].expect(3, "bus a")
    sinks["default"].expect(1, "default bus")
    sinks["b"].expect(0, "bus b gets nothing")
    assert arn_a == bus_arn(bus_a)


# ---------------------------------------------------------------------------------------
# 5. Patterns


BAD_PATTERNS = [
    '{"source": "aws.s3"}',
    '{"source": []}',
    '{}',
    '[{"source": ["a"]}]',
    '{"source": ["a"]',
    '{"detail": {"n": [{"numeric": [">"]}]}}',
    '{"detail": {"n": [{"numeric": [">", 5, "<", 1]}]}}',
    '{"source": [{"prefix": 5}]}',
    '{"source": [{"contains": "x"}]}',
    '{"source": [{"exists": "yes"}]}',
    '{"source": [{"anything-but": null}]}',
    '{"detail": {"ip": [{"cidr": "10.0.0.0"}]}}',
    '{"source": [{"wildcard": "a**b"}]}',
    '{"$or": [{"source": ["a"]}]}',
]


def test_bad_patterns_are_refused(aws, events, eb):
    event = json.dumps(full_event())
    for text in BAD_PATTERNS:
        with pytest.raises(ClientError) as e:
            events.put_rule(Name=unique_name("bad"), EventPattern=text)
        assert code(e) == "InvalidEventPatternException", (text, code(e), message(e))
        assert message(e), text
        with pytest.raises(ClientError) as e:
            events.test_event_pattern(EventPattern=text, Event=event)
        assert code(e) == "InvalidEventPatternException", (text, code(e), message(e))
    out = aws("events", "put-rule", "--name", unique_name("bad"), "--event-pattern",
              '{"source": "x"}', check=False)
    assert out.returncode != 0 and "InvalidEventPatternException" in out.stderr
    # A refused PutRule leaves an existing rule as it was.
    name, _ = eb.rule({"source": ["keep.me"]})
    with pytest.raises(ClientError) as e:
        events.put_rule(Name=name, EventPattern='{"source": [{"prefix": 1}]}')
    assert code(e) == "InvalidEventPatternException"
    assert json.loads(events.describe_rule(Name=name)["EventPattern"]) == {"source": ["keep.me"]}
    # An archive with a bad pattern is refused too.
    with pytest.raises(ClientError) as e:
        events.create_archive(ArchiveName=unique_name("ba"), EventSourceArn=bus_arn("default"),
                              EventPattern='{"source": "x"}')
    assert code(e) == "InvalidEventPatternException"
    # TestEventPattern needs a complete event.
    with pytest.raises(ClientError) as e:
        events.test_event_pattern(EventPattern='{"source": ["a"]}', Event='{"source": "a"}')
    assert code(e) == "ValidationException"


OPERATOR_CASES = [  # (pattern, result) against full_event()
    ({"source": ["shop.orders"]}, True),
    ({"source": ["shop.returns"]}, False),
    ({"source": ["shop.orders"], "detail": {"user": ["bob"]}}, False),
    ({"detail-type": [{"prefix": "Order"}]}, True),
    ({"detail-type": [{"prefix": "order"}]}, False),
    ({"detail": {"file": [{"suffix": ".PNG"}]}}, True),
    ({"detail": {"file": [{"suffix": {"equals-ignore-case": ".png"}}]}}, True),
    ({"detail": {"user": [{"equals-ignore-case": "KIM"}]}}, True),
    ({"detail": {"user": [{"anything-but": ["bob", "ann"]}]}}, True),
    ({"detail": {"user": [{"anything-but": "kim"}]}}, False),
    ({"detail": {"user": [{"anything-but": {"prefix": "ki"}}]}}, False),
    ({"detail": {"file": [{"anything-but": {"suffix": ".jpg"}}]}}, True),
    ({"detail": {"user": [{"anything-but": {"wildcard": "k*"}}]}}, False),
    ({"detail": {"amount": [{"numeric": [">", 40, "<=", 42.5]}]}}, True),
    ({"detail": {"amount": [{"numeric": ["<", 42.5]}]}}, False),
    ({"detail": {"items": [3]}}, True),
    ({"detail": {"items": ["3"]}}, False),
    ({"detail": {"user": [{"exists": True}]}}, True),
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"coupon": [None]}}, True),
    ({"resources": [{"wildcard": "arn:aws:s3:::bucket-*"}]}, True),
    ({"detail": {"file": [{"wildcard": "*.png"}]}}, False),
    ({"detail": {"ip": [{"cidr": "10.1.0.0/16"}]}}, True),
    ({"detail": {"ip": [{"cidr": "10.2.0.0/16"}]}}, False),
    ({"detail": {"tags": ["vip"]}}, True),
    ({"detail": {"tags": ["gold", "silver"]}}, False),
    ({"$or": [{"source": ["nope"]}, {"detail": {"amount": [{"numeric": [">", 10]}]}}]}, True),
    ({"$or": [{"source": ["nope"]}, {"detail": {"user": ["bob"]}}]}, False),
]


def test_test_event_pattern_operators(aws, events):
    event = json.dumps(full_event())
    wrong = []
    for pattern, expected in OPERATOR_CASES:
        got = events.test_event_pattern(EventPattern=json.dumps(pattern), Event=event)["Result"]
        if got is not expected:
            wrong.append((pattern, expected, got))
    assert not wrong, f"TestEventPattern disagrees with EventBridge on: {wrong}"
    out = aws.json("events", "test-event-pattern", "--event-pattern", '{"source":[{"prefix":"shop."}]}',
                   "--event", event)
    assert out == {"Result": True}


def test_rule_patterns_route_like_test_event_pattern(events, eb):
    """The same operators on live rules: each rule's sink gets the events it matches."""
    src = "ops." + uuid.uuid4().hex[:8]
    cases = {
        "prefix": ({"detail": {"user": [{"prefix": "ki"}]}}, 1),
        "numeric": ({"detail": {"amount": [{"numeric": [">=", 10]}]}}, 2),
        "anything": ({"detail": {"user": [{"anything-but": ["kim"]}]}}, 2),
        "exists": ({"detail": {"vip": [{"exists": True}]}}, 1),
        "cidr": ({"detail": {"ip": [{"cidr": "192.168.0.0/16"}]}}, 1),
        "or": ({"$or": [{"detail": {"user": ["bob"]}}, {"detail": {"vip": [True]}}]}, 2),
    }
    sinks = {}
    for name, (pattern, _n) in cases.items():
        sinks[name] = eb.sink(name)
        eb.rule({"source": [src], **pattern}, [sinks[name]])
    eb.put({"Source": src, "Detail": {"user": "kim", "amount": 50, "ip": "192.168.1.9", "vip": True}},
           {"Source": src, "Detail": {"user": "bob", "amount": 10, "ip": "10.0.0.1"}},
           {"Source": src, "Detail": {"user": "ann", "amount": 9.99, "ip": "172.16.0.1"}})
    eb.drain()
    for name, (_p, n) in cases.items():
        sinks[name].expect(n, name)


# ---------------------------------------------------------------------------------------
# 6. Input, InputPath, InputTransformer


def test_target_input_forms_delivered_content(events, eb):
    src_bus, _ = eb.bus("xsrc")
    mid = eb.sink("xmid")             # every forwarded input lands here
    finals = {k: eb.sink(f"x{k}") for k in ("tmpl", "path", "const", "whole")}
    tag = uuid.uuid4().hex[:8]

    xf_rule, _ = eb.rule({"source": [f"orders.{tag}"]}, [{
        "Id": "xf", "Arn": mid.arn,
        "InputTransformer": {
            "InputPathsMap": {"user": "$.detail.user", "id": "$.detail.id", "first": "$.detail.items[0]"},
            "InputTemplate": ('{"source": "transformed", "detail-type": "t", "detail": '
                              '{"user": <user>, "id": <id>, "text": "user <user> #<id>", "first": <first>, '
                              '"rule": "<aws.events.rule-name>", "tag": "' + tag + '"}}'),
        }}], bus=src_bus)
    eb.rule({"source": [f"wrapped.{tag}"]}, [{"Id": "path", "Arn": mid.arn, "InputPath": "$.detail.inner"}],
            bus=src_bus)
    eb.rule({"source": [f"trigger.{tag}"]}, [{
        "Id": "const", "Arn": mid.arn,
        "Input": json.dumps({"source": "constant", "detail-type": "c", "detail": {"fixed": True, "tag": tag}})}],
        bus=src_bus)
    eb.rule({"source": [f"plain.{tag}"]}, [mid], bus=src_bus)

    # On the middle bus, each rule only matches the content its input form should produce.
    eb.rule({"source": ["transformed"], "detail": {
        "user": ["kim"], "id": [7], "text": ["user kim #7"], "first": ["apple"], "rule": [xf_rule], "tag": [tag]}},
        [finals["tmpl"]], bus=mid.name)
    eb.rule({"source": ["unwrapped"], "detail": {"k": ["v"], "tag": [tag]}}, [finals["path"]], bus=mid.name)
    eb.rule({"source": ["constant"], "detail": {"fixed": [True], "tag": [tag]}}, [finals["const"]], bus=mid.name)
    eb.rule({"source": [f"plain.{tag}"], "detail": {"user": ["kim"]}}, [finals["whole"]], bus=mid.name)

    eb.put({"Source": f"orders.{tag}", "Detail": {"user": "kim", "id": 7, "items": ["apple", "pear"]}},
           {"Source": f"orders.{tag}", "Detail": {"user": "bob", "id": 8, "items": ["fig"]}},
           {"Source": f"wrapped.{tag}", "Detail": {"inner": {
               "source": "unwrapped", "detail-type": "u", "detail": {"k": "v", "tag": tag}}}},
           {"Source": f"trigger.{tag}", "Detail": {"anything": 1}},
           {"Source": f"plain.{tag}", "Detail": {"user": "kim"}},
           bus=src_bus)
    mid.wait(5, what="all forwarded inputs")
    eb.drain(rounds=3)
    mid.expect(5)
    finals["tmpl"].expect(1, "InputTransformer (kim only)")
    finals["path"].expect(1, "InputPath")
    finals["const"].expect(1, "Input")
    finals["whole"].expect(1, "the whole event")


def test_invalid_target_inputs_are_refused(events, eb):
    sink = eb.sink("badin")
    name, _ = eb.rule({"source": ["bad.input"]})
    bad = {
        "reserved-var": {"InputTransformer": {"InputPathsMap": {"aws.user": "$.detail.user"},
                                              "InputTemplate": '{"u": <aws.user>}'}},
        "bad-path": {"InputTransformer": {"InputPathsMap": {"user": "detail.user"},
                                          "InputTemplate": '{"u": <user>}'}},
        "bad-var-name": {"InputTransformer": {"InputPathsMap": {"us er": "$.detail.user"},
                                              "InputTemplate": '{"u": 1}'}},
        "two-forms": {"Input": "{}", "InputPath": "$.detail"},
        "input-not-json": {"Input": "{not json"},
        "bad-inputpath": {"InputPath": "detail"},
    }
    targets = [{"Id": k, "Arn": sink.arn, **v} for k, v in bad.items()]
    targets.append({"Id": "good", "Arn": sink.arn, "InputPath": "$.detail"})
    out = events.put_targets(Rule=name, Targets=targets)
    failed = {f["TargetId"]: f for f in out["FailedEntries"]}
    assert set(failed) == set(bad), out["FailedEntries"]
    assert out["FailedEntryCount"] == len(bad)
    assert all(f["ErrorCode"] == "ValidationException" and f["ErrorMessage"] for f in failed.values())
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]] == ["good"]


# ---------------------------------------------------------------------------------------
# 7. Archives and replays


def wait_replay(events, name, timeout=15.0):
    deadline = time.monotonic() + timeout
    seen = []
    while True:
        r = events.describe_replay(ReplayName=name)
        if not seen or seen[-1] != r["State"]:
            seen.append(r["State"])
        if r["State"] in ("COMPLETED", "CANCELLED", "FAILED"):
            return r, seen
        if time.monotonic() > deadline:
            raise AssertionError(f"replay {name} still {r['State']} after {timeout}s (states {seen})")
        time.sleep(0.05)


def next_second():
    """Sleeps to just past the next whole second (replay windows are whole seconds) and
    returns it."""
    now = time.time()
    t = int(now) + 1
    time.sleep(t - now + 0.02)
    return t


def test_archive_pattern_and_replay(events, eb):
    src, src_arn = eb.bus("rsrc")
    tag = uuid.uuid4().hex[:8]
    all_archive = unique_name("all")
    kept_archive = unique_name("kept")
    events.create_archive(ArchiveName=all_archive, EventSourceArn=src_arn, Description="everything",
                          RetentionDays=3)
    eb.archives.append(all_archive)
    events.create_archive(ArchiveName=kept_archive, EventSourceArn=src_arn,
                          EventPattern=json.dumps({"detail": {"keep": [True]}}))
    eb.archives.append(kept_archive)

    def count(archive):
        return events.describe_archive(ArchiveName=archive)["EventCount"]

    def wait_count(archive, n, timeout=20.0):
        deadline = time.monotonic() + timeout
        while count(archive) < n:
            if time.monotonic() > deadline:
                raise AssertionError(f"archive {archive}: {count(archive)} events, expected {n}")
            time.sleep(0.05)
        assert count(archive) == n

    start = int(time.time()) - 1
    batch1 = [{"Source": f"replay.{tag}", "Detail": {"n": i, "keep": i != 2, "batch": 1}} for i in range(4)]
    eb.put(*batch1, bus=src)
    wait_count(all_archive, 4)
    wait_count(kept_archive, 3)
    mid = next_second()
    batch2 = [{"Source": f"replay.{tag}", "Detail": {"n": i, "keep": True, "batch": 2}} for i in range(2)]
    eb.put(*batch2, bus=src)
    wait_count(all_archive, 6)
    wait_count(kept_archive, 5)
    end = next_second()
    eb.drain()
    assert count(all_archive) == 6 and count(kept_archive) == 5

    a = events.describe_archive(ArchiveName=kept_archive)
    assert a["ArchiveArn"] == archive_arn(kept_archive)
    assert a["EventSourceArn"] == src_arn and a["State"] == "ENABLED"
    assert json.loads(a["EventPattern"]) == {"detail": {"keep": [True]}}
    assert a["EventCount"] == 5 and a["SizeBytes"] > 0
    a = events.describe_archive(ArchiveName=all_archive)
    assert a["RetentionDays"] == 3 and a["Description"] == "everything"
    listed = events.list_archives(EventSourceArn=src_arn)["Archives"]
    assert sorted(x["ArchiveName"] for x in listed) == sorted([all_archive, kept_archive])
    assert {x["ArchiveName"]: x["EventCount"] for x in listed} == {all_archive: 6, kept_archive: 5}
    assert [x["ArchiveName"] for x in events.list_archives(NamePrefix=all_archive)["Archives"]] == [all_archive]
    events.update_archive(ArchiveName=all_archive, Description="all of it", RetentionDays=7)
    a = events.describe_archive(ArchiveName=all_archive)
    assert a["Description"] == "all of it" and a["RetentionDays"] == 7 and a["EventCount"] == 6

    with pytest.raises(ClientError) as e:
        events.create_archive(ArchiveName=all_archive, EventSourceArn=src_arn)
    assert code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        events.create_archive(ArchiveName=unique_name("nb"), EventSourceArn=bus_arn("no_such_" + tag))
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        events.describe_archive(ArchiveName="no_such_" + tag)
    assert code(e) == "ResourceNotFoundException"

    # The replay destination: rules that forward replayed events (with their detail only,
    # since archives leave out replayed events) to sinks.
    dest, dest_arn = eb.bus("rdest")
    by_name, by_source, live_only, filtered = (eb.sink("rname"), eb.sink("rsrc"), eb.sink("rlive"),
                                               eb.sink("rfilt"))
    r1 = unique_name("replay1")
    r2 = unique_name("replay2")

    def fwd(sink):
        return {"Id": "fwd", "Arn": sink.arn, "InputPath": "$.detail"}

    eb.rule({"replay-name": [r1]}, [fwd(by_name)], bus=dest)
    _, source_rule_arn = eb.rule({"source": [f"replay.{tag}"]}, [fwd(by_source)], bus=dest)
    eb.rule({"replay-name": [{"exists": False}]}, [fwd(live_only)], bus=dest)
    _, exists_rule_arn = eb.rule({"replay-name": [{"exists": True}], "detail": {"batch": [2]}},
                                 [fwd(filtered)], bus=dest)

    # Replay 1: the first window (batch 1 only), every rule of the destination.
    out = events.start_replay(ReplayName=r1, EventSourceArn=archive_arn(all_archive),
                              EventStartTime=datetime.datetime.fromtimestamp(start, datetime.timezone.utc),
                              EventEndTime=datetime.datetime.fromtimestamp(mid, datetime.timezone.utc),
                              Destination={"Arn": dest_arn}, Description="first window")
    assert out["ReplayArn"] == f"{ARN_PREFIX}:replay/{r1}"
    assert out["State"] in ("STARTING", "RUNNING", "COMPLETED")
    r, states = wait_replay(events, r1)
    assert r["State"] == "COMPLETED", r
    assert set(states) <= {"STARTING", "RUNNING", "COMPLETED"}, states
    assert r["EventSourceArn"] == archive_arn(all_archive)
    assert r["Destination"]["Arn"] == dest_arn
    assert r["ReplayStartTime"] and r["ReplayEndTime"]
    by_name.wait(4, what="replay 1 by replay-name")
    by_source.wait(4, what="replay 1 by source")
    eb.drain()
    by_name.expect(4, "replay 1 by replay-name")
    by_source.expect(4, "replay 1 by source")
    live_only.expect(0, "replay-name exists:false")
    filtered.expect(0, "batch 2 is outside replay 1's window")

    # Replay 2: both windows, only to the exists-rule (FilterArns).
    events.start_replay(ReplayName=r2, EventSourceArn=archive_arn(all_archive),
                        EventStartTime=datetime.datetime.fromtimestamp(start, datetime.timezone.utc),
                        EventEndTime=datetime.datetime.fromtimestamp(end, datetime.timezone.utc),
                        Destination={"Arn": dest_arn, "FilterArns": [exists_rule_arn]})
    r, _ = wait_replay(events, r2)
    assert r["State"] == "COMPLETED", r
    assert r["Destination"]["FilterArns"] == [exists_rule_arn]
    filtered.wait(2, what="replay 2 batch 2 through the filter")
    eb.drain()
    filtered.expect(2)
    by_source.expect(4, "FilterArns leaves the source rule out")
    by_name.expect(4, "replay 2 has another name")

    # Replaying onto the source bus does not archive the events again.
    r3 = unique_name("replay3")
    events.start_replay(ReplayName=r3, EventSourceArn=archive_arn(kept_archive),
                        EventStartTime=datetime.datetime.fromtimestamp(start, datetime.timezone.utc),
                        EventEndTime=datetime.datetime.fromtimestamp(end, datetime.timezone.utc),
                        Destination={"Arn": src_arn})
    r, _ = wait_replay(events, r3)
    assert r["State"] == "COMPLETED", r
    eb.drain()
    assert count(all_archive) == 6 and count(kept_archive) == 5

    listed = events.list_replays(NamePrefix=r1)["Replays"]
    assert [x["ReplayName"] for x in listed] == [r1] and listed[0]["State"] == "COMPLETED"
    assert {x["ReplayName"] for x in events.list_replays(State="COMPLETED")["Replays"]} >= {r1, r2, r3}

    # Errors.
    window = dict(EventStartTime=datetime.datetime.fromtimestamp(start, datetime.timezone.utc),
                  EventEndTime=datetime.datetime.fromtimestamp(end, datetime.timezone.utc))
    with pytest.raises(ClientError) as e:
        events.start_replay(ReplayName=r1, EventSourceArn=archive_arn(all_archive),
                            Destination={"Arn": dest_arn}, **window)
    assert code(e) == "ResourceAlreadyExistsException"
    with pytest.raises(ClientError) as e:
        events.start_replay(ReplayName=unique_name("rx"), EventSourceArn=archive_arn("no_such_" + tag),
                            Destination={"Arn": dest_arn}, **window)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        events.start_replay(ReplayName=unique_name("rx"), EventSourceArn=archive_arn(all_archive),
                            Destination={"Arn": bus_arn("no_such_" + tag)}, **window)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        events.start_replay(ReplayName=unique_name("rx"), EventSourceArn=archive_arn(all_archive),
                            Destination={"Arn": dest_arn}, EventStartTime=window["EventEndTime"],
                            EventEndTime=window["EventStartTime"])
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        events.describe_replay(ReplayName="no_such_" + tag)
    assert code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        events.cancel_replay(ReplayName=r1)
    assert code(e) == "IllegalStatusException"

    # DeleteArchive drops the archive and its events.
    events.delete_archive(ArchiveName=kept_archive)
    with pytest.raises(ClientError) as e:
        events.describe_archive(ArchiveName=kept_archive)
    assert code(e) == "ResourceNotFoundException"


def test_replay_window_uses_the_event_time(events, eb):
    """EventStartTime/EventEndTime select events by the time in the event (PutEvents Time),
    as EventBridge documents it, not by when they were archived."""
    src, src_arn = eb.bus("etsrc")
    tag = uuid.uuid4().hex[:8]
    archive = unique_name("evtime")
    events.create_archive(ArchiveName=archive, EventSourceArn=src_arn)
    eb.archives.append(archive)
    now = int(time.time())
    two_hours_ago = datetime.datetime.fromtimestamp(now - 7200, datetime.timezone.utc)
    eb.put(*[{"Source": f"old.{tag}", "Detail": {"n": i}, "Time": two_hours_ago} for i in range(3)],
           *[{"Source": f"new.{tag}", "Detail": {"n": i}} for i in range(2)], bus=src)
    deadline = time.monotonic() + 20
    while events.describe_archive(ArchiveName=archive)["EventCount"] < 5:
        assert time.monotonic() < deadline, "the archive never counted 5 events"
        time.sleep(0.05)

    dest, dest_arn = eb.bus("etdest")
    old, new = eb.sink("etold"), eb.sink("etnew")
    eb.rule({"source": [f"old.{tag}"]}, [{"Id": "f", "Arn": old.arn, "InputPath": "$.detail"}], bus=dest)
    eb.rule({"source": [f"new.{tag}"]}, [{"Id": "f", "Arn": new.arn, "InputPath": "$.detail"}], bus=dest)
    name = unique_name("evtime")
    events.start_replay(ReplayName=name, EventSourceArn=archive_arn(archive),
                        EventStartTime=datetime.datetime.fromtimestamp(now - 3 * 3600, datetime.timezone.utc),
                        EventEndTime=datetime.datetime.fromtimestamp(now - 3600, datetime.timezone.utc),
                        Destination={"Arn": dest_arn})
    r, _ = wait_replay(events, name)
    assert r["State"] == "COMPLETED", r
    eb.drain()
    old.expect(3, "events whose Time is inside the window")
    new.expect(0, "events whose Time is after the window")


# ---------------------------------------------------------------------------------------
# 8. A burst


def test_burst_of_ten_thousand_events(server, eb):
    client = make_events(server.endpoint)
    src, _ = eb.bus("burst")
    sink = eb.sink("burst")
    tag = uuid.uuid4().hex[:8]
    eb.rule({"source": [f"burst.{tag}"], "detail": {"slot": [0, 3]}}, [sink], bus=src)
    eb.rule({"source": [f"burst.{tag}"], "detail": {"slot": [{"numeric": [">", 100]}]}}, [sink], bus=src)

    calls, per_call = 1000, 10
    failures, errors = [], []
    lock = threading.Lock()

    def call(i):
        entries = [{"Source": f"burst.{tag}", "DetailType": "burst", "EventBusName": src,
                    "Detail": json.dumps({"call": i, "slot": j})} for j in range(per_call)]
        try:
            out = client.put_events(Entries=entries)
        except ClientError as e:  # throttling or anything else
            with lock:
                errors.append(e.response["Error"])
            return
        if out["FailedEntryCount"]:
            with lock:
                failures.append(out["Entries"])

    t0 = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(call, range(calls)))
    put_seconds = time.monotonic() - t0
    assert not errors, f"{len(errors)} PutEvents calls failed, first: {errors[0]}"
    assert not failures, f"{len(failures)} calls had failed entries, first: {failures[0]}"
    matching = calls * 2  # slots 0 and 3 of every call
    sink.wait(matching, timeout=max(5.0, 28.0 - put_seconds), what="the matching burst events")
    eb.drain()
    sink.expect(matching)


# ---------------------------------------------------------------------------------------
# 9. Restart


def test_rules_targets_and_archives_survive_restart(server_factory):
    srv = server_factory(name="events-restart")
    ev = make_events(srv.endpoint)
    s3 = make_s3(srv.endpoint)
    eb = EB(ev, srv)
    bus, barn = eb.bus("keep")
    sink = eb.sink("keep")
    other = eb.sink("keepo")
    tag = uuid.uuid4().hex[:8]
    xf_target = {"Id": "xf", "Arn": sink.arn, "InputTransformer": {
        "InputPathsMap": {"n": "$.detail.n"},
        "InputTemplate": '{"source": "restart.xf", "detail-type": "x", "detail": {"n": <n>}}'}}
    live, live_arn = eb.rule({"source": [f"live.{tag}"]}, [xf_target, {"Id": "plain", "Arn": other.arn}],
                             bus=bus, Description="kept", Tags=[{"Key": "k", "Value": "v"}])
    off, _ = eb.rule({"source": [f"off.{tag}"]}, [sink], bus=bus, State="DISABLED")
    gone, _ = eb.rule({"source": [f"gone.{tag}"]}, [sink], bus=bus)
    ev.delete_rule(Name=gone, EventBusName=bus, Force=True)
    dflt, _ = eb.rule({"source": [f"default.{tag}"]}, [other])
    bucket = unique_bucket("restart-ev")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket,
                                             NotificationConfiguration={"EventBridgeConfiguration": {}})
    s3rule, _ = eb.rule(s3_pattern(bucket, reason=["PutObject"]), [other])
    eb.put({"Source": f"live.{tag}", "Detail": {"n": 1}}, bus=bus)
    sink.wait(1)
    other.wait(1)
    before_rules = ev.list_rules(EventBusName=bus)["Rules"]
    before_targets = ev.list_targets_by_rule(Rule=live, EventBusName=bus)["Targets"]
    replay = unique_name("keep")
    ev.start_replay(ReplayName=replay, EventSourceArn=archive_arn(sink.archive),
                    EventStartTime=datetime.datetime.fromtimestamp(time.time() - 60, datetime.timezone.utc),
                    EventEndTime=datetime.datetime.fromtimestamp(time.time() + 1, datetime.timezone.utc),
                    Destination={"Arn": barn})
    assert wait_replay(ev, replay)[0]["State"] == "COMPLETED"
    ev.tag_resource(ResourceARN=bus_arn("default"), Tags=[{"Key": "owner", "Value": "platform"}])
    ev.tag_resource(ResourceARN=barn, Tags=[{"Key": "owner", "Value": "team"}])

    assert srv.stop() == 0
    srv.start()
    ev = make_events(srv.endpoint)
    s3 = make_s3(srv.endpoint)
    eb.events = ev

    assert ev.describe_event_bus(Name=bus)["Arn"] == barn
    assert ev.list_rules(EventBusName=bus)["Rules"] == before_rules
    assert sorted(r["Name"] for r in before_rules) == sorted([live, off])
    assert ev.list_targets_by_rule(Rule=live, EventBusName=bus)["Targets"] == before_targets
    r = ev.describe_rule(Name=live, EventBusName=bus)
    assert r["Description"] == "kept" and r["State"] == "ENABLED"
    assert ev.describe_rule(Name=off, EventBusName=bus)["State"] == "DISABLED"
    with pytest.raises(ClientError) as e:
        ev.describe_rule(Name=gone, EventBusName=bus)
    assert code(e) == "ResourceNotFoundException"
    assert ev.list_tags_for_resource(ResourceARN=live_arn)["Tags"] == [{"Key": "k", "Value": "v"}]
    assert sink.count() == 1 and other.count() == 1
    assert ev.describe_rule(Name=dflt)["EventBusName"] == "default"

    # Routing works as before: the transformer still applies, the disabled rule stays off,
    # and S3 notifications of the bucket still reach the default bus.
    eb.rule({"source": ["restart.xf"], "detail": {"n": [2]}}, [other], bus=sink.name)
    eb.put({"Source": f"live.{tag}", "Detail": {"n": 2}}, {"Source": f"off.{tag}", "Detail": {}}, bus=bus)
    eb.put({"Source": f"default.{tag}", "Detail": {}})
    s3.put_object(Bucket=bucket, Key="after-restart", Body=b"x")
    sink.wait(2, what="the live rule after the restart")
    other.wait(5, what="plain target, the xf chain, the default rule and the S3 rule")
    eb.drain(rounds=3)
    sink.expect(2, "the disabled rule stays disabled")
    other.expect(5)
    assert s3rule
    r = ev.describe_replay(ReplayName=replay)
    assert r["State"] == "COMPLETED" and r["Destination"]["Arn"] == barn
    assert ev.list_tags_for_resource(ResourceARN=barn)["Tags"] == [{"Key": "owner", "Value": "team"}]
    # The default bus is a resource like any other: its tags are kept too.
    assert ev.list_tags_for_resource(ResourceARN=bus_arn("default"))["Tags"] == \
        [{"Key": "owner", "Value": "platform"}]
    eb.cleanup()
    srv.stop()


# ---------------------------------------------------------------------------------------
# S3 notification configuration belongs to the bucket


def test_recreated_bucket_has_no_notifications(s3, eb):
    """A bucket deleted and created again starts without a notification configuration, so
    its changes send no events."""
    bucket = unique_bucket("recreated")
    sink = eb.sink("recreated")
    eb.rule(s3_pattern(bucket), [sink])
    s3.create_bucket(Bucket=bucket)
    try:
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
        s3.put_object(Bucket=bucket, Key="before", Body=b"1")
        sink.wait(1, what="the first bucket's upload")
        s3.delete_object(Bucket=bucket, Key="before")
        sink.wait(2, what="the first bucket's delete")
        s3.delete_bucket(Bucket=bucket)

        s3.create_bucket(Bucket=bucket)
        conf = s3.get_bucket_notification_configuration(Bucket=bucket)
        assert "EventBridgeConfiguration" not in conf, conf
        s3.put_object(Bucket=bucket, Key="after", Body=b"2")
        eb.drain()
        sink.expect(2, "the re-created bucket has no EventBridgeConfiguration")

        # Turning notifications off with an empty configuration works too.
        s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}})
        s3.put_object(Bucket=bucket, Key="on", Body=b"3")
        sink.wait(3, what="notifications on again")
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        s3.put_object(Bucket=bucket, Key="off", Body=b"4")
        eb.drain()
        sink.expect(3, "notifications off")
    finally:
        empty_bucket(s3, bucket)


# ---------------------------------------------------------------------------------------
# AWS's model limits (lengths, ranges, tags) are enforced by the server


def test_model_limits_are_refused_as_aws_does(server, eb):
    # botocore checks minimums itself: send what it would refuse, to see the server refuse it.
    events = make_events(server.endpoint, parameter_validation=False)
    name = unique_name("lim")
    pattern = json.dumps({"source": ["lim"]})

    def refused(call, **kw):
        with pytest.raises(ClientError) as e:
            call(**kw)
        return code(e), message(e)

    c, m = refused(events.put_rule, Name=name, EventPattern=pattern, Description="d" * 513)
    assert c == "ValidationException" and "at 'description'" in m and "512" in m, m
    big = json.dumps({"source": ["x" * 4100]})
    assert refused(events.put_rule, Name=name, EventPattern=big)[0] in ("ValidationException",
                                                                        "InvalidEventPatternException")
    c, m = refused(events.put_rule, Name=name, EventPattern=pattern,
                   Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert c == "LimitExceededException", m
    c, m = refused(events.put_rule, Name=name, EventPattern=pattern, Tags=[{"Key": "k" * 129, "Value": "v"}])
    assert c == "ValidationException" and "128" in m, m
    c, m = refused(events.put_rule, Name=name, EventPattern=pattern, Tags=[{"Key": "aws:x", "Value": "v"}])
    assert c == "ValidationException", m
    eb.rule({"source": ["lim"]}, [], name=name)
    sink = eb.sink("lim")

    def target(**kw):
        return dict({"Id": "t", "Arn": sink.arn}, **kw)

    for t, where in [(target(Input='"' + "x" * 8200 + '"'), "targets.1.member.input"),
                     (target(InputPath="$." + "a" * 300), "targets.1.member.inputPath"),
                     (target(InputTransformer={"InputTemplate": "x" * 8193}),
                      "targets.1.member.inputTransformer.inputTemplate"),
                     (target(RetryPolicy={"MaximumRetryAttempts": 186}),
                      "targets.1.member.retryPolicy.maximumRetryAttempts"),
                     (target(RetryPolicy={"MaximumEventAgeInSeconds": 59}),
                      "targets.1.member.retryPolicy.maximumEventAgeInSeconds")]:
        c, m = refused(events.put_targets, Rule=name, Targets=[t])
        assert c == "ValidationException" and where in m, (where, m)
    out = events.put_targets(Rule=name, Targets=[target(Id="has space")])
    assert out["FailedEntryCount"] == 1 and out["FailedEntries"][0]["ErrorCode"] == "ValidationException"
    assert events.list_targets_by_rule(Rule=name)["Targets"] == []

    arn = rule_arn(name)
    events.tag_resource(ResourceARN=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    c, m = refused(events.tag_resource, ResourceARN=arn, Tags=[{"Key": "one-more", "Value": "v"}])
    assert c == "LimitExceededException", m
    assert len(events.list_tags_for_resource(ResourceARN=arn)["Tags"]) == 50
    c, m = refused(events.create_archive, ArchiveName=unique_name("lim")[:48], Description="d" * 513,
                   EventSourceArn=bus_arn("default"))
    assert c == "ValidationException" and "at 'description'" in m, m


def test_deeply_nested_detail_is_malformed_per_entry(events, eb):
    src = "deep." + uuid.uuid4().hex[:8]
    sink = eb.sink("deep")
    eb.rule({"source": [src]}, [sink])
    deep = '{"a":' * 100_000 + "1" + "}" * 100_000
    nested = '{"a":' + "[" * 5000 + "]" * 5000 + "}"
    out = events.put_events(Entries=[{"Source": src, "DetailType": "deep", "Detail": deep[:200_000]},
                                     {"Source": src, "DetailType": "nested", "Detail": nested},
                                     {"Source": src, "DetailType": "ok", "Detail": "{}"}])
    assert [e.get("ErrorCode") for e in out["Entries"]] == ["MalformedDetail", "MalformedDetail", None], out
    sink.wait(1)
