#!/usr/bin/env bash
# Fetches DuckDB's official shared library and C header from the npm registry, pinned by
# version and sha256, into .cache/duckdb/{lib,include}. Skipped when already present, or
# when SLUICE_DUCKDB_DIR points at a libduckdb installation (lib/ and include/ inside).
set -euo pipefail
cd "$(dirname "$0")/.."

LIB_PKG="@duckdb/node-bindings-linux-x64@1.4.4-r.1"
LIB_SHA256="8ac460b152cd05a95065a414879bb09e40534b1fb7a80a7afe6969b6ce039029"
HDR_PKG="duckdb@1.4.4"
HDR_SHA256="5bb967dcbcd517670ba5f169f238fb9d6787e53752c60ebe24386169d76941ed"

DEST=.cache/duckdb
if [ -n "${SLUICE_DUCKDB_DIR:-}" ]; then exit 0; fi
if [ -f "$DEST/lib/libduckdb.so" ] && [ -f "$DEST/include/duckdb.h" ]; then exit 0; fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fetch() {  # package, sha256 -> path of the verified tarball
  local pkg=$1 sum=$2 file
  file=$(cd "$tmp" && npm pack --silent "$pkg" 2>/dev/null | tail -n 1)
  if [ -z "$file" ] || [ ! -f "$tmp/$file" ]; then
    echo "fetch-duckdb: could not fetch $pkg from the npm registry" >&2; exit 1
  fi
  if ! echo "$sum  $tmp/$file" | sha256sum -c --quiet -; then
    echo "fetch-duckdb: checksum mismatch for $pkg (expected $sum)" >&2; exit 1
  fi
  echo "$tmp/$file"
}
echo "fetch-duckdb: fetching $LIB_PKG and $HDR_PKG"
lib_tgz=$(fetch "$LIB_PKG" "$LIB_SHA256")
hdr_tgz=$(fetch "$HDR_PKG" "$HDR_SHA256")
mkdir -p "$DEST/lib" "$DEST/include"
tar -xzf "$lib_tgz" -C "$tmp" package/libduckdb.so
tar -xzf "$hdr_tgz" -C "$tmp" package/src/duckdb/src/include/duckdb.h
install -m 0644 "$tmp/package/libduckdb.so" "$DEST/lib/libduckdb.so"
install -m 0644 "$tmp/package/src/duckdb/src/include/duckdb.h" "$DEST/include/duckdb.h"
echo "fetch-duckdb: DuckDB 1.4.4 in $DEST"
