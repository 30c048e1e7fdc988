#!/usr/bin/env python3
"""Where the threads of a `sluice server` wait: classifies the stacks of gdb snapshots
(`thread apply all bt`) taken while STANDARD executions run (bench/states/profile.sh).

  stacks.py SNAPSHOT.txt...

Prints, over all snapshots, how many threads were in each state: the execution threads
(StepFunctions::Run) by what they wait for, the HTTP threads serving StartExecution /
DescribeExecution, the SQLite group writers, and the rest. A wall-clock view: a thread
blocked on a mutex is counted as much as one burning CPU.
"""

import re
import sys
from collections import Counter

FRAME = re.compile(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(.*)$")


def threads(text):
    cur = None
    for line in text.splitlines():
        if line.startswith("Thread "):
            if cur is not None:
                yield cur
            cur = []
        elif cur is not None:
            m = FRAME.match(line)
            if m:
                cur.append(m.group(1))
    if cur is not None:
        yield cur


def has(frames, *names):
    return any(any(n in f for n in names) for f in frames)


def project_frame(f):
    """(function, file:line) when the frame is in the project's code (not libc, libstdc++,
    nor the C++ library's headers), else None."""
    m = re.match(r"^(.*?) \((?:.*)\) at (\S+):(\d+)$", f)
    if not m:
        return None
    name, path, line = m.group(1), m.group(2), m.group(3)
    if path.startswith(("/usr/", "../", "./")) or "/sysdeps/" in path or "nptl" in path:
        return None
    name = re.sub(r"<[^<>]*>", "", name).strip()
    return name[:70], f"{path.rsplit('/', 1)[-1]}:{line}"


def lock_site(frames):
    """The innermost project frame above a mutex wait, as 'function (file:line)'."""
    for f in frames:
        p = project_frame(f)
        if p:
            return f"{p[0]} ({p[1]})"
    return "?"


def caller_of(frames, fn):
    """The project frame that called `fn`, as 'function (file:line)'."""
    seen = False
    for f in frames:
        if fn in f:
            seen = True
            continue
        if seen:
            p = project_frame(f)
            if p:
                return f"{p[0]} ({p[1]})"
    return "?"


def classify(frames):
    locked = has(frames, "__lll_lock_wait", "pthread_mutex_lock")
    commit = has(frames, "SqliteGroupWriter::Write")
    if has(frames, "SqliteGroupWriter::Loop"):
        if has(frames, "fdatasync", "fsync"):
            return "writer", "group writer: in fdatasync (the commit's sync)"
        if has(frames, "sqlite3"):
            return "writer", "group writer: running SQLite (the batch's statements, WAL write)"
        return "writer", "group writer: idle, queue empty (this and the other services' writers)"
    if has(frames, "StepFunctions::Run(", "StepFunctions::Run (") and not has(frames, "StepFunctions::StartExecution"):
        role = "execution"
    elif has(frames, "StepFunctions::StartExecution"):
        role = "StartExecution"
    elif has(frames, "StepFunctions::"):
        role = "other API"
    else:
        return "other", "other threads (HTTP workers idle, services' loops, timers)"
    if has(frames, "StepFunctions::AddEvent"):
        if locked and not commit:
            return role, ("AddEvent: waiting for its function-static event_mu (one event of one execution commits at "
                          "a time), at " + lock_site(frames))
        if commit:
            return role, "AddEvent: waiting for its event's commit"
        return role, "AddEvent: other (building or dumping the event)"
    if has(frames, "StepFunctions::Save"):
        if commit:
            return role, "Save: waiting for its commit, called from " + caller_of(frames, "StepFunctions::Save")
        return role, "Save: other (dumping the document)"
    if commit:
        return role, "another write: waiting for its commit"
    if locked:
        return role, "waiting for a mutex, at " + lock_site(frames)
    if has(frames, "SqliteReaderPool", "StepFunctions::Load"):
        return role, "reading SQLite (Load)"
    if has(frames, "Interpreter::"):
        return role, "in the interpreter (CPU)"
    if has(frames, "StepFunctions::ReapFinished", "pthread_join", "thread::join"):
        return role, "joining finished execution threads"
    return role, "other: " + next((f.split(" (")[0] for f in frames if "sluice::" in f), frames[0] if frames else "?")[:100]


def main():
    by_role = {}
    snapshots = 0
    for path in sys.argv[1:]:
        with open(path, errors="replace") as f:
            text = f.read()
        if "Thread " not in text:
            continue
        snapshots += 1
        for frames in threads(text):
            role, what = classify(frames)
            by_role.setdefault(role, Counter())[what] += 1
    print(f"{snapshots} snapshot(s) of every thread (gdb `thread apply all bt`), counts summed over them")
    for role in ("execution", "StartExecution", "other API", "writer", "other"):
        c = by_role.get(role)
        if not c:
            continue
        total = sum(c.values())
        label = {"execution": "execution threads (one per running execution, StepFunctions::Run)",
                 "StartExecution": "HTTP threads in StartExecution",
                 "other API": "HTTP threads in other Step Functions calls (DescribeExecution, ...)",
                 "writer": "SQLite group writer threads (SqliteGroupWriter::Loop)",
                 "other": "everything else"}[role]
        print(f"\n{label}: {total} thread-samples ({total / snapshots:.0f} per snapshot)")
        for what, n in c.most_common():
            print(f"  {100.0 * n / total:5.1f}%  {n:5d}  {what}")


if __name__ == "__main__":
    main()
