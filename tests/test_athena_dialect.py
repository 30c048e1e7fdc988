"""Runs tests/athena/dialect.test: each case's SQL through Athena, its rows compared."""
import os

import pytest

from test_athena import put_ndjson, run_query

HERE = os.path.dirname(os.path.abspath(__file__))


def load_cases():
    cases, name, sql, rows, in_rows = [], None, [], [], False
    with open(os.path.join(HERE, "athena", "dialect.test"), encoding="utf-8") as f:
        for line in f.read().splitlines() + ["-- case: <end>"]:
            if line.startswith("-- case: "):
                if name:
                    cases.append((name, "\n".join(sql).strip(), rows))
                name, sql, rows, in_rows = line[len("-- case: "):], [], [], False
            elif name is None or (not in_rows and line.startswith("#")):
                continue
            elif line == "----":
                in_rows = True
            elif in_rows:
                if line:
                    rows.append([None if v == "NULL" else v for v in line.split("\t")])
            else:
                sql.append(line)
    return cases


CASES = load_cases()


@pytest.fixture(scope="module")
def dialect_db(athena, glue, s3, tmp_path_factory):
    from sluice_helpers import unique_bucket, unique_name
    bucket = unique_bucket("dialect")
    s3.create_bucket(Bucket=bucket)
    name = unique_name("dialectdb")
    glue.create_database(DatabaseInput={"Name": name})
    put_ndjson(s3, bucket, "t/part-0.json", [{"k": "a1", "d": "2025-08-01"}, {"k": "a2", "d": "2025-08-15"},
                                             {"k": "b", "d": "2025-09-01"}])
    run_query(athena, ("CREATE EXTERNAL TABLE t (k string, d date) ROW FORMAT SERDE "
                       f"'org.openx.data.jsonserde.JsonSerDe' LOCATION 's3://{bucket}/t/'"), name, bucket)
    return name, bucket


def test_dialect_file_has_cases():
    assert len(CASES) >= 15


@pytest.mark.parametrize("name,sql,expected", CASES, ids=[c[0] for c in CASES])
def test_dialect(athena, dialect_db, name, sql, expected):
    dbname, bucket = dialect_db
    _, rows = run_query(athena, sql.replace("{db}", dbname), dbname, bucket)
    assert rows == expected, f"{name}: {sql}"
