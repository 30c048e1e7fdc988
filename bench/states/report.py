#!/usr/bin/env python3
"""Report of bench/states/run.sh: the table against PERFORMANCE.md's targets, and the JSON.

  report.py --results results.jsonl --meta meta.json --out bench/out/states-<stamp>.json

Each line of results.jsonl is {"case", "system", "result"} or {"case", "system", "error"}.
In-process rounds of one case and side are merged: executions added up, divided by the
summed seconds (and by the summed CPU seconds for the per-CPU figure).
"""

import argparse
import json
import sys

# What one execution of each in-process case is worth, and the unit the target counts.
UNITS = {
    "chain100": [("executions/s", 1), ("transitions/s", 100)],
    "single": [("executions/s", 1)],
    "map1000": [("items/s", 1000)],
    "map1000c1": [("items/s", 1000)],
    "chain100-history": [("transitions/s", 100)],
}
BASELINE_CASE = {"chain100-history": "chain100"}  # Sluice-only cases compared with another's baseline
TARGET_RATIO = {"chain100": 2.0, "single": 2.0, "map1000": 2.0}  # map1000c1: not a target
DESCRIPTION = {
    "chain100": "(a) Pass chain, 100 states",
    "single": "(b) 1-state Pass machine",
    "map1000": "(c) Map, 1,000 items, Pass iterator",
    "map1000c1": "    the same, MaxConcurrency 1",
    "chain100-history": "    (a) with history events built",
}
DURABLE_TARGET = 10000.0  # transitions/s, absolute (PERFORMANCE.md)
MAX_REQUEST_S = 1.0  # "no request over 1 s in any benchmark"


def pct(values, p):
    if not values:
        return None
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(round(p / 100.0 * len(v) + 0.5)) - 1))
    return v[k]


def fmt(x, digits=0):
    if x is None:
        return "-"
    if isinstance(x, str):
        return x
    if abs(x) >= 1000 or digits == 0:
        return f"{x:,.0f}"
    return f"{x:,.{digits}f}"


def table(rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths)),
             "  ".join("-" * w for w in widths)]
    for r in rows:
        lines.append("  ".join(str(c).rjust(w) if i > 0 else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.meta) as f:
        meta = json.load(f)
    results = []
    with open(args.results) as f:
        for line in f:
            if line.strip():
                results.append(json.loads(line))

    errors = [r for r in results if "error" in r]
    ok = [r for r in results if "result" in r]

    # ------------------------------------------------------------ in process
    merged = {}
    for r in ok:
        if r["case"] not in UNITS:
            continue
        m = merged.setdefault((r["case"], r["system"]), {"executions": 0, "seconds": 0.0, "cpu_seconds": 0.0,
                                                           "rounds": []})
        res = r["result"]
        m["executions"] += res["executions"]
        m["seconds"] += res["seconds"]
        m["cpu_seconds"] += res["cpu_seconds"]
        m["rounds"].append(res["executions"] / res["seconds"] if res["seconds"] else 0.0)

    comparisons = []
    rows = []
    for case, units in (UNITS.items() if merged else ()):
        base = merged.get((BASELINE_CASE.get(case, case), "aws-local-stepfunctions"))
        sl = merged.get((case, "sluice-engine"))
        for unit, per in units:
            b = base["executions"] * per / base["seconds"] if base and base["seconds"] else None
            s = sl["executions"] * per / sl["seconds"] if sl and sl["seconds"] else None
            bc = base["executions"] * per / base["cpu_seconds"] if base and base["cpu_seconds"] else None
            sc = sl["executions"] * per / sl["cpu_seconds"] if sl and sl["cpu_seconds"] else None
            ratio = s / b if b and s is not None else None
            cpu_ratio = sc / bc if bc and sc is not None else None
            target = TARGET_RATIO.get(case)
            verdict = "-"
            if target and ratio is not None:
                verdict = "met" if ratio >= target else "MISSED"
            comparisons.append({
                "case": case, "what": DESCRIPTION[case].strip(), "unit": unit, "baseline": b, "sluice": s,
                "ratio": ratio, "target_ratio": target, "verdict": verdict,
                "baseline_per_cpu_s": bc, "sluice_per_cpu_s": sc, "ratio_per_cpu_s": cpu_ratio,
                "baseline_cpu_share": base["cpu_seconds"] / base["seconds"] if base and base["seconds"] else None,
                "sluice_cpu_share": sl["cpu_seconds"] / sl["seconds"] if sl and sl["seconds"] else None,
            })
            rows.append([
                DESCRIPTION[case] if unit == units[0][0] else "",
                unit, fmt(b), fmt(s), fmt(ratio, 2) + "x" if ratio is not None else "-",
                f">= {target:g}x" if target else "(info)", verdict,
                fmt(cpu_ratio, 2) + "x" if cpu_ratio is not None else "-",
                f'{fmt(base["cpu_seconds"] / base["seconds"], 2)} / {fmt(sl["cpu_seconds"] / sl["seconds"], 2)}'
                if base and sl and base["seconds"] and sl["seconds"] else "-",
            ])

    out = []
    out.append(f'Step Functions benchmark  {meta["started"]}  git {meta["git"]}  '
               f'loadavg start {meta["loadavg_start"]}  end {meta["loadavg_end"]}  ({meta["nproc"]} CPUs)')
    hooks = sorted({r["result"].get("event_hook", "?") for r in ok
                    if r["system"] == "sluice-engine" and r["case"] != "chain100-history"})
    out.append(f'aws-local-stepfunctions {meta["versions"]["aws-local-stepfunctions"]} on Node {meta["versions"]["node"]}; '
               f'Sluice engine: 1 driving thread, event hook {"/".join(hooks) or "-"} (as EXPRESS runs); '
               f'{meta["rounds"]} rounds x {meta["seconds_per_case"]:g}s per case and side')
    if merged:
        out.append("")
        out.append("In process (Step Functions Express target: >= 2x aws-local-stepfunctions)")
        out.append(table(rows, ["case", "unit", "aws-local-sfn", "Sluice", "ratio", "target", "verdict",
                                "ratio/CPU-s", "CPU used (base/Sluice)"]))
        out.append("  ratio/CPU-s: the same ratio per CPU second each side used (user+sys), which the other")
        out.append("  tenants' load disturbs less; CPU used: CPU seconds per second of the loop (Map runs its")
        out.append("  iterations on up to 40 threads in Sluice, on one thread in Node).")

    # ------------------------------------------------------------ end to end
    e2e = {}
    sync_rows = []
    for action in ("start-sync", "describe"):
        parts = [r["result"] for r in ok if r["case"] == f"sync-{action}"]
        if not parts:
            continue
        lat = [x for p in parts for x in p.get("latencies_ms", [])]
        n = sum(p["requests"] for p in parts)
        secs = sum(p["seconds"] for p in parts)
        e2e[action] = {
            "requests": n, "seconds": secs, "rps": n / secs if secs else 0.0,
            "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat) if lat else None,
            "errors": sum(p["errors"] for p in parts), "rounds_rps": [p["rps"] for p in parts],
            "concurrency": parts[0]["concurrency"],
        }
    if e2e:
        out.append("")
        out.append(f'End to end, `sluice server` on 127.0.0.1, boto3 client ({meta["sync_procs"]} processes x '
                   f'{meta["sync_threads"]} threads, one request in flight each)')
        for action, label in (("start-sync", "(d) StartSyncExecution, 1-state EXPRESS"),
                              ("describe", "    client ceiling: DescribeStateMachine")):
            x = e2e.get(action)
            if not x:
                continue
            sync_rows.append([label, fmt(x["rps"]), fmt(x["p50_ms"], 2), fmt(x["p99_ms"], 2), fmt(x["max_ms"], 1),
                              str(x["errors"]), " / ".join(fmt(v) for v in x["rounds_rps"])])
        out.append(table(sync_rows, ["case", "req/s", "p50 ms", "p99 ms", "max ms", "errors", "per round req/s"]))
        if "start-sync" in e2e and "describe" in e2e and e2e["describe"]["rps"]:
            share = e2e["start-sync"]["rps"] / e2e["describe"]["rps"]
            e2e["start-sync"]["share_of_client_ceiling"] = share
            out.append(f'  StartSyncExecution made {share:.0%} of the rate the same client gets on DescribeStateMachine: '
                       + ("the Python client, not Sluice, sets this rate." if share > 0.8 else
                          "Sluice's execution path costs more than a plain API call."))
        rss = {r["result"]["when"]: r["result"]["rss_kib"] for r in ok if r["case"] == "rss"}
        if "start" in rss and "after-sync" in rss and "start-sync" in e2e:
            grown = (rss["after-sync"] - rss["start"]) / 1024.0
            n_sync = e2e["start-sync"]["requests"]
            e2e["rss_mib"] = {k: v / 1024.0 for k, v in rss.items()}
            out.append(f'  server RSS {rss["start"] / 1024:.0f} MiB before (d), {rss["after-sync"] / 1024:.0f} MiB after '
                       f'{n_sync:,} StartSyncExecution (+{grown:.1f} MiB, {1024 * grown / max(n_sync, 1):.2f} KiB each)'
                       + (f', {rss["after-durable"] / 1024:.0f} MiB after (e)' if "after-durable" in rss else ""))
        if "start-sync" in e2e:
            mx = e2e["start-sync"]["max_ms"]
            out.append(f'  no request over 1 s (PERFORMANCE.md, whole process): max {fmt(mx, 1)} ms: '
                       + ("met" if mx is not None and mx <= 1000 * MAX_REQUEST_S else "MISSED"))
            comparisons.append({"case": "sync", "what": "StartSyncExecution 1-state EXPRESS", "unit": "requests/s",
                                "sluice": e2e["start-sync"]["rps"], "p50_ms": e2e["start-sync"]["p50_ms"],
                                "p99_ms": e2e["start-sync"]["p99_ms"], "max_ms": mx,
                                "target": "no request over 1 s",
                                "verdict": "met" if mx is not None and mx <= 1000 * MAX_REQUEST_S else "MISSED"})

    dur = [r["result"] for r in ok if r["case"] == "durable"]
    if dur:
        d = dur[0]
        rate = d["transitions_per_s"]
        verdict = "met" if rate >= DURABLE_TARGET else "MISSED"
        out.append("")
        out.append(f'(e) Durable STANDARD: {d["executions"]} executions x {d["states_per_execution"]} Pass states, '
                   f'started at once from {d["start_threads"]} client threads')
        rows = [
            ["transitions/s (N*20 / wall, absolute)", fmt(rate), f">= {DURABLE_TARGET:,.0f}", verdict],
            ["  server span (first startDate .. last stopDate)", fmt(d.get("server_transitions_per_s")), "", ""],
            ["  wall s / server span s", f'{d["wall_s"]:.2f} / {d["server_span_s"]:.2f}' if d.get("server_span_s") else "-", "", ""],
            ["  start phase s (first .. last startDate)", fmt(d.get("start_phase_s"), 2), "", ""],
            ["  StartExecution latency p50 / p99 / max ms",
             f'{fmt(d.get("start_latency_p50_ms"), 1)} / {fmt(d.get("start_latency_p99_ms"), 1)} / '
             f'{fmt(d.get("start_latency_max_ms"), 1)}', "max <= 1,000",
             "met" if (d.get("start_latency_max_ms") or 0) <= 1000 * MAX_REQUEST_S else "MISSED"],
            ["  checks: succeeded / listed / history PassStateEntered / outputs",
             f'{d["succeeded"]} / {d["listed_succeeded"]} / {d["history_pass_entered"]} / '
             f'{"ok" if d["outputs_ok"] else "WRONG"}', "", ""],
        ]
        out.append(table(rows, ["measure", "Sluice", "target", "verdict"]))
        if d["succeeded"] != d["executions"] or d["timed_out"] or d["errors"]:
            out.append(f'  WARNING: {d["executions"] - d["succeeded"]} executions did not succeed; '
                       f'errors {d["errors"]} {d["error_samples"]} {d["failed_samples"]}'
                       + ("; the run timed out" if d["timed_out"] else ""))
        comparisons.append({"case": "durable", "what": "STANDARD 20-state Pass chains, durable", "unit": "transitions/s",
                            "sluice": rate, "target_absolute": DURABLE_TARGET, "verdict": verdict,
                            "server_transitions_per_s": d.get("server_transitions_per_s"),
                            "start_latency_max_ms": d.get("start_latency_max_ms")})

    if errors:
        out.append("")
        out.append("Failed measurements:")
        for e in errors:
            out.append(f'  {e["case"]} {e["system"]}: {e["error"][:300]}')
    out.append("")
    out.append(f'loadavg at start {meta["loadavg_start"]}, at end {meta["loadavg_end"]} '
               f'(rerun when the start figure is well above 1: the machine is shared)')
    if meta.get("profile"):
        out.append(f'diagnosis of the durable path: {meta["profile"]}')
    out.append(f'results: {meta["out_rel"]}')
    text = "\n".join(out)
    print(text)

    report = {"meta": meta, "comparisons": comparisons, "end_to_end": e2e, "measurements": results}
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
