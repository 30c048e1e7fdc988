"""Crash rounds for SQS and SNS: clients work concurrently, the server is killed with
SIGKILL at a random moment, restarted, and nothing that was acknowledged is lost.

Each round prints its seed (`-s` shows it; a failure report names it); set
SLUICE_CRASH_SEED to replay one. Promises checked (see docs/durability.md):
- SQS: every acknowledged SendMessage/SendMessageBatch entry is received after the restart
  (at least once); a message whose DeleteMessage was acknowledged is never received again.
- SNS: every acknowledged Publish reaches its SQS subscription after the restart.
"""

import random
import threading
import time

from sluice_helpers import create_queue_with_arn, crash_rng, make_client, wait_for

ROUNDS = 3


def _seeds():
    """One seed per round, derived from the test's seed (SLUICE_CRASH_SEED replays them all)."""
    rng = crash_rng("sqs/sns crash test")
    return [rng.crash_seed] + [rng.randrange(1 << 30) for _ in range(ROUNDS - 1)]


def _drain(sqs, url, timeout=20):
    """Receives (and deletes) until the queue stays empty for a second; returns the bodies."""
    bodies = []
    deadline = time.time() + timeout
    quiet_since = None
    while time.time() < deadline:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                   VisibilityTimeout=60).get("Messages", [])
        if not msgs:
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since >= 3.0:  # beyond the consumers' 2 s visibility
                return bodies
            continue
        quiet_since = None
        bodies.extend(m["Body"] for m in msgs)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(msgs)])
    raise AssertionError("queue did not drain")


class _Workers:
    """Runs client loops until the server dies; records what was acknowledged."""

    def __init__(self):
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.sent = set()        # bodies acknowledged by SendMessage/SendMessageBatch
        self.received = set()    # bodies a consumer received (its delete may or may not apply)
        self.deleted = set()     # bodies whose DeleteMessage was acknowledged
        self.published = set()   # SNS messages acknowledged by Publish
        self.threads = []

    def run(self, fn, *args):
        def loop():
            n = 0
            while not self.stop.is_set():
                try:
                    fn(n, *args)
                except Exception:  # noqa: BLE001 - a reply cut by the kill fails in many ways
                    return  # the server is gone: whatever was not acknowledged may be lost
                n += 1
        t = threading.Thread(target=loop, daemon=True)
        t.start()
        self.threads.append(t)

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)


def _client(service, endpoint):
    return make_client(service, endpoint, read_timeout=10)  # one attempt: no retried sends


def test_sqs_and_sns_lose_nothing_acknowledged_under_kill_9(server_factory):
    srv = server_factory()
    for seed in _seeds():
        rng = random.Random(seed)
        print(f"crash round seed={seed}")
        sqs = make_client("sqs", srv.endpoint)
        sns = make_client("sns", srv.endpoint)
        tag = f"r{seed}"
        work = sqs.create_queue(QueueName=f"crash-{tag}")["QueueUrl"]
        fanout, fanout_arn = create_queue_with_arn(sqs, f"fanout-{tag}")
        topic = sns.create_topic(Name=f"crash-{tag}")["TopicArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fanout_arn,
                      Attributes={"RawMessageDelivery": "true"})
        w = _Workers()

        def send_one(n, c, k):
            body = f"{tag}-s{k}-{n}"
            c.send_message(QueueUrl=work, MessageBody=body)
            with w.lock:
                w.sent.add(body)

        def send_batch(n, c, k):
            bodies = [f"{tag}-b{k}-{n}-{i}" for i in range(10)]
            r = c.send_message_batch(QueueUrl=work, Entries=[
                {"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
            with w.lock:
                w.sent.update(bodies[int(s["Id"])] for s in r.get("Successful", []))

        def consume(n, c):
            msgs = c.receive_message(QueueUrl=work, MaxNumberOfMessages=5, VisibilityTimeout=2).get(
                "Messages", [])
            with w.lock:
                w.received.update(m["Body"] for m in msgs)
            for m in msgs:
                c.delete_message(QueueUrl=work, ReceiptHandle=m["ReceiptHandle"])
                with w.lock:
                    w.deleted.add(m["Body"])

        def publish(n, c):
            body = f"{tag}-p-{n}"
            c.publish(TopicArn=topic, Message=body)
            with w.lock:
                w.published.add(body)

        for k in range(2):
            w.run(send_one, _client("sqs", srv.endpoint), k)
        w.run(send_batch, _client("sqs", srv.endpoint), 0)
        w.run(consume, _client("sqs", srv.endpoint))
        w.run(publish, _client("sns", srv.endpoint))
        time.sleep(rng.uniform(0.3, 2.0))  # the random kill point
        srv.kill()
        w.join()
        srv.start()
        sqs = make_client("sqs", srv.endpoint)
        print(f"  acknowledged: {len(w.sent)} sends, {len(w.deleted)} deletes, {len(w.published)} publishes")
        assert w.sent and w.published, f"seed={seed}: the round acknowledged nothing"
        remaining = _drain(sqs, work)
        again = w.deleted.intersection(remaining)
        assert not again, f"seed={seed}: deleted messages came back: {sorted(again)[:5]}"
        lost = w.sent - w.received - set(remaining)
        assert not lost, f"seed={seed}: {len(lost)} acknowledged sends lost, e.g. {sorted(lost)[:5]}"
        got = set()

        def fanned_out():
            got.update(_drain(sqs, fanout, timeout=30))
            return w.published <= got

        wait_for(fanned_out, timeout=40, what=f"seed={seed}: acknowledged publishes delivered")
