"""Times one query over the PostgreSQL wire protocol (a minimal client: startup, MD5
password, simple query), as a BI tool on a kept connection runs it; prints the seconds of
each of ROUNDS runs, one per line.

  pg_query.py HOST PORT ROUNDS SQL
"""
import hashlib
import socket
import struct
import sys
import time

host, port, rounds, sql = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
USER, PASSWORD, DATABASE = "test", "test", "dev"
sock = socket.create_connection((host, port))


def read_exact(n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            sys.exit("pgwire: connection closed")
        buf += chunk
    return buf


def message():
    kind = read_exact(1)
    (length,) = struct.unpack("!I", read_exact(4))
    return kind, read_exact(length - 4)


def send(kind, body):
    sock.sendall(kind + struct.pack("!I", len(body) + 4) + body)


params = f"user\0{USER}\0database\0{DATABASE}\0\0".encode()
sock.sendall(struct.pack("!II", len(params) + 8, 196608) + params)
while True:
    kind, body = message()
    if kind == b"R":
        (code,) = struct.unpack("!I", body[:4])
        if code == 5:  # MD5: md5(md5(password + user) + salt)
            inner = hashlib.md5((PASSWORD + USER).encode()).hexdigest()
            send(b"p", b"md5" + hashlib.md5(inner.encode() + body[4:8]).hexdigest().encode() + b"\0")
        elif code == 3:
            send(b"p", PASSWORD.encode() + b"\0")
    elif kind == b"E":
        sys.exit(f"pgwire: {body!r}")
    elif kind == b"Z":
        break

for _ in range(rounds):
    t0 = time.monotonic()
    send(b"Q", sql.encode() + b"\0")
    rows = 0
    while True:
        kind, body = message()
        if kind == b"D":
            rows += 1
        elif kind == b"E":
            sys.exit(f"pgwire: {body!r}")
        elif kind == b"Z":
            break
    print(f"{time.monotonic() - t0:.6f}")
    assert rows > 0, "the query returned no rows"
send(b"X", b"")
