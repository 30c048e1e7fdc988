"""S3 through Debian's AWS CLI v2 (/usr/bin/aws)."""

import hashlib
import json
import math
import os
import subprocess
import urllib.request

from sluice_helpers import MiB, list_all_keys, unique_bucket


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(MiB), b""):
            h.update(block)
    return h.hexdigest()


def _tree(root):
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = os.path.join(dirpath, f)
            out[os.path.relpath(p, root)] = open(p, "rb").read()
    return out


def test_mb_ls_rb(aws, s3):
    name = unique_bucket("cli-mb")
    out = aws("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in out.stdout
    assert name in aws("s3", "ls").stdout.split()
    s3.head_bucket(Bucket=name)
    # mb on an existing bucket fails (BucketAlreadyOwnedByYou) or is accepted (us-east-1 200).
    aws("s3", "mb", f"s3://{name}", check=False)

    aws("s3", "cp", "-", f"s3://{name}/f", input="x")
    out = aws("s3", "rb", f"s3://{name}", check=False)
    assert out.returncode != 0
    assert "BucketNotEmpty" in out.stderr
    out = aws("s3", "rb", f"s3://{name}", "--force")
    assert f"remove_bucket: {name}" in out.stdout
    assert name not in aws("s3", "ls").stdout.split()
    out = aws("s3", "ls", f"s3://{name}", check=False)
    assert out.returncode != 0 and "NoSuchBucket" in out.stderr


def test_cp_small(aws, s3, bucket, tmp_path):
    src = tmp_path / "small.txt"
    src.write_bytes(b"small file via the cli\n" * 10)
    out = aws("s3", "cp", src, f"s3://{bucket}/docs/small.txt")
    assert "upload: " in out.stdout and f"small.txt to s3://{bucket}/docs/small.txt" in out.stdout
    assert s3.get_object(Bucket=bucket, Key="docs/small.txt")["Body"].read() == src.read_bytes()
    # The CLI guesses the content type from the extension.
    assert s3.head_object(Bucket=bucket, Key="docs/small.txt")["ContentType"] == "text/plain"
    dst = tmp_path / "back.txt"
    aws("s3", "cp", f"s3://{bucket}/docs/small.txt", dst)
    assert dst.read_bytes() == src.read_bytes()
    # stdin / stdout streaming.
    aws("s3", "cp", "-", f"s3://{bucket}/stream", input="from stdin")
    assert aws("s3", "cp", f"s3://{bucket}/stream", "-").stdout == "from stdin"
    # Server-side copy.
    aws("s3", "cp", f"s3://{bucket}/docs/small.txt", f"s3://{bucket}/docs/copy.txt")
    assert s3.get_object(Bucket=bucket, Key="docs/copy.txt")["Body"].read() == src.read_bytes()
    # Missing source.
    out = aws("s3", "cp", f"s3://{bucket}/missing", tmp_path / "m", check=False)
    assert out.returncode != 0
    assert "404" in out.stderr or "Not Found" in out.stderr


def test_cp_large_multipart(aws, s3, bucket, tmp_path):
    size = 100 * MiB
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        block = os.urandom(MiB)
        for i in range(size // MiB):
            f.write(bytes([i % 256]) + block[1:])
    aws("s3", "cp", src, f"s3://{bucket}/big/big.bin", timeout=240)
    head = s3.head_object(Bucket=bucket, Key="big/big.bin")
    assert head["ContentLength"] == size
    # The CLI splits at 8 MiB: a multipart ETag "<md5 of part md5s>-13".
    parts = math.ceil(size / (8 * MiB))
    etag = head["ETag"].strip('"')
    assert etag.endswith(f"-{parts}"), etag
    with open(src, "rb") as f:
        md5s = b"".join(hashlib.md5(iter_block).digest()
                        for iter_block in iter(lambda: f.read(8 * MiB), b""))
    assert etag == f"{hashlib.md5(md5s).hexdigest()}-{parts}"
    dst = tmp_path / "big.out"
    aws("s3", "cp", f"s3://{bucket}/big/big.bin", dst, timeout=240)
    assert dst.stat().st_size == size
    assert _sha256_file(dst) == _sha256_file(src)
    dst.unlink()
    src.unlink()


def test_ls(aws, s3, bucket):
    for key, body in {"top.txt": b"12345", "dir/a.txt": b"a", "dir/sub/b.txt": b"bb",
                      "other/c.txt": b"ccc"}.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    lines = aws("s3", "ls", f"s3://{bucket}/").stdout.splitlines()
    assert any(line.split() == ["PRE", "dir/"] for line in lines), lines
    assert any(line.split() == ["PRE", "other/"] for line in lines), lines
    files = [line.split() for line in lines if "PRE" not in line]
    assert [(f[-2], f[-1]) for f in files] == [("5", "top.txt")]

    lines = aws("s3", "ls", f"s3://{bucket}/dir/").stdout.splitlines()
    assert sorted(line.split()[-1] for line in lines) == ["a.txt", "sub/"]

    lines = aws("s3", "ls", f"s3://{bucket}", "--recursive").stdout.splitlines()
    got = {line.split()[-1]: int(line.split()[-2]) for line in lines}
    assert got == {"top.txt": 5, "dir/a.txt": 1, "dir/sub/b.txt": 2, "other/c.txt": 3}
    out = aws("s3", "ls", f"s3://{bucket}", "--recursive", "--summarize").stdout
    assert "Total Objects: 4" in out
    assert "Total Size: 11" in out


def test_sync_round_trip(aws, s3, bucket, tmp_path):
    src = tmp_path / "src"
    files = {
        "a.txt": b"alpha",
        "nested/b.json": b'{"b": 1}',
        "nested/deeper/c.bin": os.urandom(3000),
        "with space/d e.txt": b"spaces",
        "unicode/\u00fc\u00df.txt": b"umlaut",
        "big/e.bin": os.urandom(9 * MiB),  # multipart inside sync
    }
    for rel, data in files.items():
        p = src / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    out = aws("s3", "sync", src, f"s3://{bucket}/sync")
    assert out.stdout.count("upload:") == len(files)
    assert sorted(list_all_keys(s3, bucket)) == sorted(f"sync/{k}" for k in files)

    # Nothing changed: nothing to upload.
    out = aws("s3", "sync", src, f"s3://{bucket}/sync")
    assert "upload:" not in out.stdout, out.stdout

    # One file changes size: only it is uploaded; --delete removes what is gone locally.
    (src / "a.txt").write_bytes(b"alpha, longer now")
    (src / "nested/b.json").unlink()
    out = aws("s3", "sync", src, f"s3://{bucket}/sync", "--delete")
    assert out.stdout.count("upload:") == 1 and "a.txt" in out.stdout, out.stdout
    assert out.stdout.count("delete:") == 1 and "b.json" in out.stdout, out.stdout

    dst = tmp_path / "dst"
    aws("s3", "sync", f"s3://{bucket}/sync", dst)
    assert _tree(dst) == _tree(src)
    out = aws("s3", "sync", f"s3://{bucket}/sync", dst)
    assert "download:" not in out.stdout, out.stdout


def test_rm_recursive(aws, s3, bucket):
    keys = ["logs/1", "logs/2", "logs/x/3", "logsother", "keep/1"]
    for k in keys:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    out = aws("s3", "rm", f"s3://{bucket}/logs/", "--recursive")
    assert out.stdout.count("delete:") == 3
    assert list_all_keys(s3, bucket) == ["keep/1", "logsother"]
    aws("s3", "rm", f"s3://{bucket}/keep/1")
    assert list_all_keys(s3, bucket) == ["logsother"]
    aws("s3", "rm", f"s3://{bucket}", "--recursive")
    assert list_all_keys(s3, bucket) == []


def test_s3api_object_commands(aws, bucket, tmp_path):
    body = tmp_path / "body.json"
    body.write_bytes(b'{"hello": "world"}')
    r = aws.json("s3api", "put-object", "--bucket", bucket, "--key", "api/obj.json",
                 "--body", body, "--content-type", "application/json",
                 "--metadata", "origin=cli,run=1")
    etag = r["ETag"]
    assert etag == f'"{hashlib.md5(body.read_bytes()).hexdigest()}"'

    h = aws.json("s3api", "head-object", "--bucket", bucket, "--key", "api/obj.json")
    assert h["ContentLength"] == len(body.read_bytes())
    assert h["ContentType"] == "application/json"
    assert h["Metadata"] == {"origin": "cli", "run": "1"}
    assert h["ETag"] == etag

    out = tmp_path / "out.json"
    g = aws.json("s3api", "get-object", "--bucket", bucket, "--key", "api/obj.json", out)
    assert out.read_bytes() == body.read_bytes()
    assert g["ETag"] == etag
    g = aws.json("s3api", "get-object", "--bucket", bucket, "--key", "api/obj.json",
                 "--range", "bytes=2-6", out)
    assert out.read_bytes() == b"hello"
    assert g["ContentRange"] == "bytes 2-6/18"

    for i in range(3):
        aws.json("s3api", "put-object", "--bucket", bucket, "--key", f"api/n{i}", "--body", body)
    r = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "api/",
                 "--no-paginate")
    assert [o["Key"] for o in r["Contents"]] == ["api/n0", "api/n1", "api/n2", "api/obj.json"]
    assert r["KeyCount"] == 4
    # The CLI paginates transparently with --page-size.
    r = aws.json("s3api", "list-objects-v2", "--bucket", bucket, "--page-size", "1")
    assert len(r["Contents"]) == 4

    delete = {"Objects": [{"Key": "api/n0"}, {"Key": "api/n1"}, {"Key": "api/none"}]}
    r = aws.json("s3api", "delete-objects", "--bucket", bucket, "--delete", json.dumps(delete))
    assert sorted(d["Key"] for d in r["Deleted"]) == ["api/n0", "api/n1", "api/none"]
    r = aws.json("s3api", "list-objects-v2", "--bucket", bucket)
    assert [o["Key"] for o in r["Contents"]] == ["api/n2", "api/obj.json"]

    res = aws("s3api", "get-object", "--bucket", bucket, "--key", "api/n0", out, check=False)
    assert res.returncode != 0 and "NoSuchKey" in res.stderr
    res = aws("s3api", "head-object", "--bucket", bucket, "--key", "api/n0", check=False)
    assert res.returncode != 0 and "404" in res.stderr


def test_version_health_and_usage(server, sluice_bin):
    out = subprocess.run([sluice_bin, "version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith("sluice ")
    bad = subprocess.run([sluice_bin, "no-such-command"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "usage: sluice" in bad.stderr
    with urllib.request.urlopen(f"{server.endpoint}/health", timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "ok" and body["services"]["s3"] == "running"
    assert body["version"] == out.stdout.split()[1]
