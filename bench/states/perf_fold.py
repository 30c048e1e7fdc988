#!/usr/bin/env python3
"""Condenses `perf script -F comm,tid,ip,sym` output (call graphs recorded with
--call-graph dwarf) into the two views bench/states/profile.sh prints:

  1. inclusive share of the Sluice functions and of a few library entry points that matter
     here (JSON dump/parse/copy, malloc/free, SQLite, fdatasync, time formatting), with
     template arguments and parameter lists stripped from the names;
  2. the cost *charged to* each Sluice function: every sample goes to the innermost
     sluice:: frame on its stack, split by what the code below it was doing (the innermost
     library frame of a known kind), so "Interpreter::Step / JSON dump 14%" reads: 14% of
     the CPU was nlohmann's serializer called directly from Interpreter::Step.

  perf_fold.py [--comm NAME] [--top N] < script.txt
"""

import argparse
import re
import sys
from collections import Counter

KINDS = [  # (kind, pattern on the simplified frame name), first match from the leaf wins
    ("fdatasync (disk)", re.compile(r"fdatasync|ext4_sync_file|do_fsync")),
    ("SQLite", re.compile(r"^sqlite3")),
    ("JSON dump", re.compile(r"serializer|::dump$")),
    ("JSON parse", re.compile(r"parser|lexer|::parse$")),
    ("time formatting", re.compile(r"FormatTime|cctz")),
    ("malloc/free", re.compile(r"^(malloc|_int_malloc|_int_free|cfree|free|sysmalloc|operator new|operator delete|"
                               r"__GI___libc_malloc|__GI___libc_free|malloc_consolidate|unlink_chunk)")),
    ("JSON copy/build/destroy", re.compile(r"basic_json|_Rb_tree|std::map|std::vector|json_value|_M_copy|_M_erase")),
    ("futex / scheduler", re.compile(r"futex|schedule|pthread_cond|pthread_mutex")),
    ("string ops", re.compile(r"basic_string|memcmp|memmove|memcpy|memset|strlen")),
]


def simplify(sym):
    s = sym.strip()
    s = re.sub(r"\s*\(inlined\)$", "", s)
    s = re.sub(r"\+0x[0-9a-f]+$", "", s)
    # strip template arguments and parameter lists, innermost first
    for _ in range(20):
        t = re.sub(r"<[^<>]*>", "", s)
        if t == s:
            break
        s = t
    for _ in range(20):
        t = re.sub(r"\([^()]*\)", "", s)
        if t == s:
            break
        s = t
    s = s.replace("json_abi_v3_11_2::", "").replace("__cxx11::", "").replace("debian3::", "")
    s = s.replace("[abi:cxx11]", "")
    return s.strip()


SRCLINE = re.compile(r"^\s+(\S+:\d+)\s*$")


SEEN = [0]  # samples read, whatever their comm


def samples(stream, comm):
    """Yields (frames, srclines), leaf first; srclines[i] is frame i's file:line or None
    (perf script -F ...,srcline prints it on the line after the frame)."""
    cur_comm, frames, lines = None, [], []
    for line in stream:
        if not line.strip():
            if frames:
                SEEN[0] += 1
            if frames and (comm is None or cur_comm == comm):
                yield frames, lines
            cur_comm, frames, lines = None, [], []
            continue
        if not line.startswith((" ", "\t")):
            cur_comm = line.split()[0]
            continue
        m = SRCLINE.match(line)
        if m and frames and lines[-1] is None and not re.match(r"^\s+[0-9a-f]+ ", line):
            lines[-1] = m.group(1)
            continue
        parts = line.strip().split(None, 1)
        frames.append(simplify(parts[1]) if len(parts) == 2 else "[unknown]")
        lines.append(None)
    if frames and (comm is None or cur_comm == comm):
        yield frames, lines


def source_text(where, src_root, built=None):
    """The text of file:line under src_root (searched by file name), or ''."""
    import os
    name, _, num = where.rpartition(":")
    if not src_root or not num.isdigit():
        return ""
    for root, _, files in os.walk(src_root):
        if name in files:
            if built and os.path.getmtime(os.path.join(root, name)) > os.path.getmtime(built):
                return "(source changed since the build)"
            try:
                with open(os.path.join(root, name), errors="replace") as f:
                    for i, text in enumerate(f, 1):
                        if i == int(num):
                            return text.strip()
            except OSError:
                return ""
    return ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--comm")
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--src", help="source tree, to print the text of the hottest lines")
    ap.add_argument("--built", help="a file as old as the build (library, binary): a source file newer "
                                    "than it is not quoted, its lines may have moved")
    args = ap.parse_args()
    total = 0
    inclusive = Counter()
    charged = Counter()
    charged_fn = Counter()
    charged_line = Counter()
    for frames, lines in samples(sys.stdin, args.comm):  # frames: leaf first
        total += 1
        seen = set()
        for f in frames:
            key = None
            if "sluice::" in f:
                key = f
            else:
                for kind, pat in KINDS:
                    if pat.search(f):
                        key = "  [" + kind + "]"
                        break
            if key and key not in seen:
                seen.add(key)
                inclusive[key] += 1
        owner_i = next((i for i, f in enumerate(frames) if "sluice::" in f), None)
        owner = frames[owner_i] if owner_i is not None else None
        if owner_i is not None and lines[owner_i]:
            charged_line[(owner, lines[owner_i])] += 1
        kind = "own code"
        for f in frames:
            if "sluice::" in f:
                break
            hit = next((k for k, pat in KINDS if pat.search(f)), None)
            if hit:
                kind = hit
                break
        if owner is None:
            owner = "(no Sluice frame: " + (frames[-1] if frames else "?")[:60] + ")"
        charged[(owner, kind)] += 1
        charged_fn[owner] += 1
    if not total:
        print("  no samples")
        return
    print(f"  {total} samples" + (f" (of {SEEN[0]} in the data; the others were not {args.comm})"
                                  if args.comm and SEEN[0] != total else ""))
    print("  inclusive (a function and everything it calls; library kinds in brackets):")
    for k, n in inclusive.most_common(args.top):
        print(f"    {100.0 * n / total:5.1f}%  {k[:150]}")
    print("  charged to the innermost Sluice function, by what ran below it:")
    shown = 0
    for fn, n in charged_fn.most_common():
        if shown >= args.top // 2:
            break
        shown += 1
        parts = [(kind, m) for (f, kind), m in charged.items() if f == fn]
        parts.sort(key=lambda x: -x[1])
        detail = ", ".join(f"{kind} {100.0 * m / total:.1f}%" for kind, m in parts[:5])
        print(f"    {100.0 * n / total:5.1f}%  {fn[:90]}  ({detail})")
    if charged_line:
        print("  the same by source line of that function (as built; the file may have changed since):")
        for (fn, where), n in charged_line.most_common(args.top // 2):
            text = source_text(where, args.src, args.built)
            print(f"    {100.0 * n / total:5.1f}%  {where:24s} {fn.split('::')[-1][:28]:28s} {text[:110]}")


if __name__ == "__main__":
    main()
