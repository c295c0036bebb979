"""Large-job benchmark: ``Runtime.map`` next to ``ThreadPoolExecutor.map``
and ``joblib.Parallel(prefer="threads")`` on many items.

Run with ``python -m dftracer.utils bench --large-jobs`` (``--quick`` for a
short form). Cases:

- 1M tiny items (``x + 1``), one item per task, summed by the consumer;
- the same with 256 items per task: ``chunksize=256`` for us,
  ``batch_size=256`` for joblib, and for ThreadPoolExecutor (whose ``map``
  ignores ``chunksize``) ``map`` over 256-item batches done by hand;
- 2,000 small files (16-64 KiB each): read, gzip, sha256 of the result.

Every (case, runner) pair runs in a fresh interpreter, one after the other,
so each one's peak RSS is its own (``ru_maxrss``); the parent prints one
table: time per item and peak RSS, ours next to the peers. joblib is
optional: without it its rows say so. Nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import importlib.util
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional

__all__ = ["LargeJobResult", "format_large_jobs_table", "run_large_jobs"]

RUNNERS = ("dftracer.utils Runtime.map", "ThreadPoolExecutor.map", "joblib.Parallel(threads)")
CHUNK = 256


@dataclass
class LargeJobResult:
    case: str
    runner: str
    items: int
    seconds: float  # NaN when skipped
    peak_rss_mib: float
    baseline_rss_mib: float
    note: str = ""

    @property
    def us_per_item(self) -> float:
        return self.seconds / self.items * 1e6 if self.items else float("nan")


# -- the work --------------------------------------------------------------


def tiny(x: int) -> int:
    return x + 1


def tiny_batch(xs: List[int]) -> List[int]:
    return [x + 1 for x in xs]


def digest_file(path: str) -> str:
    """Read, gzip, sha256: I/O and two GIL-releasing C loops per file."""
    with open(path, "rb") as f:
        data = f.read()
    return hashlib.sha256(gzip.compress(data, compresslevel=6)).hexdigest()


def make_files(folder: Path, count: int, seed: int = 7) -> List[str]:
    """``count`` files of 16-64 KiB of half-compressible bytes."""
    rng = random.Random(seed)
    words = [bytes(rng.getrandbits(8) for _ in range(rng.randint(3, 9))) for _ in range(512)]
    paths = []
    for i in range(count):
        size = rng.randint(16, 64) * 1024
        chunks: List[bytes] = []
        n = 0
        while n < size:
            w = rng.choice(words)
            chunks.append(w)
            n += len(w)
        p = folder / f"file-{i:05d}.bin"
        p.write_bytes(b"".join(chunks)[:size])
        paths.append(str(p))
    return paths


def _batches(items: Iterable[int], size: int) -> Iterator[List[int]]:
    batch: List[int] = []
    for x in items:
        batch.append(x)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


# -- one measurement, in a child process -----------------------------------


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _run_case(case: str, runner: str, n: int, threads: int, folder: Optional[str]) -> Dict[str, Any]:
    paths = sorted(str(p) for p in Path(folder).iterdir()) if folder else []
    if case == "files":
        n = len(paths)

    def consume(results: Iterable[Any]) -> int:
        count = 0
        for _ in results:
            count += 1
        return count

    def flat(results: Iterable[List[Any]]) -> Iterator[Any]:
        for batch in results:
            yield from batch

    job: Callable[[], int]
    if runner == RUNNERS[0]:
        from dftracer.utils import Runtime

        pool: Any = Runtime(threads=threads)
        rt = pool
        if case == "tiny":
            job = lambda: consume(rt.map(tiny, range(n)))  # noqa: E731
        elif case == "tiny_chunked":
            job = lambda: consume(rt.map(tiny, range(n), chunksize=CHUNK))  # noqa: E731
        else:
            job = lambda: consume(rt.map(digest_file, paths, name=os.path.basename))  # noqa: E731
    elif runner == RUNNERS[1]:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=threads)
        ex = pool
        if case == "tiny":
            job = lambda: consume(ex.map(tiny, range(n)))  # noqa: E731
        elif case == "tiny_chunked":
            job = lambda: consume(flat(ex.map(tiny_batch, _batches(range(n), CHUNK))))  # noqa: E731
        else:
            job = lambda: consume(ex.map(digest_file, paths))  # noqa: E731
    else:
        from joblib import Parallel, delayed

        batch: Any = CHUNK if case == "tiny_chunked" else "auto"
        par = Parallel(n_jobs=threads, prefer="threads", return_as="generator", batch_size=batch)
        pool = None
        fn = digest_file if case == "files" else tiny
        items: Iterable[Any] = paths if case == "files" else range(n)
        job = lambda: consume(par(delayed(fn)(x) for x in items))  # noqa: E731

    baseline = _rss_mib()
    t0 = time.perf_counter()
    count = job()
    seconds = time.perf_counter() - t0
    if pool is not None:
        pool.shutdown()
    assert count == n, (count, n)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"seconds": seconds, "items": n, "peak_rss_mib": peak, "baseline_rss_mib": baseline}


# -- the parent ------------------------------------------------------------


def _measure(case: str, runner: str, n: int, threads: int, folder: Path) -> Dict[str, Any]:
    cmd = [
        sys.executable,
        "-m",
        "dftracer.utils.bench_large_jobs",
        "--child",
        case,
        runner,
        str(n),
        str(threads),
        str(folder) if case == "files" else "",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    result: Dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def run_large_jobs(
    quick: bool = False, threads: int = 2, repeats: Optional[int] = None, log: Callable[[str], None] = lambda s: None
) -> List[LargeJobResult]:
    """Runs every case with every runner, each run in its own interpreter;
    ``repeats`` rounds (default 3, 1 with ``quick``) go round the runners in
    turn, and each row keeps its fastest time and its highest peak RSS."""
    tiny_n = 100_000 if quick else 1_000_000
    file_n = 500 if quick else 2000
    rounds = repeats if repeats is not None else (1 if quick else 3)
    have_joblib = importlib.util.find_spec("joblib") is not None
    folder = Path(tempfile.mkdtemp(prefix="dftracer-bench-files-"))
    results: List[LargeJobResult] = []
    try:
        paths = make_files(folder, file_n)
        for p in paths:  # warm the page cache, so no runner pays for cold reads
            digest_file(p)
        cases = [
            ("tiny", f"{tiny_n:,} tiny items, 1 per task", tiny_n),
            ("tiny_chunked", f"{tiny_n:,} tiny items, {CHUNK} per task", tiny_n),
            ("files", f"{file_n:,} files: read+gzip+sha256", file_n),
        ]
        for case, label, n in cases:
            runners = [r for r in RUNNERS if r != RUNNERS[2] or have_joblib]
            best: Dict[str, Dict[str, Any]] = {}
            for round_no in range(rounds):
                for runner in runners:
                    log(f"  {label}: {runner} (round {round_no + 1}/{rounds}) ...")
                    r = _measure(case, runner, n, threads, folder)
                    prev = best.get(runner)
                    if prev is None or "error" in prev:
                        best[runner] = r
                    elif "error" not in r:
                        prev["seconds"] = min(prev["seconds"], r["seconds"])
                        prev["peak_rss_mib"] = max(prev["peak_rss_mib"], r["peak_rss_mib"])
            for runner in RUNNERS:
                if runner not in best:
                    results.append(
                        LargeJobResult(
                            label, runner, n, float("nan"), float("nan"), float("nan"), "skipped: pip install joblib"
                        )
                    )
                    continue
                r = best[runner]
                if "error" in r:
                    results.append(
                        LargeJobResult(
                            label, runner, n, float("nan"), float("nan"), float("nan"), "failed: " + r["error"]
                        )
                    )
                    continue
                note = ""
                if runner == RUNNERS[1] and case == "tiny_chunked":
                    note = f"by hand: map over {CHUNK}-item lists (map ignores chunksize)"
                elif runner == RUNNERS[1] and case != "files":
                    note = "eager: all futures at once"
                elif runner == RUNNERS[2]:
                    note = f"batch_size={CHUNK}" if case == "tiny_chunked" else "batch_size=auto"
                results.append(
                    LargeJobResult(
                        label, runner, r["items"], r["seconds"], r["peak_rss_mib"], r["baseline_rss_mib"], note
                    )
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return results


def format_large_jobs_table(results: List[LargeJobResult]) -> str:
    head = f"{'case':<36}{'runner':<30}{'us/item':>10}{'peak RSS':>11}{'vs ours':>9}  note"
    lines = [head, "-" * len(head)]
    ours: Dict[str, float] = {r.case: r.us_per_item for r in results if r.runner == RUNNERS[0]}
    for r in results:
        if r.seconds != r.seconds:  # NaN: skipped or failed
            lines.append(f"{r.case:<36}{r.runner:<30}{'-':>10}{'-':>11}{'-':>9}  {r.note}")
            continue
        ratio = r.us_per_item / ours[r.case] if ours.get(r.case) else float("nan")
        lines.append(
            f"{r.case:<36}{r.runner:<30}{r.us_per_item:>10.2f}{r.peak_rss_mib:>8.0f} MiB{ratio:>8.2f}x  {r.note}"
        )
    lines.append("vs ours: the runner's time per item / ours (> 1: we are faster); peak RSS of the whole process")
    return "\n".join(lines)


def _child(argv: List[str]) -> int:
    case, runner, n, threads, folder = argv
    out = _run_case(case, runner, int(n), int(threads), folder or None)
    print(json.dumps(out))
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--child", nargs=5, metavar=("CASE", "RUNNER", "N", "THREADS", "FOLDER"), help=argparse.SUPPRESS
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    print(format_large_jobs_table(run_large_jobs(args.quick, args.threads, log=lambda s: print(s, flush=True))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
