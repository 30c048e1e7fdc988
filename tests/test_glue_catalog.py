"""Glue Data Catalog over the JSON API (AWSGlue.*): boto3 `glue` client and the AWS CLI."""

import json

import pytest
from botocore.exceptions import ClientError

from sluice_helpers import drop_database, client_error, make_client, unique_name

JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
HIVE_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"

COLUMNS = [
    {"Name": "user_id", "Type": "string", "Comment": "who"},
    {"Name": "action", "Type": "string"},
    {"Name": "amount", "Type": "double"},
]


def table_input(name, location, partition_keys=(), columns=COLUMNS, **extra):
    ti = {
        "Name": name,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "json", "EXTERNAL": "TRUE"},
        "StorageDescriptor": {
            "Columns": list(columns),
            "Location": location,
            "InputFormat": TEXT_INPUT,
            "OutputFormat": HIVE_OUTPUT,
            "SerdeInfo": {"SerializationLibrary": JSON_SERDE,
                          "Parameters": {"ignore.malformed.json": "true"}},
            "Parameters": {"compressionType": "none"},
        },
        "PartitionKeys": [dict(k) for k in partition_keys],
    }
    ti.update(extra)
    return ti


def partition_input(values, location):
    return {
        "Values": list(values),
        "StorageDescriptor": {
            "Columns": COLUMNS,
            "Location": location,
            "InputFormat": TEXT_INPUT,
            "OutputFormat": HIVE_OUTPUT,
            "SerdeInfo": {"SerializationLibrary": JSON_SERDE},
        },
        "Parameters": {"source": "test"},
    }


def error_code(excinfo):
    return client_error(excinfo)[0]


def all_partitions(glue, db, table, **kw):
    out = []
    for page in glue.get_paginator("get_partitions").paginate(DatabaseName=db, TableName=table,
                                                              **kw):
        out.extend(page["Partitions"])
    return out


def values_of(partitions):
    return sorted(tuple(p["Values"]) for p in partitions)


# ---------------------------------------------------------------------------------------
# Databases


def test_database_crud(glue):
    lower = unique_name("sales")
    mixed = "Sales" + lower[len("sales"):].upper()
    try:
        glue.create_database(DatabaseInput={
            "Name": mixed, "Description": "first", "LocationUri": "s3://lake/sales/",
            "Parameters": {"owner": "data-eng"}})

        # Names are lower-cased; lookups are case-insensitive.
        for name in (mixed, lower):
            d = glue.get_database(Name=name)["Database"]
            assert d["Name"] == lower
            assert d["Description"] == "first"
            assert d["LocationUri"] == "s3://lake/sales/"
            assert d["Parameters"] == {"owner": "data-eng"}
            assert "CreateTime" in d

        names = [d["Name"] for page in glue.get_paginator("get_databases").paginate()
                 for d in page["DatabaseList"]]
        assert lower in names and mixed not in names

        for dup in (lower, mixed):
            with pytest.raises(ClientError) as e:
                glue.create_database(DatabaseInput={"Name": dup})
            assert error_code(e) == "AlreadyExistsException"

        glue.update_database(Name=mixed, DatabaseInput={
            "Name": lower, "Description": "second", "Parameters": {"owner": "bi"}})
        d = glue.get_database(Name=lower)["Database"]
        assert d["Description"] == "second"
        assert d["Parameters"] == {"owner": "bi"}

        glue.delete_database(Name=lower)
        with pytest.raises(ClientError) as e:
            glue.get_database(Name=lower)
        assert error_code(e) == "EntityNotFoundException"
        assert lower not in [d["Name"] for d in glue.get_databases()["DatabaseList"]]
    finally:
        drop_database(glue, lower)


def test_missing_database_errors(glue):
    missing = unique_name("nope")
    for call in (lambda: glue.get_database(Name=missing),
                 lambda: glue.delete_database(Name=missing),
                 lambda: glue.update_database(Name=missing, DatabaseInput={"Name": missing}),
                 lambda: glue.get_tables(DatabaseName=missing),
                 lambda: glue.get_table(DatabaseName=missing, Name="t"),
                 lambda: glue.create_table(DatabaseName=missing,
                                           TableInput=table_input("t", "s3://b/t/"))):
        with pytest.raises(ClientError) as e:
            call()
        assert client_error(e) == ("EntityNotFoundException", 400)


def test_delete_database_drops_its_tables(glue):
    name = unique_name("cascade")
    try:
        glue.create_database(DatabaseInput={"Name": name})
        glue.create_table(DatabaseName=name, TableInput=table_input(
            "t1", "s3://b/t1/", partition_keys=[{"Name": "dt", "Type": "string"}]))
        glue.create_partition(DatabaseName=name, TableName="t1",
                              PartitionInput=partition_input(["2025-01-01"], "s3://b/t1/dt=2025-01-01/"))
        glue.delete_database(Name=name)
        glue.create_database(DatabaseInput={"Name": name})
        assert glue.get_tables(DatabaseName=name)["TableList"] == []
        with pytest.raises(ClientError) as e:
            glue.get_table(DatabaseName=name, Name="t1")
        assert error_code(e) == "EntityNotFoundException"
    finally:
        drop_database(glue, name)


# ---------------------------------------------------------------------------------------
# Tables


def test_table_crud(glue, db):
    keys = [{"Name": "event_date", "Type": "date", "Comment": "day"}]
    ti = table_input("Events_Raw", "s3://lake/raw/events/", partition_keys=keys,
                     Description="raw events", Owner="etl")
    glue.create_table(DatabaseName=db, TableInput=ti)

    t = glue.get_table(DatabaseName=db, Name="EVENTS_RAW")["Table"]
    assert t["Name"] == "events_raw"
    assert t["DatabaseName"] == db
    assert t["TableType"] == "EXTERNAL_TABLE"
    assert t["Description"] == "raw events"
    assert t["Owner"] == "etl"
    assert t["Parameters"] == {"classification": "json", "EXTERNAL": "TRUE"}
    assert t["PartitionKeys"] == keys
    sd = t["StorageDescriptor"]
    assert sd["Columns"] == COLUMNS
    assert sd["Location"] == "s3://lake/raw/events/"
    assert sd["InputFormat"] == TEXT_INPUT
    assert sd["OutputFormat"] == HIVE_OUTPUT
    assert sd["SerdeInfo"] == {"SerializationLibrary": JSON_SERDE,
                               "Parameters": {"ignore.malformed.json": "true"}}
    assert sd["Parameters"] == {"compressionType": "none"}
    assert "CreateTime" in t
    created = t["CreateTime"]

    with pytest.raises(ClientError) as e:
        glue.create_table(DatabaseName=db, TableInput=table_input("events_raw", "s3://x/"))
    assert error_code(e) == "AlreadyExistsException"

    # UpdateTable replaces the definition.
    new_cols = COLUMNS + [{"Name": "country", "Type": "string"}]
    glue.update_table(DatabaseName=db, TableInput=table_input(
        "events_raw", "s3://lake/raw/events_v2/", partition_keys=keys, columns=new_cols,
        Parameters={"classification": "json", "version": "2"}))
    t = glue.get_table(DatabaseName=db, Name="events_raw")["Table"]
    assert t["StorageDescriptor"]["Columns"] == new_cols
    assert t["StorageDescriptor"]["Location"] == "s3://lake/raw/events_v2/"
    assert t["Parameters"] == {"classification": "json", "version": "2"}
    assert t["PartitionKeys"] == keys
    assert t["CreateTime"] == created

    with pytest.raises(ClientError) as e:
        glue.update_table(DatabaseName=db, TableInput=table_input("no_such", "s3://x/"))
    assert error_code(e) == "EntityNotFoundException"

    glue.delete_table(DatabaseName=db, Name="Events_Raw")
    with pytest.raises(ClientError) as e:
        glue.get_table(DatabaseName=db, Name="events_raw")
    assert error_code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.delete_table(DatabaseName=db, Name="events_raw")
    assert error_code(e) == "EntityNotFoundException"


def test_table_type_defaults_and_virtual_view(glue, db):
    ti = table_input("v_events", "s3://lake/v/")
    ti["TableType"] = "VIRTUAL_VIEW"
    ti["ViewOriginalText"] = "/* Presto View */"
    glue.create_table(DatabaseName=db, TableInput=ti)
    t = glue.get_table(DatabaseName=db, Name="v_events")["Table"]
    assert t["TableType"] == "VIRTUAL_VIEW"
    assert t["ViewOriginalText"] == "/* Presto View */"
    assert t["PartitionKeys"] == []


def test_get_tables_expression_and_batch_delete(glue, db):
    for name in ("events_raw", "events_curated", "users", "orders_2025"):
        glue.create_table(DatabaseName=db, TableInput=table_input(name, f"s3://lake/{name}/"))

    def names(**kw):
        return sorted(t["Name"] for t in glue.get_tables(DatabaseName=db, **kw)["TableList"])

    assert names() == ["events_curated", "events_raw", "orders_2025", "users"]
    assert names(Expression="events.*") == ["events_curated", "events_raw"]
    assert names(Expression="users|orders_.*") == ["orders_2025", "users"]
    assert names(Expression=".*_2025") == ["orders_2025"]
    assert names(Expression="nothing.*") == []

    r = glue.batch_delete_table(DatabaseName=db,
                                TablesToDelete=["events_raw", "users", "ghost_table"])
    errors = r.get("Errors", [])
    assert [e["TableName"] for e in errors] == ["ghost_table"]
    assert errors[0]["ErrorDetail"]["ErrorCode"] == "EntityNotFoundException"
    assert names() == ["events_curated", "orders_2025"]


def test_get_tables_pagination(glue, db):
    expected = [f"t_{i:02d}" for i in range(25)]
    for name in expected:
        glue.create_table(DatabaseName=db, TableInput=table_input(name, f"s3://lake/{name}/"))

    seen, sizes, token = [], [], None
    for _ in range(10):
        kw = {"NextToken": token} if token else {}
        page = glue.get_tables(DatabaseName=db, MaxResults=10, **kw)
        sizes.append(len(page["TableList"]))
        seen.extend(t["Name"] for t in page["TableList"])
        token = page.get("NextToken")
        if not token:
            break
    assert sizes == [10, 10, 5]
    assert sorted(seen) == expected and len(set(seen)) == 25

    via_paginator = [t["Name"] for p in glue.get_paginator("get_tables").paginate(
        DatabaseName=db, PaginationConfig={"PageSize": 7}) for t in p["TableList"]]
    assert sorted(via_paginator) == expected

    page = glue.get_databases(MaxResults=1)
    assert len(page["DatabaseList"]) == 1


def test_glue_cli(aws, glue):
    """The same catalog through `aws glue` (one test: each CLI call costs a second)."""
    db = unique_name("clidb")
    try:
        aws("glue", "create-database", "--database-input",
            json.dumps({"Name": db.upper(), "Description": "from the CLI"}))
        d = aws.json("glue", "get-database", "--name", db)["Database"]
        assert d["Name"] == db and d["Description"] == "from the CLI"

        dup = aws("glue", "create-database", "--database-input", json.dumps({"Name": db}),
                  check=False)
        assert dup.returncode != 0 and "AlreadyExistsException" in dup.stderr, dup.stderr

        ti = table_input("cli_events", "s3://lake/cli/",
                         partition_keys=[{"Name": "dt", "Type": "string"}])
        aws("glue", "create-table", "--database-name", db, "--table-input", json.dumps(ti))
        t = glue.get_table(DatabaseName=db, Name="cli_events")["Table"]
        assert t["StorageDescriptor"]["Columns"] == COLUMNS
        assert t["PartitionKeys"] == [{"Name": "dt", "Type": "string"}]

        parts = [partition_input([f"2025-08-0{d}"], f"s3://lake/cli/dt=2025-08-0{d}/")
                 for d in (1, 2, 3)]
        out = aws.json("glue", "batch-create-partition", "--database-name", db,
                       "--table-name", "cli_events", "--partition-input-list", json.dumps(parts))
        assert not out.get("Errors")
        got = aws.json("glue", "get-partitions", "--database-name", db, "--table-name",
                       "cli_events", "--expression", "dt >= '2025-08-02'")["Partitions"]
        assert values_of(got) == [("2025-08-02",), ("2025-08-03",)]

        listed = aws.json("glue", "get-tables", "--database-name", db, "--expression", "cli.*")
        assert [x["Name"] for x in listed["TableList"]] == ["cli_events"]

        aws("glue", "delete-database", "--name", db)
        gone = aws("glue", "get-database", "--name", db, check=False)
        assert gone.returncode != 0 and "EntityNotFoundException" in gone.stderr, gone.stderr
    finally:
        drop_database(glue, db)


# ---------------------------------------------------------------------------------------
# Partitions


DAYS = ["2025-07-30", "2025-08-01", "2025-08-15", "2025-08-31", "2025-09-01", "2025-09-02"]


@pytest.fixture
def daily(glue, db):
    glue.create_table(DatabaseName=db, TableInput=table_input(
        "daily", "s3://lake/daily/", partition_keys=[{"Name": "event_date", "Type": "date"}]))
    return "daily"


def test_partition_crud(glue, db, daily):
    first = partition_input([DAYS[0]], f"s3://lake/daily/event_date={DAYS[0]}/")
    glue.create_partition(DatabaseName=db, TableName=daily, PartitionInput=first)

    r = glue.batch_create_partition(DatabaseName=db, TableName=daily, PartitionInputList=[
        partition_input([d], f"s3://lake/daily/event_date={d}/") for d in DAYS])
    errors = r.get("Errors", [])
    assert [e["PartitionValues"] for e in errors] == [[DAYS[0]]]  # already there
    assert errors[0]["ErrorDetail"]["ErrorCode"] == "AlreadyExistsException"

    with pytest.raises(ClientError) as e:
        glue.create_partition(DatabaseName=db, TableName=daily, PartitionInput=first)
    assert error_code(e) == "AlreadyExistsException"

    p = glue.get_partition(DatabaseName=db, TableName=daily,
                           PartitionValues=["2025-08-15"])["Partition"]
    assert p["Values"] == ["2025-08-15"]
    assert p["DatabaseName"] == db and p["TableName"] == daily
    assert p["StorageDescriptor"]["Location"] == "s3://lake/daily/event_date=2025-08-15/"
    assert p["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == JSON_SERDE
    assert p["Parameters"] == {"source": "test"}
    assert "CreationTime" in p

    assert values_of(all_partitions(glue, db, daily)) == [(d,) for d in DAYS]

    with pytest.raises(ClientError) as e:
        glue.get_partition(DatabaseName=db, TableName=daily, PartitionValues=["2030-01-01"])
    assert error_code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.get_partitions(DatabaseName=db, TableName="no_such_table")
    assert error_code(e) == "EntityNotFoundException"

    # UpdatePartition: new location and parameters, same values.
    upd = partition_input(["2025-08-15"], "s3://lake/daily/moved/2025-08-15/")
    upd["Parameters"] = {"source": "moved"}
    glue.update_partition(DatabaseName=db, TableName=daily, PartitionValueList=["2025-08-15"],
                          PartitionInput=upd)
    p = glue.get_partition(DatabaseName=db, TableName=daily,
                           PartitionValues=["2025-08-15"])["Partition"]
    assert p["StorageDescriptor"]["Location"] == "s3://lake/daily/moved/2025-08-15/"
    assert p["Parameters"] == {"source": "moved"}
    with pytest.raises(ClientError) as e:
        glue.update_partition(DatabaseName=db, TableName=daily, PartitionValueList=["1999-01-01"],
                              PartitionInput=partition_input(["1999-01-01"], "s3://x/"))
    assert error_code(e) == "EntityNotFoundException"

    glue.delete_partition(DatabaseName=db, TableName=daily, PartitionValues=[DAYS[0]])
    with pytest.raises(ClientError) as e:
        glue.get_partition(DatabaseName=db, TableName=daily, PartitionValues=[DAYS[0]])
    assert error_code(e) == "EntityNotFoundException"
    with pytest.raises(ClientError) as e:
        glue.delete_partition(DatabaseName=db, TableName=daily, PartitionValues=[DAYS[0]])
    assert error_code(e) == "EntityNotFoundException"

    r = glue.batch_delete_partition(DatabaseName=db, TableName=daily, PartitionsToDelete=[
        {"Values": ["2025-09-01"]}, {"Values": ["2025-09-02"]}, {"Values": ["1999-01-01"]}])
    errors = r.get("Errors", [])
    assert [e["PartitionValues"] for e in errors] == [["1999-01-01"]]
    assert errors[0]["ErrorDetail"]["ErrorCode"] == "EntityNotFoundException"
    assert values_of(all_partitions(glue, db, daily)) == [
        ("2025-08-01",), ("2025-08-15",), ("2025-08-31",)]

    # Dropping the table drops its partitions: a new table of the same name has none.
    glue.delete_table(DatabaseName=db, Name=daily)
    glue.create_table(DatabaseName=db, TableInput=table_input(
        daily, "s3://lake/daily/", partition_keys=[{"Name": "event_date", "Type": "date"}]))
    assert all_partitions(glue, db, daily) == []


def test_batch_get_partition(glue, db, daily):
    glue.batch_create_partition(DatabaseName=db, TableName=daily, PartitionInputList=[
        partition_input([d], f"s3://lake/daily/event_date={d}/") for d in DAYS[:3]])
    r = glue.batch_get_partition(DatabaseName=db, TableName=daily, PartitionsToGet=[
        {"Values": [DAYS[0]]}, {"Values": ["2031-01-01"]}, {"Values": [DAYS[2]]}])
    assert values_of(r["Partitions"]) == [(DAYS[0],), (DAYS[2],)]
    for p in r["Partitions"]:
        assert p["StorageDescriptor"]["Location"] == f"s3://lake/daily/event_date={p['Values'][0]}/"
    assert r.get("UnprocessedKeys") == [{"Values": ["2031-01-01"]}]


def test_get_partitions_expression(glue, db, daily):
    glue.batch_create_partition(DatabaseName=db, TableName=daily, PartitionInputList=[
        partition_input([d], f"s3://lake/daily/event_date={d}/") for d in DAYS])

    def vals(expr):
        return [v[0] for v in values_of(all_partitions(glue, db, daily, Expression=expr))]

    assert vals("event_date BETWEEN '2025-08-01' AND '2025-08-31'") == [
        "2025-08-01", "2025-08-15", "2025-08-31"]
    assert vals("event_date = '2025-09-01'") == ["2025-09-01"]
    assert vals("event_date LIKE '2025-09%'") == ["2025-09-01", "2025-09-02"]
    assert vals("event_date NOT LIKE '2025-08%'") == ["2025-07-30", "2025-09-01", "2025-09-02"]
    assert vals("event_date < '2025-08-01' OR event_date > '2025-09-01'") == [
        "2025-07-30", "2025-09-02"]
    assert vals("event_date IN ('2025-08-15', '2025-09-02', '2026-01-01')") == [
        "2025-08-15", "2025-09-02"]
    assert vals("(event_date >= '2025-08-15') AND NOT (event_date = '2025-09-01')") == [
        "2025-08-15", "2025-08-31", "2025-09-02"]
    assert vals("event_date > '2030-01-01'") == []

    with pytest.raises(ClientError) as e:
        glue.get_partitions(DatabaseName=db, TableName=daily, Expression="event_date >>> (")
    assert error_code(e) == "InvalidInputException"


def test_multi_key_partitions(glue, db):
    keys = [{"Name": "year", "Type": "string"}, {"Name": "month", "Type": "string"}]
    glue.create_table(DatabaseName=db, TableInput=table_input("monthly", "s3://lake/m/",
                                                              partition_keys=keys))
    combos = [("2024", "07"), ("2024", "08"), ("2025", "06"), ("2025", "07"), ("2025", "08"),
              ("2026", "08"), ("2026", "12")]
    r = glue.batch_create_partition(DatabaseName=db, TableName="monthly", PartitionInputList=[
        partition_input(list(c), f"s3://lake/m/year={c[0]}/month={c[1]}/") for c in combos])
    assert not r.get("Errors")

    def vals(expr):
        return values_of(all_partitions(glue, db, "monthly", Expression=expr))

    assert vals("year > 2024 AND month IN ('07','08')") == [
        ("2025", "07"), ("2025", "08"), ("2026", "08")]
    assert vals("year = '2025' AND month <> '06'") == [("2025", "07"), ("2025", "08")]
    assert vals("month LIKE '0_' AND year BETWEEN 2024 AND 2025") == [
        ("2024", "07"), ("2024", "08"), ("2025", "06"), ("2025", "07"), ("2025", "08")]
    assert vals("year >= 2026 OR month = '06'") == [
        ("2025", "06"), ("2026", "08"), ("2026", "12")]

    p = glue.get_partition(DatabaseName=db, TableName="monthly",
                           PartitionValues=["2025", "07"])["Partition"]
    assert p["Values"] == ["2025", "07"]

    # Wrong number of partition values.
    with pytest.raises(ClientError) as e:
        glue.create_partition(DatabaseName=db, TableName="monthly",
                              PartitionInput=partition_input(["2027"], "s3://lake/m/2027/"))
    assert client_error(e) == ("InvalidInputException", 400)
    with pytest.raises(ClientError) as e:
        glue.create_partition(DatabaseName=db, TableName="monthly", PartitionInput=partition_input(
            ["2027", "01", "01"], "s3://lake/m/x/"))
    assert error_code(e) == "InvalidInputException"
    r = glue.batch_create_partition(DatabaseName=db, TableName="monthly", PartitionInputList=[
        partition_input(["2027"], "s3://lake/m/2027/"),
        partition_input(["2027", "01"], "s3://lake/m/year=2027/month=01/")])
    errors = r.get("Errors", [])
    assert [e["PartitionValues"] for e in errors] == [["2027"]]
    assert errors[0]["ErrorDetail"]["ErrorCode"] == "InvalidInputException"
    assert ("2027", "01") in vals("year = '2027'")
    assert vals("year = '2027'") == [("2027", "01")]

    # Pagination over partitions.
    sizes, seen, token = [], [], None
    for _ in range(10):
        kw = {"NextToken": token} if token else {}
        page = glue.get_partitions(DatabaseName=db, TableName="monthly", MaxResults=3, **kw)
        sizes.append(len(page["Partitions"]))
        seen.extend(tuple(p["Values"]) for p in page["Partitions"])
        token = page.get("NextToken")
        if not token:
            break
    assert sizes == [3, 3, 2]
    assert sorted(seen) == sorted(combos + [("2027", "01")])


# ---------------------------------------------------------------------------------------
# Durability


def test_catalog_survives_restart(server_factory):
    srv = server_factory(name="glue-restart")
    glue = make_client("glue", srv.endpoint)
    glue.create_database(DatabaseInput={"Name": "Lake", "Description": "kept"})
    glue.create_table(DatabaseName="lake", TableInput=table_input(
        "events", "s3://lake/events/", partition_keys=[{"Name": "event_date", "Type": "date"}]))
    glue.batch_create_partition(DatabaseName="lake", TableName="events", PartitionInputList=[
        partition_input([d], f"s3://lake/events/event_date={d}/") for d in DAYS])
    glue.delete_partition(DatabaseName="lake", TableName="events", PartitionValues=[DAYS[-1]])
    glue.create_table(DatabaseName="lake", TableInput=table_input("gone", "s3://lake/gone/"))
    glue.delete_table(DatabaseName="lake", Name="gone")
    before = glue.get_table(DatabaseName="lake", Name="events")["Table"]

    for _ in range(2):
        assert srv.stop() == 0, srv.log_text()
        srv.start()
        glue = make_client("glue", srv.endpoint)
        d = glue.get_database(Name="lake")["Database"]
        assert d["Description"] == "kept"
        t = glue.get_table(DatabaseName="lake", Name="events")["Table"]
        assert t["StorageDescriptor"] == before["StorageDescriptor"]
        assert t["PartitionKeys"] == before["PartitionKeys"]
        assert t["CreateTime"] == before["CreateTime"]
        assert [x["Name"] for x in glue.get_tables(DatabaseName="lake")["TableList"]] == ["events"]
        assert values_of(all_partitions(glue, "lake", "events")) == [(d,) for d in DAYS[:-1]]
        p = glue.get_partition(DatabaseName="lake", TableName="events",
                               PartitionValues=["2025-08-15"])["Partition"]
        assert p["StorageDescriptor"]["Location"] == "s3://lake/events/event_date=2025-08-15/"
