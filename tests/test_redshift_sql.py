"""Redshift SQL end to end through the Redshift Data API (boto3 `redshift-data`).

The warehouse's own behaviour: the seed's COPY statements on data uploaded to the lake,
load errors in stl_load_errors, UNLOAD round trips, stored procedures (the seed's
`CALL sp_load_events()`), Spectrum joins over Glue catalog tables, Redshift functions and
CREATE TABLE attributes. Every test uses its own tables, buckets and schemas.
"""

import time


from sluice_helpers import list_all_keys, unique_name

FINAL = ("FINISHED", "FAILED", "ABORTED")
ROLE = "arn:aws:iam::123456789012:role/MyRedshiftRole"


def run(rsd, sql, expect="FINISHED", timeout=120.0, database="dev"):
    out = rsd.execute_statement(Sql=sql, Database=database, WorkgroupName="sluice-wg")
    deadline = time.monotonic() + timeout
    while True:
        d = rsd.describe_statement(Id=out["Id"])
        if d["Status"] in FINAL:
            break
        assert time.monotonic() < deadline, f"statement still {d['Status']}: {sql}"
        time.sleep(0.02)
    if expect:
        assert d["Status"] == expect, (sql, d)
    return d


def field(f):
    if f.get("isNull"):
        return None
    for k in ("stringValue", "longValue", "doubleValue", "booleanValue"):
        if k in f:
            return f[k]
    return f


def rows(rsd, sql):
    d = run(rsd, sql)
    assert d["HasResultSet"], d
    out, kw = [], {}
    while True:
        page = rsd.get_statement_result(Id=d["Id"], **kw)
        out.extend([field(f) for f in r] for r in page["Records"])
        if not page.get("NextToken"):
            return out
        kw["NextToken"] = page["NextToken"]


def scalar(rsd, sql):
    return rows(rsd, sql)[0][0]


def test_seed_copy_csv_and_parquet(rsd, s3, bucket):
    sales, events = unique_name("sales"), unique_name("events")
    s3.put_object(Bucket=bucket, Key="sales.csv", Body=b"id,region,amount\n1,eu,10.50\n2,us,3.25\n3,eu,1\n")
    run(rsd, f"create table {sales} (id int, region varchar(10), amount decimal(10,2)) diststyle key distkey(region)")
    d = run(rsd, f"COPY {sales} FROM 's3://{bucket}/sales.csv' IAM_ROLE '{ROLE}' CSV IGNOREHEADER 1;")
    assert d["ResultRows"] in (3, -1)
    assert rows(rsd, f"select region, sum(amount) from {sales} group by region order by region") == [
        ["eu", "11.50"], ["us", "3.25"]]
    # Parquet written by UNLOAD, partitioned (k=v folders are just files to COPY).
    run(rsd, f"unload ('select id, region, amount from {sales}') to 's3://{bucket}/curated/events/' "
             f"iam_role '{ROLE}' format as parquet partition by (region) include")
    keys = list_all_keys(s3, bucket, Prefix="curated/events/")
    assert sorted(keys) == ["curated/events/region=eu/0000_part_00.parquet",
                            "curated/events/region=us/0000_part_00.parquet"]
    run(rsd, f"create table public.{events} (id int, region varchar, amount decimal(10,2))")
    run(rsd, f"COPY public.{events} FROM 's3://{bucket}/curated/events/' IAM_ROLE '{ROLE}' FORMAT AS PARQUET;")
    assert scalar(rsd, f"select count(*) from {events}") == 3


def test_load_errors_and_maxerror(rsd, s3, bucket):
    t = unique_name("t")
    s3.put_object(Bucket=bucket, Key="in/a.csv", Body=b"1,a,2024-01-01\n2,b,notadate\n3,c,2024-01-03\n")
    run(rsd, f"create table {t} (id int, name varchar, d date)")
    d = run(rsd, f"copy {t} from 's3://{bucket}/in/' iam_role '{ROLE}' csv", expect="FAILED")
    assert "stl_load_errors" in d["Error"]
    assert scalar(rsd, f"select count(*) from {t}") == 0
    errs = rows(rsd, f"select line_number, colname, raw_field_value, err_code from stl_load_errors "
                     f"where filename = 's3://{bucket}/in/a.csv' order by query desc limit 1")
    assert errs == [[2, "d", "notadate", 1205]]
    run(rsd, f"copy {t} from 's3://{bucket}/in/' iam_role '{ROLE}' csv maxerror 1")
    assert scalar(rsd, f"select count(*) from {t}") == 2
    d = run(rsd, f"copy {t} from 's3://{bucket}/nothing/' iam_role '{ROLE}' csv", expect="FAILED")
    assert "does not exist" in d["Error"]


def test_unload_round_trip(rsd, s3, bucket):
    src, back = unique_name("src"), unique_name("back")
    run(rsd, f"create table {src} (id int, name varchar(max), ts timestamp)")
    run(rsd, f"insert into {src} values (1, 'a', '2024-01-01 10:00:00'), (2, null, '2024-01-02 00:00:00')")
    run(rsd, f"unload ('select * from {src} where name is not null or id = 2') to 's3://{bucket}/u/{src}_' "
             f"iam_role '{ROLE}' csv header parallel off")
    assert list_all_keys(s3, bucket, Prefix="u/") == [f"u/{src}_000"]
    body = s3.get_object(Bucket=bucket, Key=f"u/{src}_000")["Body"].read().decode()
    assert body.splitlines()[0] == "id,name,ts"
    d = run(rsd, f"unload ('select 1') to 's3://{bucket}/u/{src}_' iam_role '{ROLE}' csv", expect="FAILED")
    assert "ALLOWOVERWRITE" in d["Error"]
    run(rsd, f"create table {back} (id int, name varchar, ts timestamp)")
    run(rsd, f"copy {back} from 's3://{bucket}/u/{src}_' iam_role '{ROLE}' csv ignoreheader 1 emptyasnull")
    assert rows(rsd, f"select id, name from {back} order by id") == [[1, "a"], [2, None]]


def test_stored_procedure_sp_load_events(rsd, s3, bucket):
    stage, events = unique_name("stage"), unique_name("events")
    s3.put_object(Bucket=bucket, Key="stage/e.csv", Body=b"1,click\n2,view\n3,click\n")
    run(rsd, f"create table {stage} (id int, kind varchar)")
    run(rsd, f"create table {events} (id int, kind varchar, loaded_at timestamp)")
    run(rsd, f"""CREATE OR REPLACE PROCEDURE sp_load_events()
AS $$
DECLARE
  n integer;
BEGIN
  TRUNCATE {stage};
  COPY {stage} FROM 's3://{bucket}/stage/' IAM_ROLE '{ROLE}' CSV;
  INSERT INTO {events} SELECT id, kind, getdate() FROM {stage};
  SELECT count(*) INTO n FROM {events};
  IF n = 0 THEN
    RAISE EXCEPTION 'nothing loaded';
  END IF;
  RAISE INFO 'loaded % events', n;
END;
$$ LANGUAGE plpgsql;""")
    run(rsd, "CALL sp_load_events();")
    assert scalar(rsd, f"select count(*) from {events}") == 3
    run(rsd, "create or replace procedure sp_fail(x int) as $$ begin raise exception 'bad %', x; end; $$ language plpgsql")
    d = run(rsd, "call sp_fail(7)", expect="FAILED")
    assert "bad 7" in d["Error"]


def test_spectrum_join(rsd, s3, glue, bucket, db):
    local, schema = unique_name("regions"), unique_name("spectrum")
    run(rsd, f"create table {local} (id int, region varchar)")
    run(rsd, f"insert into {local} values (1, 'eu'), (2, 'us')")
    run(rsd, f"unload ('select id, amount from (select 1 as id, 10.5::float8 as amount union all select 2, 4.5)') "
             f"to 's3://{bucket}/lake/sales/' iam_role '{ROLE}' parquet")
    glue.create_table(DatabaseName=db, TableInput={
        "Name": "sales", "TableType": "EXTERNAL_TABLE",
        "StorageDescriptor": {
            "Columns": [{"Name": "id", "Type": "int"}, {"Name": "amount", "Type": "double"}],
            "Location": f"s3://{bucket}/lake/sales/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}}})
    run(rsd, f"create external schema {schema} from data catalog database '{db}' iam_role '{ROLE}'")
    assert rows(rsd, f"select r.region, s.amount from {schema}.sales s join {local} r on r.id = s.id "
                     f"order by r.region") == [["eu", 10.5], ["us", 4.5]]
    assert scalar(rsd, f"select databasename from svv_external_schemas where schemaname = '{schema}'") == db
    run(rsd, f"drop schema {schema}")


def test_redshift_functions_and_table_info(rsd):
    t = unique_name("t")
    run(rsd, f"create table {t} (id bigint identity(1,1), region varchar(max) encode zstd, sold timestamp) "
             f"diststyle key distkey(region) compound sortkey(sold)")
    run(rsd, f"insert into {t} (region, sold) values ('eu', '2024-01-01'), ('us', '2024-03-01')")
    assert scalar(rsd, f"select max(id) from {t}") == 2
    assert scalar(rsd, f"select datediff(day, min(sold), max(sold)) from {t}") == 60
    assert scalar(rsd, "select dateadd(month, 1, '2024-01-31'::date)") == "2024-02-29 00:00:00"
    assert scalar(rsd, f"select listagg(region, ',') within group (order by region) from {t}") == "eu,us"
    assert scalar(rsd, "select nvl(null, 'x')") == "x"
    assert scalar(rsd, f"select approximate count(distinct region) from {t}") == 2
    assert scalar(rsd, f"select top 1 region from {t} order by sold desc") == "us"
    assert "Redshift" in scalar(rsd, "select version()")
    assert rows(rsd, f"select diststyle, sortkey1, tbl_rows from svv_table_info where \"table\" = '{t}'") == [
        ["KEY", "sold", 2]]


def test_unload_maxfilesize_splits_files(rsd, s3, bucket):
    t, back = unique_name("big"), unique_name("back")
    run(rsd, f"create table {t} (id int, s varchar(64))")
    run(rsd, f"insert into {t} select i, md5(i::varchar) from range(300000) r(i)")
    run(rsd, f"unload ('select * from {t}') to 's3://{bucket}/split/{t}_' iam_role '{ROLE}' csv maxfilesize 5 mb")
    keys = list_all_keys(s3, bucket, Prefix=f"split/{t}_")
    assert len(keys) >= 2, keys
    assert keys == [f"split/{t}_0000_part_{i:02d}" for i in range(len(keys))]
    for k in keys:
        assert s3.head_object(Bucket=bucket, Key=k)["ContentLength"] <= 5 * 1024 * 1024
    run(rsd, f"unload ('select * from {t}') to 's3://{bucket}/split1/{t}_' iam_role '{ROLE}' "
             f"csv parallel off maxfilesize as 5 MB")
    keys1 = list_all_keys(s3, bucket, Prefix=f"split1/{t}_")
    assert keys1 == [f"split1/{t}_{i:03d}" for i in range(len(keys1))] and len(keys1) >= 2
    run(rsd, f"unload ('select * from {t}') to 's3://{bucket}/splitp/{t}_' iam_role '{ROLE}' "
             f"format parquet maxfilesize 5 mb")
    keysp = list_all_keys(s3, bucket, Prefix=f"splitp/{t}_")
    assert keysp == [f"splitp/{t}_0000_part_{i:02d}.parquet" for i in range(len(keysp))] and len(keysp) >= 2
    for k in keysp:
        assert s3.head_object(Bucket=bucket, Key=k)["ContentLength"] <= 5 * 1024 * 1024
    run(rsd, f"create table {back} (id int, s varchar(64))")
    run(rsd, f"copy {back} from 's3://{bucket}/split/{t}_' iam_role '{ROLE}' csv")
    assert scalar(rsd, f"select count(*) from {back}") == 300000
    d = run(rsd, f"unload ('select 1') to 's3://{bucket}/split2/' iam_role '{ROLE}' maxfilesize 4 mb",
            expect="FAILED")
    assert "MAXFILESIZE" in d["Error"]


def test_copy_varchar_length_and_truncatecolumns(rsd, s3, bucket):
    t = unique_name("len")
    s3.put_object(Bucket=bucket, Key=f"{t}/a.csv",
                  Body="id,code,name\n1,ab,x\n2,abcd,y\nbad,ab,z\n4,ab,éééé\n".encode())
    run(rsd, f"create table {t} (id int, code char(3), name varchar(5))")
    d = run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv ignoreheader 1", expect="FAILED")
    assert "stl_load_errors" in d["Error"]
    assert scalar(rsd, f"select count(*) from {t}") == 0
    errs = rows(rsd, f"select line_number, colname, raw_field_value, err_code, trim(err_reason) from stl_load_errors "
                     f"where filename = 's3://{bucket}/{t}/a.csv' and err_code = 1204 order by line_number")
    # varchar(5) counts bytes: 'éééé' is 8 bytes.
    assert errs == [[3, "code", "abcd", 1204, "String length exceeds DDL length"],
                    [5, "name", "éééé", 1204, "String length exceeds DDL length"]]
    run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv ignoreheader 1 maxerror 3")
    assert rows(rsd, f"select id, code, name from {t} order by id") == [[1, "ab", "x"]]
    run(rsd, f"truncate {t}")
    run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv ignoreheader 1 truncatecolumns maxerror 1")
    assert rows(rsd, f"select id, code, name from {t} order by id") == [
        [1, "ab", "x"], [2, "abc", "y"], [4, "ab", "éé"]]


def test_copy_emptyasnull_blanksasnull(rsd, s3, bucket):
    t, c = unique_name("nul"), unique_name("chars")
    s3.put_object(Bucket=bucket, Key=f"{t}/a.csv", Body=b"1,,x\n2,   ,\n3,a,b\n")
    s3.put_object(Bucket=bucket, Key=f"{t}t/a.txt", Body=b"|x\n   |\\N\n")
    run(rsd, f"create table {t} (id int, a varchar(10), b varchar(10))")
    q = f"select id, a, b from {t} order by id"
    # Without EMPTYASNULL an empty CHAR/VARCHAR field loads as an empty string; blanks as they are.
    run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv")
    assert rows(rsd, q) == [[1, "", "x"], [2, "   ", ""], [3, "a", "b"]]
    run(rsd, f"truncate {t}")
    run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv emptyasnull")
    assert rows(rsd, q) == [[1, None, "x"], [2, "   ", None], [3, "a", "b"]]
    run(rsd, f"truncate {t}")
    run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv blanksasnull")
    assert rows(rsd, q) == [[1, "", "x"], [2, None, ""], [3, "a", "b"]]
    # Delimited text (NULL AS \N by default) into character columns.
    run(rsd, f"create table {c} (a varchar(10), b varchar(10))")
    qc = f"select a, b from {c} order by b nulls last"
    run(rsd, f"copy {c} from 's3://{bucket}/{t}t/' iam_role '{ROLE}' delimiter '|'")
    assert rows(rsd, qc) == [["", "x"], ["   ", None]]
    run(rsd, f"truncate {c}")
    run(rsd, f"copy {c} from 's3://{bucket}/{t}t/' iam_role '{ROLE}' delimiter '|' emptyasnull blanksasnull")
    assert rows(rsd, qc) == [[None, "x"], [None, None]]


def test_copy_acceptinvchars(rsd, s3, bucket):
    t = unique_name("inv")
    s3.put_object(Bucket=bucket, Key=f"{t}/a.csv", Body=b"1,ok\n2,b\xa4d\n3,c\xe2\x82\n4,\xc3\xa9\n")
    run(rsd, f"create table {t} (id int, a varchar(10))")
    d = run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv", expect="FAILED")
    assert "stl_load_errors" in d["Error"]
    errs = rows(rsd, f"select line_number, err_code, trim(err_reason) from stl_load_errors "
                     f"where filename = 's3://{bucket}/{t}/a.csv' order by line_number")
    assert errs == [[2, 1220, "String contains invalid or unsupported UTF-8 codepoints."],
                    [3, 1220, "String contains invalid or unsupported UTF-8 codepoints."]]
    run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv acceptinvchars")
    assert rows(rsd, f"select id, a from {t} order by id") == [[1, "ok"], [2, "b?d"], [3, "c??"], [4, "é"]]
    run(rsd, f"truncate {t}")
    run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv acceptinvchars as '^'")
    assert rows(rsd, f"select a from {t} where id = 3") == [["c^^"]]
    d = run(rsd, f"copy {t} from 's3://{bucket}/{t}/' iam_role '{ROLE}' csv acceptinvchars 'ab'", expect="FAILED")
    assert "ACCEPTINVCHARS" in d["Error"]


def test_create_and_drop_database(server_factory):
    """CREATE DATABASE makes another database (its own file) that sessions can use, that
    survives a restart and that DROP DATABASE removes."""
    from sluice_helpers import make_client
    srv = server_factory()
    rsd = make_client("redshift-data", srv.endpoint)
    run(rsd, "CREATE DATABASE analytics")
    assert "analytics" in rsd.list_databases(Database="dev", WorkgroupName="sluice-wg")["Databases"]
    run(rsd, "CREATE TABLE daily (day DATE, n INTEGER)", database="analytics")
    run(rsd, "INSERT INTO daily VALUES ('2025-08-01', 3)", database="analytics")
    d = run(rsd, "CREATE DATABASE analytics", expect="FAILED")
    assert 'database "analytics" already exists' in d["Error"], d
    d = run(rsd, "CREATE DATABASE \"9bad\"", expect="FAILED")
    assert "invalid database name" in d["Error"], d
    # The dev database does not see analytics' tables.
    d = run(rsd, "SELECT * FROM daily", expect="FAILED")
    assert 'relation "daily" does not exist' in d["Error"], d

    srv.kill()
    srv.start()
    rsd = make_client("redshift-data", srv.endpoint)
    assert rows(rsd, "SELECT 1") == [[1]]
    out = run(rsd, "SELECT n FROM daily", database="analytics")
    assert rsd.get_statement_result(Id=out["Id"])["Records"] == [[{"longValue": 3}]]
    d = run(rsd, "DROP DATABASE analytics", database="analytics", expect="FAILED")
    assert "currently open database" in d["Error"], d
    run(rsd, "DROP DATABASE analytics")
    assert "analytics" not in rsd.list_databases(Database="dev", WorkgroupName="sluice-wg")["Databases"]
    d = run(rsd, "SELECT 1", database="analytics", expect="FAILED")
    assert 'database "analytics" does not exist' in d["Error"], d
