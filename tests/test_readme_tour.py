"""The README's quick tour, run as written: its ```sh and ```python blocks, in order, as one
shell session against a fresh server, with the AWS CLI v2 (/usr/bin/aws) and Debian's boto3.

Only what cannot be the same on a test machine is changed: the server is already running
(the `make run &` line is dropped), the endpoint's port is the test server's, and the
working folder is a temporary one where `sluice-data`, `build/src/cmd/sluice` and
`examples` point at the server's data dir, the binary under test and the repository's
examples. A README command that breaks fails this test.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from sluice_helpers import make_client

REPO = Path(__file__).resolve().parent.parent
AWS_CLI = "/usr/bin/aws"
PYTHON = "/usr/bin/python3"  # Debian's, with boto3 1.26


def tour_blocks(readme):
    """(language, text) of each fenced block from the quick tour up to the Server section."""
    start = readme.index("## A quick tour with the AWS CLI")
    end = readme.index("\n## Server", start)
    return [(m.group(1), m.group(2)) for m in
            re.finditer(r"^```(sh|python)\n(.*?)^```$", readme[start:end], re.S | re.M)]


def resolves(host):
    try:
        return any(a[4][0] == "127.0.0.1" for a in socket.getaddrinfo(host, None, socket.AF_INET))
    except OSError:
        return False


def tour_script(blocks, port, sync_cli):
    parts = ["set -e -o pipefail", "shopt -s expand_aliases"]
    for i, (lang, text) in enumerate(blocks):
        if i == 0:
            assert text.startswith("make run &"), text  # the server runs already
            text = text.split("\n", 1)[1]
        if "start-sync-execution" in text and lang == "sh" and not sync_cli:
            parts.append("echo 'SKIPPED: sync-localhost does not resolve here'")
            continue
        text = text.replace("127.0.0.1:4566", f"127.0.0.1:{port}").replace("localhost:4566", f"localhost:{port}")
        parts.append(f"printf '\\n=== block {i + 1}\\n'")
        if lang == "python":
            parts.append(f"python3 - <<'PYTHON_BLOCK'\n{text}PYTHON_BLOCK")
        else:
            parts.append(text)
    return "\n".join(parts) + "\nprintf '\\n=== done\\n'\n"


def test_readme_quick_tour(server_factory, sluice_bin, tmp_path):
    srv = server_factory(name="tour")
    work = tmp_path / "tour"
    (work / "build" / "src" / "cmd").mkdir(parents=True)
    (work / "build" / "src" / "cmd" / "sluice").symlink_to(sluice_bin)
    (work / "sluice-data").symlink_to(srv.data_dir.resolve())
    (work / "examples").symlink_to(REPO / "examples")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").symlink_to(AWS_CLI)
    (bin_dir / "python3").symlink_to(PYTHON)

    blocks = tour_blocks((REPO / "README.md").read_text())
    assert len(blocks) >= 6, blocks
    sync_cli = resolves("sync-localhost")
    script = tour_script(blocks, srv.port, sync_cli)
    (tmp_path / "tour.sh").write_text(script)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", AWS_ENDPOINT_URL=srv.endpoint,
               AWS_CONFIG_FILE=str(tmp_path / "no-config"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-creds"),
               AWS_PAGER="", HOME=str(tmp_path))
    p = subprocess.run(["bash", str(tmp_path / "tour.sh")], cwd=work, env=env, capture_output=True, text=True,
                       timeout=240)
    out = p.stdout
    assert p.returncode == 0 and out.rstrip().endswith("=== done"), (
        f"the tour failed (exit {p.returncode})\n--- stdout\n{out[-6000:]}\n--- stderr\n{p.stderr[-6000:]}")

    # The raw event, read in place by sluice sql --local.
    assert re.search(r"\|\s*u1\s*\|\s*view\s*\|\s*10\s*\|.*2025-08-01", out), out
    # Athena's result, from the CLI and from sluice sql.
    results = [json.loads(m) for m in re.findall(r"^\{\n.*?^\}$", out, re.S | re.M)]
    rows = [[d.get("VarCharValue") for d in r["Data"]] for res in results if "ResultSet" in res
            for r in res["ResultSet"]["Rows"]]
    assert ["2025-08-01", "10.0"] in rows, out
    assert re.search(r"\|\s*2025-08-01\s*\|\s*10\.0\s*\|", out), out
    # Two job runs: the second appended the new file's event to the curated data.
    assert out.count("SUCCEEDED\n") == 2, out
    assert "statement 1" in out, out
    assert re.search(r"\|\s*2025-08-01\s*\|\s*1\s*\|\n\|\s*2025-08-02\s*\|\s*1\s*\|", out), out
    # The upload reached the archive through the rule (the README prints 1); boto3's upload
    # that follows is archived too. StartSyncExecution ran.
    events_block = [b for b in out.split("=== block ") if "uploads-archive" in b]
    assert events_block and events_block[0].rstrip().splitlines()[-1] == "1", out
    events = make_client("events", srv.endpoint)
    deadline = time.monotonic() + 10
    while events.describe_archive(ArchiveName="uploads-archive")["EventCount"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert events.describe_archive(ArchiveName="uploads-archive")["EventCount"] == 2
    assert "{'x': 1}" in out, out
    if sync_cli:
        assert '"status": "SUCCEEDED"' in out, out
    # The object boto3 wrote is in the lake, and curl reads it by virtual-host addressing.
    assert re.search(r"^hi\n=== done", out, re.M), out
    assert (srv.data_dir / "s3" / "objects" / "lake" / "hello.txt").read_bytes() == b"hi"


def test_readme_tour_uses_only_what_the_machine_has():
    """Commands the README tells a new user to run exist (no `duckdb` binary, for one)."""
    readme = (REPO / "README.md").read_text()
    for lang, text in tour_blocks(readme):
        if lang != "sh":
            continue
        for line in text.splitlines():
            word = line.strip().split(" ", 1)[0]
            if word in ("duckdb", "psql", "spark-sql", "trino"):
                assert shutil.which(word), f"the tour runs {word}, which is not installed: {line}"
