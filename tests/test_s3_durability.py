"""Crash safety, restarts and the on-disk lake layout."""

import hashlib
import os
import random
import signal
import threading
import time

import pytest

from sluice_helpers import MiB, list_all_keys, make_s3, sha256, unique_bucket, wait_for

UPLOADERS = 8
ROUNDS = 3


def _payload(rng):
    # Mostly small objects, some up to 2 MiB; at least 1 byte.
    if rng.random() < 0.4:
        return rng.randbytes(rng.randint(1, 4096))
    return rng.randbytes(rng.randint(1, 2 * MiB))


def test_kill9_keeps_acknowledged_objects(server_factory):
    seed = int(os.environ.get("SLUICE_CRASH_SEED", time.time_ns() % 1_000_000))
    print(f"crash test seed {seed} (rerun with SLUICE_CRASH_SEED={seed})")
    master = random.Random(seed)
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
        time.sleep(master.uniform(0.05, 1.0))
        killing.set()
        srv.kill()
        stop.set()
        for t in threads:
            t.join(timeout=30)
            assert not t.is_alive(), "an uploader hung after the server was killed"
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
