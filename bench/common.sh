# shellcheck shell=bash
# Shared helpers for the benchmark scripts under bench/. Source it, don't run it:
#   . "$(dirname "$0")/../common.sh"
# Every process a benchmark starts is registered with bench_track_pid and stopped by
# the EXIT trap that bench_init installs; the temporary directory goes with it.

BENCH_PIDS=()
BENCH_TMP=""

bench_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
bench_die() { bench_log "error: $*"; exit 1; }

# Stops what this run started (by pid, children of this shell only) and removes the
# temporary directory. Installed as the EXIT trap by bench_init.
bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${BENCH_PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BENCH_PIDS=()
  if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
    rm -rf "$BENCH_TMP"
  fi
}

# bench_init NAME: creates the temporary directory (under $BENCH_TMPDIR, else $TMPDIR,
# else /tmp) and installs the cleanup trap.
bench_init() {
  local base="${BENCH_TMPDIR:-${TMPDIR:-/tmp}}"
  BENCH_TMP="$(mktemp -d "$base/sluice-bench-$1.XXXXXX")"
  chmod 755 "$BENCH_TMP"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

bench_track_pid() { BENCH_PIDS+=("$1"); }

# bench_apt_install PACKAGE...: installs the first of the Debian packages that installs
# (apt-get, through sudo when not root; the package lists are updated once, first).
bench_apt_install() {
  local sudo="" pkg
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  if [ -z "${BENCH_APT_UPDATED:-}" ]; then
    bench_log "updating the Debian package lists"
    $sudo apt-get update -qq || return 1
    BENCH_APT_UPDATED=1
  fi
  for pkg in "$@"; do
    bench_log "installing Debian package $pkg"
    if DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null; then
      return 0
    fi
  done
  return 1
}

# bench_need_cmd COMMAND PACKAGE...: installs a package when COMMAND is missing.
bench_need_cmd() {
  local cmd="$1"; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  [ -x "/usr/sbin/$cmd" ] && return 0
  bench_apt_install "$@"
}

# Prints a TCP port that is free on 127.0.0.1 right now.
bench_free_port() {
  "$BENCH_PY" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# bench_wait_http URL [SECONDS [PID]]: waits until URL answers 200 (or, with
# BENCH_ANY_STATUS=1, any HTTP status). Fails after SECONDS (default 20), or as soon as
# process PID, the server, has exited.
bench_wait_http() {
  local url="$1" secs="${2:-20}" pid="${3:-0}"
  "$BENCH_PY" - "$url" "$secs" "${BENCH_ANY_STATUS:-0}" "$pid" <<'EOF'
import os, sys, time, urllib.request, urllib.error
url, secs, any_status, pid = sys.argv[1], float(sys.argv[2]), sys.argv[3] == "1", int(sys.argv[4])

def alive():
    if pid <= 0:
        return True
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

deadline = time.monotonic() + secs
while time.monotonic() < deadline and alive():
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                sys.exit(0)
    except urllib.error.HTTPError:
        if any_status:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.05)
sys.exit(1)
EOF
}

bench_loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# A Python 3 that imports botocore: Debian's (python3-botocore) first.
bench_find_python() {
  local py
  for py in /usr/bin/python3 python3; do
    if "$py" -c 'import botocore' >/dev/null 2>&1; then
      command -v "$py"
      return 0
    fi
  done
  return 1
}
