"""The picture of a traced run: ``python -m dftracer.utils timeline``.

One lane per thread that ran tasks (compute workers, I/O workers, temporary
workers, callers), each task a bar coloured by kind (python / native / io)
or by name, failed and timed-out tasks outlined in red, watchdog actions as
dashed lines, and the queue depth (queued, running, blocked) underneath.
Needs matplotlib (``pip install dftracer-utils[timeline]``).

Example::

    draw_timeline("run.pfw.gz", "timeline.png")
"""

from __future__ import annotations

import os
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from dftracer.utils.trace import read_trace

__all__ = ["TimelineData", "draw_timeline", "load_timeline"]

PathLike = Union[str, "os.PathLike[str]"]

KIND_COLOURS = {"python": "#4878d0", "native": "#ee854a", "io": "#6acc64"}
NAME_COLOURS = ["#4878d0", "#ee854a", "#6acc64", "#d65f5f", "#956cb4", "#8c613c", "#dc7ec0", "#797979", "#d5bb67"]
OTHER_COLOUR = "#bbbbbb"


@dataclass
class TimelineData:
    """A trace, arranged for drawing (times in seconds from the first event)."""

    lanes: List[Tuple[int, str]] = field(default_factory=list)  # (tid, thread name), top to bottom
    tasks: Dict[int, List[Tuple[float, float, str, str, str]]] = field(
        default_factory=dict
    )  # tid -> start, dur, kind, name, state
    counters: List[Tuple[float, int, int, int]] = field(default_factory=list)  # t, queued, running, blocked
    instants: List[Tuple[float, str]] = field(default_factory=list)
    span_s: float = 0.0


def _lane_key(name: str) -> Tuple[int, str, int]:
    m = re.match(r"(\w+) worker (\d+)", name)
    if m:
        pool_rank = 0 if m.group(1) == "compute" else 1
        temporary = 1 if "temporary" in name else 0
        return (pool_rank * 2 + temporary, m.group(1), int(m.group(2)))
    return (9, name, 0)


def load_timeline(path: PathLike) -> TimelineData:
    """Reads a ``.pfw`` / ``.pfw.gz`` trace into lanes, bars, counters and
    instants. Raises ``ValueError`` when it holds no task event."""
    names: Dict[int, str] = {}
    raw_tasks: List[Dict[str, Any]] = []
    raw_counters: List[Dict[str, Any]] = []
    raw_instants: List[Dict[str, Any]] = []
    for ev in read_trace(path):
        ph = ev.get("ph")
        if ph == "X":
            raw_tasks.append(ev)
        elif ph == "M" and ev.get("name") == "thread_name":
            names[int(ev["tid"])] = str(ev["args"]["name"])
        elif ph == "C":
            raw_counters.append(ev)
        elif ph == "i":
            raw_instants.append(ev)
    if not raw_tasks:
        raise ValueError(f"{os.fspath(path)}: no task events to draw")
    t0 = min(float(e["ts"]) for e in raw_tasks + raw_counters)
    data = TimelineData()
    by_tid: Dict[int, List[Tuple[float, float, str, str, str]]] = defaultdict(list)
    end = 0.0
    for e in raw_tasks:
        start = (float(e["ts"]) - t0) / 1e6
        dur = float(e.get("dur", 0)) / 1e6
        end = max(end, start + dur)
        state = str(e.get("args", {}).get("state", ""))
        by_tid[int(e["tid"])].append((start, dur, str(e.get("cat", "")), str(e["name"]), state))
    data.tasks = dict(by_tid)
    data.lanes = sorted(((tid, names.get(tid, f"thread {tid}")) for tid in by_tid), key=lambda lane: _lane_key(lane[1]))
    for e in sorted(raw_counters, key=lambda e: float(e["ts"])):
        a = e.get("args", {})
        t = (float(e["ts"]) - t0) / 1e6
        end = max(end, t)
        data.counters.append((t, int(a.get("queued", 0)), int(a.get("running", 0)), int(a.get("blocked", 0))))
    for e in raw_instants:
        data.instants.append(((float(e["ts"]) - t0) / 1e6, str(e["name"])))
    data.span_s = end
    return data


def draw_timeline(
    trace: PathLike, out: PathLike, *, color_by: str = "kind", title: Optional[str] = None, dpi: int = 110
) -> Path:
    """Draws ``trace`` into the image file ``out`` (format from its suffix:
    .png, .svg, .pdf); returns its path. ``color_by``: ``"kind"`` or
    ``"name"`` (the nine most frequent names get colours, others grey).
    Raises ``ImportError`` without matplotlib, ``ValueError`` for a trace
    with no task events or an unknown ``color_by``."""
    if color_by not in ("kind", "name"):
        raise ValueError(f"color_by must be 'kind' or 'name', not {color_by!r}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as e:
        raise ImportError(
            "the timeline picture needs matplotlib: pip install matplotlib (or dftracer-utils[timeline])"
        ) from e

    data = load_timeline(trace)
    lanes = data.lanes
    name_colour: Dict[str, str] = {}
    if color_by == "name":
        counts: Counter[str] = Counter()
        for bars in data.tasks.values():
            counts.update(_name_group(b[3]) for b in bars)
        for i, (n, _) in enumerate(counts.most_common(len(NAME_COLOURS))):
            name_colour[n] = NAME_COLOURS[i]

    height = 1.6 + 0.32 * len(lanes) + (1.6 if data.counters else 0)
    ratios = [max(2.0, 0.32 * len(lanes)), 1.4] if data.counters else [1.0]
    fig, axes = plt.subplots(
        len(ratios), 1, figsize=(12, height), sharex=True, gridspec_kw={"height_ratios": ratios}, squeeze=False
    )
    ax = axes[0][0]
    for row, (tid, _) in enumerate(lanes):
        groups: Dict[str, List[Tuple[float, float]]] = defaultdict(list)
        failed: List[Tuple[float, float]] = []
        for start, dur, kind, name, state in data.tasks[tid]:
            # A bar at least a pixel wide, so short tasks stay visible.
            width = max(dur, data.span_s / 4000 if data.span_s > 0 else 1e-6)
            colour = (
                KIND_COLOURS.get(kind, OTHER_COLOUR)
                if color_by == "kind"
                else name_colour.get(_name_group(name), OTHER_COLOUR)
            )
            groups[colour].append((start, width))
            if state in ("failed", "timed_out"):
                failed.append((start, width))
        y = len(lanes) - 1 - row
        for colour, spans in groups.items():
            ax.broken_barh(spans, (y - 0.4, 0.8), facecolors=colour, edgecolors="none")
        if failed:
            ax.broken_barh(failed, (y - 0.4, 0.8), facecolors="none", edgecolors="#c00000", linewidth=1.2)
    ax.set_yticks(range(len(lanes)))
    ax.set_yticklabels([name for _, name in reversed(lanes)], fontsize=8)
    ax.set_ylim(-0.7, len(lanes) - 0.3)
    seen_instants = set()
    for t, name in data.instants:
        ax.axvline(t, color="#c00000", linestyle="--", linewidth=0.8, alpha=0.7)
        if name not in seen_instants:
            seen_instants.add(name)
            ax.text(t, len(lanes) - 0.35, " " + name, color="#c00000", fontsize=7, va="bottom", rotation=0)
    if color_by == "kind":
        present = {b[2] for bars in data.tasks.values() for b in bars}
        handles = [Patch(color=c, label=k) for k, c in KIND_COLOURS.items() if k in present]
    else:
        handles = [Patch(color=c, label=n) for n, c in name_colour.items()] + [Patch(color=OTHER_COLOUR, label="other")]
    ax.legend(handles=handles, loc="upper right", fontsize=8, ncol=min(len(handles), 5), framealpha=0.9)
    total = sum(len(b) for b in data.tasks.values())
    ax.set_title(title or f"{Path(os.fspath(trace)).name}: {total} tasks on {len(lanes)} threads", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    if data.counters:
        cx = axes[1][0]
        ts = [c[0] for c in data.counters] + [data.span_s]
        for idx, label, colour in ((1, "queued", "#4878d0"), (2, "running", "#6acc64"), (3, "blocked", "#d65f5f")):
            values = [c[idx] for c in data.counters]
            cx.step(ts, values + values[-1:], where="post", label=label, color=colour, linewidth=1.2)
        cx.set_ylabel("tasks", fontsize=8)
        cx.legend(loc="upper right", fontsize=8, ncol=3)
        cx.grid(alpha=0.3)
        cx.set_ylim(bottom=0)
        cx.set_xlabel("seconds since the first event", fontsize=8)
    else:
        ax.set_xlabel("seconds since the first event", fontsize=8)
    ax.set_xlim(0, data.span_s * 1.01 if data.span_s > 0 else 1)
    fig.tight_layout()
    out_path = Path(os.fspath(out))
    fig.savefig(out_path, dpi=dpi)
    plt.close(fig)
    return out_path


def _name_group(name: str) -> str:
    """Names that differ only by what follows ':' (e.g. ``read:file-7``)
    share a colour."""
    return name.split(":", 1)[0]
