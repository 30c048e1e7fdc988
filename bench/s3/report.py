#!/usr/bin/env python3
"""Turns the results of one bench/s3/run.sh run into the comparison table and a JSON file.

Input: a JSON-lines file, one line per measurement
  {"case": "put64m", "system": "sluice", "result": {...s3load/wrk/fio JSON...}}
  {"case": "put64m", "system": "sluice", "error": "why it failed"}
and a JSON file of run metadata (load average, versions, settings).
Several lines of the same case, system and tool (the interleaved rounds of the 64 MiB
PUT) are merged: bytes and requests are added up and divided by the summed time.
"""

import argparse
import json
import math
import sys
from collections import OrderedDict

HIST_SCALE = 50  # as in s3load.py

# (case, title, unit, baseline system, tool, target ratio sluice/baseline)
COMPARISONS = [
    ("put64m", "S3 PUT 64 MiB, durable", "MB/s", "fio", "fio", 0.80),
    ("put64m", "S3 PUT 64 MiB, durable", "MB/s", "s3rver", "s3load", 3.0),
    ("get64m", "S3 GET 64 MiB, cached", "MB/s", "nginx", "s3load", 0.75),
    ("put4k", "S3 PUT 4 KiB unique keys c=16, durable", "req/s", "s3rver", "s3load", 10.0),
    ("get4k", "S3 GET 4 KiB c=16", "req/s", "nginx", "s3load", 0.50),
    ("get4k", "S3 GET 4 KiB c=16", "req/s", "s3rver", "s3load", 6.0),
    ("get4k", "S3 GET 4 KiB c=16, wrk client", "req/s", "nginx", "wrk", 0.50),
]


def percentile(vals, p):
    if not vals:
        return None
    vals = sorted(vals)
    return vals[min(len(vals) - 1, max(0, int(round(p / 100.0 * (len(vals) - 1)))))]


def merge(runs):
    """Merges the results of several runs of one case, system and tool."""
    if len(runs) == 1:
        return dict(runs[0], runs=1)
    out = dict(runs[0])
    for k in ("requests", "errors", "bytes", "elapsed_s", "busy_s"):
        out[k] = sum(r.get(k) or 0 for r in runs)
    ok = out["requests"] - out["errors"]
    out["req_per_s"] = ok / out["elapsed_s"] if out.get("tool") != "fio" else None
    out["mb_per_s"] = out["bytes"] / out["elapsed_s"] / 1e6
    out["runs"] = len(runs)
    out["per_run_mb_per_s"] = [round(r["mb_per_s"], 1) for r in runs]
    if all("lat_hist" in r for r in runs):
        hist = {}
        for r in runs:
            for b, n in r["lat_hist"]:
                hist[b] = hist.get(b, 0) + n
        out["lat_hist"] = sorted(hist.items())
        out["p50_ms"] = hist_percentile(out["lat_hist"], 50)
        out["max_ms"] = max(r["max_ms"] for r in runs)
        out["p50_ms"] = min(out["p50_ms"], out["max_ms"])
        out["p99_ms"] = min(hist_percentile(out["lat_hist"], 99), out["max_ms"])
    else:
        # wrk gives percentiles only: the median of the rounds' p50s, the worst p99.
        p50s = [r["p50_ms"] for r in runs if r.get("p50_ms") is not None]
        p99s = [r["p99_ms"] for r in runs if r.get("p99_ms") is not None]
        out["p50_ms"] = percentile(p50s, 50)
        out["p99_ms"] = max(p99s) if p99s else None
    return out


def hist_percentile(hist, p):
    """Percentile in ms of a histogram of (bucket, count), bucket b = [e^(b/50), e^((b+1)/50)) ns."""
    total = sum(n for _, n in hist)
    need = p / 100.0 * total
    seen = 0
    for b, n in hist:
        seen += n
        if seen >= need:
            return math.exp((b + 0.5) / HIST_SCALE) / 1e6
    return None


def figure(res, unit):
    if res is None:
        return None
    return res["mb_per_s"] if unit == "MB/s" else res["req_per_s"]


def fmt(x, unit=""):
    if x is None:
        return "-"
    if abs(x) >= 1000:
        s = f"{x:,.0f}"
    elif abs(x) >= 100:
        s = f"{x:.0f}"
    else:
        s = f"{x:.1f}"
    return f"{s} {unit}".strip()


def table(rows, header):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i == 0 or i == 1 else str(c).rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths)))
    out = [line(header), "  ".join("-" * w for w in widths)]
    out += [line(r) for r in rows]
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    with open(args.meta) as f:
        meta = json.load(f)
    grouped = OrderedDict()
    errors = OrderedDict()
    with open(args.results) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rec = json.loads(line)
            if "error" in rec:
                errors.setdefault((rec["case"], rec["system"], rec.get("tool", "s3load")), []).append(rec["error"])
                continue
            res = rec["result"]
            grouped.setdefault((rec["case"], rec["system"], res.get("tool", "s3load")), []).append(res)
    merged = {k: merge(v) for k, v in grouped.items()}

    def status_of(key):
        if key in merged:
            return None
        if key in errors:
            return "failed"
        return "not run"

    comparisons = []
    rows = []
    for case, title, unit, base_sys, tool, target in COMPARISONS:
        base = merged.get((case, base_sys, tool))
        slu = merged.get((case, "sluice", "s3load" if tool == "fio" else tool))
        bf, sf = figure(base, unit), figure(slu, unit)
        ratio = sf / bf if bf and sf is not None else None
        verdict = "-" if ratio is None else ("met" if ratio >= target else "MISSED")
        base_txt = fmt(bf, unit) if bf is not None else status_of((case, base_sys, tool))
        slu_key = (case, "sluice", "s3load" if tool == "fio" else tool)
        slu_txt = fmt(sf, unit) if sf is not None else status_of(slu_key)
        ratio_txt = "-" if ratio is None else (f"{ratio * 100:.0f}%" if target < 1 else f"{ratio:.2f}x")
        target_txt = f">= {target * 100:.0f}%" if target < 1 else f">= {target:g}x"
        rows.append([title, base_sys if tool in ("s3load", "fio") else f"{base_sys} ({tool})",
                     base_txt, slu_txt, ratio_txt, target_txt, verdict])
        comparisons.append({"case": case, "title": title, "unit": unit, "baseline": base_sys,
                            "tool": tool, "baseline_figure": bf, "sluice_figure": sf,
                            "ratio": ratio, "target": target, "met": None if ratio is None else ratio >= target})

    detail = []
    for (case, system, tool), r in merged.items():
        detail.append([case, f"{system} ({tool})", r.get("concurrency", 1), r.get("runs", 1),
                       r.get("requests", 1), r.get("errors", 0), fmt(r.get("req_per_s")),
                       fmt(r.get("mb_per_s")), fmt(r.get("p50_ms")), fmt(r.get("p99_ms")),
                       fmt(r.get("max_ms"))])
    for (case, system, tool), errs in errors.items():
        detail.append([case, f"{system} ({tool})", "-", len(errs), "-", "FAILED", "-", "-", "-", "-", "-"])

    print()
    print(f"S3 benchmark  {meta.get('started')}  git {meta.get('git', '?')}  "
          f"{meta.get('nproc')} cores  data fs {meta.get('fs_type')}  nginx workers {meta.get('nginx_workers')}")
    print(f"loadavg at start: {meta.get('loadavg_start')}   at end: {meta.get('loadavg_end')}")
    print()
    print(table(rows, ["case", "baseline", "baseline figure", "sluice figure", "ratio", "target", "verdict"]))
    print()
    print(table(detail, ["case", "system (client)", "c", "runs", "requests", "errors", "req/s", "MB/s",
                         "p50 ms", "p99 ms", "max ms"]))
    nginx_py = merged.get(("get4k", "nginx", "s3load"))
    nginx_wrk = merged.get(("get4k", "nginx", "wrk"))
    client_check = None
    if nginx_py and nginx_wrk:
        client_check = nginx_py["req_per_s"] / nginx_wrk["req_per_s"]
        print()
        verdict = ("so the client is not what limits nginx" if client_check >= 0.9 else
                   "so the Python client is part of what is measured: the wrk rows are the stricter ones")
        print(f"client check: on nginx GET 4 KiB c=16 s3load made {fmt(nginx_py['req_per_s'])} req/s, "
              f"wrk {fmt(nginx_wrk['req_per_s'])} ({client_check * 100:.0f}%), {verdict}.")
    if errors:
        print()
        for (case, system, tool), errs in errors.items():
            print(f"FAILED {case} {system} ({tool}): {errs[0]}")
    print()
    print("Ratios are Sluice's figure over the baseline's, both from this run on this machine; "
          "targets from the design's PERFORMANCE.md. Informational: nothing gates on them.")

    doc = {
        "meta": meta,
        "comparisons": comparisons,
        "client_check_s3load_over_wrk": client_check,
        "results": [dict(r, case=c, system=s, tool=t) for (c, s, t), r in merged.items()],
        "errors": [dict(case=c, system=s, tool=t, errors=e) for (c, s, t), e in errors.items()],
    }
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    print(f"results written to {meta.get('out_rel', args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
