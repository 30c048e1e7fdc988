"""Fixtures for the end-to-end tests.

Run: SLUICE_BIN=build/src/cmd/sluice /usr/bin/python3 -m pytest -q tests
The binary is started as `sluice server --data-dir DIR --host 127.0.0.1 --port PORT`.
Set SLUICE_KEEP_DATA=1 to keep the temporary data dirs and logs for inspection.
"""

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from sluice_helpers import (ALL_SERVERS, SluiceServer, empty_bucket, make_client, make_s3,
                            unique_bucket)

REPO = Path(__file__).resolve().parent.parent
AWS_CLI = "/usr/bin/aws"  # Debian's AWS CLI v2, never the one on PATH


def _sluice_bin():
    path = os.environ.get("SLUICE_BIN") or str(REPO / "build" / "src" / "cmd" / "sluice")
    return Path(path).resolve()


# ---------------------------------------------------------------------------------------
# Server logs in failure reports


def pytest_runtest_setup(item):
    item._sluice_log_marks = {id(s): s.log_size() for s in ALL_SERVERS}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    marks = getattr(item, "_sluice_log_marks", {})
    for srv in ALL_SERVERS:
        since = marks.get(id(srv), 0) if rep.when != "setup" else 0
        text = srv.log_text(since)
        state = "running" if srv.running() else (
            f"exited with {srv.proc.returncode}" if srv.proc is not None else "never started")
        if srv.name == "sluice-main" and srv.proc is not None and not srv.running():
            text = text or srv.log_text()
        if text:
            rep.sections.append((f"{srv.name} stderr ({state})", text))


# ---------------------------------------------------------------------------------------
# Servers


@pytest.fixture(scope="session")
def sluice_bin():
    path = _sluice_bin()
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"sluice binary not found at {path}: build it (make build) or set SLUICE_BIN",
                    pytrace=False)
    return path


@pytest.fixture(scope="session")
def tmp_root():
    root = Path(tempfile.mkdtemp(prefix="sluice-it-"))
    yield root
    if not os.environ.get("SLUICE_KEEP_DATA"):
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def server(sluice_bin, tmp_root):
    """The shared server for the whole session."""
    data = tmp_root / "main" / "data"
    srv = SluiceServer(sluice_bin, data, tmp_root / "main" / "server.log", name="sluice-main")
    srv.start()
    yield srv
    code = srv.stop()
    assert code == 0, f"sluice exited with {code} on SIGTERM:\n{srv.log_text()}"


@pytest.fixture
def server_factory(sluice_bin, tmp_root, request):
    """Makes independent servers, each on its own data dir: factory(start=True)."""
    made = []

    def factory(start=True, name=None):
        base = tmp_root / f"{name or request.node.name[:40]}-{len(made)}-{os.urandom(3).hex()}"
        srv = SluiceServer(sluice_bin, base / "data", base / "server.log",
                           name=f"sluice-{base.name}")
        made.append(srv)
        if start:
            srv.start()
        return srv

    yield factory
    for srv in made:
        srv.kill()


# ---------------------------------------------------------------------------------------
# Clients


@pytest.fixture(scope="session")
def s3(server):
    return make_s3(server.endpoint)


@pytest.fixture(scope="session")
def glue(server):
    return make_client("glue", server.endpoint)


@pytest.fixture(scope="session")
def athena(server):
    return make_client("athena", server.endpoint)


@pytest.fixture(scope="session")
def sqs(server):
    """boto3 SQS (Debian's botocore speaks the query protocol for SQS)."""
    return make_client("sqs", server.endpoint)


@pytest.fixture(scope="session")
def rsd(server):
    """The Redshift Data API."""
    return make_client("redshift-data", server.endpoint)


@pytest.fixture(scope="session")
def sns(server):
    return make_client("sns", server.endpoint)


@pytest.fixture
def bucket(s3, request):
    """A fresh, uniquely named bucket, emptied and removed afterwards."""
    name = unique_bucket(request.node.originalname[:30].replace("test_", "t-").replace("_", "-"))
    s3.create_bucket(Bucket=name)
    yield name
    empty_bucket(s3, name)


class AwsCli:
    """Runs /usr/bin/aws against one endpoint with test credentials and no user config."""

    def __init__(self, endpoint, home):
        if not os.path.isfile(AWS_CLI):
            pytest.fail(f"{AWS_CLI} is missing (Debian package awscli)", pytrace=False)
        self.endpoint = endpoint
        home.mkdir(parents=True, exist_ok=True)
        config = home / "config"
        config.write_text("[default]\nregion = us-east-1\ns3 =\n  addressing_style = path\n")
        creds = home / "credentials"
        creds.write_text("")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k not in ("PYTHONPATH", "PYTHONHOME")}
        env.update({
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(config),
            "AWS_SHARED_CREDENTIALS_FILE": str(creds),
            "AWS_PAGER": "",
            "AWS_EC2_METADATA_DISABLED": "true",
            "HOME": str(home),
        })
        self.env = env

    def __call__(self, *args, check=True, input=None, timeout=300, cwd=None):
        cmd = [AWS_CLI, "--endpoint-url", self.endpoint, "--no-cli-pager", *map(str, args)]
        out = subprocess.run(cmd, env=self.env, capture_output=True, text=True, input=input,
                             timeout=timeout, cwd=cwd)
        if check and out.returncode != 0:
            raise AssertionError(
                f"aws {' '.join(map(str, args))} -> exit {out.returncode}\n"
                f"stdout:\n{out.stdout}\nstderr:\n{out.stderr}")
        return out

    def json(self, *args, **kw):
        out = self(*args, "--output", "json", **kw)
        return json.loads(out.stdout) if out.stdout.strip() else {}


@pytest.fixture(scope="session")
def aws(server, tmp_root):
    return AwsCli(server.endpoint, tmp_root / "aws-home")


@pytest.fixture
def db(glue):
    """A fresh Glue database (Athena's and the catalog tests' working database)."""
    from sluice_helpers import drop_database, unique_name
    name = unique_name("db")
    glue.create_database(DatabaseInput={"Name": name})
    yield name
    drop_database(glue, name)
