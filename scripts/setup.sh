#!/usr/bin/env bash
# Installs what Sluice needs to build, test and run on Debian 12, then fetches DuckDB.
# Idempotent: packages already present are skipped, DuckDB is fetched once into .cache/.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl ca-certificates
  libboost-dev libssl-dev libsqlite3-dev libabsl-dev libpugixml-dev libsimdjson-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev libzstd-dev zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  python3 python3-boto3 python3-pytest python3-pytest-xdist awscli postgresql-client-15
)
# `setup.sh --fuzz` (make fuzz): clang and its libFuzzer/sanitizer runtimes as well.
if [ "${1:-}" = "--fuzz" ]; then PACKAGES+=(clang libclang-rt-14-dev); fi
# npm fetches DuckDB; a Node.js installed outside Debian's packages serves as well.
command -v npm >/dev/null 2>&1 || PACKAGES+=(nodejs npm)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

scripts/fetch-duckdb.sh
