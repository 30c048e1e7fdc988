#!/usr/bin/env python3
"""Turns the measurements of one bench/glue/run.sh run into the comparison table and a JSON file.

Input: a JSON-lines file, one line per measurement, each tagged by run.sh with its round
and system
  {"round": 1, "system": "duckdb", "result": {...a line of duckdb_copy copy...}}
  {"round": 1, "system": "sluice", "result": {...a line of glue_bench.py run...}}
  {"round": 0, "system": "check-duckdb" | "check-sluice", "result": {...duckdb_copy count...}}
  {"round": 0, "system": "check-listing", "result": {...glue_bench.py count...}}
  {"round": 0, "system": "trace", "result": {...glue_bench.py trace...}}
  {"round": 1, "system": "sluice", "error": "why it failed"}
and a JSON file of run metadata (load average, versions, settings).
Each side's figure is the median of its timed runs (one per round); ratio = DuckDB's median
time / Sluice's median time.
"""

import argparse
import json
import statistics
import sys
from collections import OrderedDict

TARGET = 0.80  # the Glue job >= 80% of the equivalent standalone DuckDB statement

PHASES = [
    ("to_statement", "StartJobRun -> statement starts (API, run thread, run state and script written durably)"),
    ("duckdb_query", "the COPY in Sluice's DuckDB, into a scratch folder (the run log's statement time)"),
    ("deletes", "query end -> first new object: OVERWRITE deletes of the previous run's objects"),
    ("uploads", "first -> last new object's LastModified: each file copied into the store, synced, committed"),
    ("after_last_put", "last LastModified -> statement end: the last commit, partition registration"),
    ("to_seen", "statement end -> client sees SUCCEEDED: run state written, poll interval"),
]


def fmt(x, unit="", digits=None):
    if x is None:
        return "-"
    if digits is not None:
        s = f"{x:.{digits}f}"
    else:
        s = f"{x:,.0f}" if abs(x) >= 1000 else (f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}")
    return f"{s} {unit}".strip()


def table(rows, header, left=1, left_cols=()):
    """Columns before `left`, and those in `left_cols`, are left-aligned; the others right."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i < left or i in left_cols else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.meta) as f:
        meta = json.load(f)
    mb = meta["input"]["bytes"] / 1e6

    runs = OrderedDict()   # system -> [(round, seconds, result)]
    checks, errors, trace, warmups = {}, OrderedDict(), None, []
    versions = {}
    with open(args.results) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            system = rec.get("system", "?")
            if "error" in rec:
                errors.setdefault(system, []).append(rec["error"])
                continue
            res = rec["result"]
            if res.get("duckdb_version"):
                versions["duckdb"] = res["duckdb_version"]
            if system.startswith("check-"):
                checks[system[len("check-"):]] = res
            elif system == "trace":
                trace = res
            elif system == "duckdb":
                for s in res["samples_s"]:
                    runs.setdefault("duckdb", []).append((rec["round"], s, res))
            elif system in ("sluice", "sluice-traced"):
                runs.setdefault(system, []).append((rec["round"], res["seconds"], res))
            elif system == "sluice-warmup":
                warmups.append(res)

    def summary(system):
        r = runs.get(system) or []
        secs = [s for _, s, _ in r]
        if not secs:
            return None
        med = median(secs)
        return {"system": system, "runs": len(secs), "samples_s": secs, "median_s": med, "min_s": min(secs),
                "max_s": max(secs), "mb_s": mb / med if med else None}

    d, s = summary("duckdb"), summary("sluice")
    ratio = d["median_s"] / s["median_s"] if d and s else None
    met = None if ratio is None else ratio >= TARGET
    by_round = {}
    for system in ("duckdb", "sluice"):
        for rnd, secs, _ in runs.get(system, []):
            by_round.setdefault(rnd, {})[system] = secs
    paired = [v["duckdb"] / v["sluice"] for _, v in sorted(by_round.items()) if "duckdb" in v and "sluice" in v]

    print()
    inp = meta["input"]
    print(f"Glue benchmark  {meta.get('started')}  git {meta.get('git', '?')}  {meta.get('nproc')} cores  "
          f"seed job JSON -> Parquet by event_date: {inp['events']:,} events, {mb:.1f} MB in {inp['files']} files, "
          f"{inp['days']} days")
    print(f"loadavg at start: {meta.get('loadavg_start')}   at end: {meta.get('loadavg_end')}   "
          f"DuckDB {versions.get('duckdb', '?')}, threads {meta.get('duckdb_threads') or 'default (all cores)'}")
    if meta.get("setup", {}).get("upload_s") is not None:
        st = meta["setup"]
        print(f"upload of the raw events to Sluice (not timed in the job): {st['upload_s']:.2f} s, "
              f"{st['upload_mb_s']:.0f} MB/s")
    print()
    rows = []
    for x in (d, s):
        if x:
            rows.append([x["system"], x["runs"], fmt(x["median_s"], "s", 3), fmt(x["min_s"], "s", 3),
                         fmt(x["max_s"], "s", 3), fmt(x["mb_s"], "MB/s")])
    if rows:
        print(table(rows, ["system", "runs", "median", "min", "max", "input MB/s"]))
        print()
    comp = [["Glue job JSON -> Parquet", fmt(d and d["median_s"], "s", 3), fmt(s and s["median_s"], "s", 3),
             "-" if ratio is None else f"{ratio * 100:.0f}%", f">= {TARGET * 100:.0f}%",
             "-" if met is None else ("met" if met else "MISSED")]]
    print(table(comp, ["target", "duckdb", "sluice", "duckdb/sluice", "target", "verdict"]))
    if paired:
        print(f"per round (duckdb/sluice, each round's pair): {', '.join(f'{p * 100:.0f}%' for p in paired)}")

    # Where Sluice's time goes: the medians of each phase over the timed runs.
    sl = [res for _, _, res in runs.get("sluice", [])]
    phase_medians = {k: median([r["phases_ms"].get(k) for r in sl]) for k, _ in PHASES + [("e2e", "")]} if sl else {}
    if sl:
        print()
        print("Where a Sluice run's time goes (median ms over the timed runs; from the run log's timestamps and the "
              "objects' LastModified, both to the millisecond):")
        prow = [[k, fmt(phase_medians[k]), desc] for k, desc in PHASES]
        prow.append(["= end to end", fmt(phase_medians["e2e"]), "StartJobRun sent -> SUCCEEDED seen"])
        print(table(prow, ["phase", "ms", "what"], left=1, left_cols=(2,)))
        dq = phase_medians.get("duckdb_query")
        if d and dq:
            print(f"  DuckDB's COPY inside Sluice: {fmt(dq)} ms vs {fmt(d['median_s'] * 1e3)} ms standalone "
                  f"({d['median_s'] * 1e3 / dq * 100:.0f}%); everything else Sluice adds: "
                  f"{fmt(phase_medians['e2e'] - dq)} ms")
        objs = sl[-1]
        print(f"  output: {objs['objects']} objects, {objs['object_bytes'] / 1e6:.1f} MB")
    if trace:
        print()
        w = trace["windows_ms_from_first_json_open"]
        sc = trace["syscalls"]
        print("Traced run (strace -f -T on the server; untimed, ptrace slows the DuckDB part), "
              "ms from the first raw-object open:")
        trows = []
        for k, label in (("json_opens", "raw JSON files opened"), ("scratch_parquet_creates", "scratch Parquet files created"),
                         ("deletes", "curated objects deleted (OVERWRITE)"), ("uploads", "curated objects renamed in")):
            x = w.get(k)
            if x:
                trows.append([label, x["count"], fmt(x["from_ms"]), fmt(x["to_ms"]), fmt(x["ms"])])
        print(table(trows, ["what", "count", "from", "to", "span"]))
        if trace.get("finish_ms") is not None:
            parts = []
            for name in ("syncfs", "fdatasync", "fsync", "unlink", "rename", "mkdir", "openat"):
                x = sc.get(name)
                if x and x["in_finish_count"]:
                    parts.append(f"{name} {x['in_finish_count']}x {x['in_finish_ms']:.1f} ms")
            print(f"  deletes + uploads: {trace['finish_ms']:.0f} ms, of which in these calls: {'; '.join(parts)}")
            if trace.get("first_syncfs_ms") is not None:
                print(f"  the first syncfs (it writes back DuckDB's whole scratch output too): {trace['first_syncfs_ms']:.1f} ms")

    # The same output on both sides?
    mismatch = None
    cd, cs, cl = checks.get("duckdb"), checks.get("sluice"), checks.get("listing")
    if cd or cs:
        print()
        crow = []
        for name, c in (("duckdb", cd), ("sluice", cs)):
            if c:
                crow.append([name, f"{int(c['rows']):,}", c["partitions"], c["files"], c["amount_cents"], c["fingerprint"]])
        print(table(crow, ["output", "rows", "partitions", "files", "sum(amount) cents", "fingerprint"]))
        keys = ("rows", "partitions", "amount_cents", "fingerprint")
        if cd and cs:
            mismatch = [k for k in keys if str(cd[k]) != str(cs[k])]
            if mismatch:
                print(f"OUTPUTS DIFFER in: {', '.join(mismatch)}")
            else:
                print("outputs match: same rows, partitions, amounts and content fingerprint")
        if cl and cs and (cl["objects"] != int(cs["files"]) or cl["missing"]):
            print(f"LISTING DIFFERS: ListObjectsV2 shows {cl['objects']} objects, the data folder holds {cs['files']} files")
        log_rows = {r.get("log_rows") for r in sl if r.get("log_rows") is not None}
        if sl and not log_rows:
            print("the Sluice runs' logs had no 'rows written' line: no phases (has the log format changed?)")
        if cd and log_rows and log_rows != {int(cd["rows"])}:
            print(f"ROWS DIFFER: the Sluice runs logged {sorted(log_rows)} rows written")
    for system, errs in errors.items():
        print(f"FAILED {system}: {errs[0]}")
    print()
    print("Both sides from this run on this machine, rounds interleaved (the order alternates); the target is from "
          "the issue (>= 80% of the standalone DuckDB statement). Informational: nothing gates on it.")

    meta.setdefault("versions", {}).update(versions)
    comparisons = [{"target": "glue_job_json_to_parquet", "duckdb_median_s": d and d["median_s"],
                    "sluice_median_s": s and s["median_s"], "duckdb_mb_s": d and d["mb_s"],
                    "sluice_mb_s": s and s["mb_s"], "ratio": ratio, "paired_ratios": paired,
                    "limit": TARGET, "met": met}]
    doc = {"meta": meta, "comparisons": comparisons, "summary": [x for x in (d, s) if x],
           "sluice_phases_median_ms": phase_medians, "checks": checks, "outputs_mismatch": mismatch,
           "trace": trace,
           "runs": [{"system": sys_, "round": rnd, "seconds": secs, "result": res}
                    for sys_, lst in runs.items() for rnd, secs, res in lst],
           "warmups": warmups,
           "errors": [{"system": k, "errors": v} for k, v in errors.items()]}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"results written to {meta.get('out_rel', args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
