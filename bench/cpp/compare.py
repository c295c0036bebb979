#!/usr/bin/env python3
"""Side-by-side table of dftracer_bench results: ours vs oneTBB.

Runs the benchmark binary with --benchmark_format=json (or reads a JSON file
it wrote earlier) and prints, per case and thread count, our ns*core/task,
oneTBB's, and the ratio (ours / oneTBB; below 1 means ours is faster), then
the wake-latency figures and, when thread counts above the CPU count were
run (--threads=2,8 on 2 CPUs), each case's time there against at the CPU
count.

Examples::

    python3 bench/cpp/compare.py --binary build/bench/bench/cpp/dftracer_bench
    python3 bench/cpp/compare.py --binary ... --threads 1,2,4 --markdown
    python3 bench/cpp/compare.py --json results.json
    python3 bench/cpp/compare.py --binary ... -- --benchmark_filter=fib
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from typing import Any

NAME_RE = re.compile(r"^(?P<case>.+)/(?P<impl>[^/]+)/threads:(?P<threads>\d+)(?:/|$)")


def split_name(name: str) -> tuple[str, str, int] | None:
    """'fib/n:30/ours/threads:2/manual_time' -> ('fib/n:30', 'ours', 2)."""
    m = NAME_RE.match(name)
    if m is None:
        return None
    return m["case"], m["impl"], int(m["threads"])


def load_runs(data: dict[str, Any]) -> dict[tuple[str, int], dict[str, dict[str, Any]]]:
    """(case, threads) -> impl -> counters. Medians win over single runs."""
    rows: dict[tuple[str, int], dict[str, dict[str, Any]]] = defaultdict(dict)
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        aggregate = b.get("aggregate_name")
        if b.get("run_type") == "aggregate" and aggregate != "median":
            continue
        parsed = split_name(b.get("run_name", b["name"]))
        if parsed is None:
            continue
        case, impl, threads = parsed
        if impl in rows[(case, threads)] and aggregate != "median":
            continue
        rows[(case, threads)][impl] = b
    return rows


def fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def table(headers: list[str], body: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(headers)]
    out = ["  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))]
    for r in body:
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    return "\n".join(out)


def oversubscription(rows: dict[tuple[str, int], dict[str, dict[str, Any]]], cpus: int) -> list[list[str]]:
    """Per case and impl measured both at threads == cpus and above: the
    wall time per task above against at cpus (issue 12: within 1.2)."""
    body: list[list[str]] = []
    for (case, threads), impls in sorted(rows.items()):
        if threads <= cpus or case.startswith("wake_latency"):
            continue
        base = rows.get((case, cpus), {})
        for impl, b in sorted(impls.items()):
            at_cpus = base.get(impl, {}).get("ns_per_task")
            over = b.get("ns_per_task")
            if at_cpus and over is not None:
                body.append([case, impl, f"{threads} vs {cpus}", fmt(over), fmt(at_cpus), fmt(over / at_cpus, 2)])
    return body


def render(data: dict[str, Any], markdown: bool) -> str:
    rows = load_runs(data)
    body: list[list[str]] = []
    latency: list[list[str]] = []
    for (case, threads), impls in sorted(rows.items()):
        if case.startswith("wake_latency"):
            for impl, b in sorted(impls.items()):
                latency.append(
                    [
                        case,
                        impl,
                        str(threads),
                        fmt(b.get("p50_us")),
                        fmt(b.get("p99_us")),
                        fmt(b.get("max_us")),
                        fmt(b.get("submit_p50_us")),
                        fmt(b.get("idle_cpu_pct"), 2),
                    ]
                )
            continue
        tbb = impls.get("tbb", {}).get("ns_core_per_task")
        tbb_cpu = impls.get("tbb", {}).get("cpu_ns_per_task")
        for impl, b in sorted(impls.items()):
            if impl == "tbb" and len(impls) > 1:
                continue
            core = b.get("ns_core_per_task")
            ratio = core / tbb if (core is not None and tbb and impl not in ("tbb", "serial")) else None
            paired = impl != "serial"
            body.append(
                [
                    case,
                    impl,
                    str(threads),
                    fmt(b.get("ns_per_task")),
                    fmt(core),
                    fmt(b.get("cpu_ns_per_task")),
                    fmt(tbb if paired else None),
                    fmt(tbb_cpu if paired else None),
                    fmt(ratio, 2),
                ]
            )
    parts = [
        table(
            [
                "case",
                "impl",
                "threads",
                "ns/task",
                "ns*core/task",
                "cpu ns/task",
                "tbb ns*core/task",
                "tbb cpu ns/task",
                "ratio",
            ],
            body,
            markdown,
        )
    ]
    if latency:
        parts.append(
            table(
                ["case", "impl", "threads", "p50 us", "p99 us", "max us", "submit us", "idle cpu %"], latency, markdown
            )
        )
    ctx = data.get("context", {})
    cpus = ctx.get("num_cpus")
    over = oversubscription(rows, int(cpus)) if isinstance(cpus, int) and cpus > 0 else []
    if over:
        parts.append(
            "More workers than CPUs, against as many as CPUs (wall ns/task; ratio > 1.2: collapsed):\n\n"
            + table(["case", "impl", "threads", "ns/task", "ns/task at CPUs", "ratio"], over, markdown)
        )
    parts.insert(
        0,
        f"host: {ctx.get('host_name', '?')}, {ctx.get('num_cpus', '?')} CPUs at "
        f"{ctx.get('mhz_per_cpu', '?')} MHz, oneTBB: {ctx.get('oneTBB', '?')}, mode: {ctx.get('mode', '?')}",
    )
    return "\n\n".join(parts)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--binary", help="path to dftracer_bench; it is run with --benchmark_format=json")
    src.add_argument("--json", help="read this JSON file (from --benchmark_format=json) instead of running")
    ap.add_argument("--quick", action="store_true", help="pass --quick (tiny sizes)")
    ap.add_argument("--threads", help="extra thread counts, e.g. 1,2,4,8,16")
    ap.add_argument("--save", help="also write the raw JSON here")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    ap.add_argument("extra", nargs="*", help="after --: more flags for the binary")
    args = ap.parse_args()

    if args.json:
        with open(args.json, encoding="utf-8") as f:
            data = json.load(f)
    else:
        cmd = [args.binary, "--benchmark_format=json"]
        if args.quick:
            cmd.append("--quick")
        if args.threads:
            cmd.append(f"--threads={args.threads}")
        cmd += args.extra
        # The binary's own summary goes to stderr; keep it out of our table.
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, check=False)
        if proc.returncode != 0:
            print(f"{' '.join(cmd)} exited with {proc.returncode}", file=sys.stderr)
            return proc.returncode
        data = json.loads(proc.stdout)
        if args.save:
            with open(args.save, "w", encoding="utf-8") as f:
                f.write(proc.stdout)
    print(render(data, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
