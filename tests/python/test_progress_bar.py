"""Progress bars: rt.wait_all(progress=True) and dft.progress(iterable).
A terminal gets one line rewritten in place (tqdm when installed, a plain
line otherwise); a log or pipe gets whole lines every few seconds, never a
stream of carriage returns; lines show done/total, rate, failures and what
the workers are running."""

from __future__ import annotations

import io
import sys
import threading
import time

import pytest

import dftracer.utils as dft
from dftracer.utils.progress_bar import ProgressBar, _Snapshot


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm raises ImportError


def test_a_pipe_gets_whole_lines_and_never_a_carriage_return(rt):
    out = io.StringIO()
    gate = threading.Event()

    def work(x):
        if x == 0:
            gate.wait(30)
        return x

    threading.Timer(0.4, gate.set).start()
    results = list(
        dft.progress(rt.map(work, range(50), name=lambda x: f"item-{x}"), desc="work", file=out, interval=0.1)
    )
    assert results == list(range(50))
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.splitlines()
    assert text.endswith("\n") and 2 <= len(lines) <= 30  # about one per interval, not one per item
    assert lines[-1].startswith("work: 50/50 100%") and "/s" in lines[-1]
    assert any("running: item-0" in line for line in lines[:-1])  # what the workers run while it waits


def test_a_pipe_gets_only_the_final_line_for_a_short_job_at_the_default_interval(rt):
    out = io.StringIO()
    assert sum(dft.progress(rt.map(abs, range(100)), file=out)) == sum(range(100))
    assert out.getvalue().count("\n") == 1 and out.getvalue().startswith("100/100 100%")


def test_a_terminal_without_tqdm_gets_one_line_rewritten_in_place(rt, no_tqdm):
    out = FakeTerminal()
    gate = threading.Event()
    threading.Timer(0.3, gate.set).start()
    list(dft.progress(rt.map(lambda x: x == 0 and gate.wait(30), range(20)), file=out, interval=0.05))
    text = out.getvalue()
    assert text.count("\r") >= 2  # redrawn several times
    assert text.count("\n") == 1 and text.endswith("\n")  # one line, ended once at the close
    assert "20/20 100%" in text.rsplit("\r", 1)[-1]


def test_a_terminal_with_tqdm_is_drawn_by_tqdm(rt):
    pytest.importorskip("tqdm")
    out = FakeTerminal()
    list(dft.progress(rt.map(abs, range(30)), desc="tq", file=out, interval=0.01))
    text = out.getvalue()
    assert "tq" in text and "30/30" in text and "100%|" in text  # tqdm's own bar layout


def test_failures_are_counted_on_the_line(rt):
    out = io.StringIO()

    def fragile(x):
        if x % 5 == 0:
            raise ValueError(x)
        return x

    handles = list(dft.progress(rt.map(fragile, range(20), return_handles=True), file=out))
    assert sum(h.exception is not None for h in handles) == 4
    assert "failed 4" in out.getvalue().splitlines()[-1]


def test_total_comes_from_len_or_the_maps_inputs_and_is_absent_for_generators(rt):
    out = io.StringIO()
    list(dft.progress([1, 2, 3], file=out))
    assert out.getvalue().startswith("3/3 100%")
    out = io.StringIO()
    list(dft.progress(rt.map(abs, [1, 2, 3, 4]), file=out))
    assert out.getvalue().startswith("4/4 100%")
    out = io.StringIO()
    list(dft.progress((i for i in range(5)), file=out))
    assert out.getvalue().startswith("5 ") and "/5" not in out.getvalue()
    out = io.StringIO()
    list(dft.progress(iter(range(5)), total=10, file=out))
    assert out.getvalue().startswith("5/10 50%")


def test_leaving_a_progress_loop_early_closes_the_map(rt1, wait_until):
    gate = threading.Event()
    out = io.StringIO()
    for _ in dft.progress(rt1.map(lambda x: x == 1 and gate.wait(30), range(1000), buffersize=40), file=out):
        break
    gate.set()
    assert wait_until(lambda: rt1.get_progress()["queued"] == 0 and rt1.get_progress()["running"] == 0)
    assert rt1.get_progress()["cancelled"] >= 30
    assert out.getvalue().startswith("1/1000")


def test_wait_all_with_progress_counts_the_tasks_pending_at_the_call(rt):
    rt.wait_all()
    out = io.StringIO()
    for i in range(30):
        rt.submit(time.sleep, 0.002, name=f"nap-{i}")
    rt.submit(lambda: 1 / 0, name="broken")
    rt.wait_all(progress=True, progress_file=out)
    last = out.getvalue().splitlines()[-1]
    assert last.startswith("wait_all: 31/31 100%") and "failed 1" in last
    assert "\r" not in out.getvalue()


def test_wait_all_with_progress_on_an_idle_runtime_returns_at_once(rt):
    out = io.StringIO()
    rt.wait_all(progress=True, progress_file=out)
    assert out.getvalue().startswith("wait_all: 0")


def test_the_line_shows_rate_eta_failures_and_running_names():
    bar = ProgressBar(lambda: (0, None), file=io.StringIO(), desc="parse")
    text = bar.format(_Snapshot(250, 1000, 3, ["parse:a", "parse:b", "parse:c", "parse:d", "parse:e"]))
    assert text.startswith("parse: 250/1000 25% ")
    assert "/s" in text and "eta " in text and "failed 3" in text
    assert text.endswith("| running: parse:a, parse:b, parse:c (+2)")
    bar.close()
