"""Times Redshift statements through the Data API (ExecuteStatement + DescribeStatement
polling, as an application waits for them); prints one JSON line {name: [seconds, ...]}.

  rs_bench.py ENDPOINT ROUNDS BUCKET CSV_FILE PARQUET_FILE
"""
import json
import sys
import time

import boto3
from botocore.config import Config

endpoint, rounds, bucket, csv_file, parquet_file = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
cfg = Config(retries={"max_attempts": 0}, read_timeout=600)
kw = dict(endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test",
          config=cfg)
s3 = boto3.client("s3", **kw)
rsd = boto3.client("redshift-data", **kw)
ROLE = "arn:aws:iam::123456789012:role/MyRedshiftRole"


def run(sql):
    t0 = time.monotonic()
    sid = rsd.execute_statement(Sql=sql, Database="dev", WorkgroupName="bench")["Id"]
    while True:
        d = rsd.describe_statement(Id=sid)
        if d["Status"] in ("FINISHED", "FAILED", "ABORTED"):
            break
        time.sleep(0.005)
    if d["Status"] != "FINISHED":
        sys.exit(f"{sql[:80]}: {d.get('Error')}")
    return time.monotonic() - t0


s3.create_bucket(Bucket=bucket)
s3.upload_file(csv_file, bucket, "in/sales.csv")
s3.upload_file(parquet_file, bucket, "in/parquet/sales.parquet")
cols = "(id bigint, region varchar(16), product varchar(32), qty int, price decimal(12,2), sold timestamp)"
run(f"drop table if exists bench_sales; create table bench_sales {cols}")
out = {"copy_csv": [], "copy_parquet": [], "unload_parquet": []}
for i in range(rounds):
    run("truncate bench_sales")
    out["copy_csv"].append(run(f"COPY bench_sales FROM 's3://{bucket}/in/sales.csv' IAM_ROLE '{ROLE}' CSV IGNOREHEADER 1"))
    run("truncate bench_sales")
    out["copy_parquet"].append(run(f"COPY bench_sales FROM 's3://{bucket}/in/parquet/' IAM_ROLE '{ROLE}' FORMAT AS PARQUET"))
    out["unload_parquet"].append(run(f"UNLOAD ('select * from bench_sales') TO 's3://{bucket}/out/r{i}_' "
                                     f"IAM_ROLE '{ROLE}' FORMAT AS PARQUET ALLOWOVERWRITE"))
print(json.dumps(out))
