#!/usr/bin/env bash
# Step Functions benchmark: Sluice's ASL engine and service against aws-local-stepfunctions,
# same run, same machine (see bench/README.md, "Step Functions").
#
#   bench/states/run.sh                      # Sluice from build/src/cmd/sluice
#   SLUICE_BIN=path/to/sluice bench/states/run.sh
#   BENCH_PROFILE=1 bench/states/run.sh      # plus the diagnosis of the durable path
#
# In process, single-threaded loops, in rounds that take turns (the same definition, input
# and expected output files on both sides, written by sfn_bench.py workloads):
#   - aws-local-stepfunctions (pinned in bench/states/node/package-lock.json, `npm ci` into
#     bench/.cache/states-node), bench/states/alsf_bench.mjs on Node.js;
#   - Sluice's engine: bench/states/engine_bench.cc, compiled into bench/.cache/states/
#     against the project's static libraries in build/ (sluice_states, ..._language, _base),
#     without a history hook, as the service runs EXPRESS executions.
# Cases: chain100 (a Pass chain of 100 states; executions/s and transitions/s), single (a
# 1-state Pass machine; executions/s), map1000 (a Map over 1,000 items with a Pass
# iterator; items/s); not targets: map1000c1 (the same with MaxConcurrency 1) and, on
# Sluice's side only, chain100 with the history events built (--history noop).
# End to end, on a `sluice server` started here (127.0.0.1, free port, temporary data dir):
#   (d) StartSyncExecution of the 1-state EXPRESS machine through boto3, several client
#       processes x threads: requests/s, p50/p99; the same client on DescribeStateMachine
#       tells the client's own ceiling;
#   (e) durable STANDARD transitions/s: N executions of a 20-state Pass chain started at
#       once (StartExecution), DescribeExecution polling until all SUCCEEDED.
# Prints the table and writes bench/out/states-<timestamp>.json. Everything started is
# stopped on exit.
#
# Settings (environment):
#   SLUICE_BIN          the binary (default build/src/cmd/sluice); missing: no (d)/(e)
#   SLUICE_ARGS         extra `sluice server` flags
#   BENCH_PARTS         what to run, comma-separated (default inprocess,sync,durable)
#   BENCH_ROUNDS        in-process rounds (default 2); each runs every case on both sides
#   BENCH_SECONDS       timed seconds per case, side and round (default 3)
#   BENCH_WARMUP        untimed seconds before each timed loop (default 1)
#   BENCH_SYNC_PROCS    (d) client processes (default 2)
#   BENCH_SYNC_THREADS  (d) threads per client process (default 4)
#   BENCH_SYNC_SECONDS  (d) seconds per round (default 4); 2 rounds, each with the
#                       DescribeStateMachine ceiling after it
#   BENCH_DURABLE_EXECUTIONS  (e) executions started at once (default 200)
#   BENCH_DURABLE_THREADS     (e) client threads calling StartExecution (default 8)
#   BENCH_DURABLE_TIMEOUT     (e) seconds before the run gives up (default 300)
#   BENCH_PROFILE=1     after the timed cases, one more (e) run under diagnosis: gdb
#                       snapshots of every server thread (where each one waits), perf trace
#                       of the writer's fdatasync calls, perf record of the server's CPU, and
#                       perf record of the engine program on chain100, single and map1000; the report
#                       goes to bench/out/states-<timestamp>.profile.txt (slow: gdb stops the
#                       server for seconds per snapshot, which is why that run is untimed)
#   BENCH_TMPDIR        where Sluice's data directory goes (default $TMPDIR or /tmp)
set -euo pipefail
case "${SLUICE_BIN:-}" in "" | /*) ;; *) SLUICE_BIN="$PWD/$SLUICE_BIN" ;; esac
case "${BENCH_TMPDIR:-}" in "" | /*) ;; *) BENCH_TMPDIR="$PWD/$BENCH_TMPDIR" ;; esac
cd "$(dirname "$0")/../.."
. bench/common.sh

PARTS=",${BENCH_PARTS:-inprocess,sync,durable},"
ROUNDS="${BENCH_ROUNDS:-2}"
SECS="${BENCH_SECONDS:-3}"
WARMUP="${BENCH_WARMUP:-1}"
SYNC_PROCS="${BENCH_SYNC_PROCS:-2}"
SYNC_THREADS="${BENCH_SYNC_THREADS:-4}"
SYNC_SECONDS="${BENCH_SYNC_SECONDS:-4}"
DURABLE_N="${BENCH_DURABLE_EXECUTIONS:-200}"
DURABLE_THREADS="${BENCH_DURABLE_THREADS:-8}"
DURABLE_TIMEOUT="${BENCH_DURABLE_TIMEOUT:-300}"
BENCH_PROFILE="${BENCH_PROFILE:-0}"
SLUICE_BIN="${SLUICE_BIN:-build/src/cmd/sluice}"
SLUICE_ARGS="${SLUICE_ARGS:-}"
CASES=(chain100 single map1000 map1000c1)

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
bench_need_cmd npm nodejs npm || bench_die "node/npm missing and could not be installed"
bench_need_cmd g++ g++ || bench_die "g++ is missing and could not be installed"
bench_need_cmd pkg-config pkg-config || bench_die "pkg-config is missing and could not be installed"

# aws-local-stepfunctions: exactly the locked tree (npm ci checks every tarball's integrity
# hash). Version 3.0.0 declares node >= 22; it runs on Debian's Node 20 (npm warns).
NODE_DIR=bench/.cache/states-node
if [ ! -f "$NODE_DIR/node_modules/aws-local-stepfunctions/package.json" ] ||
   ! cmp -s bench/states/node/package-lock.json "$NODE_DIR/package-lock.json"; then
  bench_log "installing aws-local-stepfunctions from bench/states/node/package-lock.json into $NODE_DIR"
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  cp bench/states/node/package.json bench/states/node/package-lock.json "$NODE_DIR/"
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) ||
    bench_die "npm ci of aws-local-stepfunctions failed"
fi
# The driver sits next to node_modules so that its import resolves to the locked install.
cp bench/states/alsf_bench.mjs "$NODE_DIR/alsf_bench.mjs"
ALSF=(node "$NODE_DIR/alsf_bench.mjs")

# The engine program, against the libraries the build made (the same code as the server's
# binary); rebuilt when its source, a library or a header it includes changed. It is
# compiled against src/'s headers: a header newer than the library means the build is
# behind the source (Hooks' layout may differ), so then, as when a library is missing, the
# library target is built first (retrying while another engineer's build holds build/).
ENGINE_DIR=bench/.cache/states
ENGINE="$ENGINE_DIR/engine_bench"
ENGINE_LOG="$ENGINE_DIR/build.log"
mkdir -p "$ENGINE_DIR"
LIBS=(build/src/states/libsluice_states.a build/src/states/libsluice_states_language.a build/src/base/libsluice_base.a)
ENGINE_HEADERS=(src/states/interpreter.h src/states/language.h src/base/status.h)
libs_behind() {
  local f h
  for f in "${LIBS[@]}"; do [ -f "$f" ] || return 0; done
  for h in "${ENGINE_HEADERS[@]}"; do [ "$h" -nt build/src/states/libsluice_states.a ] && return 0; done
  return 1
}
# build_target TARGET LOG: builds one target of build/, waiting first while someone else's
# build runs there (two ninjas in one build directory step on each other).
build_target() {
  local waits=0 builds=0
  while [ "$waits" -lt 60 ] && [ "$builds" -lt 2 ]; do
    if pgrep -x ninja >/dev/null 2>&1; then
      [ "$waits" = 0 ] && bench_log "another build is running in build/: waiting for it before building $1"
      waits=$((waits + 1))
      sleep 10
      continue
    fi
    builds=$((builds + 1))
    cmake --build build --target "$1" >"$2" 2>&1 && return 0
    bench_log "building $1 failed (see $2)"
    sleep 10
  done
  return 1
}
if libs_behind; then
  bench_log "build/src/states is missing or older than src/states' headers: building the sluice_states target"
  build_target sluice_states "$ENGINE_LOG" || true
fi
for lib in "${LIBS[@]}"; do [ -f "$lib" ] || bench_die "$lib missing (cmake --build build --target sluice_states)"; done
libs_behind && bench_log "WARNING: build/src/states is still older than its headers; the engine figures may not be this source's"
ABSL_LIBS="$(pkg-config --libs absl_status absl_statusor absl_time absl_cord absl_str_format)" ||
  bench_die "Abseil not found by pkg-config (Debian package libabsl-dev)"
stale=0
[ -x "$ENGINE" ] || stale=1
for f in bench/states/engine_bench.cc "${LIBS[@]}" "${ENGINE_HEADERS[@]}"; do
  [ "$f" -nt "$ENGINE" ] && stale=1
done
if [ "$stale" = 1 ]; then
  bench_log "compiling $ENGINE (g++ -O2, as the project's RelWithDebInfo build) against ${LIBS[*]}"
  # shellcheck disable=SC2086  # ABSL_LIBS is a list of flags
  g++ -O2 -g -DNDEBUG -std=c++20 -Wall -Wextra -Isrc bench/states/engine_bench.cc -o "$ENGINE.tmp" \
    "${LIBS[@]}" $ABSL_LIBS -lcrypto -lpthread || bench_die "could not compile the engine benchmark"
  mv "$ENGINE.tmp" "$ENGINE"
fi

# The server binary. The default one is in a build directory that other people rebuild: when
# it is missing (being linked), wait for that build; with no build running, build it.
if [ ! -x "$SLUICE_BIN" ] && [ "$SLUICE_BIN" = build/src/cmd/sluice ]; then
  bench_log "$SLUICE_BIN missing: building the sluice target (after any build already running)"
  build_target sluice "$ENGINE_DIR/build-sluice.log" || true
fi
HAVE_SLUICE=1
if [ ! -x "$SLUICE_BIN" ]; then
  HAVE_SLUICE=0
  bench_log "Sluice binary not found at $SLUICE_BIN (build it, or set SLUICE_BIN): no end-to-end cases"
elif [ "$(( $(date +%s) - $(stat -c %Y "$SLUICE_BIN") ))" -lt 5 ]; then
  sleep 5  # just written: let the linker finish
fi

# ---------------------------------------------------------------- setup
bench_init states
T="$BENCH_TMP"
W="$T/workloads"
mkdir -p "$T/sluice" "$T/logs"
RESULTS="$T/results.jsonl"
: >"$RESULTS"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOAD_START="$(bench_loadavg)"
bench_log "loadavg at start: $LOAD_START"
"$BENCH_PY" bench/states/sfn_bench.py workloads --out "$W" >/dev/null

# measure CASE SYSTEM -- command...: runs one measurement and appends its JSON result (or
# its failure) to $RESULTS. A failed measurement does not stop the run.
measure() {
  local case="$1" system="$2"; shift 3
  local out err="$T/logs/last.err"
  if out="$("$@" 2>"$err")" && [ -n "$out" ]; then
    printf '{"case":"%s","system":"%s","result":%s}\n' "$case" "$system" "$out" >>"$RESULTS"
  else
    local msg
    msg="$(tail -c 400 "$err" | tr '\n' ' ')"
    bench_log "$case $system failed: $msg"
    "$BENCH_PY" -c 'import json, sys
print(json.dumps(dict(zip(("case", "system", "error"), sys.argv[1:]))))' "$case" "$system" "$msg" >>"$RESULTS"
  fi
}

# ---------------------------------------------------------------- in process
[[ "$PARTS" == *,inprocess,* ]] || ROUNDS=0
[ "$ROUNDS" -gt 0 ] && bench_log "in process: $ROUNDS rounds of ${SECS}s (after ${WARMUP}s warm-up) per case and side: ${CASES[*]}"
for r in $(seq "$ROUNDS"); do
  for c in "${CASES[@]}"; do
    # The order alternates between rounds, so neither side always runs first.
    if [ $((r % 2)) = 1 ]; then order=(alsf sluice); else order=(sluice alsf); fi
    for side in "${order[@]}"; do
      if [ "$side" = alsf ]; then
        measure "$c" aws-local-stepfunctions -- "${ALSF[@]}" --workloads "$W" --case "$c" \
          --seconds "$SECS" --warmup "$WARMUP" --max-executions 10000000
      else
        measure "$c" sluice-engine -- "$ENGINE" --workloads "$W" --case "$c" \
          --seconds "$SECS" --warmup "$WARMUP" --max-executions 10000000
      fi
    done
  done
  # Not a target: the chain again with the history events built (what STANDARD costs the
  # engine before anything is written), against the same baseline.
  measure chain100-history sluice-engine -- "$ENGINE" --workloads "$W" --case chain100 --history noop \
    --seconds "$SECS" --warmup "$WARMUP" --max-executions 10000000
done

# ---------------------------------------------------------------- end to end
SLUICE_PORT=""
SLUICE_PID=""
if [ "$HAVE_SLUICE" = 1 ]; then
  SLUICE_PORT="$(bench_free_port)"
  # shellcheck disable=SC2086  # SLUICE_ARGS is a list of words on purpose
  "$SLUICE_BIN" server --data-dir "$T/sluice" --host 127.0.0.1 --port "$SLUICE_PORT" $SLUICE_ARGS \
    >"$T/logs/sluice.out" 2>&1 &
  SLUICE_PID=$!
  bench_track_pid "$SLUICE_PID"
  if bench_wait_http "http://127.0.0.1:$SLUICE_PORT/health" 30 "$SLUICE_PID" &&
     "$BENCH_PY" bench/states/sfn_bench.py setup --port "$SLUICE_PORT" --workloads "$W" >/dev/null 2>"$T/logs/setup.err"; then
    bench_log "sluice on 127.0.0.1:$SLUICE_PORT (pid $SLUICE_PID)"
  else
    tail -n 20 "$T/logs/sluice.out" "$T/logs/setup.err" >&2 2>/dev/null || true
    bench_log "Sluice did not come up or could not create the state machines: no end-to-end cases"
    HAVE_SLUICE=0
  fi
fi

# rss LABEL: the server's resident memory now, as a measurement (KiB, from /proc).
rss() {
  local kib
  kib="$(awk '/^VmRSS:/ { print $2 }' "/proc/$SLUICE_PID/status" 2>/dev/null || true)"
  [ -n "$kib" ] && printf '{"case":"rss","system":"sluice","result":{"when":"%s","rss_kib":%s}}\n' "$1" "$kib" >>"$RESULTS"
  return 0
}
[ "$HAVE_SLUICE" = 1 ] && rss start
if [ "$HAVE_SLUICE" = 1 ] && [[ "$PARTS" == *,sync,* ]]; then
  bench_log "(d) StartSyncExecution, 1-state EXPRESS: 2 rounds of ${SYNC_SECONDS}s, $SYNC_PROCS processes x $SYNC_THREADS threads (and the client's ceiling on DescribeStateMachine)"
  for r in 1 2; do
    for action in start-sync describe; do
      measure "sync-$action" sluice -- timeout $((SYNC_SECONDS * 4 + 120)) "$BENCH_PY" bench/states/sfn_bench.py sync \
        --port "$SLUICE_PORT" --workloads "$W" --procs "$SYNC_PROCS" --threads "$SYNC_THREADS" \
        --seconds "$SYNC_SECONDS" --action "$action"
    done
  done
  rss after-sync
fi
if [ "$HAVE_SLUICE" = 1 ] && [[ "$PARTS" == *,durable,* ]]; then
  bench_log "(e) durable: $DURABLE_N STANDARD executions of a 20-state Pass chain, started from $DURABLE_THREADS threads"
  measure durable sluice -- timeout $((DURABLE_TIMEOUT + 120)) "$BENCH_PY" bench/states/sfn_bench.py durable \
    --port "$SLUICE_PORT" --workloads "$W" --executions "$DURABLE_N" --threads "$DURABLE_THREADS" \
    --timeout "$DURABLE_TIMEOUT"
  rss after-durable
fi

LOAD_END="$(bench_loadavg)"

# ---------------------------------------------------------------- diagnosis (untimed)
PROFILE_REL=""
if [ "$BENCH_PROFILE" = 1 ]; then
  PROFILE_REL="bench/out/states-$STAMP.profile.txt"
  mkdir -p bench/out
  # shellcheck source=bench/states/profile.sh
  . bench/states/profile.sh
  states_profile "$T" "$W" "$ENGINE" "$DURABLE_N" "$DURABLE_THREADS" "$PROFILE_REL" ||
    bench_log "the diagnosis failed (see $PROFILE_REL)"
fi

# ---------------------------------------------------------------- report
mkdir -p bench/out
OUT_REL="bench/out/states-$STAMP.json"
SLUICE_VERSION=""
if [ "$HAVE_SLUICE" = 1 ]; then
  SLUICE_VERSION="$(timeout 5 "$SLUICE_BIN" version 2>/dev/null | head -n 1 || true)"
fi
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
FS_TYPE="$(df --output=fstype "$T" | tail -n 1)"
NODE_VERSION="$(node --version)"
ALSF_VERSION="$(node -p "require('./$NODE_DIR/node_modules/aws-local-stepfunctions/package.json').version")"
SLUICE_BIN_REL="$(realpath -m --relative-to=. "$SLUICE_BIN")"
export STARTED LOAD_START LOAD_END ROUNDS SECS WARMUP SYNC_PROCS SYNC_THREADS SYNC_SECONDS DURABLE_N \
  DURABLE_THREADS HAVE_SLUICE SLUICE_BIN_REL SLUICE_VERSION GIT_REV FS_TYPE NODE_VERSION ALSF_VERSION OUT_REL \
  PROFILE_REL
"$BENCH_PY" - "$T/meta.json" <<'EOF'
import json, os, platform, sys
e = os.environ
meta = {
    "benchmark": "states",
    "started": e["STARTED"],
    "git": e["GIT_REV"],
    "loadavg_start": e["LOAD_START"],
    "loadavg_end": e["LOAD_END"],
    "nproc": os.cpu_count(),
    "kernel": platform.release(),
    "fs_type": e["FS_TYPE"],
    "rounds": int(e["ROUNDS"]),
    "seconds_per_case": float(e["SECS"]),
    "warmup_s": float(e["WARMUP"]),
    "sync_procs": int(e["SYNC_PROCS"]),
    "sync_threads": int(e["SYNC_THREADS"]),
    "sync_seconds": float(e["SYNC_SECONDS"]),
    "durable_executions": int(e["DURABLE_N"]),
    "durable_threads": int(e["DURABLE_THREADS"]),
    "sluice": e["HAVE_SLUICE"] == "1",
    "sluice_bin": e["SLUICE_BIN_REL"],
    "sluice_version": e["SLUICE_VERSION"],
    "versions": {
        "aws-local-stepfunctions": e["ALSF_VERSION"],
        "node": e["NODE_VERSION"],
        "python": platform.python_version(),
    },
    "engine": "bench/states/engine_bench.cc linked against build/src/states/libsluice_states.a, "
              "libsluice_states_language.a, build/src/base/libsluice_base.a; no-op hooks",
    "profile": e["PROFILE_REL"],
    "out_rel": e["OUT_REL"],
}
with open(sys.argv[1], "w") as f:
    json.dump(meta, f, indent=2)
EOF
"$BENCH_PY" bench/states/report.py --results "$RESULTS" --meta "$T/meta.json" --out "$OUT_REL"
