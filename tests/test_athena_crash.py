"""Athena query-execution state under kill -9: every id StartQueryExecution acknowledged is,
after a restart, in a final state (SUCCEEDED, or FAILED with a reason) — never lost, never
RUNNING forever."""

import random
import time

from sluice_helpers import make_client

FINAL = ("SUCCEEDED", "FAILED", "CANCELLED")


def test_acknowledged_queries_survive_kill_9(server_factory):
    seed = random.randrange(1 << 30)
    print(f"seed {seed}")
    rnd = random.Random(seed)
    srv = server_factory()
    acked = []
    for round_ in range(2):
        athena = make_client("athena", srv.endpoint)
        s3 = make_client("s3", srv.endpoint)
        if round_ == 0:
            s3.create_bucket(Bucket="crash-results")
        deadline = time.monotonic() + rnd.uniform(0.2, 1.0)
        while time.monotonic() < deadline:
            sql = rnd.choice(["SELECT 1", "SELECT count(*) FROM range(200000000)",
                              "SELECT sum(x) FROM range(50000000) t(x)"])
            acked.append(athena.start_query_execution(
                QueryString=sql, ResultConfiguration={"OutputLocation": "s3://crash-results/out/"})["QueryExecutionId"])
        srv.kill()
        srv.start()
    athena = make_client("athena", srv.endpoint)
    end = time.monotonic() + 60
    for qid in acked:
        while True:
            status = athena.get_query_execution(QueryExecutionId=qid)["QueryExecution"]["Status"]
            if status["State"] in FINAL:
                break
            assert time.monotonic() < end, (seed, qid, status)
            time.sleep(0.05)
        if status["State"] == "FAILED":
            assert status.get("StateChangeReason"), (seed, qid, status)
