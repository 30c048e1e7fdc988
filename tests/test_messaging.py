"""SQS and SNS wired to the other services: EventBridge rule targets and dead-letter
queues, Step Functions sqs:sendMessage / sns:publish (with .waitForTaskToken), S3 bucket
notifications to queues and topics, SNS fan-out to SQS. Real boto3 and AWS CLI clients
against a running server."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import client_error, make_client, unique_name, wait_for

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def events(server):
    return make_client("events", server.endpoint)


@pytest.fixture(scope="module")
def sfn(server):
    return make_client("stepfunctions", server.endpoint)


@pytest.fixture
def queue(sqs):
    made = []

    def create(prefix="q", **attributes):
        name = unique_name(prefix)
        if attributes.get("FifoQueue") == "true":
            name += ".fifo"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        made.append(url)
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        return url, arn

    yield create
    for url in made:
        sqs.delete_queue(QueueUrl=url)


def receive(sqs, url, count=1, timeout=15):
    """Receives (and deletes) `count` messages, waiting up to `timeout` seconds."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < count and time.monotonic() < deadline:
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  MessageAttributeNames=["All"])
        for m in out.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert len(got) >= count, f"expected {count} messages on {url}, got {len(got)}"
    return got


def test_eventbridge_rule_delivers_to_sqs_and_sns(events, sqs, sns, queue):
    url, arn = queue("eb-target")
    fan_url, fan_arn = queue("eb-fanout")
    topic = sns.create_topic(Name=unique_name("eb-topic"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fan_arn,
                  Attributes={"RawMessageDelivery": "true"})
    rule = unique_name("to-sqs")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["orders.test"]}))
    try:
        out = events.put_targets(Rule=rule, Targets=[
            {"Id": "q", "Arn": arn},
            {"Id": "t", "Arn": topic, "InputPath": "$.detail"}])
        assert out["FailedEntryCount"] == 0, out
        events.put_events(Entries=[{"Source": "orders.test", "DetailType": "Order Placed",
                                    "Detail": json.dumps({"order_id": 7})}])
        [m] = receive(sqs, url)
        body = json.loads(m["Body"])
        assert body["source"] == "orders.test" and body["detail"] == {"order_id": 7}, body
        [f] = receive(sqs, fan_url)
        assert json.loads(f["Body"]) == {"order_id": 7}, f
    finally:
        events.remove_targets(Rule=rule, Ids=["q", "t"])
        events.delete_rule(Name=rule)
        sns.delete_topic(TopicArn=topic)


def test_eventbridge_dead_letter_queue_gets_undeliverable_events(events, sqs, queue):
    dlq_url, dlq_arn = queue("eb-dlq")
    rule = unique_name("dlq")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["dlq.test"]}))
    missing = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{unique_name('gone')}"
    try:
        out = events.put_targets(Rule=rule, Targets=[{
            "Id": "gone", "Arn": missing,
            "RetryPolicy": {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60},
            "DeadLetterConfig": {"Arn": dlq_arn}}])
        assert out["FailedEntryCount"] == 0, out
        events.put_events(Entries=[{"Source": "dlq.test", "DetailType": "x", "Detail": "{\"n\": 1}"}])
        [m] = receive(sqs, dlq_url)
        assert json.loads(m["Body"])["detail"] == {"n": 1}
        attrs = m["MessageAttributes"]
        assert attrs["TARGET_ARN"]["StringValue"] == missing, attrs
        assert attrs["RULE_ARN"]["StringValue"].endswith(f"rule/{rule}"), attrs
        assert "ERROR_MESSAGE" in attrs and "ERROR_CODE" in attrs
    finally:
        events.remove_targets(Rule=rule, Ids=["gone"])
        events.delete_rule(Name=rule)


def wait_execution(sfn, arn, timeout=30):
    return wait_for(lambda: (lambda d: d if d["status"] != "RUNNING" else None)(
        sfn.describe_execution(executionArn=arn)), timeout, interval=0.1, what="the execution")


def test_step_functions_send_message_publish_and_task_token(sfn, sqs, sns, queue):
    url, arn = queue("sfn-q")
    notify_url, notify_arn = queue("sfn-notify")
    topic = sns.create_topic(Name=unique_name("sfn-topic"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=notify_arn)
    definition = {
        "StartAt": "Send",
        "States": {
            "Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                     "Parameters": {"QueueUrl": url, "MessageBody": {"job.$": "$.job"}},
                     "ResultPath": "$.sent", "Next": "Wait"},
            "Wait": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                     "Parameters": {"QueueUrl": url,
                                    "MessageBody": {"token.$": "$$.Task.Token", "job.$": "$.job"}},
                     "ResultPath": "$.worker", "Next": "Notify"},
            "Notify": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
                       "Parameters": {"TopicArn": topic, "Subject": "ETL finished",
                                      "Message": {"status": "SUCCEEDED", "job.$": "$.job"}},
                       "End": True},
        }}
    machine = sfn.create_state_machine(name=unique_name("messaging"), definition=json.dumps(definition),
                                       roleArn=f"arn:aws:iam::{ACCOUNT}:role/sfn")["stateMachineArn"]
    try:
        ex = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"job": "etl-events"}))["executionArn"]
        first, second = receive(sqs, url, 2)
        assert json.loads(first["Body"]) == {"job": "etl-events"}
        task = json.loads(second["Body"])
        assert task["job"] == "etl-events" and task["token"]
        assert sfn.describe_execution(executionArn=ex)["status"] == "RUNNING"
        sfn.send_task_success(taskToken=task["token"], output=json.dumps({"rows": 42}))
        done = wait_execution(sfn, ex)
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"])["MessageId"]
        [n] = receive(sqs, notify_url)
        note = json.loads(n["Body"])
        assert note["Type"] == "Notification" and note["TopicArn"] == topic and note["Subject"] == "ETL finished"
        assert json.loads(note["Message"]) == {"status": "SUCCEEDED", "job": "etl-events"}

        # A queue that does not exist fails the task with SQS's error, catchable.
        bad = dict(definition)
        bad["States"] = {"Send": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                                  "Parameters": {"QueueUrl": url + "-missing", "MessageBody": "x"}, "End": True}}
        sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(bad))
        ex = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        done = wait_execution(sfn, ex)
        assert done["status"] == "FAILED" and done["error"].startswith("SQS."), done
    finally:
        sfn.delete_state_machine(stateMachineArn=machine)
        sns.delete_topic(TopicArn=topic)


def test_s3_notifications_to_queue_and_topic(s3, sqs, sns, queue, bucket, aws):
    url, arn = queue("s3-events")
    fan_url, fan_arn = queue("s3-fanout")
    topic = sns.create_topic(Name=unique_name("s3-topic"))["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fan_arn)
    config = {
        "QueueConfigurations": [{"Id": "raw-json", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "raw/"},
                                                                    {"Name": "suffix", "Value": ".json"}]}}}],
        "TopicConfigurations": [{"Id": "deletes", "TopicArn": topic, "Events": ["s3:ObjectRemoved:*"]}],
    }
    aws("s3api", "put-bucket-notification-configuration", "--bucket", bucket,
        "--notification-configuration", json.dumps(config))
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    assert got["QueueConfigurations"][0]["QueueArn"] == arn
    assert got["QueueConfigurations"][0]["Id"] == "raw-json"
    assert got["TopicConfigurations"][0]["TopicArn"] == topic
    # S3 announces itself to each new destination with a test event.
    [test] = receive(sqs, url)
    assert json.loads(test["Body"])["Event"] == "s3:TestEvent"
    [test] = receive(sqs, fan_url)
    assert json.loads(json.loads(test["Body"])["Message"])["Event"] == "s3:TestEvent"

    s3.put_object(Bucket=bucket, Key="raw/2025 08/a.json", Body=b'{"a":1}')
    s3.put_object(Bucket=bucket, Key="raw/skip.csv", Body=b"a\n")      # suffix does not match
    s3.put_object(Bucket=bucket, Key="other/b.json", Body=b"{}")       # prefix does not match
    [m] = receive(sqs, url)
    [record] = json.loads(m["Body"])["Records"]
    assert record["eventSource"] == "aws:s3" and record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["configurationId"] == "raw-json"
    assert record["s3"]["bucket"]["name"] == bucket
    assert record["s3"]["object"]["key"] == "raw/2025+08/a.json"
    assert record["s3"]["object"]["size"] == 7
    time.sleep(0.5)
    assert not sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages")

    s3.delete_object(Bucket=bucket, Key="other/b.json")
    [n] = receive(sqs, fan_url)
    note = json.loads(n["Body"])
    assert note["Subject"] == "Amazon S3 Notification"
    [record] = json.loads(note["Message"])["Records"]
    assert record["eventName"] == "ObjectRemoved:Delete" and record["s3"]["object"]["key"] == "other/b.json"

    # A destination that does not exist is refused, and the configuration kept.
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn + "-missing", "Events": ["s3:ObjectCreated:*"]}]})
    assert client_error(e) == ("InvalidArgument", 400)
    assert s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"][0]["QueueArn"] == arn
    # Overlapping configurations are refused as S3 does.
    with pytest.raises(ClientError) as e:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]},
                                    {"QueueArn": fan_arn, "Events": ["s3:ObjectCreated:Put"]}]})
    assert client_error(e)[0] == "InvalidArgument"
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    sns.delete_topic(TopicArn=topic)
