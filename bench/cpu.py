"""Cores kept busy during a run by the service's processes and by PostgreSQL's, from /proc.

The benchmark shares its machine with the database: this says which of them the cores went to,
and so how much a second worker could add at all. Linux only; elsewhere nothing is measured.
"""

from __future__ import annotations

import os
from pathlib import Path

PROC = Path("/proc")
Sample = dict[int, tuple[str, float]]  # pid -> (group, CPU seconds so far)


def sample(service_pid: int) -> Sample:
    """CPU seconds of every process of the service (its tree) and of PostgreSQL (by name)."""
    if not PROC.is_dir():
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[str, int, float]] = {}  # pid -> (name, parent, CPU seconds)
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        stats[int(entry.name)] = (name, int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    out: Sample = {}
    for pid, (name, _, seconds) in stats.items():
        if _descends(pid, service_pid, stats):
            out[pid] = ("service", seconds)
        elif name.startswith("postgres"):
            out[pid] = ("postgres", seconds)
    return out


def busy(before: Sample, after: Sample, seconds: float) -> dict[str, float]:
    """Cores busy per group between two samples (a process that started meanwhile counts whole)."""
    cores = {"service": 0.0, "postgres": 0.0}
    if not seconds:
        return cores
    for pid, (group, spent) in after.items():
        cores[group] += (spent - before.get(pid, (group, 0.0))[1]) / seconds
    return cores


def _descends(pid: int, root: int, stats: dict[int, tuple[str, int, float]]) -> bool:
    while pid > 1:
        if pid == root:
            return True
        pid = stats[pid][1] if pid in stats else 0
    return False
