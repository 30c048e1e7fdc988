#!/usr/bin/env bash
# S3 benchmark: Sluice against same-run baselines on this machine (see bench/README.md).
#
#   bench/s3/run.sh                      # Sluice from build/src/cmd/sluice
#   SLUICE_BIN=path/to/sluice bench/s3/run.sh
#
# Starts, on 127.0.0.1 and free ports only: nginx (sendfile, NGINX_WORKERS workers,
# default 1) serving the 4 KiB and 64 MiB payload files, s3rver (pinned in
# bench/s3/s3rver/package-lock.json, installed into bench/.cache/s3rver) and
# `sluice server`; runs fio for the disk baseline; drives every server with the same
# client (bench/s3/s3load.py) and, for GET 4 KiB, with wrk too. Prints the table and
# writes bench/out/s3-<timestamp>.json. Everything started is stopped on exit.
#
# Settings (environment):
#   SLUICE_BIN          the binary (default build/src/cmd/sluice); missing: baselines only
#   SLUICE_ARGS         extra `sluice server` flags
#   BENCH_DURATION      seconds per system in each 4 KiB case (default 6), split into
#   BENCH_SMALL_ROUNDS  rounds in which the systems take turns (default 2)
#   BENCH_ROUNDS        rounds of the 64 MiB cases, 2 requests per system each (default 4)
#   NGINX_WORKERS       nginx worker processes (default 1)
#   WRK_THREADS         wrk threads for the GET 4 KiB cross-check (default 1)
#   BENCH_TMPDIR        where the data directories go (default $TMPDIR or /tmp); fio and
#                       Sluice write there, so put it on the disk you want measured
set -euo pipefail
# Paths given relative to where the script was started from stay valid after the cd.
case "${SLUICE_BIN:-}" in "" | /*) ;; *) SLUICE_BIN="$PWD/$SLUICE_BIN" ;; esac
case "${BENCH_TMPDIR:-}" in "" | /*) ;; *) BENCH_TMPDIR="$PWD/$BENCH_TMPDIR" ;; esac
cd "$(dirname "$0")/../.."
. bench/common.sh

DURATION="${BENCH_DURATION:-6}"
SMALL_ROUNDS="${BENCH_SMALL_ROUNDS:-2}"
ROUNDS="${BENCH_ROUNDS:-4}"
NGINX_WORKERS="${NGINX_WORKERS:-1}"
WRK_THREADS="${WRK_THREADS:-1}"
SLUICE_BIN="${SLUICE_BIN:-build/src/cmd/sluice}"
SLUICE_ARGS="${SLUICE_ARGS:-}"
C=16
BUCKET=bench

# ---------------------------------------------------------------- tools
BENCH_PY="$(bench_find_python)" || {
  bench_apt_install python3-botocore || true
  BENCH_PY="$(bench_find_python)" || bench_die "no python3 with botocore (Debian package python3-botocore)"
}
bench_need_cmd fio fio || bench_die "fio is missing and could not be installed"
bench_need_cmd nginx nginx-light nginx || bench_die "nginx is missing and could not be installed"
bench_need_cmd wrk wrk || bench_log "wrk unavailable: the wrk cross-check rows are skipped"
bench_need_cmd npm nodejs npm || bench_die "node/npm missing and could not be installed"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
HAVE_WRK=0
command -v wrk >/dev/null 2>&1 && HAVE_WRK=1

S3RVER_DIR=bench/.cache/s3rver
if [ ! -x "$S3RVER_DIR/node_modules/.bin/s3rver" ] ||
   ! cmp -s bench/s3/s3rver/package-lock.json "$S3RVER_DIR/package-lock.json"; then
  bench_log "installing s3rver from bench/s3/s3rver/package-lock.json into $S3RVER_DIR"
  rm -rf "$S3RVER_DIR"
  mkdir -p "$S3RVER_DIR"
  cp bench/s3/s3rver/package.json bench/s3/s3rver/package-lock.json "$S3RVER_DIR/"
  # npm ci installs exactly the locked tree and checks every tarball's integrity hash.
  (cd "$S3RVER_DIR" && npm ci --no-audit --no-fund --loglevel=error) ||
    bench_die "npm ci of s3rver failed"
fi
S3RVER_VERSION="$(node -p "require('./$S3RVER_DIR/node_modules/s3rver/package.json').version")"

HAVE_SLUICE=1
if [ ! -x "$SLUICE_BIN" ]; then
  HAVE_SLUICE=0
  bench_log "Sluice binary not found at $SLUICE_BIN (build it, or set SLUICE_BIN): measuring the baselines only"
fi

# ---------------------------------------------------------------- setup
bench_init s3
T="$BENCH_TMP"
mkdir -p "$T/www" "$T/nginx" "$T/s3rver" "$T/sluice" "$T/fio" "$T/logs"
RESULTS="$T/results.jsonl"
: >"$RESULTS"
STARTED="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
LOAD_START="$(bench_loadavg)"
bench_log "loadavg at start: $LOAD_START; data on $(df --output=fstype "$T" | tail -n 1)"

head -c 4096 /dev/urandom >"$T/www/obj4k"
head -c $((64 << 20)) /dev/urandom >"$T/www/obj64m"
chmod 644 "$T/www/obj4k" "$T/www/obj64m"
chmod 755 "$T/www"

# nginx: static files with sendfile, access log off, keep-alive unbounded.
NGINX_PORT="$(bench_free_port)"
cat >"$T/nginx/nginx.conf" <<EOF
worker_processes $NGINX_WORKERS;
pid $T/nginx/nginx.pid;
error_log $T/logs/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  default_type application/octet-stream;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $T/www;
    location / { }
  }
}
EOF
"$NGINX" -p "$T/nginx" -e "$T/logs/nginx-error.log" -c "$T/nginx/nginx.conf" -g 'daemon off;' \
  >"$T/logs/nginx.out" 2>&1 &
bench_track_pid $!
bench_wait_http "http://127.0.0.1:$NGINX_PORT/obj4k" 20 "$!" ||
  { cat "$T/logs/nginx-error.log" "$T/logs/nginx.out" >&2 || true; bench_die "nginx did not start"; }
bench_log "nginx $("$NGINX" -v 2>&1 | sed 's/.*\///') on 127.0.0.1:$NGINX_PORT, $NGINX_WORKERS worker(s)"

S3RVER_PORT="$(bench_free_port)"
"$S3RVER_DIR/node_modules/.bin/s3rver" -d "$T/s3rver" -a 127.0.0.1 -p "$S3RVER_PORT" --silent \
  >"$T/logs/s3rver.out" 2>&1 &
bench_track_pid $!
BENCH_ANY_STATUS=1 bench_wait_http "http://127.0.0.1:$S3RVER_PORT/" 20 "$!" ||
  { cat "$T/logs/s3rver.out" >&2 || true; bench_die "s3rver did not start"; }
bench_log "s3rver $S3RVER_VERSION on 127.0.0.1:$S3RVER_PORT"
S3RVER_CREDS=(--access-key S3RVER --secret-key S3RVER --region us-east-1)
"$BENCH_PY" bench/s3/s3load.py setup --port "$S3RVER_PORT" --bucket "$BUCKET" "${S3RVER_CREDS[@]}" \
  --object "obj4k=$T/www/obj4k" --object "obj64m=$T/www/obj64m" >/dev/null

SLUICE_CREDS=(--access-key test --secret-key test --region us-east-1)
SLUICE_PORT=""
if [ "$HAVE_SLUICE" = 1 ]; then
  SLUICE_PORT="$(bench_free_port)"
  # shellcheck disable=SC2086  # SLUICE_ARGS is a list of words on purpose
  "$SLUICE_BIN" server --data-dir "$T/sluice" --port "$SLUICE_PORT" $SLUICE_ARGS \
    >"$T/logs/sluice.out" 2>&1 &
  bench_track_pid $!
  if bench_wait_http "http://127.0.0.1:$SLUICE_PORT/health" 30 "$!" &&
     "$BENCH_PY" bench/s3/s3load.py setup --port "$SLUICE_PORT" --bucket "$BUCKET" "${SLUICE_CREDS[@]}" \
       --object "obj4k=$T/www/obj4k" --object "obj64m=$T/www/obj64m" >/dev/null 2>"$T/logs/sluice-setup.err"; then
    bench_log "sluice on 127.0.0.1:$SLUICE_PORT"
  else
    bench_log "Sluice did not come up or could not take the setup objects; measuring the baselines only"
    tail -n 20 "$T/logs/sluice.out" "$T/logs/sluice-setup.err" >&2 2>/dev/null || true
    HAVE_SLUICE=0
  fi
fi

# ---------------------------------------------------------------- measuring
# measure CASE SYSTEM TOOL -- command...: runs one measurement and appends its JSON
# result (or its failure) to $RESULTS. A failed measurement does not stop the run.
measure() {
  local case="$1" system="$2" tool="$3"; shift 4
  local out err="$T/logs/last.err"
  if out="$("$@" 2>"$err")" && [ -n "$out" ]; then
    printf '{"case":"%s","system":"%s","result":%s}\n' "$case" "$system" "$out" >>"$RESULTS"
  else
    local msg
    msg="$(tail -c 400 "$err" | tr '\n' ' ')"
    bench_log "$case $system ($tool) failed: $msg"
    "$BENCH_PY" -c 'import json, sys
print(json.dumps(dict(zip(("case", "system", "tool", "error"), sys.argv[1:]))))' \
      "$case" "$system" "$tool" "$msg" >>"$RESULTS"
  fi
}
# load CASE SYSTEM SUBCOMMAND ARGS...: one s3load.py measurement against SYSTEM.
load() {
  local case="$1" system="$2" sub="$3" tool=s3load
  shift 3
  local -a target
  case "$system" in
    nginx) target=(--mode http --port "$NGINX_PORT") ;;
    s3rver) target=(--port "$S3RVER_PORT" "${S3RVER_CREDS[@]}" --bucket "$BUCKET") ;;
    sluice) target=(--port "$SLUICE_PORT" "${SLUICE_CREDS[@]}" --bucket "$BUCKET") ;;
  esac
  [ "$sub" = wrk ] && tool=wrk
  measure "$case" "$system" "$tool" -- "$BENCH_PY" bench/s3/s3load.py "$sub" "${target[@]}" "$@"
}
path_of() { # path_of SYSTEM OBJECT
  if [ "$1" = nginx ]; then echo "/$2"; else echo "/$BUCKET/$2"; fi
}
S3_SYSTEMS=(s3rver)
[ "$HAVE_SLUICE" = 1 ] && S3_SYSTEMS=(sluice s3rver)
GET_SYSTEMS=(nginx "${S3_SYSTEMS[@]}")
WRK_SYSTEMS=(nginx)
[ "$HAVE_SLUICE" = 1 ] && WRK_SYSTEMS+=(sluice)
# Each small-object case runs SMALL_ROUNDS rounds of ROUND_S seconds per system, the
# systems taking turns, so that a burst of load elsewhere on the machine is shared.
ROUND_S="$(awk -v d="$DURATION" -v r="$SMALL_ROUNDS" 'BEGIN { printf "%g", d / r }')"

# PUT 64 MiB: rounds interleave fio, Sluice and s3rver so that the disk's drift hits all
# alike; `sync` before each measurement flushes what s3rver (which never fsyncs) left dirty.
bench_log "PUT 64 MiB: $ROUNDS rounds of fio x1, then 2 sequential PUTs on each of ${S3_SYSTEMS[*]}"
for r in $(seq "$ROUNDS"); do
  sync
  measure put64m fio fio -- "$BENCH_PY" bench/s3/s3load.py fio --directory "$T/fio" --size 64M
  for sys in "${S3_SYSTEMS[@]}"; do
    sync
    load put64m "$sys" run --op put --file "$T/www/obj64m" --concurrency 1 --requests 2 \
      --duration 120 --key-prefix "put64m/r$r"
  done
done
sync

GET64_SYSTEMS=(nginx)
[ "$HAVE_SLUICE" = 1 ] && GET64_SYSTEMS+=(sluice)  # s3rver: not a target here, and slow
bench_log "GET 64 MiB: $ROUNDS rounds of 2 sequential GETs (after a verified warm-up GET) on each of ${GET64_SYSTEMS[*]}"
for r in $(seq "$ROUNDS"); do
  for sys in "${GET64_SYSTEMS[@]}"; do
    load get64m "$sys" run --path "$(path_of "$sys" obj64m)" --file "$T/www/obj64m" \
      --concurrency 1 --requests 2 --duration 120
  done
done

bench_log "PUT 4 KiB unique keys, c=$C: $SMALL_ROUNDS rounds of ${ROUND_S}s on each of ${S3_SYSTEMS[*]}"
for r in $(seq "$SMALL_ROUNDS"); do
  for sys in "${S3_SYSTEMS[@]}"; do
    # Requests are signed before the clock starts (about 30 us each), so sign enough for
    # 20k req/s on Sluice (the target is ~15k) and 4k on s3rver; a server faster than
    # that ends its round early, which leaves its rate measured all the same.
    rate=20000
    [ "$sys" = s3rver ] && rate=4000
    load put4k "$sys" run --op put --file "$T/www/obj4k" --concurrency "$C" --duration "$ROUND_S" \
      --requests "$(awk -v d="$ROUND_S" -v r="$rate" 'BEGIN { printf "%d", d * r }')" \
      --key-prefix "put4k/r$r"
  done
done

bench_log "GET 4 KiB, c=$C: $SMALL_ROUNDS rounds of ${ROUND_S}s on each of ${GET_SYSTEMS[*]}, then wrk on ${WRK_SYSTEMS[*]}"
for r in $(seq "$SMALL_ROUNDS"); do
  for sys in "${GET_SYSTEMS[@]}"; do
    load get4k "$sys" run --path "$(path_of "$sys" obj4k)" --file "$T/www/obj4k" \
      --concurrency "$C" --requests 2000000 --duration "$ROUND_S"
  done
  if [ "$HAVE_WRK" = 1 ]; then
    # The cross-check of the client: nginx's ceiling and Sluice (s3rver is far too slow
    # for the client to matter). One wrk thread handles 16 connections; with a second one
    # wrk and the server would fight over 2 cores.
    for sys in "${WRK_SYSTEMS[@]}"; do
      load get4k "$sys" wrk --path "$(path_of "$sys" obj4k)" --file "$T/www/obj4k" \
        --concurrency "$C" --threads "$WRK_THREADS" --duration "$ROUND_S"
    done
  fi
done

# ---------------------------------------------------------------- report
LOAD_END="$(bench_loadavg)"
mkdir -p bench/out
OUT_REL="bench/out/s3-$STAMP.json"
SLUICE_VERSION=""
if [ "$HAVE_SLUICE" = 1 ]; then
  SLUICE_VERSION="$(timeout 5 "$SLUICE_BIN" --version 2>/dev/null | head -n 1 || true)"
fi
NGINX_VERSION="$("$NGINX" -v 2>&1 | sed 's/.*\///')"
WRK_VERSION=""
if [ "$HAVE_WRK" = 1 ]; then WRK_VERSION="$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f2 || true)"; fi
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
FS_TYPE="$(df --output=fstype "$T" | tail -n 1)"
FIO_VERSION="$(fio --version 2>/dev/null || true)"
NODE_VERSION="$(node --version)"
SLUICE_BIN="$(realpath -m --relative-to=. "$SLUICE_BIN")"
export STARTED LOAD_START LOAD_END DURATION SMALL_ROUNDS ROUNDS C NGINX_WORKERS WRK_THREADS HAVE_SLUICE SLUICE_BIN \
  SLUICE_VERSION NGINX_VERSION WRK_VERSION S3RVER_VERSION OUT_REL GIT_REV FS_TYPE FIO_VERSION \
  NODE_VERSION
"$BENCH_PY" - "$T/meta.json" <<'EOF'
import json, os, platform, sys
e = os.environ
meta = {
    "benchmark": "s3",
    "started": e["STARTED"],
    "git": e["GIT_REV"],
    "loadavg_start": e["LOAD_START"],
    "loadavg_end": e["LOAD_END"],
    "nproc": os.cpu_count(),
    "kernel": platform.release(),
    "fs_type": e["FS_TYPE"],
    "duration_s": float(e["DURATION"]),
    "small_rounds": int(e["SMALL_ROUNDS"]),
    "rounds_put64m": int(e["ROUNDS"]),
    "concurrency": int(e["C"]),
    "nginx_workers": int(e["NGINX_WORKERS"]),
    "wrk_threads": int(e["WRK_THREADS"]),
    "sluice": e["HAVE_SLUICE"] == "1",
    "sluice_bin": e["SLUICE_BIN"],
    "sluice_version": e["SLUICE_VERSION"],
    "versions": {
        "nginx": e["NGINX_VERSION"],
        "fio": e["FIO_VERSION"],
        "wrk": e["WRK_VERSION"],
        "s3rver": e["S3RVER_VERSION"],
        "node": e["NODE_VERSION"],
        "python": platform.python_version(),
    },
    "client": "bench/s3/s3load.py: keep-alive HTTP/1.1 on raw sockets, one worker process "
              "per core multiplexing the connections with epoll (one per connection for "
              "64 MiB), requests pre-signed with SigV4 (UNSIGNED-PAYLOAD) before the clock "
              "starts; wrk for the cross-check",
    "out_rel": e["OUT_REL"],
}
with open(sys.argv[1], "w") as f:
    json.dump(meta, f, indent=2)
EOF
"$BENCH_PY" bench/s3/report.py --results "$RESULTS" --meta "$T/meta.json" --out "$OUT_REL"
