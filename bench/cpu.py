"""CPU seconds used by a process tree, from /proc: a cost per request that other load
on a shared machine barely disturbs (unlike requests per second)."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[int, float] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces; everything after its closing parenthesis is fixed.
    fields = raw[raw.rindex(")") + 2 :].split()
    ppid = int(fields[1])
    # Own CPU plus that of reaped children (cutime, cstime): a gunicorn worker recycled by
    # max_requests, or a PostgreSQL backend that ended, leaves its seconds with its parent
    # instead of taking them away from the tree (which made a run's delta negative).
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ppid, (utime + stime + cutime + cstime) / _TICK


def tree_cpu_seconds(roots: list[int]) -> float:
    """User + system CPU of ``roots`` and all their descendants, living or reaped."""
    table = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(entry)
            if stat is not None:
                table[int(entry)] = stat
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        todo.extend(children.get(pid, []))
    return total
