#!/usr/bin/env bash
# Glue benchmark: the seed's Glue job (raw NDJSON events -> curated Parquet partitioned by
# event_date) as a Sluice Glue job run, against the same conversion in DuckDB itself; same
# run, same machine, same input files (see bench/README.md).
#
#   bench/glue/run.sh                        # Sluice from build/src/cmd/sluice
#   SLUICE_BENCH_MB=300 bench/glue/run.sh    # more events
#   SLUICE_BIN=path/to/sluice bench/glue/run.sh
#
# Generates SLUICE_BENCH_MB MB of events (bench/glue/gen_events.py, fixed seed, several
# files of about 16 MB, cached in bench/.cache/glue/), starts `sluice server` on 127.0.0.1
# and a free port, uploads the events to s3://bench-glue/raw/events/ and the job script
# examples/glue/events_to_parquet.sql (with OVERWRITE added, so that reruns replace the
# output), and creates a glueetl job with --src and --dst. Then,
# in rounds that take turns (the order alternates):
#   - duckdb: bench/glue/duckdb_copy.cc (compiled here against the libduckdb.so Sluice
#             loads): COPY (SELECT ... FROM read_json_auto([files])) TO dir (FORMAT PARQUET,
#             COMPRESSION SNAPPY, PARTITION_BY (event_date)), timed around the statement,
#             after BENCH_WARMUP untimed runs in the same process;
#   - sluice: bench/glue/glue_bench.py: StartJobRun, GetJobRun every BENCH_POLL_MS ms until
#             SUCCEEDED, timed by the client (one untimed run first, so that every timed
#             run overwrites the previous run's output as a rerun does).
# The figure of each side is its median; ratio = DuckDB's time / Sluice's time. Then the
# outputs of both are compared (rows, partitions, a fingerprint of the content), and, with
# strace, one more (untimed) Sluice run is traced to show where its extra time goes.
# Prints the table and writes bench/out/glue-<timestamp>.json. Everything started is
# stopped on exit.
#
# Settings (environment):
#   SLUICE_BIN       the binary (default build/src/cmd/sluice); missing: the DuckDB
#                    baseline alone
#   SLUICE_ARGS      extra `sluice server` flags
#   SLUICE_BENCH_MB  MB (10^6 bytes) of NDJSON events (default 100)
#   BENCH_FILES      number of event files (default: about 16 MB each)
#   BENCH_ROUNDS     rounds (default 3); in each, one timed run of each side
#   BENCH_WARMUP     untimed runs before the timed ones (default 1; DuckDB: in each round's
#                    process; Sluice: once, before the first round)
#   BENCH_POLL_MS    the client's sleep between GetJobRun polls (default 20)
#   DUCKDB_THREADS   threads of the standalone DuckDB (default 0: DuckDB's default, all
#                    cores, which is also what Sluice uses without a config file)
#   BENCH_TRACE      1 (default): one more Sluice run under `strace -f -T` (file system
#                    calls and syncs, timed per call), when strace is installed; 0: none
#   BENCH_PERF=1     also profile the Sluice server with `perf record -g` during the last
#                    round's run; the report goes to bench/out/glue-<timestamp>.perf.txt
#   BENCH_TMPDIR     where Sluice's data directory and DuckDB's output go (default $TMPDIR
#                    or /tmp)
set -euo pipefail
case "${SLUICE_BIN:-}" in "" | /*) ;; *) SLUICE_BIN="$PWD/$SLUICE_BIN" ;; esac
case "${BENCH_TMPDIR:-}" in "" | /*) ;; *) BENCH_TMPDIR="$PWD/$BENCH_TMPDIR" ;; esac
cd "$(dirname "$0")/../.."
. bench/common.sh

MB="${SLUICE_BENCH_MB:-100}"
FILES="${BENCH_FILES:-0}"
ROUNDS="${BENCH_ROUNDS:-3}"
WARMUP="${BENCH_WARMUP:-1}"
POLL_MS="${BENCH_POLL_MS:-20}"
DUCKDB_THREADS="${DUCKDB_THREADS:-0}"
BENCH_TRACE="${BENCH_TRACE:-1}"
BENCH_PERF="${BENCH_PERF:-0}"
SLUICE_BIN="${SLUICE_BIN:-build/src/cmd/sluice}"
SLUICE_ARGS="${SLUICE_ARGS:-}"
SEED=20250801
BUCKET=bench-glue
JOB=events-to-parquet
SCRIPT=examples/glue/events_to_parquet.sql
[ "$ROUNDS" -ge 1 ] || bench_die "BENCH_ROUNDS must be at least 1"
[ -f "$SCRIPT" ] || bench_die "the job script $SCRIPT is missing"

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

# duckdb_copy, rebuilt when its source or the library changed; the rpath is relative to the
# binary ($ORIGIN), so nothing of this machine's layout is baked in beyond the cache.
CACHE=bench/.cache/glue
DIRECT="$CACHE/duckdb_copy"
mkdir -p "$CACHE"
RPATH="\$ORIGIN/$(realpath --relative-to="$CACHE" "$DUCKDB_LIBDIR")"
if [ ! -x "$DIRECT" ] || [ bench/glue/duckdb_copy.cc -nt "$DIRECT" ] || [ "$DUCKDB_LIB" -nt "$DIRECT" ] ||
   [ "$(cat "$DIRECT.rpath" 2>/dev/null)" != "$RPATH" ]; then
  bench_log "compiling bench/glue/duckdb_copy.cc into $DIRECT"
  g++ -O2 -std=c++20 -Wall -Wextra -I"$DUCKDB_INC" bench/glue/duckdb_copy.cc -o "$DIRECT.tmp" \
    -L"$DUCKDB_LIBDIR" -lduckdb -Wl,-rpath,"$RPATH" || bench_die "could not compile duckdb_copy"
  mv "$DIRECT.tmp" "$DIRECT"
  printf '%s\n' "$RPATH" >"$DIRECT.rpath"
fi
[ "$(ldd "$DIRECT" | awk '$1 == "libduckdb.so" { print $3 }')" -ef "$DUCKDB_LIB" ] ||
  bench_die "$DIRECT does not load $DUCKDB_LIB"

# ---------------------------------------------------------------- the events
# Deterministic, so they are cached by their settings; regenerated when the generator changed.
EVENTS="$CACHE/events-${MB}mb-${FILES}f-seed$SEED"
if [ ! -f "$EVENTS/manifest.json" ] || [ bench/glue/gen_events.py -nt "$EVENTS/manifest.json" ]; then
  rm -rf "$EVENTS" "$EVENTS.tmp"
  bench_log "generating $MB MB of events into $EVENTS"
  "$BENCH_PY" bench/glue/gen_events.py --out "$EVENTS.tmp" --mb "$MB" --files "$FILES" --seed "$SEED" \
    >"$EVENTS.tmp.json" || bench_die "could not generate the events"
  mv "$EVENTS.tmp" "$EVENTS"
  sed "s#$EVENTS.tmp/#$EVENTS/#g" "$EVENTS.tmp.json" >"$EVENTS/manifest.json"
  rm -f "$EVENTS.tmp.json"
fi
EVENTS_ABS="$(cd "$EVENTS" && pwd -P)"

# ---------------------------------------------------------------- setup
bench_init glue
T="$BENCH_TMP"
DATA="$T/sluice"
mkdir -p "$DATA" "$T/logs" "$T/duckdb"
RESULTS="$T/results.jsonl"
: >"$RESULTS"
ls "$EVENTS_ABS"/events-*.json >"$T/files.txt"
INPUT_BYTES="$(cat "$EVENTS_ABS"/events-*.json | wc -c)"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOAD_START="$(bench_loadavg)"
bench_log "loadavg at start: $LOAD_START"
bench_log "input: $(wc -l <"$T/files.txt") files, $INPUT_BYTES bytes"

SLUICE_PORT=""
SLUICE_PID=""
SETUP="{}"
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
  bench_log "sluice on 127.0.0.1:$SLUICE_PORT; uploading the events and creating job $JOB"
  # The example appends (for bookmarked incremental runs); each timed rerun here replaces the
  # previous output as the DuckDB side does, so the bench's copy adds OVERWRITE.
  sed 's/PARTITION_BY (event_date))/PARTITION_BY (event_date), OVERWRITE)/' "$SCRIPT" >"$T/events_to_parquet.sql"
  grep -q 'OVERWRITE)' "$T/events_to_parquet.sql" || bench_die "could not add OVERWRITE to $SCRIPT"
  SETUP="$(timeout 300 "$BENCH_PY" bench/glue/glue_bench.py setup --port "$SLUICE_PORT" --bucket "$BUCKET" \
    --job "$JOB" --files "$T/files.txt" --script "$T/events_to_parquet.sql" 2>"$T/logs/setup.err")" || {
    tail -n 20 "$T/logs/setup.err" "$T/logs/sluice.out" >&2 || true
    bench_die "could not set up the job on Sluice"
  }
fi

# ---------------------------------------------------------------- measuring
# measure ROUND SYSTEM -- command...: runs one measurement (bounded by `timeout`) and
# appends the JSON line it prints to $RESULTS, tagged with the round; a failure is
# recorded and does not stop the run.
measure() {
  local round="$1" system="$2"; shift 3
  local err="$T/logs/last.err" out
  if out="$(timeout 600 "$@" 2>"$err")" && [ -n "$out" ]; then
    printf '%s\n' "$out" | "$BENCH_PY" -c 'import json, sys
for line in sys.stdin:
    if line.strip():
        print(json.dumps({"round": int(sys.argv[1]), "system": sys.argv[2], "result": json.loads(line)}))' \
      "$round" "$system" >>"$RESULTS"
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

run_duckdb() {
  rm -rf "$T/duckdb/round-$(($1 - 1))"
  mkdir -p "$T/duckdb/round-$1"
  sync
  measure "$1" duckdb -- "$DIRECT" copy --files "$T/files.txt" --out "$T/duckdb/round-$1" --warmup "$WARMUP" \
    --reps 1 --threads "$DUCKDB_THREADS"
}

run_sluice() {
  sync
  measure "$1" "$2" -- "$BENCH_PY" bench/glue/glue_bench.py run --port "$SLUICE_PORT" --bucket "$BUCKET" \
    --job "$JOB" --poll-ms "$POLL_MS" --timeout 500 --sluice-bin "$SLUICE_BIN" --variant "$2"
}

if [ "$HAVE_SLUICE" = 1 ]; then
  for w in $(seq "$WARMUP"); do
    bench_log "Sluice warmup run $w/$WARMUP (untimed)"
    run_sluice 0 sluice-warmup
  done
fi

PERF_PID=""
PERF_OUT_REL=""
for r in $(seq "$ROUNDS"); do
  bench_log "round $r/$ROUNDS (loadavg $(bench_loadavg))"
  if [ "$HAVE_SLUICE" = 1 ] && [ $((r % 2)) = 0 ]; then run_sluice "$r" sluice; fi
  run_duckdb "$r"
  if [ "$HAVE_SLUICE" = 1 ] && [ $((r % 2)) = 1 ]; then
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
    run_sluice "$r" sluice
  fi
done

if [ -n "$PERF_PID" ]; then
  kill -INT "$PERF_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$PERF_PID" 2>/dev/null || break; sleep 0.1; done
  wait "$PERF_PID" 2>/dev/null || true
  mkdir -p bench/out
  PERF_OUT_REL="bench/out/glue-$STAMP.perf.txt"
  if { perf report -i "$T/perf.data" --stdio --no-children -g none --sort dso &&
       perf report -i "$T/perf.data" --stdio --no-children -g none --percent-limit 0.3 --sort dso,sym; } \
       2>"$T/logs/perf-report.err" | sed 's/[[:space:]]*$//' >"$PERF_OUT_REL" && [ -s "$PERF_OUT_REL" ]; then
    bench_log "server profile of the last Sluice run: $PERF_OUT_REL"
  else
    bench_log "perf report failed: $(tail -n 3 "$T/logs/perf-report.err" | tr '\n' ' ')"
    PERF_OUT_REL=""
  fi
fi

# ---------------------------------------------------------------- the same output?
# The last DuckDB output and Sluice's curated objects (read where Sluice keeps them, after a
# check that ListObjectsV2 names exactly those files), summarized by the same program.
LAST_DUCKDB="$T/duckdb/round-$ROUNDS/rep-1"
if [ -d "$LAST_DUCKDB" ]; then
  measure 0 check-duckdb -- "$DIRECT" count --glob "$LAST_DUCKDB/*/*.parquet" --variant duckdb
fi
if [ "$HAVE_SLUICE" = 1 ]; then
  if LISTED="$("$BENCH_PY" bench/glue/glue_bench.py count --port "$SLUICE_PORT" --bucket "$BUCKET" --data-dir "$DATA")"; then
    printf '%s\n' "$LISTED" | "$BENCH_PY" -c 'import json, sys
print(json.dumps({"round": 0, "system": "check-listing", "result": json.loads(sys.stdin.read())}))' >>"$RESULTS"
    GLOB="$("$BENCH_PY" -c 'import json, sys; print(json.loads(sys.argv[1])["glob"])' "$LISTED")"
    measure 0 check-sluice -- "$DIRECT" count --glob "$GLOB" --variant sluice
  else
    bench_log "could not list Sluice's output"
  fi
fi

# ---------------------------------------------------------------- one traced run
TRACE_DONE=0
if [ "$HAVE_SLUICE" = 1 ] && [ "$BENCH_TRACE" = 1 ]; then
  if command -v strace >/dev/null 2>&1; then
    bench_log "one more Sluice run (untimed) under strace: file system calls and syncs"
    strace -f -tt -T -e trace=openat,unlink,unlinkat,rename,renameat,renameat2,fdatasync,fsync,syncfs,mkdir \
      -p "$SLUICE_PID" -o "$T/strace.txt" >"$T/logs/strace.out" 2>&1 &
    STRACE_PID=$!
    bench_track_pid "$STRACE_PID"
    sleep 1
    run_sluice 0 sluice-traced
    kill -INT "$STRACE_PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$STRACE_PID" 2>/dev/null || break; sleep 0.1; done
    wait "$STRACE_PID" 2>/dev/null || true
    measure 0 trace -- "$BENCH_PY" bench/glue/glue_bench.py trace --strace "$T/strace.txt" --bucket "$BUCKET"
    TRACE_DONE=1
  else
    bench_log "strace not found: no traced run (apt-get install strace, or BENCH_TRACE=0)"
  fi
fi

# ---------------------------------------------------------------- report
LOAD_END="$(bench_loadavg)"
mkdir -p bench/out
OUT_REL="bench/out/glue-$STAMP.json"
SLUICE_VERSION=""
if [ "$HAVE_SLUICE" = 1 ]; then
  SLUICE_VERSION="$(timeout 5 "$SLUICE_BIN" version 2>/dev/null | head -n 1 || true)"
fi
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
SLUICE_BIN="$(realpath -m --relative-to=. "$SLUICE_BIN")"
DUCKDB_LIB_REL="$(realpath -m --relative-to=. "$DUCKDB_LIB")"
EVENTS_MANIFEST="$(cat "$EVENTS/manifest.json")"
export STARTED LOAD_START LOAD_END MB ROUNDS WARMUP POLL_MS DUCKDB_THREADS HAVE_SLUICE SLUICE_BIN SLUICE_VERSION \
  GIT_REV OUT_REL SETUP DUCKDB_LIB_REL PERF_OUT_REL INPUT_BYTES EVENTS_MANIFEST TRACE_DONE EVENTS
"$BENCH_PY" - "$T/meta.json" <<'EOF'
import json, os, platform, sys
import boto3, botocore
e = os.environ
manifest = json.loads(e["EVENTS_MANIFEST"])
meta = {
    "benchmark": "glue",
    "started": e["STARTED"],
    "git": e["GIT_REV"],
    "loadavg_start": e["LOAD_START"],
    "loadavg_end": e["LOAD_END"],
    "nproc": os.cpu_count(),
    "kernel": platform.release(),
    "input": {"mb_setting": float(e["MB"]), "bytes": int(e["INPUT_BYTES"]), "files": len(manifest["files"]),
              "events": manifest["events"], "days": manifest["days"], "seed": manifest["seed"],
              "cache": e["EVENTS"], "generator": "bench/glue/gen_events.py"},
    "setup": json.loads(e["SETUP"]),
    "rounds": int(e["ROUNDS"]),
    "warmup": int(e["WARMUP"]),
    "poll_ms": float(e["POLL_MS"]),
    "duckdb_threads": int(e["DUCKDB_THREADS"]),
    "duckdb_lib": e["DUCKDB_LIB_REL"],
    "sluice": e["HAVE_SLUICE"] == "1",
    "sluice_bin": e["SLUICE_BIN"],
    "sluice_version": e["SLUICE_VERSION"],
    "traced": e["TRACE_DONE"] == "1",
    "versions": {"python": platform.python_version(), "boto3": boto3.__version__,
                 "botocore": botocore.__version__},
    "job_script": "examples/glue/events_to_parquet.sql with OVERWRITE",
    "client": "bench/glue/glue_bench.py: boto3; StartJobRun, GetJobRun polled with a fixed sleep until a final "
              "state; timed from sending StartJobRun to seeing SUCCEEDED",
    "baseline": "bench/glue/duckdb_copy.cc: the same libduckdb.so through its C API, in-memory database; "
                "COPY (SELECT user_id, action, amount, CAST(\"timestamp\" AS DATE) AS event_date FROM "
                "read_json_auto([files])) TO dir (FORMAT PARQUET, COMPRESSION SNAPPY, PARTITION_BY (event_date)), "
                "timed around duckdb_query",
    "perf_report": e["PERF_OUT_REL"] or None,
    "out_rel": e["OUT_REL"],
}
with open(sys.argv[1], "w") as f:
    json.dump(meta, f, indent=2)
EOF
"$BENCH_PY" bench/glue/report.py --results "$RESULTS" --meta "$T/meta.json" --out "$OUT_REL"
