#!/usr/bin/env bash
# Redshift benchmark: COPY of CSV and Parquet from the lake and UNLOAD to Parquet, through
# the Redshift Data API of a Sluice server, against the same statements run directly in
# libduckdb (bench/redshift/duckdb_sql.cc, the libduckdb.so Sluice loads, a file database);
# same run, same machine, same input files. The figure of each side is its median over
# BENCH_ROUNDS; ratio = DuckDB's time / Sluice's time (1.0 = no overhead). Last, a GROUP BY
# over the loaded table through the PostgreSQL wire protocol (bench/redshift/pg_query.py, a
# minimal client on a kept connection) against the same query in libduckdb.
#
#   bench/redshift/run.sh                       # Sluice from build/src/cmd/sluice
#   BENCH_ROWS=2000000 bench/redshift/run.sh
#
# Settings: SLUICE_BIN, BENCH_ROWS (default 1,000,000 sales rows), BENCH_ROUNDS (default 3),
# BENCH_TMPDIR. Without a Sluice binary, or when it has no redshift-data service, only the
# baseline is measured.
set -euo pipefail
case "${SLUICE_BIN:-}" in "" | /*) ;; *) SLUICE_BIN="$PWD/$SLUICE_BIN" ;; esac
cd "$(dirname "$0")/../.."
. bench/common.sh

ROWS="${BENCH_ROWS:-1000000}"
ROUNDS="${BENCH_ROUNDS:-3}"
SLUICE_BIN="${SLUICE_BIN:-build/src/cmd/sluice}"
BENCH_PY="$(bench_find_python)" || bench_die "no python3 with botocore (Debian package python3-boto3)"
bench_need_cmd g++ g++ || bench_die "g++ is missing"

DUCKDB_LIB=""
[ -x "$SLUICE_BIN" ] && DUCKDB_LIB="$(ldd "$SLUICE_BIN" 2>/dev/null | awk '$1 == "libduckdb.so" && $3 ~ /^\// { print $3 }' | head -n 1)"
[ -n "$DUCKDB_LIB" ] || DUCKDB_LIB="${SLUICE_DUCKDB_DIR:-.cache/duckdb}/lib/libduckdb.so"
[ -f "$DUCKDB_LIB" ] || bench_die "libduckdb.so not found at $DUCKDB_LIB (scripts/fetch-duckdb.sh)"
DUCKDB_LIBDIR="$(cd "$(dirname "$DUCKDB_LIB")" && pwd -P)"
CACHE=bench/.cache/redshift
mkdir -p "$CACHE"
DIRECT="$CACHE/duckdb_sql"
if [ ! -x "$DIRECT" ] || [ bench/redshift/duckdb_sql.cc -nt "$DIRECT" ]; then
  bench_log "compiling bench/redshift/duckdb_sql.cc"
  g++ -O2 -std=c++20 -I"$(dirname "$DUCKDB_LIBDIR")/include" bench/redshift/duckdb_sql.cc -o "$DIRECT" \
    -L"$DUCKDB_LIBDIR" -lduckdb -Wl,-rpath,"$DUCKDB_LIBDIR"
fi

bench_init redshift
CSV="$BENCH_TMP/sales.csv"
PARQUET="$BENCH_TMP/sales.parquet"
COLS="id BIGINT, region VARCHAR, product VARCHAR, qty INTEGER, price DECIMAL(12,2), sold TIMESTAMP"
GEN="SELECT i AS id, ['eu','us','apac','latam'][1 + i % 4] AS region, 'product-' || (i % 1000) AS product,
  CAST(1 + i % 7 AS INTEGER) AS qty, CAST((i % 10000) / 100.0 AS DECIMAL(12,2)) AS price,
  TIMESTAMP '2024-01-01' + to_seconds(i) AS sold FROM range($ROWS) t(i)"
bench_log "generating $ROWS rows as CSV and Parquet"
"$DIRECT" ":memory:" 1 "" "" "COPY ($GEN) TO '$CSV' (FORMAT csv, HEADER true)" >/dev/null
"$DIRECT" ":memory:" 1 "" "" "COPY ($GEN) TO '$PARQUET' (FORMAT parquet)" >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
DB="$BENCH_TMP/base.duckdb"
bench_log "baseline: libduckdb"
B_CSV=$("$DIRECT" "$DB" "$ROUNDS" "CREATE TABLE s ($COLS)" "DELETE FROM s" \
  "INSERT INTO s SELECT * FROM read_csv('$CSV', header = true, columns = {'id': 'BIGINT', 'region': 'VARCHAR', 'product': 'VARCHAR', 'qty': 'INTEGER', 'price': 'DECIMAL(12,2)', 'sold': 'TIMESTAMP'})" | median)
B_PQ=$("$DIRECT" "$DB" "$ROUNDS" "" "DELETE FROM s" "INSERT INTO s SELECT * FROM read_parquet('$PARQUET')" | median)
mkdir -p "$BENCH_TMP/unload"
B_UN=$("$DIRECT" "$DB" "$ROUNDS" "" "" "COPY (SELECT * FROM s) TO '$BENCH_TMP/unload/x.parquet' (FORMAT parquet)" | median)
QUERY="SELECT region, sum(qty * price) AS revenue, count(*) AS n FROM %s GROUP BY region ORDER BY region"
# shellcheck disable=SC2059
B_Q=$("$DIRECT" "$DB" "$ROUNDS" "" "" "$(printf "$QUERY" s)" | median)

S_CSV="" S_PQ="" S_UN="" S_Q=""
if [ -x "$SLUICE_BIN" ]; then
  PORT="$(bench_free_port)"
  PG_PORT="$(bench_free_port)"
  mkdir -p "$BENCH_TMP/data"
  "$SLUICE_BIN" server --data-dir "$BENCH_TMP/data" --port "$PORT" --pg-port "$PG_PORT" >"$BENCH_TMP/server.log" 2>&1 &
  bench_track_pid $!
  bench_wait_http "http://127.0.0.1:$PORT/health" 30 $! || bench_die "the server did not start (see $BENCH_TMP/server.log)"
  if curl -s "http://127.0.0.1:$PORT/health" | grep -q '"redshift-data"'; then
    bench_log "sluice: Redshift Data API"
    OUT=$("$BENCH_PY" bench/redshift/rs_bench.py "http://127.0.0.1:$PORT" "$ROUNDS" bench-redshift "$CSV" "$PARQUET")
    S_CSV=$(echo "$OUT" | "$BENCH_PY" -c 'import json,sys; print("\n".join(map(str, json.load(sys.stdin)["copy_csv"])))' | median)
    S_PQ=$(echo "$OUT" | "$BENCH_PY" -c 'import json,sys; print("\n".join(map(str, json.load(sys.stdin)["copy_parquet"])))' | median)
    S_UN=$(echo "$OUT" | "$BENCH_PY" -c 'import json,sys; print("\n".join(map(str, json.load(sys.stdin)["unload_parquet"])))' | median)
    bench_log "sluice: the same query over the PostgreSQL wire protocol"
    # shellcheck disable=SC2059
    S_Q=$("$BENCH_PY" bench/redshift/pg_query.py 127.0.0.1 "$PG_PORT" "$ROUNDS" "$(printf "$QUERY" bench_sales)" | median)
  else
    bench_log "this sluice has no redshift-data service: baseline only"
  fi
fi

printf '\nRedshift: %s rows, median of %s, load %s\n' "$ROWS" "$ROUNDS" "$(bench_loadavg)"
printf '%-16s %12s %12s %8s\n' statement "duckdb s" "sluice s" ratio
row() {
  if [ -n "$3" ]; then
    printf '%-16s %12.3f %12.3f %8.2f\n' "$1" "$2" "$3" "$(awk -v a="$2" -v b="$3" 'BEGIN {print a / b}')"
  else
    printf '%-16s %12.3f %12s %8s\n' "$1" "$2" - -
  fi
}
row "COPY CSV" "$B_CSV" "$S_CSV"
row "COPY Parquet" "$B_PQ" "$S_PQ"
row "UNLOAD Parquet" "$B_UN" "$S_UN"
row "query (pgwire)" "$B_Q" "$S_Q"
