"""Cells of the benchmark tables, shared by the quiet and the contended one."""

from __future__ import annotations

__all__ = ["fmt_time", "peer_cells"]


def fmt_time(t) -> str:
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def peer_cells(tools: dict, peers) -> tuple[list[str], list[float], list[float]]:
    """The peers' time cells of a model's row ("—" not run, "fails"), their medians and objectives."""
    cells, times, objectives = [], [], []
    for p in peers:
        r = tools.get(p)
        if r is None:
            cells.append("—")
        elif "error" in r:
            cells.append("fails")
        else:
            cells.append(fmt_time(r["median"]))
            times.append(r["median"])
            if r.get("objective") is not None:
                objectives.append(r["objective"])
    return cells, times, objectives
