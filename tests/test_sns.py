"""SNS: topics, subscriptions, publishing, filter policies, http/email delivery, FIFO rules,
errors, and durability of accepted messages.

http(s) subscriptions are exercised against a local http.server the test starts (the
confirmation handshake through the unsigned SubscribeURL, notifications, raw delivery,
retries after 500s). Email subscriptions write to <data>/sns/outbox/<address>.mbox. Filter
policies are checked through http endpoints, so they need no SQS. SQS delivery tests run
only when the server also serves SQS (GET /health lists its services).
"""

import json
import re
import threading
import time
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import make_client

ACCOUNT = "000000000000"
REGION = "us-east-1"


def services(server):
    with urllib.request.urlopen(f"{server.endpoint}/health", timeout=5) as r:
        return json.load(r).get("services", {})


@pytest.fixture(scope="module", autouse=True)
def need_sns(server):
    assert "sns" in services(server), "the server does not serve SNS"


@pytest.fixture
def need_sqs(server):
    assert "sqs" in services(server), "the server does not serve SQS"
    return make_client("sqs", server.endpoint)


def name(prefix="t"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def err(excinfo):
    e = excinfo.value
    return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Message"]


def wait_until(pred, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Endpoint:
    """A local HTTP endpoint recording what SNS POSTs; answers `fail` 500s to notifications first."""

    def __init__(self, fail=0):
        self.requests = []
        self.fail = fail
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer.lock:
                    outer.requests.append((headers, body))
                    failing = headers.get("x-amz-sns-message-type") == "Notification" and outer.fail > 0
                    if failing:
                        outer.fail -= 1
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook?x=1"

    def of_type(self, kind):
        with self.lock:
            return [(h, b) for h, b in self.requests if h.get("x-amz-sns-message-type") == kind]

    def notifications(self):
        return [(h, b) for h, b in self.of_type("Notification")]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def endpoint():
    ep = Endpoint()
    yield ep
    ep.close()


def subscribe_http(sns, topic, ep, attributes=None):
    """Subscribes `ep`, answers the confirmation through its SubscribeURL, returns the ARN."""
    r = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=ep.url, Attributes=attributes or {})
    assert r["SubscriptionArn"] == "pending confirmation"
    confirmations = wait_until(lambda: ep.of_type("SubscriptionConfirmation"), what="SubscriptionConfirmation")
    headers, body = confirmations[-1]
    doc = json.loads(body)
    assert doc["Type"] == "SubscriptionConfirmation" and doc["TopicArn"] == topic and doc["Token"]
    with urllib.request.urlopen(doc["SubscribeURL"], timeout=10) as r:  # unsigned GET, as on AWS
        xml = r.read().decode()
    arn = re.search(r"<SubscriptionArn>(.*?)</SubscriptionArn>", xml).group(1)
    assert arn.startswith(topic + ":")
    return arn


# ---------------------------------------------------------------------------------------
# Topics


def test_topic_lifecycle_and_attributes(sns):
    n = name("life")
    arn = sns.create_topic(Name=n)["TopicArn"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:{n}"
    assert sns.create_topic(Name=n)["TopicArn"] == arn  # idempotent
    topics = [t["TopicArn"] for p in sns.get_paginator("list_topics").paginate() for t in p["Topics"]]
    assert arn in topics
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["TopicArn"] == arn and attrs["Owner"] == ACCOUNT
    assert attrs["SubscriptionsConfirmed"] == "0" and attrs["SubscriptionsPending"] == "0"
    assert json.loads(attrs["Policy"])["Statement"][0]["Resource"] == arn
    assert "EffectiveDeliveryPolicy" in attrs
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Orders")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Orders"
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=n, Attributes={"DisplayName": "Other"})
    assert err(e)[0] == "InvalidParameter" and "different attributes" in err(e)[2]
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)  # idempotent
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=arn)
    assert err(e)[:2] == ("NotFound", 404) and err(e)[2] == "Topic does not exist"


def test_topic_names_are_checked(sns):
    for bad in ["", "has space", "a" * 257, "dot.name", "x.fifo"]:
        with pytest.raises(ClientError) as e:
            sns.create_topic(Name=bad)
        assert err(e)[:2] == ("InvalidParameter", 400), bad
    assert sns.create_topic(Name="a" * 256)["TopicArn"].endswith("a" * 256)
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name("nofifo"), Attributes={"FifoTopic": "true"})
    assert err(e)[0] == "InvalidParameter" and "must end with .fifo" in err(e)[2]
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=sns.create_topic(Name=name())["TopicArn"], AttributeName="Bogus",
                                 AttributeValue="1")
    assert err(e)[0] == "InvalidParameter"


def test_fifo_topic_rules(sns, endpoint):
    arn = sns.create_topic(Name=name("f") + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true" and attrs["ContentBasedDeduplication"] == "false"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="m")
    assert err(e)[0] == "InvalidParameter" and "MessageGroupId" in err(e)[2]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=arn, Message="m", MessageGroupId="g")
    assert "ContentBasedDeduplication" in err(e)[2]
    r1 = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="d1")
    assert len(r1["SequenceNumber"]) == 20
    r2 = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="d1")
    assert r2["MessageId"] == r1["MessageId"]  # a duplicate within 5 minutes
    r3 = sns.publish(TopicArn=arn, Message="m", MessageGroupId="g", MessageDeduplicationId="d2")
    assert int(r3["SequenceNumber"]) > int(r1["SequenceNumber"])
    sns.set_topic_attributes(TopicArn=arn, AttributeName="ContentBasedDeduplication", AttributeValue="true")
    a = sns.publish(TopicArn=arn, Message="same body", MessageGroupId="g")
    b = sns.publish(TopicArn=arn, Message="same body", MessageGroupId="g")
    assert a["MessageId"] == b["MessageId"]
    # Only SQS endpoints subscribe to FIFO topics.
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=arn, Protocol="http", Endpoint=endpoint.url)
    assert err(e)[0] == "InvalidParameter"
    # Standard topics refuse deduplication ids and content-based deduplication.
    std = sns.create_topic(Name=name())["TopicArn"]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=std, Message="m", MessageDeduplicationId="d")
    assert err(e)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=std, AttributeName="ContentBasedDeduplication", AttributeValue="true")
    assert err(e)[0] == "InvalidParameter"


def test_tags(sns):
    arn = sns.create_topic(Name=name(), Tags=[{"Key": "team", "Value": "data"}])["TopicArn"]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}])
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"team": "data", "env": "dev"}
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(ClientError) as e:
        sns.list_tags_for_resource(ResourceArn=arn + "-missing")
    assert err(e)[:2] == ("ResourceNotFound", 404)
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert err(e)[0] == "TagLimitExceeded"


# ---------------------------------------------------------------------------------------
# Subscriptions and http delivery


def test_http_confirmation_and_delivery(sns, endpoint):
    topic = sns.create_topic(Name=name("http"))["TopicArn"]
    r = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url, ReturnSubscriptionArn=True)
    pending_arn = r["SubscriptionArn"]
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert listed == [{"SubscriptionArn": "PendingConfirmation", "Owner": ACCOUNT, "Protocol": "http",
                       "Endpoint": endpoint.url, "TopicArn": topic}]
    assert sns.get_subscription_attributes(SubscriptionArn=pending_arn)["Attributes"]["PendingConfirmation"] == "true"
    # Nothing is delivered to a pending subscription.
    sns.publish(TopicArn=topic, Message="before confirmation")
    confirmation = wait_until(lambda: endpoint.of_type("SubscriptionConfirmation"))
    headers, body = confirmation[0]
    doc = json.loads(body)
    assert headers["x-amz-sns-topic-arn"] == topic
    assert headers["x-amz-sns-message-id"] == doc["MessageId"]
    token = doc["Token"]
    # ConfirmSubscription through the API (signed) with the token.
    arn = sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"]
    assert arn == pending_arn
    attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attrs["SubscriptionsConfirmed"] == "1" and attrs["SubscriptionsPending"] == "0"
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn=topic, Token="wrong")
    assert err(e)[0] == "InvalidParameter"

    mid = sns.publish(TopicArn=topic, Message="hello http", Subject="greeting",
                      MessageAttributes={"store": {"DataType": "String", "StringValue": "s1"},
                                         "n": {"DataType": "Number", "StringValue": "42"}})["MessageId"]
    headers, body = wait_until(endpoint.notifications, what="notification")[0]
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-subscription-arn"] == arn
    assert headers["content-type"].startswith("text/plain")
    assert body.startswith('{\n  "Type" : "Notification",\n')
    doc = json.loads(body)
    assert doc["MessageId"] == mid and doc["Message"] == "hello http" and doc["Subject"] == "greeting"
    assert doc["TopicArn"] == topic and doc["SignatureVersion"] == "1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["Timestamp"])
    assert doc["MessageAttributes"] == {"n": {"Type": "Number", "Value": "42"},
                                        "store": {"Type": "String", "Value": "s1"}}
    assert "Action=Unsubscribe" in doc["UnsubscribeURL"]
    assert len(endpoint.notifications()) == 1  # "before confirmation" never arrived

    # Raw delivery: the body is the message itself.
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue="true")
    sns.publish(TopicArn=topic, Message="raw body")
    headers, body = wait_until(lambda: endpoint.notifications()[1:], what="raw notification")[0]
    assert body == "raw body" and headers["x-amz-sns-rawdelivery"] == "true"

    sns.unsubscribe(SubscriptionArn=arn)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsDeleted"] == "1"
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn=arn)
    assert err(e)[:2] == ("NotFound", 404)


def test_http_delivery_retries_after_errors(sns):
    ep = Endpoint(fail=2)
    try:
        topic = sns.create_topic(Name=name("retry"))["TopicArn"]
        policy = {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 2, "numRetries": 3,
                                         "numNoDelayRetries": 0, "numMinDelayRetries": 0,
                                         "numMaxDelayRetries": 0, "backoffFunction": "linear"}}
        arn = subscribe_http(sns, topic, ep, {"DeliveryPolicy": json.dumps(policy)})
        eff = json.loads(sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["EffectiveDeliveryPolicy"])
        assert eff["healthyRetryPolicy"]["minDelayTarget"] == 1
        t0 = time.monotonic()
        mid = sns.publish(TopicArn=topic, Message="retry me")["MessageId"]
        attempts = wait_until(lambda: len(ep.notifications()) >= 3 and ep.notifications(), timeout=30,
                              what="three attempts")
        assert time.monotonic() - t0 >= 1.0  # the retries waited
        assert {json.loads(b)["MessageId"] for _, b in attempts} == {mid}
        time.sleep(0.5)
        assert len(ep.notifications()) == 3  # the third attempt succeeded: no more
    finally:
        ep.close()


def test_subscribe_checks_endpoints_and_protocols(sns, endpoint, server):
    topic = sns.create_topic(Name=name())["TopicArn"]
    cases = [("http", "https://example.com/x"), ("https", "http://example.com/x"), ("email", "not-an-address"),
             ("sqs", "not-an-arn"), ("carrier-pigeon", "x"), ("lambda", "not-an-arn")]
    for protocol, ep in cases:
        with pytest.raises(ClientError) as e:
            sns.subscribe(TopicArn=topic, Protocol=protocol, Endpoint=ep)
        assert err(e)[:2] == ("InvalidParameter", 400), (protocol, ep)
    if "lambda" not in services(server):
        with pytest.raises(ClientError) as e:
            sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint="arn:aws:lambda:us-east-1:1:function:f")
        assert err(e)[2] == "Invalid parameter: Endpoint Reason: Lambda is not available in this Sluice"
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic + "-missing", Protocol="http", Endpoint=endpoint.url)
    assert err(e)[:2] == ("NotFound", 404)
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url,
                      Attributes={"FilterPolicyScope": "Everything"})
    assert err(e)[2] == ("Invalid parameter: FilterPolicyScope: Invalid value [Everything]. "
                         "Please use either MessageBody or MessageAttributes")


def test_list_subscriptions_pages_by_100(sns):
    topic = sns.create_topic(Name=name("page"))["TopicArn"]
    numbers = [f"+1555{i:07d}" for i in range(105)]
    for n in numbers:  # sms subscriptions are confirmed at once
        sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint=n)
    first = sns.list_subscriptions_by_topic(TopicArn=topic)
    assert len(first["Subscriptions"]) == 100 and first["NextToken"]
    second = sns.list_subscriptions_by_topic(TopicArn=topic, NextToken=first["NextToken"])
    assert len(second["Subscriptions"]) == 5 and "NextToken" not in second
    assert [s["Endpoint"] for s in first["Subscriptions"] + second["Subscriptions"]] == numbers
    everything = [s for p in sns.get_paginator("list_subscriptions").paginate() for s in p["Subscriptions"]]
    assert sum(s["TopicArn"] == topic for s in everything) == 105
    # The same endpoint again is the same subscription.
    again = sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint=numbers[0])["SubscriptionArn"]
    assert again == first["Subscriptions"][0]["SubscriptionArn"]
    sns.delete_topic(TopicArn=topic)
    everything = [s for p in sns.get_paginator("list_subscriptions").paginate() for s in p["Subscriptions"]]
    assert not any(s["TopicArn"] == topic for s in everything)


# ---------------------------------------------------------------------------------------
# Filter policies


def test_filter_policy_on_message_attributes(sns):
    topic = sns.create_topic(Name=name("filt"))["TopicArn"]
    ep = Endpoint()
    try:
        policy = {"store": ["example_corp"], "price": [{"numeric": [">", 0, "<=", 150]}],
                  "interests": [{"prefix": "rug"}]}
        arn = subscribe_http(sns, topic, ep, {"FilterPolicy": json.dumps(policy)})
        attrs = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
        assert json.loads(attrs["FilterPolicy"]) == policy and attrs["FilterPolicyScope"] == "MessageAttributes"

        def publish(text, **attrs):
            ma = {}
            for k, (t, v) in attrs.items():
                ma[k] = {"DataType": t, "StringValue": v}
            sns.publish(TopicArn=topic, Message=text, MessageAttributes=ma)

        publish("match", store=("String", "example_corp"), price=("Number", "100"),
                interests=("String.Array", '["soccer","rugby"]'))
        publish("price too high", store=("String", "example_corp"), price=("Number", "151"),
                interests=("String.Array", '["rugby"]'))
        publish("price is a string", store=("String", "example_corp"), price=("String", "100"),
                interests=("String", "rugby"))
        publish("no attributes")
        publish("match 2", store=("String", "example_corp"), price=("Number", "1.5e2"), interests=("String", "rugby"))
        got = wait_until(lambda: len(ep.notifications()) >= 2 and ep.notifications(), what="2 matches")
        time.sleep(0.5)
        assert sorted(json.loads(b)["Message"] for _, b in ep.notifications()) == ["match", "match 2"]
        # Removing the policy lets everything through.
        sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue="")
        publish("anything")
        wait_until(lambda: any(json.loads(b)["Message"] == "anything" for _, b in ep.notifications()))
        assert got
    finally:
        ep.close()


def test_filter_policy_on_message_body(sns):
    topic = sns.create_topic(Name=name("body"))["TopicArn"]
    ep = Endpoint()
    try:
        policy = {"order": {"status": ["paid"], "total": [{"numeric": [">=", 10]}]}, "$or": [
            {"region": ["eu"]}, {"vip": [True]}]}
        arn = subscribe_http(sns, topic, ep, {"FilterPolicy": json.dumps(policy), "FilterPolicyScope": "MessageBody"})
        assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["FilterPolicyScope"] == "MessageBody"
        bodies = [
            {"order": {"status": "paid", "total": 12}, "region": "eu"},      # match
            {"order": {"status": "paid", "total": 12}, "region": "us"},      # no
            {"order": {"status": "open", "total": 12}, "vip": True},         # no
            {"order": {"status": "paid", "total": 99}, "vip": True},         # match
        ]
        for b in bodies:
            sns.publish(TopicArn=topic, Message=json.dumps(b))
        sns.publish(TopicArn=topic, Message="not json")
        wait_until(lambda: len(ep.notifications()) >= 2, what="2 matches")
        time.sleep(0.5)
        got = [json.loads(json.loads(b)["Message"]) for _, b in ep.notifications()]
        assert sorted(g["order"]["total"] for g in got) == [12, 99]
    finally:
        ep.close()


def test_invalid_filter_policies(sns, endpoint):
    topic = sns.create_topic(Name=name())["TopicArn"]
    arn = sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+15550000001")["SubscriptionArn"]
    cases = {
        json.dumps({k: ["v"] for k in "abcdef"}): "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys",
        json.dumps({"a": list(range(10)), "b": list(range(4)), "c": list(range(4))}):
            "Invalid parameter: FilterPolicy: Filter policy is too complex",
        json.dumps({"a": []}): "Invalid parameter: FilterPolicy: Empty arrays are not allowed",
        json.dumps({"a": {"b": ["c"]}}):
            "Invalid parameter: FilterPolicy: Filter policy scope MessageAttributes does not support nested filter policy",
        json.dumps({"a": [{"wildcard": "x*"}]}): "Invalid parameter: FilterPolicy: Unrecognized match type wildcard",
        '{"a": ["x"': "Invalid parameter: FilterPolicy:",
    }
    for policy, message in cases.items():
        with pytest.raises(ClientError) as e:
            sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy", AttributeValue=policy)
        assert err(e)[:2] == ("InvalidParameter", 400)
        assert err(e)[2].startswith(message), (policy, err(e)[2])
    # The subscription kept no policy.
    assert "FilterPolicy" not in sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url,
                      Attributes={"FilterPolicy": json.dumps({"a": []})})
    assert err(e)[0] == "InvalidParameter"


# ---------------------------------------------------------------------------------------
# Email outbox


def test_email_outbox(sns, server):
    topic = sns.create_topic(Name=name("mail"))["TopicArn"]
    address = f"{uuid.uuid4().hex[:8]}@example.com"
    r = sns.subscribe(TopicArn=topic, Protocol="email", Endpoint=address)
    assert r["SubscriptionArn"] == "pending confirmation"
    mbox = server.data_dir / "sns" / "outbox" / f"{address}.mbox"
    wait_until(lambda: mbox.exists() and "ConfirmSubscription" in mbox.read_text(), what="confirmation mail")
    text = mbox.read_text()
    assert text.startswith("From no-reply@sns.amazonaws.com ")
    assert f"To: {address}" in text and "Subject: AWS Notification - Subscription Confirmation" in text
    url = re.search(r"(http://\S+Action=ConfirmSubscription\S+)", text).group(1)
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert resp.status == 200
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subs[0]["SubscriptionArn"].startswith(topic + ":")
    sns.publish(TopicArn=topic, Message="Your report is ready.", Subject="Report")
    wait_until(lambda: "Your report is ready." in mbox.read_text(), what="notification mail")
    text = mbox.read_text()
    assert "Subject: Report" in text and "Action=Unsubscribe" in text

    # email-json gets the JSON envelope.
    address2 = f"{uuid.uuid4().hex[:8]}@example.com"
    sns.subscribe(TopicArn=topic, Protocol="email-json", Endpoint=address2)
    mbox2 = server.data_dir / "sns" / "outbox" / f"{address2}.mbox"
    wait_until(lambda: mbox2.exists() and "SubscribeURL" in mbox2.read_text())
    token = re.search(r'"Token" : "([0-9a-f]+)"', mbox2.read_text()).group(1)
    sns.confirm_subscription(TopicArn=topic, Token=token)
    sns.publish(TopicArn=topic, Message="json mail")
    wait_until(lambda: '"Message" : "json mail"' in mbox2.read_text())


def test_cli_topic_publish_and_email(aws, server):
    n = name("cli")
    arn = aws.json("sns", "create-topic", "--name", n)["TopicArn"]
    assert arn.endswith(":" + n)
    assert arn in [t["TopicArn"] for t in aws.json("sns", "list-topics")["Topics"]]
    aws("sns", "set-topic-attributes", "--topic-arn", arn, "--attribute-name", "DisplayName",
        "--attribute-value", "CLI topic")
    attrs = aws.json("sns", "get-topic-attributes", "--topic-arn", arn)["Attributes"]
    assert attrs["DisplayName"] == "CLI topic"
    sub = aws.json("sns", "subscribe", "--topic-arn", arn, "--protocol", "sms", "--notification-endpoint",
                   "+15551234567")["SubscriptionArn"]
    out = aws.json("sns", "publish", "--topic-arn", arn, "--message", "from the cli",
                   "--message-attributes", '{"k":{"DataType":"String","StringValue":"v"}}')
    assert re.fullmatch(r"[0-9a-f-]{36}", out["MessageId"])
    outbox = server.data_dir / "sns" / "outbox" / "+15551234567.sms.jsonl"
    wait_until(lambda: outbox.exists() and "from the cli" in outbox.read_text(), what="sms outbox")
    aws("sns", "unsubscribe", "--subscription-arn", sub)
    bad = aws("sns", "publish", "--topic-arn", arn + "-nope", "--message", "x", check=False)
    assert bad.returncode != 0 and "NotFound" in bad.stderr and "Topic does not exist" in bad.stderr
    aws("sns", "delete-topic", "--topic-arn", arn)


# ---------------------------------------------------------------------------------------
# Publish errors and batches


def test_publish_errors(sns):
    topic = sns.create_topic(Name=name("err"))["TopicArn"]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:{name('missing')}", Message="x")
    assert err(e) [:3] == ("NotFound", 404, "Topic does not exist")
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="x" * (256 * 1024 + 1))
    assert err(e) == ("InvalidParameter", 400, "Invalid parameter: Message too long")
    # The limit counts the attributes too.
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="x" * (256 * 1024 - 10),
                    MessageAttributes={"attr": {"DataType": "String", "StringValue": "0123456789"}})
    assert err(e)[2] == "Invalid parameter: Message too long"
    sns.publish(TopicArn=topic, Message="x" * (256 * 1024))
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="")
    assert err(e)[2] == "Invalid parameter: Empty message"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="x", MessageAttributes={"n": {"DataType": "Number", "StringValue": "abc"}})
    assert err(e)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="x", MessageAttributes={"n": {"DataType": "Weird", "StringValue": "1"}})
    assert err(e)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="{}", MessageStructure="json")
    assert err(e)[2] == "Invalid parameter: Message Structure - No default entry in JSON message body"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, Message="nope", MessageStructure="json")
    assert err(e)[2] == "Invalid parameter: Message Structure - JSON message body failed to parse"
    with pytest.raises(ClientError) as e:
        sns.publish(PhoneNumber="not-a-number", Message="x")
    assert err(e)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.publish(TargetArn=f"arn:aws:sns:{REGION}:{ACCOUNT}:endpoint/GCM/app/123", Message="x")
    assert err(e)[0] == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.publish(Message="x")
    assert err(e)[0] == "InvalidParameter"
    # TargetArn naming a topic publishes to it.
    assert sns.publish(TargetArn=topic, Message="via target")["MessageId"]


def test_message_structure_json_per_protocol(sns, endpoint, server):
    topic = sns.create_topic(Name=name("struct"))["TopicArn"]
    subscribe_http(sns, topic, endpoint)
    sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+15559990000")
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": "the default", "http": "for http", "sms": "short"}))
    _, body = wait_until(endpoint.notifications)[0]
    assert json.loads(body)["Message"] == "for http"
    outbox = server.data_dir / "sns" / "outbox" / "+15559990000.sms.jsonl"
    wait_until(lambda: outbox.exists() and '"short"' in outbox.read_text())


def test_publish_batch(sns, endpoint):
    topic = sns.create_topic(Name=name("batch"))["TopicArn"]
    subscribe_http(sns, topic, endpoint)
    entries = [{"Id": f"e{i}", "Message": f"m{i}"} for i in range(9)] + [{"Id": "bad", "Message": ""}]
    r = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
    assert sorted(s["Id"] for s in r["Successful"]) == sorted(f"e{i}" for i in range(9))
    assert r["Failed"] == [{"Id": "bad", "Code": "InvalidParameter", "Message": "Invalid parameter: Empty message",
                            "SenderFault": True}]
    wait_until(lambda: len(endpoint.notifications()) >= 9)
    assert sorted(json.loads(b)["Message"] for _, b in endpoint.notifications()) == sorted(f"m{i}" for i in range(9))
    checks = [
        ([{"Id": f"e{i}", "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest"),
        ([{"Id": "same", "Message": "a"}, {"Id": "same", "Message": "b"}], "BatchEntryIdsNotDistinct"),
        ([{"Id": "bad id!", "Message": "a"}], "InvalidBatchEntryId"),
        ([{"Id": "a", "Message": "x" * 200000}, {"Id": "b", "Message": "x" * 100000}], "BatchRequestTooLong"),
    ]
    for batch, code in checks:
        with pytest.raises(ClientError) as e:
            sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=batch)
        assert err(e)[0] == code
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic + "-missing", PublishBatchRequestEntries=[{"Id": "a", "Message": "x"}])
    assert err(e)[:2] == ("NotFound", 404)


# ---------------------------------------------------------------------------------------
# Durability


def test_accepted_messages_survive_kill_9(server_factory):
    """A publish is acknowledged only once its deliveries are durable: they resume after kill -9."""
    srv = server_factory()
    sns = make_client("sns", srv.endpoint)
    ep = Endpoint(fail=1000)  # refuses everything until the restart
    try:
        topic = sns.create_topic(Name=name("dur"))["TopicArn"]
        policy = {"healthyRetryPolicy": {"minDelayTarget": 1, "maxDelayTarget": 1, "numRetries": 100,
                                         "numNoDelayRetries": 0, "numMinDelayRetries": 0,
                                         "numMaxDelayRetries": 0, "backoffFunction": "linear"}}
        subscribe_http(sns, topic, ep, {"DeliveryPolicy": json.dumps(policy)})
        ids = {sns.publish(TopicArn=topic, Message=f"durable {i}")["MessageId"] for i in range(5)}
        wait_until(lambda: len(ep.notifications()) >= 5, what="first failed attempts")
        srv.kill()
        with ep.lock:
            ep.fail = 0
            ep.requests.clear()
        srv.start()
        wait_until(lambda: {json.loads(b)["MessageId"] for _, b in ep.notifications()} >= ids, timeout=30,
                   what="redelivery after restart")
        # Definitions survived too.
        sns = make_client("sns", srv.endpoint)
        assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "1"
    finally:
        ep.close()


# ---------------------------------------------------------------------------------------
# SQS delivery (needs the SQS service)


def test_sqs_delivery_envelope_raw_and_filter(sns, need_sqs):
    sqs = need_sqs
    topic = sns.create_topic(Name=name("toq"))["TopicArn"]
    q = sqs.create_queue(QueueName=name("q"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)["SubscriptionArn"]
    assert arn.startswith(topic + ":")
    sns.publish(TopicArn=topic, Message="to sqs", Subject="s",
                MessageAttributes={"a": {"DataType": "String", "StringValue": "1"}})

    def receive():
        return sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1, MaxNumberOfMessages=10,
                                   MessageAttributeNames=["All"]).get("Messages", [])

    msgs = wait_until(receive, what="sqs message")
    doc = json.loads(msgs[0]["Body"])
    assert doc["Type"] == "Notification" and doc["Message"] == "to sqs" and doc["Subject"] == "s"
    assert doc["MessageAttributes"]["a"] == {"Type": "String", "Value": "1"}
    sqs.delete_message(QueueUrl=q, ReceiptHandle=msgs[0]["ReceiptHandle"])
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue="true")
    sns.set_subscription_attributes(SubscriptionArn=arn, AttributeName="FilterPolicy",
                                    AttributeValue=json.dumps({"a": ["2"]}))
    sns.publish(TopicArn=topic, Message="filtered out", MessageAttributes={"a": {"DataType": "String", "StringValue": "1"}})
    sns.publish(TopicArn=topic, Message="raw", MessageAttributes={"a": {"DataType": "String", "StringValue": "2"}})
    msgs = wait_until(receive, what="raw sqs message")
    assert [m["Body"] for m in msgs] == ["raw"]
    assert msgs[0]["MessageAttributes"]["a"]["StringValue"] == "2"


def test_sqs_redrive_to_dead_letter_queue(sns, need_sqs):
    sqs = need_sqs
    topic = sns.create_topic(Name=name("dlq"))["TopicArn"]
    dlq = sqs.create_queue(QueueName=name("dlq"))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    missing = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name('gone')}"  # a queue that does not exist
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=missing,
                  Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
    sns.publish(TopicArn=topic, Message="undeliverable")
    msgs = wait_until(lambda: sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", []),
                      what="dead-lettered message")
    assert json.loads(msgs[0]["Body"])["Message"] == "undeliverable"
