#!/usr/bin/env python3
"""Turns the measurements of one bench/athena/run.sh run into the comparison table and a JSON file.

Input: a JSON-lines file, one line per measurement, each tagged by run.sh with its round
  {"round": 1, "result": {...a line of duckdb_direct or athena_bench.py run...}}
  {"round": 1, "system": "sluice", "error": "why it failed"}
and a JSON file of run metadata (load average, versions, settings).
The rounds of one system and query are merged (their samples pooled); p50 and p99 are
nearest-rank percentiles of the pooled samples.
"""

import argparse
import json
import sys
from collections import OrderedDict

SYSTEM_OF = {"direct": "duckdb", "view": "duckdb-view", "e2e": "sluice", "quiet": "sluice-quiet"}
API_FIXED_MS = 5.0     # Athena API overhead <= 5 ms + 10% over DuckDB's own time
API_SHARE = 0.10
SMALL_P50_MS = 50.0    # small query p50 <= 50 ms end to end
SCAN_SHARE = 0.90      # lake scans >= 90% of standalone DuckDB


def percentile(vals, p):
    vals = sorted(v for v in vals if v is not None)
    if not vals:
        return None
    return vals[min(len(vals) - 1, int(p / 100.0 * (len(vals) - 1) + 0.5))]


def fmt(x, unit=""):
    if x is None:
        return "-"
    s = f"{x:,.0f}" if abs(x) >= 1000 else (f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}")
    return f"{s} {unit}".strip()


def table(rows, header, left=2):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i < left else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.meta) as f:
        meta = json.load(f)

    merged = OrderedDict()   # (system, query) -> pooled measurement
    errors = OrderedDict()
    kinds = OrderedDict()
    versions = {}
    with open(args.results) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            if "error" in rec:
                errors.setdefault(rec.get("system", "?"), []).append(rec["error"])
                continue
            res = rec["result"]
            if "query" not in res:
                if "duckdb_version" in res:
                    versions["duckdb"] = res["duckdb_version"]
                continue
            system = SYSTEM_OF.get(res.get("variant"), res.get("variant") or "sluice")
            if res.get("kind"):
                kinds[res["query"]] = res["kind"]
            m = merged.setdefault((system, res["query"]), {"system": system, "query": res["query"], "rounds": 0,
                                                          "rows": set(), "samples_ms": [], "phases": {}})
            m["rounds"] += 1
            m["rows"].add(res.get("rows"))
            m["samples_ms"] += res["samples_ms"]
            for k, v in (res.get("phases") or {}).items():
                m["phases"].setdefault(k, []).extend(v)
    for m in merged.values():
        s = m["samples_ms"]
        m["reps"] = len(s)
        m["rows"] = sorted(r for r in m["rows"] if r is not None)
        m["p50_ms"], m["p99_ms"], m["max_ms"] = percentile(s, 50), percentile(s, 99), max(s) if s else None
        m["phases_p50"] = {k: percentile(v, 50) for k, v in m["phases"].items()}

    def get(system, query):
        return merged.get((system, query))

    queries = [q for q in kinds if q != "rtt"] or list(OrderedDict.fromkeys(q for (_, q) in merged if q != "rtt"))
    comparisons, rows = [], []
    for q in queries:
        d, s = get("duckdb", q), get("sluice", q)
        dp, sp = (d or {}).get("p50_ms"), (s or {}).get("p50_ms")
        overhead = sp - dp if dp is not None and sp is not None else None
        allowed = API_FIXED_MS + API_SHARE * dp if dp is not None else None
        met = None if overhead is None else overhead <= allowed
        rows.append(["API overhead", q, fmt(dp, "ms"), fmt(sp, "ms"), fmt(overhead, "ms"),
                     "-" if overhead is None else f"{sp / dp:.1f}x", f"<= {fmt(allowed, 'ms')}",
                     "-" if met is None else ("met" if met else "MISSED")])
        comparisons.append({"target": "api_overhead", "query": q, "duckdb_p50_ms": dp, "sluice_p50_ms": sp,
                            "overhead_ms": overhead, "allowed_ms": allowed,
                            "ratio": sp / dp if overhead is not None else None, "met": met})
    for q in queries:
        if kinds.get(q) != "small":
            continue
        s = get("sluice", q)
        sp = (s or {}).get("p50_ms")
        met = None if sp is None else sp <= SMALL_P50_MS
        rows.append(["small query e2e", q, "-", fmt(sp, "ms"), "-", "-", f"<= {SMALL_P50_MS:g} ms",
                     "-" if met is None else ("met" if met else "MISSED")])
        comparisons.append({"target": "small_p50", "query": q, "sluice_p50_ms": sp, "limit_ms": SMALL_P50_MS, "met": met})
    for q in queries:
        if kinds.get(q) != "scan":
            continue
        d, s = get("duckdb", q), get("sluice-quiet", q) or get("sluice", q)
        dp = (d or {}).get("p50_ms")
        ep = (s or {}).get("phases_p50", {}).get("engine")
        src = (s or {}).get("system")
        share = dp / ep if dp is not None and ep else None
        met = None if share is None else share >= SCAN_SHARE
        rows.append(["lake scan (engine)", q, fmt(dp, "ms"), fmt(ep, "ms"), fmt(ep - dp if share else None, "ms"),
                     "-" if share is None else f"{share * 100:.0f}%", f">= {SCAN_SHARE * 100:.0f}%",
                     "-" if met is None else ("met" if met else "MISSED")])
        comparisons.append({"target": "lake_scan", "query": q, "duckdb_p50_ms": dp, "sluice_engine_p50_ms": ep,
                            "engine_from": src, "share": share, "limit": SCAN_SHARE, "met": met})

    detail = []
    for (system, q), m in merged.items():
        detail.append([system, q, m["rounds"], m["reps"], ",".join(map(str, m["rows"])) or "-",
                       fmt(m["p50_ms"]), fmt(m["p99_ms"]), fmt(m["max_ms"])])
    for system, errs in errors.items():
        detail.append([system, "-", len(errs), "-", "FAILED", "-", "-", "-"])
    mismatched = [q for q in queries if get("duckdb", q) and get("sluice", q)
                  and get("duckdb", q)["rows"] != get("sluice", q)["rows"]]

    breakdown = []
    for q in queries:
        d, v, s, quiet = get("duckdb", q), get("duckdb-view", q), get("sluice", q), get("sluice-quiet", q)
        if not s:
            continue
        ph = s["phases_p50"]
        dp, vp = (d or {}).get("p50_ms"), (v or {}).get("p50_ms")
        eng, tot = ph.get("engine"), ph.get("server_total")
        # Without a quiet pass (the small query), the tight loop's engine time stands in.
        qeng = (quiet or {}).get("phases_p50", {}).get("engine", eng)
        diff = lambda a, b: a - b if a is not None and b is not None else None
        breakdown.append([q, fmt(dp), fmt(diff(vp, dp)), fmt(diff(qeng, vp)), fmt(diff(eng, qeng)),
                          fmt(ph.get("service")), fmt(diff(s["p50_ms"], tot)), fmt(s["p50_ms"]),
                          fmt(ph.get("start")), fmt(ph.get("wait")), fmt(ph.get("polls")), fmt(ph.get("results"))])
    rtt = get("sluice", "rtt")

    print()
    print(f"Athena benchmark  {meta.get('started')}  git {meta.get('git', '?')}  {meta.get('nproc')} cores  "
          f"{meta.get('rows'):,} rows in {meta.get('partitions')} partitions, {meta.get('files')} Parquet files, "
          f"{fmt((meta.get('bytes') or 0) / 1e6, 'MB')}")
    print(f"loadavg at start: {meta.get('loadavg_start')}   at end: {meta.get('loadavg_end')}   "
          f"DuckDB {versions.get('duckdb', '?')}, threads {meta.get('duckdb_threads') or 'default (all cores)'}")
    print()
    print(table(rows, ["target", "query", "duckdb p50", "sluice p50", "overhead", "ratio", "target", "verdict"]))
    print()
    print(table(detail, ["system", "query", "rounds", "reps", "rows", "p50 ms", "p99 ms", "max ms"]))
    if breakdown:
        print()
        print("Where Sluice's end-to-end p50 goes (ms; each column a difference of p50s, so they only roughly add up):")
        print(table(breakdown, ["query", "duckdb", "+view shape", "+engine rest", "+poll load",
                                "+results write", "+API/client", "= e2e", "start call", "wait", "polls",
                                "results call"], left=1))
        print("  duckdb: read_parquet(glob, hive_partitioning) in-process; +view shape: the same query over the view "
              "Sluice builds (UNION ALL of one read_parquet per partition, re-created per query), in-process;")
        print("  +engine rest: EngineExecutionTimeInMillis (whole ms, truncated) in the quiet pass (client polling every "
              f"{meta.get('quiet_poll_ms')} ms) minus that: catalog, S3 listing, view and session statements;")
        print(f"  +poll load: the engine's time when the client polls every {meta.get('poll_ms')} ms minus the quiet "
              "pass's (the client and the server's HTTP work take CPU from DuckDB on a small machine);")
        print("  +results write: ServiceProcessingTimeInMillis (writing <id>.csv and .metadata to S3); +API/client: "
              "end to end minus TotalExecutionTimeInMillis (HTTP, SigV4, JSON, boto3, poll granularity).")
    if rtt:
        print(f"client floor: one GetQueryExecution round trip (boto3, keep-alive) p50 {fmt(rtt['p50_ms'])} ms, "
              f"p99 {fmt(rtt['p99_ms'])} ms; a query needs at least three (start, poll, results).")
    if mismatched:
        print()
        print(f"ROWS DIFFER between DuckDB and Sluice for: {', '.join(mismatched)}")
    for system, errs in errors.items():
        print(f"FAILED {system}: {errs[0]}")
    print()
    print("Both sides from this run on this machine, rounds interleaved; targets from the design's PERFORMANCE.md. "
          "Informational: nothing gates on them.")

    meta.setdefault("versions", {}).update(versions)
    for m in merged.values():
        if not m["phases"]:
            del m["phases"], m["phases_p50"]
    doc = {"meta": meta, "comparisons": comparisons, "rows_mismatch": mismatched,
           "results": list(merged.values()),
           "errors": [{"system": s, "errors": e} for s, e in errors.items()]}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"results written to {meta.get('out_rel', args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
