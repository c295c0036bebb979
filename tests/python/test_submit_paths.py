"""``_NativeRuntime.submit_python`` takes the common case itself (a plain
callable, an exact tuple and dict, no ``max_pending``, the compute pool) and
hands everything else to the full path: both must behave the same, and a
refused submit must raise, never queue twice."""

from __future__ import annotations

import collections
import threading
import time
from typing import Any

import pytest

import dftracer.utils as dft
from dftracer.utils import _core


class ArgsTuple(tuple):  # type: ignore[type-arg]
    pass


def add(a: int, b: int = 0) -> int:
    return a + b


@pytest.fixture
def native() -> Any:
    nat = _core._NativeRuntime(1, 1, 0, 16)
    yield nat
    nat.shutdown(True)


def test_common_and_handed_over_submits_give_the_same_results(native: Any) -> None:
    handles = [
        native.submit_python(add, (1, 2), {}, None),  # taken by the fast path
        native.submit_python(add, ArgsTuple((1, 2)), {}, "sub-tuple"),  # handed over
        native.submit_python(add, (1,), collections.OrderedDict(b=2), "sub-dict"),
        native.submit_python(add, (1, 2), {}, "io", True),  # the io pool: handed over
        native._submit_python_full(add, (1, 2), {}, "full"),
    ]
    assert [h.get(10.0) for h in handles] == [3, 3, 3, 3, 3]
    assert [h.name for h in handles] == [f"{__name__}.add", "sub-tuple", "sub-dict", "io", "full"]
    assert len({h.task_id for h in handles}) == 5


def test_a_bad_name_raises_from_either_path(native: Any) -> None:
    with pytest.raises(TypeError, match="name must be a str"):
        native.submit_python(add, (1,), {}, 7)
    with pytest.raises(TypeError, match="name must be a str"):
        native.submit_python(add, ArgsTuple((1,)), {}, b"bytes")


def test_wrong_argument_counts_raise_type_error(native: Any) -> None:
    with pytest.raises(TypeError):
        native.submit_python(add, (1,), {})
    with pytest.raises(TypeError):
        native.submit_python(add, (1,), {}, None, False, "extra")


def test_a_refused_submit_raises_and_queues_nothing() -> None:
    native = _core._NativeRuntime(1, 1, 0, 16)
    native.submit_python(add, (1, 2), {}, None).get(10.0)
    native.shutdown(True)
    with pytest.raises(RuntimeError):
        native.submit_python(add, (1, 2), {}, None)
    with pytest.raises(RuntimeError):
        native.submit_python(add, ArgsTuple((1, 2)), {}, None)


def test_max_pending_is_honoured_through_the_hand_over() -> None:
    with dft.Runtime(threads=1, max_pending=1) as rt:
        gate = threading.Event()
        first = rt.submit(gate.wait, 10)
        with pytest.raises(dft.RuntimeFullError):
            rt.try_submit(add, 1, 2, timeout=0)
        gate.set()
        assert first.get(10.0) is True
        assert rt.submit(add, 1, 2).get(10.0) == 3


def _submit_race_round(round_no: int) -> None:
    rt = dft.Runtime(threads=2)
    ran: list[int] = []
    ran_lock = threading.Lock()
    handles: list[list[Any]] = [[] for _ in range(4)]
    start = threading.Barrier(5)

    def record(token: int) -> int:
        with ran_lock:
            ran.append(token)
        return token

    def submitter(slot: int) -> None:
        start.wait()
        for i in range(100_000):
            token = slot * 1_000_000 + i
            try:
                handles[slot].append(rt.submit(record, token, name=None if i % 2 else "named"))
            except RuntimeError:
                return

    threads = [threading.Thread(target=submitter, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    start.wait()
    time.sleep(0.002 * (round_no % 5))
    rt.shutdown(wait=True)
    for t in threads:
        t.join(30)
        assert not t.is_alive()
    tokens = [h.get(10.0) for slot in handles for h in slot]
    assert sorted(tokens) == sorted(ran), f"round {round_no}: a task ran without its handle, or twice"
    assert len(set(ran)) == len(ran)


def test_submitters_racing_a_shutdown_never_queue_a_task_twice() -> None:
    # Many threads submit through the fast path while the runtime shuts
    # down under them: a refused submit falls back to the full path, which
    # must raise (not queue the task again). Every task that ran belongs to
    # exactly one handle, and every handle's task ran or was refused whole.
    for round_no in range(20):
        _submit_race_round(round_no)
