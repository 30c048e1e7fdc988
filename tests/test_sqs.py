"""SQS: queues, messages, batches, long polling, visibility, dead-letter queues and move
tasks, FIFO ordering and deduplication, MD5s, restarts and errors.

Clients: the AWS CLI (/usr/bin/aws) and Debian's boto3 both speak the query protocol for
SQS; the JSON protocol (what current SDKs speak) is driven by the same boto3 with SQS's
model turned into its JSON form (`sqs_json`, see json_sqs_client) and by raw signed
requests for the newest actions and the error headers.
"""

import base64
import copy
import hashlib
import json
import threading
import time
import uuid

import boto3
import botocore.auth
import botocore.credentials
import botocore.session
import pytest
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

from sluice_helpers import ACCESS_KEY, REGION, SECRET_KEY, client_error, make_client, send_raw

ACCOUNT = "000000000000"


# ---------------------------------------------------------------------------------------
# Helpers


def qname(prefix="q"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def arn(name):
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def md5_of_attributes(attrs):
    """MD5OfMessageAttributes as AWS defines it (and the Java SDK verifies it)."""
    buf = b""
    for name in sorted(attrs):
        v = attrs[name]
        dt = v["DataType"].encode()
        buf += len(name.encode()).to_bytes(4, "big") + name.encode()
        buf += len(dt).to_bytes(4, "big") + dt
        if "StringValue" in v:
            s = v["StringValue"].encode()
            buf += b"\x01" + len(s).to_bytes(4, "big") + s
        else:
            b = v["BinaryValue"]
            if isinstance(b, str):
                b = base64.b64decode(b)
            buf += b"\x02" + len(b).to_bytes(4, "big") + b
    return hashlib.md5(buf).hexdigest()


def _strip_xml_traits(node):
    if isinstance(node, dict):
        for k in ("locationName", "flattened", "xmlNamespace", "resultWrapper"):
            node.pop(k, None)
        for v in node.values():
            _strip_xml_traits(v)
    elif isinstance(node, list):
        for v in node:
            _strip_xml_traits(v)


def json_sqs_client(endpoint, tmp_path):
    """boto3 SQS on the JSON protocol: SQS's query model with the JSON protocol's metadata
    (as AWS changed it in 2023) and without the XML naming traits."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    model = copy.deepcopy(loader.load_service_model("sqs", "service-2"))
    model["metadata"].update({"protocol": "json", "jsonVersion": "1.0", "targetPrefix": "AmazonSQS"})
    _strip_xml_traits(model["shapes"])
    for op in model["operations"].values():
        op.get("output", {}).pop("resultWrapper", None)
    d = tmp_path / "sqs" / model["metadata"]["apiVersion"]
    d.mkdir(parents=True, exist_ok=True)
    (d / "service-2.json").write_text(json.dumps(model))
    loader.search_paths.insert(0, str(tmp_path))
    return boto3.session.Session(botocore_session=session).client(
        "sqs", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}, read_timeout=60))


def json_call(server, action, body):
    """A signed AmazonSQS.<action> JSON request; (status, headers dict, parsed body)."""
    data = json.dumps(body).encode()
    headers = {"X-Amz-Target": f"AmazonSQS.{action}", "Content-Type": "application/x-amz-json-1.0",
               "Host": f"{server.host}:{server.port}"}
    req = AWSRequest(method="POST", url=f"{server.endpoint}/", data=data, headers=headers)
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(ACCESS_KEY, SECRET_KEY), "sqs",
                            REGION).add_auth(req)
    r = send_raw(server.host, server.port, "POST", "/", dict(req.headers.items()), data)
    return r.status, {k.lower(): v for k, v in r.headers}, json.loads(r.body or b"{}")


@pytest.fixture(scope="module")
def sqs_json(server, tmp_path_factory):
    return json_sqs_client(server.endpoint, tmp_path_factory.mktemp("sqs-json-model"))


@pytest.fixture(params=["query", "json"])
def client(request, sqs, sqs_json):
    """Each test using it runs on both protocols."""
    return sqs if request.param == "query" else sqs_json


def receive_all(c, url, want, timeout=10, **kw):
    got, deadline = [], time.time() + timeout
    while len(got) < want and time.time() < deadline:
        r = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **kw)
        got += r.get("Messages", [])
    return got


# ---------------------------------------------------------------------------------------
# Queues


def test_queue_lifecycle_and_attributes(client):
    name = qname("life")
    url = client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45", "DelaySeconds": "0"},
                              tags={"team": "data"})["QueueUrl"]
    assert url.endswith(f"/{ACCOUNT}/{name}") and url.startswith("http://127.0.0.1:")
    # Same attributes: the same queue; different ones: QueueAlreadyExists.
    assert client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
    with pytest.raises(ClientError) as e:
        client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "46"})
    assert client_error(e)[0] in ("QueueAlreadyExists", "QueueNameExists")
    assert client.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in client.list_queues(QueueNamePrefix=name[:9])["QueueUrls"]
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "45"
    assert attrs["QueueArn"] == arn(name)
    assert attrs["MaximumMessageSize"] == "262144" and attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    client.set_queue_attributes(QueueUrl=url, Attributes={"ReceiveMessageWaitTimeSeconds": "2"})
    only = client.get_queue_attributes(QueueUrl=url, AttributeNames=["ReceiveMessageWaitTimeSeconds"])
    assert only["Attributes"] == {"ReceiveMessageWaitTimeSeconds": "2"}
    assert client.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "data"}
    client.tag_queue(QueueUrl=url, Tags={"env": "test"})
    client.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert client.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    client.send_message(QueueUrl=url, MessageBody="x")
    client.purge_queue(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        client.purge_queue(QueueUrl=url)
    assert client_error(e) == ("AWS.SimpleQueueService.PurgeQueueInProgress", 403) or \
        client_error(e)[0] == "PurgeQueueInProgress"
    assert "Messages" not in client.receive_message(QueueUrl=url)
    client.delete_queue(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        client.get_queue_url(QueueName=name)
    assert client_error(e)[1] == 400
    assert client_error(e)[0] in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


def test_list_queues_pages(sqs):
    prefix = qname("page")
    urls = [sqs.create_queue(QueueName=f"{prefix}-{i}")["QueueUrl"] for i in range(5)]
    first = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2)
    assert first["QueueUrls"] == urls[:2] and first["NextToken"]
    seen = list(first["QueueUrls"])
    token = first["NextToken"]
    while token:
        page = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, NextToken=token)
        seen += page.get("QueueUrls", [])
        token = page.get("NextToken")
    assert seen == urls


# ---------------------------------------------------------------------------------------
# Messages


def test_send_receive_delete_with_attributes_and_md5s(client):
    url = client.create_queue(QueueName=qname("msg"))["QueueUrl"]
    attrs = {"loc.city": {"DataType": "String", "StringValue": "Zürich"},
             "count": {"DataType": "Number", "StringValue": "42"},
             "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
             "custom": {"DataType": "String.label", "StringValue": "x"}}
    body = "héllo wörld"
    sent = client.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs,
                               MessageSystemAttributes={"AWSTraceHeader": {
                                   "DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}})
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attrs)
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_attributes(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}})
    r = client.receive_message(QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"],
                               VisibilityTimeout=1)
    [m] = r["Messages"]
    assert m["MessageId"] == sent["MessageId"] and m["Body"] == body
    assert m["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert m["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01\xff"
    assert m["MessageAttributes"]["loc.city"]["StringValue"] == "Zürich"
    assert m["MD5OfMessageAttributes"] == md5_of_attributes(m["MessageAttributes"]) == sent["MD5OfMessageAttributes"]
    a = m["Attributes"]
    assert a["ApproximateReceiveCount"] == "1" and a["SenderId"]
    assert abs(int(a["SentTimestamp"]) - time.time() * 1000) < 60000
    assert int(a["ApproximateFirstReceiveTimestamp"]) >= int(a["SentTimestamp"])
    assert a["AWSTraceHeader"].startswith("Root=1-")
    # "loc.*" selects by prefix; the MD5 covers what is returned.
    time.sleep(1.1)
    r2 = client.receive_message(QueueUrl=url, MessageAttributeNames=["loc.*", "count"], WaitTimeSeconds=2)
    [m2] = r2["Messages"]
    assert set(m2["MessageAttributes"]) == {"loc.city", "count"}
    assert m2["MD5OfMessageAttributes"] == md5_of_attributes(m2["MessageAttributes"])
    assert m2["ReceiptHandle"] != m["ReceiptHandle"]
    client.delete_message(QueueUrl=url, ReceiptHandle=m2["ReceiptHandle"])
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_batches_with_partial_failures(client):
    url = client.create_queue(QueueName=qname("batch"))["QueueUrl"]
    r = client.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
        {"Id": "b", "MessageBody": "two", "DelaySeconds": 0},
        {"Id": "bad", "MessageBody": "three", "DelaySeconds": 901},
        {"Id": "c", "MessageBody": "four"}])
    assert sorted(x["Id"] for x in r["Successful"]) == ["a", "b", "c"]
    [f] = r["Failed"]
    assert f["Id"] == "bad" and f["SenderFault"] is True and f["Code"] == "InvalidParameterValue"
    a = next(x for x in r["Successful"] if x["Id"] == "a")
    assert a["MD5OfMessageAttributes"] == md5_of_attributes({"k": {"DataType": "String", "StringValue": "v"}})
    msgs = receive_all(client, url, 3)
    assert sorted(m["Body"] for m in msgs) == ["four", "one", "two"]
    entries = [{"Id": f"m{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)]
    cv = client.change_message_visibility_batch(
        QueueUrl=url, Entries=[dict(e, VisibilityTimeout=60) for e in entries] +
        [{"Id": "junk", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 5}])
    assert len(cv["Successful"]) == 3 and cv["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    d = client.delete_message_batch(QueueUrl=url, Entries=entries + [{"Id": "junk", "ReceiptHandle": "zzz"}])
    assert sorted(x["Id"] for x in d["Successful"]) == ["m0", "m1", "m2"]
    assert d["Failed"][0]["Id"] == "junk" and d["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    for bad, code in [([], "EmptyBatchRequest"),
                      ([{"Id": str(i), "MessageBody": "x"} for i in range(11)], "TooManyEntriesInBatchRequest"),
                      ([{"Id": "x", "MessageBody": "1"}, {"Id": "x", "MessageBody": "2"}], "BatchEntryIdsNotDistinct"),
                      ([{"Id": "a b", "MessageBody": "1"}], "InvalidBatchEntryId"),
                      ([{"Id": str(i), "MessageBody": "x" * 30000} for i in range(10)], "BatchRequestTooLong")]:
        with pytest.raises(ClientError) as e:
            client.send_message_batch(QueueUrl=url, Entries=bad)
        assert client_error(e)[0] in (f"AWS.SimpleQueueService.{code}", code), (code, e.value.response)


def test_long_poll_returns_when_a_message_arrives(client):
    url = client.create_queue(QueueName=qname("poll"))["QueueUrl"]
    t = threading.Timer(0.7, lambda: client.send_message(QueueUrl=url, MessageBody="late"))
    t.start()
    start = time.time()
    r = client.receive_message(QueueUrl=url, WaitTimeSeconds=10)
    elapsed = time.time() - start
    t.join()
    assert [m["Body"] for m in r["Messages"]] == ["late"]
    assert 0.5 < elapsed < 5
    # Empty queue: the whole wait, then an empty answer.
    start = time.time()
    assert "Messages" not in client.receive_message(QueueUrl=url, WaitTimeSeconds=1, VisibilityTimeout=0)
    assert time.time() - start >= 0.9


def test_many_long_polls_do_not_starve_other_requests(sqs, server):
    url = sqs.create_queue(QueueName=qname("starve"))["QueueUrl"]
    pollers = [make_client("sqs", server.endpoint) for _ in range(40)]
    threads = [threading.Thread(target=lambda c=c: c.receive_message(QueueUrl=url, WaitTimeSeconds=4))
               for c in pollers]
    for t in threads:
        t.start()
    time.sleep(0.5)
    start = time.time()
    other = sqs.create_queue(QueueName=qname("other"))["QueueUrl"]
    sqs.send_message(QueueUrl=other, MessageBody="x")
    assert time.time() - start < 2, "requests waited behind long polls"
    for t in threads:
        t.join()


def test_visibility_timeout_and_change(client):
    url = client.create_queue(QueueName=qname("vis"), Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="v")
    [m] = client.receive_message(QueueUrl=url)["Messages"]
    assert "Messages" not in client.receive_message(QueueUrl=url)
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
    # Back after the queue's timeout (a long poll wakes at the expiry).
    [again] = client.receive_message(QueueUrl=url, WaitTimeSeconds=3, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    client.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=30)
    assert "Messages" not in client.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    client.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    [third] = client.receive_message(QueueUrl=url)["Messages"]
    client.delete_message(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"])
    with pytest.raises(ClientError) as e:
        client.change_message_visibility(QueueUrl=url, ReceiptHandle=third["ReceiptHandle"], VisibilityTimeout=5)
    assert client_error(e)[0] in ("AWS.SimpleQueueService.MessageNotInflight", "MessageNotInflight")


def test_delay_seconds(client):
    url = client.create_queue(QueueName=qname("delay"), Attributes={"DelaySeconds": "1"})["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="later")
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert "Messages" not in client.receive_message(QueueUrl=url)
    assert client.receive_message(QueueUrl=url, WaitTimeSeconds=3)["Messages"][0]["Body"] == "later"


def test_dead_letter_queue_and_move_task_back(client, server):
    dlq_name, src_name = qname("dlq"), qname("src")
    dlq = client.create_queue(QueueName=dlq_name)["QueueUrl"]
    src = client.create_queue(QueueName=src_name, Attributes={
        "VisibilityTimeout": "0",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn(dlq_name), "maxReceiveCount": 2})})["QueueUrl"]
    client.send_message(QueueUrl=src, MessageBody="poison")
    for _ in range(2):
        assert client.receive_message(QueueUrl=src)["Messages"][0]["Body"] == "poison"
    assert "Messages" not in client.receive_message(QueueUrl=src)
    [dead] = client.receive_message(QueueUrl=dlq, AttributeNames=["All"], VisibilityTimeout=0)["Messages"]
    assert dead["Body"] == "poison"
    assert client.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    # StartMessageMoveTask is newer than Debian's botocore: raw JSON requests.
    status, _, out = json_call(server, "StartMessageMoveTask", {"SourceArn": arn(dlq_name)})
    assert status == 200 and out["TaskHandle"]
    deadline = time.time() + 10
    while time.time() < deadline:
        _, _, tasks = json_call(server, "ListMessageMoveTasks", {"SourceArn": arn(dlq_name)})
        if tasks["Results"][0]["Status"] == "COMPLETED":
            break
        time.sleep(0.1)
    assert tasks["Results"][0]["Status"] == "COMPLETED"
    assert tasks["Results"][0]["ApproximateNumberOfMessagesMoved"] == 1
    [back] = client.receive_message(QueueUrl=src, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert back["Body"] == "poison" and back["Attributes"]["ApproximateReceiveCount"] == "1"
    # Only dead-letter queues can be a task's source; unknown handles are not found.
    status, headers, out = json_call(server, "StartMessageMoveTask", {"SourceArn": arn(src_name)})
    assert status == 400
    status, headers, out = json_call(server, "CancelMessageMoveTask", {"TaskHandle": "nope"})
    assert status == 404 and out["__type"].endswith("ResourceNotFoundException")


def test_redrive_policy_validation(sqs):
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=qname("r"), Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arn("does-not-exist"), "maxReceiveCount": 3})})
    assert client_error(e)[0] == "InvalidParameterValue" or client_error(e)[0] == "InvalidAttributeValue"
    dlq = qname("dlq")
    sqs.create_queue(QueueName=dlq, Attributes={"RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=qname("r"), Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arn(dlq), "maxReceiveCount": 3})})
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=qname("r"), Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arn(dlq), "maxReceiveCount": 1001})})
    assert client_error(e)[0] == "InvalidAttributeValue"


# ---------------------------------------------------------------------------------------
# FIFO


def test_fifo_order_dedup_and_group_blocking(client):
    name = qname("fifo") + ".fifo"
    url = client.create_queue(QueueName=name, Attributes={"FifoQueue": "true"})["QueueUrl"]
    seqs = []
    for i in range(6):
        r = client.send_message(QueueUrl=url, MessageBody=f"{'ab'[i % 2]}{i}", MessageGroupId="ab"[i % 2],
                                MessageDeduplicationId=f"d{i}")
        seqs.append(int(r["SequenceNumber"]))
    assert seqs == sorted(seqs)
    dup = client.send_message(QueueUrl=url, MessageBody="other body", MessageGroupId="a", MessageDeduplicationId="d0")
    assert int(dup["SequenceNumber"]) == seqs[0]
    # One message of group a in flight blocks the rest of group a.
    [first] = client.receive_message(QueueUrl=url, AttributeNames=["All"])["Messages"]
    assert first["Body"] == "a0" and first["Attributes"]["MessageGroupId"] == "a"
    assert first["Attributes"]["MessageDeduplicationId"] == "d0" and first["Attributes"]["SequenceNumber"]
    rest = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in rest] == ["b1", "b3", "b5"]
    client.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    nxt = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in nxt] == ["a2", "a4"]
    for m in rest + nxt:
        client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    attrs = client.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true" and attrs["ApproximateNumberOfMessages"] == "0"


def test_fifo_content_based_dedup_and_rules(client):
    url = client.create_queue(QueueName=qname("cbd") + ".fifo",
                              Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    a = client.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    b = client.send_message(QueueUrl=url, MessageBody="same", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"]
    assert len(receive_all(client, url, 2, timeout=1.5)) == 1
    for kwargs, code in [({"MessageBody": "x"}, "MissingParameter"),
                         ({"MessageBody": "x", "MessageGroupId": "g", "DelaySeconds": 5}, "InvalidParameterValue")]:
        with pytest.raises(ClientError) as e:
            client.send_message(QueueUrl=url, **kwargs)
        assert client_error(e)[0] == code
    with pytest.raises(ClientError) as e:
        client.create_queue(QueueName=qname("nofifo"), Attributes={"FifoQueue": "true"})
    assert client_error(e)[0] == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        client.create_queue(QueueName=qname("std"), Attributes={"ContentBasedDeduplication": "true"})
    assert client_error(e)[0] == "InvalidAttributeName"


# ---------------------------------------------------------------------------------------
# Errors


def test_errors(client):
    url = client.create_queue(QueueName=qname("err"))["QueueUrl"]
    cases = [
        (lambda: client.send_message(QueueUrl=url.rsplit("/", 1)[0] + "/missing", MessageBody="x"),
         ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")),
        (lambda: client.create_queue(QueueName="bad name!"), ("InvalidParameterValue",)),
        (lambda: client.create_queue(QueueName="x" * 81), ("InvalidParameterValue",)),
        (lambda: client.create_queue(QueueName=qname(), Attributes={"VisibilityTimeout": "43201"}),
         ("InvalidAttributeValue",)),
        (lambda: client.create_queue(QueueName=qname(), Attributes={"MessageRetentionPeriod": "59"}),
         ("InvalidAttributeValue",)),
        (lambda: client.set_queue_attributes(QueueUrl=url, Attributes={"QueueArn": "x"}), ("InvalidAttributeName",)),
        (lambda: client.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"]), ("InvalidAttributeName",)),
        (lambda: client.send_message(QueueUrl=url, MessageBody="x" * 262145), ("InvalidParameterValue",)),
        (lambda: client.send_message(QueueUrl=url, MessageBody="x" * 262000, MessageAttributes={
            "a": {"DataType": "String", "StringValue": "y" * 200}}), ("InvalidParameterValue",)),
        (lambda: client.send_message(QueueUrl=url, MessageBody="bad \x01 char"), ("InvalidMessageContents",)),
        (lambda: client.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
            "n": {"DataType": "Number", "StringValue": "abc"}}), ("InvalidParameterValue",)),
        (lambda: client.send_message(QueueUrl=url, MessageBody="x", MessageAttributes={
            "AWS.reserved": {"DataType": "String", "StringValue": "v"}}), ("InvalidParameterValue",)),
        (lambda: client.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901), ("InvalidParameterValue",)),
        (lambda: client.receive_message(QueueUrl=url, MaxNumberOfMessages=11), ("InvalidParameterValue",)),
        (lambda: client.receive_message(QueueUrl=url, WaitTimeSeconds=21), ("InvalidParameterValue",)),
        (lambda: client.delete_message(QueueUrl=url, ReceiptHandle="garbage"), ("ReceiptHandleIsInvalid",)),
    ]
    for call, codes in cases:
        with pytest.raises(ClientError) as e:
            call()
        assert client_error(e)[0] in codes, (codes, e.value.response)
        assert client_error(e)[1] == 400


def test_json_errors_carry_the_query_code(server):
    status, headers, body = json_call(server, "GetQueueUrl", {"QueueName": "no-such-queue-" + uuid.uuid4().hex})
    assert status == 400
    assert body["__type"] == "com.amazonaws.sqs#QueueDoesNotExist"
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    status, headers, body = json_call(server, "CreateQueue", {"QueueName": "a b"})
    assert status == 400 and headers["x-amzn-query-error"] == "InvalidParameterValue;Sender"


def test_cli(aws):
    name = qname("cli")
    url = aws.json("sqs", "create-queue", "--queue-name", name,
                   "--attributes", "VisibilityTimeout=20,DelaySeconds=0")["QueueUrl"]
    assert aws.json("sqs", "get-queue-url", "--queue-name", name)["QueueUrl"] == url
    sent = aws.json("sqs", "send-message", "--queue-url", url, "--message-body", "from the cli",
                    "--message-attributes", '{"k":{"DataType":"String","StringValue":"v"}}')
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes({"k": {"DataType": "String", "StringValue": "v"}})
    got = aws.json("sqs", "receive-message", "--queue-url", url, "--attribute-names", "All",
                   "--message-attribute-names", "All", "--wait-time-seconds", "1")
    [m] = got["Messages"]
    assert m["Body"] == "from the cli" and m["MessageAttributes"]["k"]["StringValue"] == "v"
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    aws("sqs", "delete-message", "--queue-url", url, "--receipt-handle", m["ReceiptHandle"])
    attrs = aws.json("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")["Attributes"]
    assert attrs["VisibilityTimeout"] == "20" and attrs["ApproximateNumberOfMessages"] == "0"
    assert url in aws.json("sqs", "list-queues", "--queue-name-prefix", name)["QueueUrls"]
    out = aws("sqs", "get-queue-url", "--queue-name", name + "-missing", check=False)
    assert out.returncode != 0 and "AWS.SimpleQueueService.NonExistentQueue" in out.stderr
    out = aws("sqs", "create-queue", "--queue-name", "bad name", check=False)
    assert out.returncode != 0 and "InvalidParameterValue" in out.stderr
    aws("sqs", "delete-queue", "--queue-url", url)


# ---------------------------------------------------------------------------------------
# Durability


def test_messages_survive_kill(server_factory):
    srv = server_factory()
    c = make_client("sqs", srv.endpoint)
    url = c.create_queue(QueueName="durable")["QueueUrl"]
    fifo = c.create_queue(QueueName="durable.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    c.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)])
    for i in range(3):
        c.send_message(QueueUrl=fifo, MessageBody=f"f{i}", MessageGroupId="g", MessageDeduplicationId=f"d{i}")
    [inflight] = c.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    deleted = c.receive_message(QueueUrl=url)["Messages"][0]
    c.delete_message(QueueUrl=url, ReceiptHandle=deleted["ReceiptHandle"])
    srv.kill()
    srv.start()
    c = make_client("sqs", srv.endpoint)
    url = c.get_queue_url(QueueName="durable")["QueueUrl"]
    got = receive_all(c, url, 9, timeout=10, AttributeNames=["All"])
    bodies = sorted(m["Body"] for m in got)
    assert len(bodies) == 9 and deleted["Body"] not in bodies
    again = next(m for m in got if m["Body"] == inflight["Body"])
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    fifo = c.get_queue_url(QueueName="durable.fifo")["QueueUrl"]
    # The deduplication window holds across the restart.
    dup = c.send_message(QueueUrl=fifo, MessageBody="again", MessageGroupId="g", MessageDeduplicationId="d0")
    order = [m["Body"] for m in c.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]]
    assert order == ["f0", "f1", "f2"] and dup["MessageId"]
