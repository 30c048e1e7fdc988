# shellcheck shell=bash
# The diagnosis pass of bench/states/run.sh (BENCH_PROFILE=1); untimed. Sourced by run.sh,
# which calls
#   states_profile TMPDIR WORKLOADS ENGINE N THREADS REPORT
# (after bench/common.sh, so the servers it starts are stopped by run.sh's exit trap):
#
#   1. The engine program under `perf record --call-graph dwarf` on chain100 (without and
#      with history events), single and map1000: the views of bench/states/perf_fold.py
#      (inclusive, charged to the innermost Sluice function, by source line) and a flat one.
#   2. A second `sluice server` started under `perf record` (events disabled until the
#      durable run is under way; started under perf so that every execution thread it
#      creates later is followed, which `perf record -p` does not do), a durable run of N
#      executions, and during it:
#        - perf record enabled for BENCH_PROFILE_SECONDS (default 4): the server's CPU;
#        - `perf trace -e fdatasync` of the server's threads for the same time: the
#          commits/s of the group writer and the share of its time spent syncing;
#        - then BENCH_PROFILE_SNAPSHOTS (default 3) gdb snapshots of every thread, 1 s
#          apart, classified by bench/states/stacks.py (where the threads wait).
#      gdb stops the server while it reads the stacks, so this run's figures are not
#      measurements; they are printed for orientation only.
# Called in an `||` list, so a failing step does not end the benchmark.
states_profile() {
  local T="$1" W="$2" ENGINE="$3" N="$4" THREADS="$5" OUT="$6"
  local WINDOW="${BENCH_PROFILE_SECONDS:-4}" SNAPSHOTS="${BENCH_PROFILE_SNAPSHOTS:-3}" P="$T/profile"
  mkdir -p "$P"
  : >"$OUT"
  say() { printf '%s\n' "$*" >>"$OUT"; }
  bench_log "diagnosis: profiles into $OUT"

  command -v perf >/dev/null 2>&1 || bench_apt_install linux-perf || true
  command -v gdb >/dev/null 2>&1 || bench_apt_install gdb || true
  HAVE_PERF=0; command -v perf >/dev/null 2>&1 && HAVE_PERF=1
  HAVE_GDB=0; command -v gdb >/dev/null 2>&1 && HAVE_GDB=1

  perf_summary() { # perf_summary DATA BUILT-AT [perf_fold args...]: the views of perf_fold.py
    local data="$1" built="$2"; shift 2
    perf script -i "$data" -F comm,tid,ip,sym,srcline 2>"$data.script.err" | tee "$data.script" |
      "$BENCH_PY" bench/states/perf_fold.py --top 30 --src src --built "$built" "$@" >>"$OUT"
    grep -v -e '^$' -e 'addr2line' "$data.script.err" | head -n 5 | sed 's/^/  perf script: /' >>"$OUT"
    say "  flat (self), >= 2%:"
    perf report -i "$data" --stdio --no-children -g none --percent-limit 2 --sort dso,sym 2>/dev/null |
      grep -v '^#' | grep -v '^$' | cut -c1-150 | sed 's/[[:space:]]*$//; s/^/  /' >>"$OUT"
  }

  say "Step Functions benchmark: diagnosis ($(date -u +%Y-%m-%dT%H:%M:%SZ), loadavg $(cut -d' ' -f1-3 /proc/loadavg))"

  # ---------------------------------------------------------------- 1. the engine
  if [ "$HAVE_PERF" = 1 ]; then
    local spec c hist
    for spec in chain100:none chain100:noop single:none map1000:none; do
      c="${spec%%:*}" hist="${spec#*:}"
      say ""
      say "== engine_bench $c --history $hist: perf record -F 999 --call-graph dwarf, 2 s"
      perf record -q -F 999 --call-graph dwarf,16384 -o "$P/engine-$c.data" -- \
        "$ENGINE" --workloads "$W" --case "$c" --history "$hist" --seconds 2 --warmup 0.3 >>"$OUT" 2>/dev/null
      perf_summary "$P/engine-$c.data" build/src/states/libsluice_states.a
      [ -n "${BENCH_PROFILE_KEEP:-}" ] || rm -f "$P/engine-$c.data" "$P/engine-$c.data.script"
    done
  else
    say "perf not available: no engine profile"
  fi

  # ---------------------------------------------------------------- 2. the durable path
  if [ ! -x "$SLUICE_BIN" ] || [ "$HAVE_PERF" = 0 ]; then
    say "no Sluice binary or no perf: no durable-path diagnosis"
    return 0
  fi
  PORT="$(bench_free_port)"
  touch -r "$SLUICE_BIN" "$P/binary-stamp"  # the binary's build time, for perf_fold.py
  # A private copy of the binary: build/ is rebuilt by others meanwhile, and perf script
  # needs the very file the server ran to unwind its stacks afterwards.
  local bin="$SLUICE_BIN"
  if cp "$SLUICE_BIN" "$P/sluice" 2>/dev/null && ! ldd "$P/sluice" 2>/dev/null | grep -q 'not found'; then
    bin="$P/sluice"
  fi
  mkfifo "$P/ctl" "$P/ack"
  perf record -q -D -1 --control "fifo:$P/ctl,$P/ack" -F 499 --call-graph dwarf,16384 -o "$P/server.data" -- \
    "$bin" server --data-dir "$P/data" --host 127.0.0.1 --port "$PORT" >"$P/server.out" 2>&1 &
  PERF_PID=$!
  bench_track_pid "$PERF_PID"
  exec 8<>"$P/ctl" 9<>"$P/ack"
  SERVER_PID=""
  for _ in $(seq 100); do
    SERVER_PID="$(pgrep -P "$PERF_PID" | head -n 1 || true)"
    [ -n "$SERVER_PID" ] && break
    sleep 0.1
  done
  [ -n "$SERVER_PID" ] && bench_track_pid "$SERVER_PID"
  if [ -z "$SERVER_PID" ] || ! bench_wait_http "http://127.0.0.1:$PORT/health" 30 "$SERVER_PID" ||
     ! "$BENCH_PY" bench/states/sfn_bench.py setup --port "$PORT" --workloads "$W" >/dev/null 2>>"$OUT"; then
    say "the profiled server did not start"
    return 1
  fi
  "$BENCH_PY" bench/states/sfn_bench.py durable --port "$PORT" --workloads "$W" --executions "$N" \
    --threads "$THREADS" --timeout 600 >"$P/durable.json" 2>"$P/durable.err" &
  CLIENT=$!
  sleep 1.5
  echo enable >&8; read -r -t 5 _ <&9 || true
  timeout -s INT "$WINDOW" perf trace -e fdatasync -p "$SERVER_PID" -o "$P/trace.txt" >/dev/null 2>&1
  echo disable >&8; read -r -t 5 _ <&9 || true
  if [ "$HAVE_GDB" = 1 ]; then
    for i in $(seq "$SNAPSHOTS"); do
      # /proc/PID/exe: the binary the server runs, even if a build has replaced the file since.
      timeout 120 gdb "/proc/$SERVER_PID/exe" -p "$SERVER_PID" -batch -nx -ex "set pagination off" \
        -ex "set print frame-arguments none" -ex "set print entry-values no" -ex "thread apply all bt 40" \
        >"$P/gdb-$i.txt" 2>/dev/null || true
      sleep 1
    done
  fi
  wait "$CLIENT"

  say ""
  say "== durable run under diagnosis ($N executions x 20 states; slowed by gdb, for orientation only)"
  cat "$P/durable.json" >>"$OUT" 2>/dev/null
  tail -c 400 "$P/durable.err" >>"$OUT" 2>/dev/null

  say ""
  say "== the group writers' fdatasync calls during the window (perf trace -e fdatasync)"
  "$BENCH_PY" - "$P/trace.txt" >>"$OUT" <<'EOF'
import re, sys
from collections import defaultdict
calls = defaultdict(list)  # thread -> [(start ms, duration ms)]
for line in open(sys.argv[1], errors="replace"):
    m = re.match(r"\s*([\d.]+) \(\s*([\d.]+) ms\): (\S+) fdatasync", line)
    if m:
        calls[m.group(3)].append((float(m.group(1)), float(m.group(2))))
if not calls:
    print("no fdatasync in the window")
    sys.exit(0)
for thread, c in sorted(calls.items(), key=lambda kv: -len(kv[1])):
    window = (max(s + d for s, d in c) - min(s for s, _ in c)) / 1000.0
    busy = sum(d for _, d in c)
    ds = sorted(d for _, d in c)
    print(f"  {thread}: {len(c)} fdatasync in {window:.2f} s = {len(c) / window if window else 0:,.0f} commits/s; "
          f"in fdatasync {busy / 1000:.2f} s ({100 * busy / 1000 / window if window else 0:.0f}% of the window); "
          f"avg {busy / len(c):.2f} ms, p50 {ds[len(ds) // 2]:.2f} ms, max {ds[-1]:.1f} ms")
print("  (SQLite in WAL mode with synchronous=FULL syncs the WAL once per commit: one fdatasync = one commit)")
EOF

  if [ "$HAVE_GDB" = 1 ]; then
    say ""
    say "== where the server's threads are (gdb snapshots during the run)"
    "$BENCH_PY" bench/states/stacks.py "$P"/gdb-*.txt >>"$OUT"
  fi

  # Stop the server (perf record ends with it and writes its data).
  # perf record writes its data (and reads the binaries' build ids) after the server exits,
  # which can take a while on a loaded machine: wait for it before reading the data.
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  for _ in $(seq 600); do kill -0 "$PERF_PID" 2>/dev/null || break; sleep 0.2; done
  wait "$PERF_PID" 2>/dev/null || true
  exec 8>&- 9>&-
  say ""
  say "== the server's CPU during ${WINDOW}s of the run (perf record -F 499 --call-graph dwarf, every thread)"
  perf_summary "$P/server.data" "$P/binary-stamp"
  [ -n "${BENCH_PROFILE_KEEP:-}" ] || rm -f "$P/server.data" "$P/server.data.script"
  bench_log "diagnosis written to $OUT"
}
