"""Glue crawlers over the lake: schema inference, partitions, SchemaChangePolicy, errors."""
import time

import pytest
from botocore.exceptions import ClientError

from test_athena import put_ndjson, run_query


def crawl(glue, name, timeout=60):
    glue.start_crawler(Name=name)
    deadline = time.monotonic() + timeout
    while True:
        c = glue.get_crawler(Name=name)["Crawler"]
        if c["State"] == "READY" and "LastCrawl" in c:
            return c
        assert time.monotonic() < deadline, f"crawler {name} still {c['State']}"
        time.sleep(0.05)


def code(err):
    return err.value.response["Error"]["Code"]


def test_crawler_on_the_seed_layout_yields_the_events_table(glue, athena, s3, bucket, db):
    days = {"2025-08-01": [("u1", "click", 1.5), ("u2", "view", 2.0)], "2025-08-02": [("u3", "buy", 10.0)]}
    for day, rows in days.items():
        put_ndjson(s3, bucket, f"curated/events/event_date={day}/part-0.json",
                   [{"user_id": u, "action": a, "amount": m} for u, a, m in rows])
    s3.put_object(Bucket=bucket, Key="curated/events/_SUCCESS", Body=b"")
    glue.create_crawler(Name=f"{db}_c", Role="arn:aws:iam::000000000000:role/glue", DatabaseName=db,
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/curated/"}]})
    c = crawl(glue, f"{db}_c")
    assert c["LastCrawl"]["Status"] == "SUCCEEDED", c
    t = glue.get_table(DatabaseName=db, Name="events")["Table"]
    assert [(col["Name"], col["Type"]) for col in t["StorageDescriptor"]["Columns"]] == \
        [("user_id", "string"), ("action", "string"), ("amount", "double")]
    assert [k["Name"] for k in t["PartitionKeys"]] == ["event_date"]
    assert t["Parameters"]["classification"] == "json"
    assert t["StorageDescriptor"]["Location"] == f"s3://{bucket}/curated/events/"
    parts = glue.get_partitions(DatabaseName=db, TableName="events")["Partitions"]
    assert sorted(p["Values"][0] for p in parts) == ["2025-08-01", "2025-08-02"]
    metrics = glue.get_crawler_metrics(CrawlerNameList=[f"{db}_c"])["CrawlerMetricsList"][0]
    assert metrics["TablesCreated"] == 1
    _, rows = run_query(athena, "SELECT event_date, count(*) AS n FROM events GROUP BY 1 ORDER BY 1", db, bucket)
    assert rows == [["event_date", "n"], ["2025-08-01", "2"], ["2025-08-02", "1"]]


def test_schema_change_policy(glue, s3, bucket, db):
    put_ndjson(s3, bucket, "raw/orders/a.json", [{"id": 1}])
    name = f"{db}_log"
    glue.create_crawler(Name=name, Role="r", DatabaseName=db, TablePrefix="raw_",
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/raw/"}]},
                        SchemaChangePolicy={"UpdateBehavior": "LOG", "DeleteBehavior": "LOG"})
    crawl(glue, name)
    cols = lambda: [c["Name"] for c in glue.get_table(DatabaseName=db, Name="raw_orders")["Table"]  # noqa: E731
                    ["StorageDescriptor"]["Columns"]]
    assert cols() == ["id"]
    put_ndjson(s3, bucket, "raw/orders/b.json", [{"id": 2, "total": 9.5}])
    crawl(glue, name)
    assert cols() == ["id"]  # LOG: the table is left as it was
    glue.delete_crawler(Name=name)
    glue.create_crawler(Name=name, Role="r", DatabaseName=db, TablePrefix="raw_",
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/raw/"}]})
    crawl(glue, name)
    assert cols() == ["id", "total"]  # UPDATE_IN_DATABASE (the default)


def test_crawler_errors(glue, db):
    with pytest.raises(ClientError) as e:
        glue.get_crawler(Name="no-such-crawler")
    assert code(e) == "EntityNotFoundException"
    glue.create_crawler(Name=f"{db}_e", Role="r", DatabaseName=db, Targets={"S3Targets": [{"Path": "s3://x/y/"}]})
    with pytest.raises(ClientError) as e:
        glue.create_crawler(Name=f"{db}_e", Role="r", DatabaseName=db, Targets={"S3Targets": [{"Path": "s3://x/y/"}]})
    assert code(e) == "AlreadyExistsException"
    with pytest.raises(ClientError) as e:
        glue.stop_crawler(Name=f"{db}_e")
    assert code(e) == "CrawlerNotRunningException"
    with pytest.raises(ClientError) as e:
        glue.create_crawler(Name=f"{db}_bad", Role="r", DatabaseName=db, Targets={"S3Targets": [{"Path": "/etc/"}]})
    assert code(e) == "InvalidInputException"
    assert f"{db}_e" in glue.list_crawlers()["CrawlerNames"]
    glue.delete_crawler(Name=f"{db}_e")


def test_delete_behavior(glue, s3, bucket, db):
    put_ndjson(s3, bucket, "gone/a/x.json", [{"id": 1}])
    put_ndjson(s3, bucket, "gone/b/x.json", [{"id": 1}])
    glue.create_crawler(Name=f"{db}_d", Role="r", DatabaseName=db,
                        Targets={"S3Targets": [{"Path": f"s3://{bucket}/gone/"}]},
                        SchemaChangePolicy={"UpdateBehavior": "UPDATE_IN_DATABASE",
                                            "DeleteBehavior": "DELETE_FROM_DATABASE"})
    crawl(glue, f"{db}_d")
    assert {t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]} == {"a", "b"}
    s3.delete_object(Bucket=bucket, Key="gone/b/x.json")
    crawl(glue, f"{db}_d")
    assert {t["Name"] for t in glue.get_tables(DatabaseName=db)["TableList"]} == {"a"}
    assert glue.get_crawler_metrics(CrawlerNameList=[f"{db}_d"])["CrawlerMetricsList"][0]["TablesDeleted"] == 1
