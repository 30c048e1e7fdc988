#!/usr/bin/env bash
# Lambda: warm invoke latency (p50/p99) and invokes/s of a python echo handler through
# Sluice (signed Invoke over HTTP, keep-alive), against the same handler run by the same
# python runtime bootstrap under a minimal Runtime API loop in this run (no HTTP front end,
# no Sluice), and the cold start (first invoke after a configuration change).
#
#   SLUICE_BIN=path/to/sluice bench/lambda/run.sh
#
# Settings (environment):
#   SLUICE_BIN         the binary (default build/src/cmd/sluice)
#   BENCH_INVOKES      warm invokes per latency case (default 2000)
#   BENCH_THREADS      concurrent clients for the throughput case (default 4)
#   BENCH_COLD         cold starts measured (default 5)
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/common.sh

case "${SLUICE_BIN:-}" in "" | /*) ;; *) SLUICE_BIN="$PWD/$SLUICE_BIN" ;; esac
SLUICE_BIN="${SLUICE_BIN:-build/src/cmd/sluice}"
[ -x "$SLUICE_BIN" ] || bench_die "Sluice binary not found at $SLUICE_BIN (build it, or set SLUICE_BIN)"
BENCH_PY="$(bench_find_python)" || bench_die "no python3 with botocore"

bench_init lambda
PORT="$(bench_free_port)"
PG_PORT="$(bench_free_port)"
ENDPOINT="http://127.0.0.1:$PORT"
"$SLUICE_BIN" server --data-dir "$BENCH_TMP/data" --host 127.0.0.1 --port "$PORT" --pg-port "$PG_PORT" \
  >"$BENCH_TMP/server.log" 2>&1 &
SERVER_PID=$!
bench_track_pid "$SERVER_PID"
bench_wait_http "$ENDPOINT/health" 30 "$SERVER_PID" || { cat "$BENCH_TMP/server.log" >&2; bench_die "server did not start"; }

LOAD_START="$(bench_loadavg)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p bench/out
"$BENCH_PY" bench/lambda/lambda_bench.py "$ENDPOINT" "$BENCH_TMP" "bench/out/lambda-$STAMP.json" \
  "${BENCH_INVOKES:-2000}" "${BENCH_THREADS:-4}" "${BENCH_COLD:-5}" "$LOAD_START"
