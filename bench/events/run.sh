#!/usr/bin/env bash
# EventBridge matcher benchmark: sluice::events::PatternSet against simdjson's DOM parse of
# the same events (the ceiling), same run, same machine; event-ruler's reference figures
# from the design's PERFORMANCE.md are printed beside (see bench/events/README.md).
#
#   bench/events/run.sh
#
# Compiles bench/events/matcher_bench.cc with g++ directly against src/events/pattern.cc
# and src/base/strings.cc (no CMake build needed) into bench/.cache/events/, generates
# BENCH_EVENTS EventBridge-shaped events (~540 bytes) with a fixed seed into bench/out/
# (once; reused while the seed and count are the same), then measures one thread.
#
# Settings (environment):
#   BENCH_EVENTS    events in the file (default 100000)
#   BENCH_SEED      generator seed (default 20240601)
#   BENCH_ROUNDS    interleaved rounds (default 7); the best and the median round are reported
#   BENCH_SECONDS   seconds per case and round (default 0.5)
#   BENCH_PERF=1    also profile the 10,000-rule and mixed cases with `perf record`; the
#                   report goes to bench/out/events-<timestamp>.perf.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/common.sh

COUNT="${BENCH_EVENTS:-100000}"
SEED="${BENCH_SEED:-20240601}"
ROUNDS="${BENCH_ROUNDS:-7}"
SECONDS_PER_CASE="${BENCH_SECONDS:-0.5}"
BENCH_PERF="${BENCH_PERF:-0}"

bench_need_cmd g++ g++ || bench_die "g++ is missing and could not be installed"
bench_need_cmd pkg-config pkg-config || bench_die "pkg-config is missing and could not be installed"
[ -f /usr/include/simdjson.h ] || bench_apt_install libsimdjson-dev || bench_die "simdjson headers missing (Debian package libsimdjson-dev)"
ABSL_LIBS="$(pkg-config --libs absl_status absl_statusor)" || bench_die "Abseil not found by pkg-config (Debian package libabsl-dev)"

BIN_DIR=bench/.cache/events
BIN="$BIN_DIR/matcher_bench"
SRCS=(bench/events/matcher_bench.cc src/events/pattern.cc src/base/strings.cc)
mkdir -p "$BIN_DIR" bench/out
stale=0
[ -x "$BIN" ] || stale=1
for f in "${SRCS[@]}" src/events/pattern.h src/base/strings.h src/base/status.h; do
  [ "$f" -nt "$BIN" ] && stale=1
done
if [ "$stale" = 1 ]; then
  bench_log "compiling $BIN (g++ -O2, as the project's RelWithDebInfo build)"
  # shellcheck disable=SC2086  # ABSL_LIBS is a list of flags
  g++ -O2 -g -DNDEBUG -std=c++20 -Wall -Wextra -Isrc "${SRCS[@]}" -o "$BIN.tmp" -lsimdjson $ABSL_LIBS -lpthread ||
    bench_die "could not compile the benchmark"
  mv "$BIN.tmp" "$BIN"
fi

EVENTS="bench/out/events-$COUNT-seed$SEED.ndjson"
if [ ! -s "$EVENTS" ] || [ bench/events/matcher_bench.cc -nt "$EVENTS" ]; then
  "$BIN" gen --out "$EVENTS.tmp" --count "$COUNT" --seed "$SEED"
  mv "$EVENTS.tmp" "$EVENTS"
fi

STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOAD_START="$(bench_loadavg)"
bench_log "loadavg at start: $LOAD_START"
"$BIN" run --events "$EVENTS" --rounds "$ROUNDS" --seconds "$SECONDS_PER_CASE" \
  --json "bench/out/events-$STAMP.json" --loadavg-start "$LOAD_START"

if [ "$BENCH_PERF" = 1 ]; then
  if command -v perf >/dev/null 2>&1; then
    PERF_OUT="bench/out/events-$STAMP.perf.txt"
    : >"$PERF_OUT"
    for only in exact mixed; do
      perf record -F 999 -g -o "bench/out/events-$STAMP.$only.perf.data" -- \
        "$BIN" run --events "$EVENTS" --rounds 1 --seconds 3 --only "$only" >/dev/null 2>&1 || true
      { echo "== $only"; perf report -i "bench/out/events-$STAMP.$only.perf.data" --stdio --no-children -g none \
          --percent-limit 1 --sort sym 2>/dev/null | sed 's/[[:space:]]*$//' | grep -v '^$'; } >>"$PERF_OUT" || true
      rm -f "bench/out/events-$STAMP.$only.perf.data"
    done
    bench_log "profile: $PERF_OUT"
  else
    bench_log "perf not found: no profile"
  fi
fi

# PutEvents throughput and latency of a server build (durable, group-committed PutEvents);
# SLUICE_BASELINE_BIN, when set, is measured the same way and the ratio printed.
if [ -n "${SLUICE_BIN:-}" ] && [ -x "$SLUICE_BIN" ]; then
  bench_log "PutEvents against $SLUICE_BIN"
  /usr/bin/python3 bench/events/putevents_bench.py "$SLUICE_BIN" ${SLUICE_BASELINE_BIN:+"$SLUICE_BASELINE_BIN"}
fi
