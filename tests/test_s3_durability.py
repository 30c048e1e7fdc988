"""Crash safety, restarts and the on-disk lake layout."""

import hashlib
import os
import random
import signal
import threading

import pytest

from sluice_helpers import MiB, crash_rng, kill_mid_work, list_all_keys, make_s3, sha256, unique_bucket, wait_for

UPLOADERS = 8
ROUNDS = 3


def _payload(rng):
    # Mostly small objects, some up to 2 MiB; at least 1 byte.
    if rng.random() < 0.4:
        return rng.randbytes(rng.randint(1, 4096))
    return rng.randbytes(rng.randint(1, 2 * MiB))


def test_kill9_keeps_acknowledged_objects(server_factory):
    master = crash_rng("crash test")
    srv = server_factory(name="crash")
    bucket = unique_bucket("crash")
    make_s3(srv.endpoint).create_bucket(Bucket=bucket)

    attempted = {}  # key -> sha256 of the one payload ever sent under that key
    acked = {}      # key -> sha256, only once the PUT returned 200
    problems = []   # errors seen while the server was supposed to be up
    lock = threading.Lock()

    for rnd in range(ROUNDS):
        if rnd > 0:
            srv.start()
        client = make_s3(srv.endpoint, read_timeout=20)
        stop = threading.Event()
        killing = threading.Event()
        acked_this_round = [0]

        def uploader(tid, rng):
            n = 0
            while not stop.is_set():
                key = f"r{rnd}/t{tid}/{n:05d}"
                n += 1
                try:
                    if tid == 0 and n % 4 == 0:
                        # A multipart upload now and then: 5 MiB + a tail.
                        parts = [rng.randbytes(5 * MiB), rng.randbytes(rng.randint(1, MiB))]
                        digest = sha256(b"".join(parts))
                        with lock:
                            attempted[key] = digest
                        uid = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
                        etags = []
                        for i, p in enumerate(parts, 1):
                            r = client.upload_part(Bucket=bucket, Key=key, UploadId=uid,
                                                   PartNumber=i, Body=p)
                            etags.append({"PartNumber": i, "ETag": r["ETag"]})
                        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                                         MultipartUpload={"Parts": etags})
                    else:
                        data = _payload(rng)
                        digest = sha256(data)
                        with lock:
                            attempted[key] = digest
                        r = client.put_object(Bucket=bucket, Key=key, Body=data)
                        if r["ETag"] != f'"{hashlib.md5(data).hexdigest()}"':
                            with lock:
                                problems.append(f"{key}: wrong ETag {r['ETag']}")
                except Exception as e:  # noqa: BLE001
                    if not killing.is_set():
                        with lock:
                            problems.append(f"{key}: {e!r} before the kill")
                    return  # the server is gone (or failing): stop this uploader
                with lock:
                    acked[key] = digest
                    acked_this_round[0] += 1

        threads = [threading.Thread(target=uploader, args=(t, random.Random(master.random())),
                                    daemon=True) for t in range(UPLOADERS)]
        for t in threads:
            t.start()
        # Let some uploads land, then kill at a random moment while others are in flight.
        wait_for(lambda: acked_this_round[0] >= 10 or not any(t.is_alive() for t in threads),
                 timeout=60, what="the first acknowledged uploads")
        assert any(t.is_alive() for t in threads), "all uploaders failed before the kill"
        kill_mid_work(srv, threads, stop, master, 0.05, 1.0, killing)
        assert not problems, problems[:10]

    srv.start()
    client = make_s3(srv.endpoint)
    listed = list_all_keys(client, bucket)
    listed_set = set(listed)
    assert len(listed) == len(listed_set)
    missing = sorted(set(acked) - listed_set)
    assert not missing, f"{len(missing)} acknowledged objects lost after kill -9: {missing[:10]}"
    unknown = sorted(listed_set - set(attempted))
    assert not unknown, f"listed keys that were never uploaded: {unknown[:10]}"
    for key in listed:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert sha256(body) == attempted[key], \
            f"{key}: {'acknowledged' if key in acked else 'unacknowledged'} object is " \
            f"partial or corrupt ({len(body)} bytes)"
    # No half-finished multipart upload is visible as an object, and the store still works.
    client.put_object(Bucket=bucket, Key="after-crash", Body=b"ok")
    assert client.get_object(Bucket=bucket, Key="after-crash")["Body"].read() == b"ok"
    print(f"attempted {len(attempted)}, acknowledged {len(acked)}, listed {len(listed)}")
    assert srv.stop() == 0


DELETED = "deleted"
OVERWRITERS = 6
OVERWRITE_ROUNDS = 5


def _mpu_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest(),
                        len(parts))


def test_kill9_during_overwrites_deletes_and_completes(server_factory):
    """Clients overwrite, delete and multipart-complete the same keys with different sizes;
    kill -9 at a random moment; after restart every key holds its last acknowledged state or
    the one in flight at the kill (keys shared by racing clients: some version written to
    them), its bytes match its ETag, nothing answers 503, and no unreferenced file is left."""
    master = crash_rng("overwrite crash test")
    seed = master.crash_seed
    srv = server_factory(name="overwrite-crash")
    bucket = unique_bucket("overwrite")
    make_s3(srv.endpoint).create_bucket(Bucket=bucket)
    owned = {t: [f"own/t{t}/k{i}" for i in range(3)] for t in range(OVERWRITERS)}
    shared = [f"race/k{i}" for i in range(3)]
    versions = {}    # key -> {sha256 of a body ever written to it: its ETag}
    last = {}        # owned key -> sha256 or DELETED, as last acknowledged (absent: never)
    inflight = {}    # owned key -> the state an unanswered request would leave
    deletes_tried = set()
    lock = threading.Lock()

    def write(client, rng, key):
        """One overwrite, delete or multipart complete of `key`; returns the state it leaves."""
        op = rng.random()
        if op < 0.2:
            with lock:
                deletes_tried.add(key)
            yield DELETED
            client.delete_object(Bucket=bucket, Key=key)
        elif op < 0.3:
            parts = [rng.randbytes(5 * MiB), rng.randbytes(rng.randint(1, 300_000))]
            digest = sha256(b"".join(parts))
            with lock:
                versions.setdefault(key, {})[digest] = _mpu_etag(parts)
            yield digest
            uid = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
            etags = [{"PartNumber": i, "ETag": client.upload_part(
                Bucket=bucket, Key=key, UploadId=uid, PartNumber=i, Body=p)["ETag"]}
                for i, p in enumerate(parts, 1)]
            client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid,
                                             MultipartUpload={"Parts": etags})
        else:
            size = rng.choice([rng.randint(0, 64), rng.randint(1000, 200_000),
                               rng.randint(MiB, 2 * MiB)])
            data = rng.randbytes(size)
            digest = sha256(data)
            with lock:
                versions.setdefault(key, {})[digest] = f'"{hashlib.md5(data).hexdigest()}"'
            yield digest
            client.put_object(Bucket=bucket, Key=key, Body=data)

    def check(client):
        problems = []
        for key in [k for ks in owned.values() for k in ks] + shared:
            try:
                got = client.get_object(Bucket=bucket, Key=key)
                body = got["Body"].read()
                state, etag = sha256(body), got["ETag"]
            except client.exceptions.NoSuchKey:
                state, etag = DELETED, None
            except Exception as e:  # noqa: BLE001  (503 SlowDown, 500, ...)
                problems.append(f"{key}: {e!r}")
                continue
            if state != DELETED and versions.get(key, {}).get(state) != etag:
                problems.append(f"{key}: {len(body)} bytes that were never written with ETag {etag}")
                continue
            if key in owned_keys:
                allowed = {last.get(key, DELETED), inflight.get(key, last.get(key, DELETED))}
                if state not in allowed:
                    problems.append(f"{key}: neither the acknowledged nor the in-flight version")
            elif state == DELETED and key not in deletes_tried and key in versions:
                problems.append(f"{key}: lost though never deleted")
            last[key] = state
            inflight.pop(key, None)
        return problems

    owned_keys = {k for ks in owned.values() for k in ks}
    for rnd in range(OVERWRITE_ROUNDS):
        if rnd > 0:
            srv.start()
            client = make_s3(srv.endpoint)
            problems = check(client)
            assert not problems, f"round {rnd} (seed {seed}): {problems[:10]}"
        client = make_s3(srv.endpoint, read_timeout=20)
        stop, killing = threading.Event(), threading.Event()
        acked = [0]
        errors = []

        def writer(tid, rng):
            while not stop.is_set():
                shared_key = rng.random() < 0.3
                key = rng.choice(shared) if shared_key else rng.choice(owned[tid])
                steps = write(client, rng, key)
                state = next(steps)
                if not shared_key:
                    inflight[key] = state
                try:
                    next(steps, None)
                except Exception as e:  # noqa: BLE001
                    if not killing.is_set():
                        errors.append(f"{key}: {e!r} before the kill")
                    return
                if not shared_key:
                    last[key] = state
                    inflight.pop(key, None)
                acked[0] += 1

        threads = [threading.Thread(target=writer, args=(t, random.Random(master.random())),
                                    daemon=True) for t in range(OVERWRITERS)]
        for t in threads:
            t.start()
        wait_for(lambda: acked[0] >= 20 or not any(t.is_alive() for t in threads),
                 timeout=60, what="the first acknowledged writes")
        kill_mid_work(srv, threads, stop, master, 0.0, 0.8, killing)
        assert not errors, errors[:10]

    srv.start()
    client = make_s3(srv.endpoint)
    problems = check(client)
    assert not problems, f"after the last restart (seed {seed}): {problems[:10]}"
    # Recovery left no file that no row names: the lake holds exactly the keys, nothing is
    # staged or temporary, and upload folders hold exactly the parts of open uploads.
    s3dir = srv.data_dir / "s3"
    lake = sorted(str(p.relative_to(s3dir / "objects" / bucket))
                  for p in (s3dir / "objects" / bucket).rglob("*") if p.is_file())
    assert lake == sorted(k for k, v in last.items() if v != DELETED)
    assert [p.name for p in (s3dir / "staged").iterdir()] == []
    assert [p.name for p in (s3dir / "tmp").iterdir()] == []
    uploads = client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert sorted(p.name for p in (s3dir / "uploads").iterdir()) == \
        sorted(u["UploadId"] for u in uploads)
    for u in uploads:
        parts = client.list_parts(Bucket=bucket, Key=u["Key"], UploadId=u["UploadId"])
        assert len(list((s3dir / "uploads" / u["UploadId"]).iterdir())) == \
            len(parts.get("Parts", [])), u
    assert srv.stop() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_graceful_restart_keeps_everything(server_factory, sig):
    srv = server_factory(name="graceful")
    s3 = make_s3(srv.endpoint)
    bucket = unique_bucket("restart")
    s3.create_bucket(Bucket=bucket)
    objects = {f"k/{i}": os.urandom(random.randint(0, 300_000)) for i in range(20)}
    for k, v in objects.items():
        s3.put_object(Bucket=bucket, Key=k, Body=v)
    s3.put_object(Bucket=bucket, Key="meta", Body=b"m", ContentType="text/x-m",
                  Metadata={"a": "b"}, Tagging="t=v")
    parts = [os.urandom(5 * MiB), b"tail"]
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etags = [{"PartNumber": i, "ETag": s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid,
                                                      PartNumber=i, Body=p)["ETag"]}
             for i, p in enumerate(parts, 1)]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=uid,
                                        MultipartUpload={"Parts": etags})
    # An upload left open across the restart.
    open_uid = s3.create_multipart_upload(Bucket=bucket, Key="open")["UploadId"]
    open_etag = s3.upload_part(Bucket=bucket, Key="open", UploadId=open_uid, PartNumber=1,
                               Body=b"open part")["ETag"]
    s3.delete_object(Bucket=bucket, Key="k/0")
    del objects["k/0"]

    assert srv.stop(sig) == 0, f"exit code after {sig!r}"
    srv.start()
    s3 = make_s3(srv.endpoint)
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert list_all_keys(s3, bucket) == sorted(list(objects) + ["meta", "mp"])
    for k, v in objects.items():
        assert s3.get_object(Bucket=bucket, Key=k)["Body"].read() == v, k
    h = s3.head_object(Bucket=bucket, Key="meta")
    assert h["ContentType"] == "text/x-m" and h["Metadata"] == {"a": "b"}
    assert s3.get_object_tagging(Bucket=bucket, Key="meta")["TagSet"] == [{"Key": "t",
                                                                          "Value": "v"}]
    g = s3.get_object(Bucket=bucket, Key="mp")
    assert g["ETag"] == done["ETag"]
    assert g["Body"].read() == b"".join(parts)
    # The open upload survived and can be completed.
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]] \
        == [open_uid]
    s3.complete_multipart_upload(Bucket=bucket, Key="open", UploadId=open_uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1,
                                                             "ETag": open_etag}]})
    assert s3.get_object(Bucket=bucket, Key="open")["Body"].read() == b"open part"


def test_lake_layout(server, s3, bucket):
    key = "lake/events/event_date=2025-08-01/part-0.json"
    data = b'{"id": 1, "event": "click"}\n{"id": 2, "event": "view"}\n'
    s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType="application/json")
    path = server.data_dir / "s3" / "objects" / bucket / key
    assert path.is_file(), f"{path} missing"
    assert path.read_bytes() == data
    # Overwrites and deletes are reflected in the file.
    s3.put_object(Bucket=bucket, Key=key, Body=b"{}\n")
    assert path.read_bytes() == b"{}\n"
    # A multipart object is one plain file too.
    mp_key = "lake/events/event_date=2025-08-02/part-0.json"
    parts = [b"a" * (5 * MiB), b"b" * 100]
    uid = s3.create_multipart_upload(Bucket=bucket, Key=mp_key)["UploadId"]
    etags = [{"PartNumber": i, "ETag": s3.upload_part(Bucket=bucket, Key=mp_key, UploadId=uid,
                                                      PartNumber=i, Body=p)["ETag"]}
             for i, p in enumerate(parts, 1)]
    s3.complete_multipart_upload(Bucket=bucket, Key=mp_key, UploadId=uid,
                                 MultipartUpload={"Parts": etags})
    mp_path = server.data_dir / "s3" / "objects" / bucket / mp_key
    assert mp_path.read_bytes() == b"".join(parts)
    s3.delete_object(Bucket=bucket, Key=key)
    assert not path.exists()
