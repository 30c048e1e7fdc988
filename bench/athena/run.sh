#!/usr/bin/env bash
# Athena benchmark: Sluice's Athena API against DuckDB itself, same run, same machine,
# same Parquet files (see bench/README.md).
#
#   bench/athena/run.sh                      # Sluice from build/src/cmd/sluice
#   SLUICE_BIN=path/to/sluice bench/athena/run.sh
#
# Starts `sluice server` on 127.0.0.1 and a free port, makes a partitioned Parquet table
# through Sluice's own Athena (CREATE TABLE AS, BENCH_ROWS rows in BENCH_PARTITIONS date
# partitions), then runs the same queries, in rounds that take turns:
#   - duckdb:       bench/athena/duckdb_direct.cc (compiled here against the libduckdb.so
#                   Sluice loads) with read_parquet over the table's files on disk,
#                   hive_partitioning=true: DuckDB's own time;
#   - duckdb-view:  the same program over the view shape Sluice's engine builds (a UNION
#                   ALL of one read_parquet per partition, re-created per query), to tell
#                   the cost of that shape from the cost of the API;
#   - sluice:       bench/athena/athena_bench.py: boto3 StartQueryExecution, polling
#                   GetQueryExecution every BENCH_POLL_MS ms, GetQueryResults;
#   - sluice-quiet: the lake scans again, polling every BENCH_QUIET_POLL_MS ms, so that the
#                   client stays off the CPU and EngineExecutionTimeInMillis is the engine's.
# Prints the table and writes bench/out/athena-<timestamp>.json. Everything started is
# stopped on exit.
#
# Settings (environment):
#   SLUICE_BIN          the binary (default build/src/cmd/sluice); missing: the DuckDB
#                       baseline alone, over a table DuckDB writes itself
#   SLUICE_ARGS         extra `sluice server` flags
#   BENCH_ROWS          rows in the table (default 2000000)
#   BENCH_PARTITIONS    event_date partitions (default 10; at least 3)
#   BENCH_ROUNDS        rounds (default 3); in each, every system runs every query
#   BENCH_REPS          timed repetitions of each query per system and round (default 20)
#   BENCH_POLL_MS       the client's sleep between GetQueryExecution polls (default 2)
#   BENCH_QUIET_POLL_MS the same in the `quiet` pass that times the engine alone (default 50)
#   DUCKDB_THREADS      threads of the standalone DuckDB (default 0: DuckDB's default, all
#                       cores, which is also what Sluice uses without a config file)
#   BENCH_PERF=1        also profile the Sluice server with `perf record -g` during the last
#                       round; the report goes to bench/out/athena-<timestamp>.perf.txt
#   BENCH_TMPDIR        where Sluice's data directory goes (default $TMPDIR or /tmp)
set -euo pipefail
case "${SLUICE_BIN:-}" in "" | /*) ;; *) SLUICE_BIN="$PWD/$SLUICE_BIN" ;; esac
case "${BENCH_TMPDIR:-}" in "" | /*) ;; *) BENCH_TMPDIR="$PWD/$BENCH_TMPDIR" ;; esac
cd "$(dirname "$0")/../.."
. bench/common.sh

ROWS="${BENCH_ROWS:-2000000}"
PARTITIONS="${BENCH_PARTITIONS:-10}"
ROUNDS="${BENCH_ROUNDS:-3}"
REPS="${BENCH_REPS:-20}"
POLL_MS="${BENCH_POLL_MS:-2}"
QUIET_POLL_MS="${BENCH_QUIET_POLL_MS:-50}"
DUCKDB_THREADS="${DUCKDB_THREADS:-0}"
BENCH_PERF="${BENCH_PERF:-0}"
SLUICE_BIN="${SLUICE_BIN:-build/src/cmd/sluice}"
SLUICE_ARGS="${SLUICE_ARGS:-}"
BUCKET=lake
[ "$PARTITIONS" -ge 3 ] || bench_die "BENCH_PARTITIONS must be at least 3 (a query reads the third)"

# ---------------------------------------------------------------- tools
have_boto3() { "$1" -c 'import boto3' >/dev/null 2>&1; }
BENCH_PY="$(bench_find_python)" || {
  bench_apt_install python3-boto3 || true
  BENCH_PY="$(bench_find_python)" || bench_die "no python3 with botocore (Debian package python3-boto3)"
}
if ! have_boto3 "$BENCH_PY"; then
  bench_apt_install python3-boto3 || true
  have_boto3 "$BENCH_PY" || bench_die "$BENCH_PY cannot import boto3 (Debian package python3-boto3)"
fi
bench_need_cmd g++ g++ || bench_die "g++ is missing and could not be installed"

HAVE_SLUICE=1
if [ ! -x "$SLUICE_BIN" ]; then
  HAVE_SLUICE=0
  bench_log "Sluice binary not found at $SLUICE_BIN (build it, or set SLUICE_BIN): measuring the DuckDB baseline only"
fi

# The baseline links the libduckdb.so Sluice itself loads; without Sluice, the project's.
DUCKDB_LIB=""
if [ "$HAVE_SLUICE" = 1 ]; then
  DUCKDB_LIB="$(ldd "$SLUICE_BIN" 2>/dev/null | awk '$1 == "libduckdb.so" && $3 ~ /^\// { print $3 }' | head -n 1)"
fi
if [ -z "$DUCKDB_LIB" ]; then
  DUCKDB_LIB="${SLUICE_DUCKDB_DIR:-.cache/duckdb}/lib/libduckdb.so"
  if [ ! -f "$DUCKDB_LIB" ] && [ -z "${SLUICE_DUCKDB_DIR:-}" ]; then
    scripts/fetch-duckdb.sh || bench_die "no libduckdb.so (scripts/fetch-duckdb.sh failed)"
  fi
fi
[ -f "$DUCKDB_LIB" ] || bench_die "libduckdb.so not found at $DUCKDB_LIB"
DUCKDB_LIBDIR="$(cd "$(dirname "$DUCKDB_LIB")" && pwd -P)"
DUCKDB_INC="$(dirname "$DUCKDB_LIBDIR")/include"
[ -f "$DUCKDB_INC/duckdb.h" ] || bench_die "duckdb.h not found next to $DUCKDB_LIB (expected $DUCKDB_INC/duckdb.h)"

# duckdb_direct, rebuilt when its source or the library changed; the rpath is relative to
# the binary ($ORIGIN), so nothing of this machine's layout is baked in beyond the cache.
DIRECT_DIR=bench/.cache/athena
DIRECT="$DIRECT_DIR/duckdb_direct"
mkdir -p "$DIRECT_DIR"
RPATH="\$ORIGIN/$(realpath --relative-to="$DIRECT_DIR" "$DUCKDB_LIBDIR")"
if [ ! -x "$DIRECT" ] || [ bench/athena/duckdb_direct.cc -nt "$DIRECT" ] || [ "$DUCKDB_LIB" -nt "$DIRECT" ] ||
   [ "$(cat "$DIRECT.rpath" 2>/dev/null)" != "$RPATH" ]; then
  bench_log "compiling bench/athena/duckdb_direct.cc into $DIRECT"
  g++ -O2 -std=c++20 -Wall -Wextra -I"$DUCKDB_INC" bench/athena/duckdb_direct.cc -o "$DIRECT.tmp" \
    -L"$DUCKDB_LIBDIR" -lduckdb -Wl,-rpath,"$RPATH" || bench_die "could not compile duckdb_direct"
  mv "$DIRECT.tmp" "$DIRECT"
  printf '%s\n' "$RPATH" >"$DIRECT.rpath"
fi
[ "$(ldd "$DIRECT" | awk '$1 == "libduckdb.so" { print $3 }')" -ef "$DUCKDB_LIB" ] ||
  bench_die "$DIRECT does not load $DUCKDB_LIB"

# ---------------------------------------------------------------- setup
bench_init athena
T="$BENCH_TMP"
DATA="$T/sluice"
mkdir -p "$DATA" "$T/logs"
RESULTS="$T/results.jsonl"
: >"$RESULTS"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOAD_START="$(bench_loadavg)"
bench_log "loadavg at start: $LOAD_START"

SLUICE_PORT=""
SLUICE_PID=""
CTAS_S=""
if [ "$HAVE_SLUICE" = 1 ]; then
  SLUICE_PORT="$(bench_free_port)"
  # shellcheck disable=SC2086  # SLUICE_ARGS is a list of words on purpose
  "$SLUICE_BIN" server --data-dir "$DATA" --host 127.0.0.1 --port "$SLUICE_PORT" $SLUICE_ARGS \
    >"$T/logs/sluice.out" 2>&1 &
  SLUICE_PID=$!
  bench_track_pid "$SLUICE_PID"
  if ! bench_wait_http "http://127.0.0.1:$SLUICE_PORT/health" 30 "$SLUICE_PID"; then
    tail -n 20 "$T/logs/sluice.out" >&2 || true
    bench_die "Sluice did not come up on 127.0.0.1:$SLUICE_PORT"
  fi
  bench_log "sluice on 127.0.0.1:$SLUICE_PORT; CREATE TABLE AS of $ROWS rows in $PARTITIONS partitions"
  SETUP="$(timeout 300 "$BENCH_PY" bench/athena/athena_bench.py setup --port "$SLUICE_PORT" --bucket "$BUCKET" \
    --rows "$ROWS" --partitions "$PARTITIONS" --timeout 240 2>"$T/logs/setup.err")" || {
    tail -n 20 "$T/logs/setup.err" "$T/logs/sluice.out" >&2 || true
    bench_die "could not make the table through Sluice's Athena"
  }
  CTAS_S="$("$BENCH_PY" -c 'import json, sys; print(json.loads(sys.argv[1])["ctas_s"])' "$SETUP")"
  bench_log "table made in ${CTAS_S}s"
  TABLE_INFO="$("$BENCH_PY" bench/athena/athena_bench.py queries --port "$SLUICE_PORT" --bucket "$BUCKET" \
    --data-dir "$DATA" --direct "$T/direct.tsv" --view "$T/view.tsv")" || bench_die "could not write the query files"
else
  # The same rows, written by DuckDB itself (COPY ... PARTITION_BY) where Sluice would keep them.
  "$BENCH_PY" bench/athena/athena_bench.py gen --data-dir "$DATA" --bucket "$BUCKET" --rows "$ROWS" \
    --partitions "$PARTITIONS" --out "$T/gen.tsv"
  timeout 300 "$DIRECT" --queries "$T/gen.tsv" --reps 1 --warmup 0 >/dev/null 2>"$T/logs/gen.err" ||
    { cat "$T/logs/gen.err" >&2; bench_die "DuckDB could not write the table"; }
  TABLE_INFO="$("$BENCH_PY" bench/athena/athena_bench.py queries --bucket "$BUCKET" --data-dir "$DATA" \
    --direct "$T/direct.tsv")" || bench_die "could not write the query file"
fi
bench_log "table: $TABLE_INFO"

# ---------------------------------------------------------------- measuring
# measure ROUND SYSTEM -- command...: runs one measurement (bounded by `timeout`) and
# appends each JSON line it prints to $RESULTS, tagged with the round; a failure is
# recorded and does not stop the run.
measure() {
  local round="$1" system="$2"; shift 3
  local err="$T/logs/last.err" out
  if out="$(timeout 180 "$@" 2>"$err")" && [ -n "$out" ]; then
    printf '%s\n' "$out" | "$BENCH_PY" -c 'import json, sys
for line in sys.stdin:
    if line.strip():
        print(json.dumps({"round": int(sys.argv[1]), "result": json.loads(line)}))' "$round" >>"$RESULTS"
    cat "$err" >>"$T/logs/measure.log"
  else
    local msg
    msg="$(tail -c 400 "$err" | tr '\n' ' ')"
    bench_log "round $round $system failed: $msg"
    "$BENCH_PY" -c 'import json, sys
print(json.dumps({"round": int(sys.argv[1]), "system": sys.argv[2], "error": sys.argv[3]}))' \
      "$round" "$system" "$msg" >>"$RESULTS"
  fi
}

PERF_PID=""
PERF_OUT_REL=""
for r in $(seq "$ROUNDS"); do
  bench_log "round $r/$ROUNDS: $REPS repetitions of each query on duckdb$([ "$HAVE_SLUICE" = 1 ] && echo ", duckdb-view, sluice, sluice-quiet")"
  measure "$r" duckdb -- "$DIRECT" --queries "$T/direct.tsv" --reps "$REPS" --warmup 2 \
    --threads "$DUCKDB_THREADS" --deadline 60 --variant direct
  if [ "$HAVE_SLUICE" = 1 ]; then
    measure "$r" duckdb-view -- "$DIRECT" --queries "$T/view.tsv" --reps "$REPS" --warmup 2 \
      --threads "$DUCKDB_THREADS" --deadline 60 --variant view
    if [ "$BENCH_PERF" = 1 ] && [ "$r" = "$ROUNDS" ]; then
      if command -v perf >/dev/null 2>&1; then
        perf record -F 999 -g -o "$T/perf.data" -p "$SLUICE_PID" >"$T/logs/perf.out" 2>&1 &
        PERF_PID=$!
        bench_track_pid "$PERF_PID"
        sleep 0.5
      else
        bench_log "perf not found: no profile"
      fi
    fi
    measure "$r" sluice -- "$BENCH_PY" bench/athena/athena_bench.py run --port "$SLUICE_PORT" --bucket "$BUCKET" \
      --reps "$REPS" --warmup 1 --poll-ms "$POLL_MS" --deadline 60 --timeout 60 --variant e2e
    # The lake scans once more with the client off the CPU while they run: the engine's
    # own time, for the comparison with DuckDB's scan.
    measure "$r" sluice-quiet -- "$BENCH_PY" bench/athena/athena_bench.py run --port "$SLUICE_PORT" \
      --bucket "$BUCKET" --reps "$REPS" --warmup 1 --poll-ms "$QUIET_POLL_MS" --kind scan --rtt-reps 0 \
      --deadline 60 --timeout 60 --variant quiet
  fi
done

if [ -n "$PERF_PID" ]; then
  kill -INT "$PERF_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$PERF_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$PERF_PID" 2>/dev/null || true
  mkdir -p bench/out
  PERF_OUT_REL="bench/out/athena-$STAMP.perf.txt"
  # Flat profiles: by shared object, then by symbol (call graphs are in perf.data, which
  # goes with the temporary directory).
  if { perf report -i "$T/perf.data" --stdio --no-children -g none --sort dso &&
       perf report -i "$T/perf.data" --stdio --no-children -g none --percent-limit 0.3 --sort dso,sym; } \
       2>"$T/logs/perf-report.err" | sed 's/[[:space:]]*$//' >"$PERF_OUT_REL" && [ -s "$PERF_OUT_REL" ]; then
    bench_log "server profile of the last Sluice round: $PERF_OUT_REL"
  else
    bench_log "perf report failed: $(tail -n 3 "$T/logs/perf-report.err" | tr '\n' ' ')"
    PERF_OUT_REL=""
  fi
fi

# ---------------------------------------------------------------- report
LOAD_END="$(bench_loadavg)"
mkdir -p bench/out
OUT_REL="bench/out/athena-$STAMP.json"
SLUICE_VERSION=""
if [ "$HAVE_SLUICE" = 1 ]; then
  SLUICE_VERSION="$(timeout 5 "$SLUICE_BIN" version 2>/dev/null | head -n 1 || true)"
fi
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
SLUICE_BIN="$(realpath -m --relative-to=. "$SLUICE_BIN")"
DUCKDB_LIB_REL="$(realpath -m --relative-to=. "$DUCKDB_LIB")"
export STARTED LOAD_START LOAD_END ROWS PARTITIONS ROUNDS REPS POLL_MS QUIET_POLL_MS DUCKDB_THREADS HAVE_SLUICE SLUICE_BIN \
  SLUICE_VERSION GIT_REV OUT_REL TABLE_INFO CTAS_S DUCKDB_LIB_REL PERF_OUT_REL
"$BENCH_PY" - "$T/meta.json" <<'EOF'
import json, os, platform, sys
import boto3, botocore
e = os.environ
table = json.loads(e["TABLE_INFO"])
meta = {
    "benchmark": "athena",
    "started": e["STARTED"],
    "git": e["GIT_REV"],
    "loadavg_start": e["LOAD_START"],
    "loadavg_end": e["LOAD_END"],
    "nproc": os.cpu_count(),
    "kernel": platform.release(),
    "rows": int(e["ROWS"]),
    "partitions": table["partitions"],
    "files": table["files"],
    "bytes": table["bytes"],
    "ctas_s": float(e["CTAS_S"]) if e["CTAS_S"] else None,
    "rounds": int(e["ROUNDS"]),
    "reps_per_round": int(e["REPS"]),
    "poll_ms": float(e["POLL_MS"]),
    "quiet_poll_ms": float(e["QUIET_POLL_MS"]),
    "duckdb_threads": int(e["DUCKDB_THREADS"]),
    "duckdb_lib": e["DUCKDB_LIB_REL"],
    "sluice": e["HAVE_SLUICE"] == "1",
    "sluice_bin": e["SLUICE_BIN"],
    "sluice_version": e["SLUICE_VERSION"],
    "versions": {"python": platform.python_version(), "boto3": boto3.__version__,
                 "botocore": botocore.__version__},
    "client": "bench/athena/athena_bench.py: boto3, keep-alive; StartQueryExecution, GetQueryExecution "
              "polled with a fixed sleep, GetQueryResults (MaxResults 1000); one query at a time",
    "baseline": "bench/athena/duckdb_direct.cc: the same libduckdb.so through its C API, in-memory "
                "database, read_parquet(glob, hive_partitioning=true); duckdb_query materializes the result",
    "perf_report": e["PERF_OUT_REL"] or None,
    "out_rel": e["OUT_REL"],
}
with open(sys.argv[1], "w") as f:
    json.dump(meta, f, indent=2)
EOF
"$BENCH_PY" bench/athena/report.py --results "$RESULTS" --meta "$T/meta.json" --out "$OUT_REL"
