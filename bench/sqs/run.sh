#!/usr/bin/env bash
# SQS throughput: messages/s for SendMessage, SendMessageBatch (10), ReceiveMessage +
# DeleteMessage and ReceiveMessage (10) + DeleteMessageBatch, against a same-run baseline on
# the same server, client and connections: GetQueueUrl, a signed JSON-protocol request that
# the service answers from memory (SigV4 check, routing, JSON in and out: the ceiling of the
# request path), and GET /health (unsigned: the bare HTTP round trip).
#
#   SLUICE_BIN=path/to/sluice bench/sqs/run.sh
#
# Every SQS case is durable: a send, receive (receive count, visibility) and delete is
# committed to SQLite (group commit, synchronous=FULL) before it is acknowledged, so the
# ratio to the baseline is what durability and the queue cost per request. See
# bench/sqs/README.md.
#
# Settings (environment):
#   SLUICE_BIN         the binary (default build/src/cmd/sluice)
#   BENCH_SECONDS      seconds per case (default 5)
#   BENCH_THREADS      client connections, one thread each (default 16)
#
# The client is bench/sqs/load.cc (compiled here with g++ into bench/.cache/sqs/): keep-alive
# connections, SigV4 signed with OpenSSL, so that the client is not what is measured.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/common.sh

case "${SLUICE_BIN:-}" in "" | /*) ;; *) SLUICE_BIN="$PWD/$SLUICE_BIN" ;; esac
SLUICE_BIN="${SLUICE_BIN:-build/src/cmd/sluice}"
SECS="${BENCH_SECONDS:-5}"
THREADS="${BENCH_THREADS:-16}"
[ -x "$SLUICE_BIN" ] || bench_die "Sluice binary not found at $SLUICE_BIN (build it, or set SLUICE_BIN)"
BENCH_PY="$(bench_find_python)" || bench_die "no python3 with botocore"
bench_need_cmd g++ g++ || bench_die "g++ is missing and could not be installed"
[ -f /usr/include/openssl/hmac.h ] || bench_apt_install libssl-dev || bench_die "OpenSSL headers missing (libssl-dev)"
LOAD=bench/.cache/sqs/load
mkdir -p bench/.cache/sqs
if [ ! -x "$LOAD" ] || [ bench/sqs/load.cc -nt "$LOAD" ]; then
  bench_log "compiling $LOAD"
  g++ -O2 -std=c++20 -Wall -Wextra bench/sqs/load.cc -o "$LOAD.tmp" -lcrypto -lpthread || bench_die "could not compile the client"
  mv "$LOAD.tmp" "$LOAD"
fi

bench_init sqs
PORT="$(bench_free_port)"
PG_PORT="$(bench_free_port)"
ENDPOINT="http://127.0.0.1:$PORT"
"$SLUICE_BIN" server --data-dir "$BENCH_TMP/data" --host 127.0.0.1 --port "$PORT" --pg-port "$PG_PORT" \
  >"$BENCH_TMP/server.log" 2>&1 &
SERVER_PID=$!
bench_track_pid "$SERVER_PID"
bench_wait_http "$ENDPOINT/health" 30 "$SERVER_PID" || { cat "$BENCH_TMP/server.log" >&2; bench_die "server did not start"; }

# The queues (boto3, query protocol).
read -r Q1 Q2 < <("$BENCH_PY" - "$ENDPOINT" <<'PY'
import sys, boto3
c = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test")
print(*[c.create_queue(QueueName=n)["QueueUrl"] for n in ("bench-single", "bench-batch")])
PY
)

LOAD_START="$(bench_loadavg)"
bench_log "loadavg at start: $LOAD_START; $THREADS connections, ${SECS}s per case"
RESULTS="$BENCH_TMP/results.ndjson"
: >"$RESULTS"
run_case() {  # CASE QUEUE_URL [quiet]
  local out
  out="$("$LOAD" 127.0.0.1 "$PORT" "$1" "$2" "$THREADS" "$SECS")"
  [ "${3:-}" = quiet ] || echo "$out" >>"$RESULTS"
  bench_log "$out"
}
# The physical limit of a durable acknowledgement: write + fdatasync of 4 KiB, one thread, on
# the data directory's file system (a send waits for one such sync, shared by its group).
"$BENCH_PY" - "$BENCH_TMP/data" "$SECS" >>"$RESULTS" <<'PY'
import json, os, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
n, end = 0, time.time() + float(sys.argv[2])
while time.time() < end:
    os.pwrite(fd, b"x" * 4096, (n % 256) * 4096)
    os.fdatasync(fd)
    n += 1
os.close(fd)
os.unlink(path)
print(json.dumps({"case": "fdatasync", "requests": n, "messages": 0, "errors": 0, "seconds": float(sys.argv[2])}))
PY
bench_log "$(tail -1 "$RESULTS")"
run_case health "$Q1"
run_case noop "$Q1"
run_case send "$Q1"
run_case send-batch "$Q2"
run_case send-batch "$Q2" quiet   # more messages for the batch receive case
run_case receive-delete "$Q1"
run_case receive-delete-batch "$Q2"
run_case noop "$Q1"               # the baseline again, after the disk-heavy cases

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p bench/out
"$BENCH_PY" - "$RESULTS" "bench/out/sqs-$STAMP.json" "$LOAD_START" "$(bench_loadavg)" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
noop = max(r["requests"] / r["seconds"] for r in rows if r["case"] == "noop")
health = next(r["requests"] / r["seconds"] for r in rows if r["case"] == "health")
syncs = next(r["requests"] / r["seconds"] for r in rows if r["case"] == "fdatasync")
print(f"{'case':24} {'requests/s':>11} {'messages/s':>11} {'errors':>7} {'msgs/s ÷ GetQueueUrl/s':>24}")
out = []
for r in rows:
    rps, mps = r["requests"] / r["seconds"], r["messages"] / r["seconds"]
    ratio = mps / noop if r["case"] not in ("health", "noop", "fdatasync") else None
    print(f"{r['case']:24} {rps:11.0f} {mps:11.0f} {r['errors']:7d} {'' if ratio is None else f'{ratio:24.2f}'}")
    out.append(dict(r, requests_per_s=rps, messages_per_s=mps, ratio_to_noop=ratio))
print(f"baseline: GetQueueUrl {noop:.0f} requests/s (best of two runs), GET /health {health:.0f} requests/s, "
      f"4 KiB write+fdatasync {syncs:.0f}/s (one thread)")
sends = next(r["messages"] / r["seconds"] for r in rows if r["case"] == "send")
print(f"single sends per fdatasync: {sends / syncs:.1f} (group commit: >1 means requests shared a sync)")
json.dump({"results": out, "baseline_noop_rps": noop, "baseline_health_rps": health, "fdatasync_per_s": syncs,
           "loadavg_start": sys.argv[3], "loadavg_end": sys.argv[4]}, open(sys.argv[2], "w"), indent=1)
print(f"written: {sys.argv[2]}")
PY
