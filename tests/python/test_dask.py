# mypy: allow-untyped-calls
"""dftracer.utils.dask: one Runtime per Dask worker, reached from Dask tasks.

In-process clusters (``processes=False``) keep most tests fast and let them
look at the Worker objects directly; one test runs real worker processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pickle
import subprocess
import sys
import textwrap
import threading
import time
import types
import warnings
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster, Worker  # noqa: E402
from distributed.diagnostics.plugin import WorkerPlugin  # noqa: E402

import dftracer.utils as dft  # noqa: E402
import dftracer.utils.dask as dftdask  # noqa: E402
from dftracer.utils import Runtime  # noqa: E402
from dftracer.utils.dask import (  # noqa: E402
    DFTracerUtilsDaskWorkerPlugin,
    cluster_progress,
    get_worker_runtime,
)

# --- functions Dask ships to workers (module level: picklable by reference) ---


def square(x: int) -> int:
    return x * x


def squares_on_worker_runtime(xs: List[int]) -> List[int]:
    rt = get_worker_runtime()
    handles = [rt.submit(square, x) for x in xs]
    return [h.get() for h in handles]


def runtime_facts(dask_worker: Worker) -> Dict[str, Any]:
    rt = get_worker_runtime(dask_worker)
    return {
        "id": id(rt),
        "pid": os.getpid(),
        "threads": rt.threads,
        "io_threads": rt.io_threads,
        "python_threads": rt.python_threads,
    }


def task_runtime_identity() -> int:
    return id(get_worker_runtime())


def call_get_worker_runtime() -> None:
    get_worker_runtime()


def os_thread_count() -> int:
    return len(os.listdir("/proc/self/task"))


# --- fixtures and helpers ------------------------------------------------------


def _in_process_cluster(n_workers: int = 2, threads_per_worker: int = 1) -> LocalCluster:
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        processes=False,
        dashboard_address=None,
    )


@pytest.fixture
def in_process_client() -> Iterator[Client]:
    with _in_process_cluster() as cluster, Client(cluster) as client:
        yield client


def _runtimes(cluster: LocalCluster) -> Dict[str, Optional[Runtime]]:
    workers = [w for w in cluster.workers.values() if isinstance(w, Worker)]
    return {w.address: getattr(w, "dftracer_utils_runtime", None) for w in workers}


# --- import rules ---------------------------------------------------------------


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_dftracer_utils_never_imports_dask() -> None:
    proc = _run_python(
        """
        import sys
        import dftracer.utils
        with dftracer.utils.Runtime(threads=1) as rt:
            rt.submit(len, "x").get()
        loaded = sorted(m for m in ("dask", "distributed") if m in sys.modules)
        assert not loaded, loaded
        """
    )
    assert proc.returncode == 0, proc.stderr


def test_import_without_distributed_says_to_install_the_dask_extra() -> None:
    proc = _run_python(
        """
        import sys
        sys.modules["distributed"] = None  # as if it were not installed
        import dftracer.utils  # still fine
        try:
            import dftracer.utils.dask
        except ImportError as exc:
            print(exc)
        else:
            raise SystemExit("imported without distributed")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert 'pip install "distributed>=2024.6.0"' in proc.stdout
    assert "dask extra" in proc.stdout


# --- the plugin object ------------------------------------------------------------


def test_plugin_has_fixed_name_is_idempotent_and_pickles() -> None:
    plugin = DFTracerUtilsDaskWorkerPlugin(threads=3, io_threads=2, python_threads=1)
    assert isinstance(plugin, WorkerPlugin)
    assert plugin.idempotent is True
    assert plugin.name == DFTracerUtilsDaskWorkerPlugin().name == dftdask.PLUGIN_NAME
    copy = pickle.loads(pickle.dumps(plugin))
    assert (copy.threads, copy.io_threads, copy.python_threads) == (3, 2, 1)
    assert vars(copy) == {"threads": 3, "io_threads": 2, "python_threads": 1, "progress_interval": 1.0}


@pytest.mark.parametrize("kwargs", [{"threads": -1}, {"io_threads": -2}, {"python_threads": -1}])
def test_plugin_rejects_negative_sizes(kwargs: Dict[str, int]) -> None:
    with pytest.raises(ValueError):
        DFTracerUtilsDaskWorkerPlugin(**kwargs)


def test_plugin_rejects_non_int_sizes() -> None:
    with pytest.raises(TypeError):
        DFTracerUtilsDaskWorkerPlugin(threads=2.0)  # type: ignore[arg-type]


def test_threads_zero_uses_worker_nthreads_capped_at_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dftdask, "_usable_cpus", lambda: 4)
    plugin = DFTracerUtilsDaskWorkerPlugin()

    def fake_worker(nthreads: int) -> Any:
        return types.SimpleNamespace(address="fake", state=types.SimpleNamespace(nthreads=nthreads))

    assert plugin.resolved_threads(fake_worker(2)) == 2
    assert plugin.resolved_threads(fake_worker(16)) == 4
    assert DFTracerUtilsDaskWorkerPlugin(threads=8).resolved_threads(fake_worker(2)) == 8


def test_usable_cpus_follows_the_affinity_mask() -> None:
    assert dftdask._usable_cpus() == len(os.sched_getaffinity(0))


def test_teardown_does_not_block_the_event_loop() -> None:
    """The blocking shutdown waits for a running task on another thread while
    the loop keeps ticking."""
    plugin = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1)
    worker: Any = types.SimpleNamespace(address="fake", state=types.SimpleNamespace(nthreads=1))
    plugin.setup(worker)
    rt = get_worker_runtime(worker)
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.4)
        return "done"

    handle = rt.submit(slow)
    assert started.wait(10)

    async def main() -> int:
        ticks = 0
        stop = asyncio.Event()

        async def tick() -> None:
            nonlocal ticks
            while not stop.is_set():
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        pending = plugin.teardown(worker)
        assert pending is not None  # on a running loop: something to await
        await pending
        stop.set()
        await ticker
        return ticks

    began = time.monotonic()
    ticks = asyncio.run(main())
    elapsed = time.monotonic() - began
    assert handle.get() == "done"  # the running task finished before shutdown returned
    assert rt._native.is_shut_down
    assert elapsed >= 0.2
    assert ticks >= 5, f"event loop ticked only {ticks} times during a {elapsed:.2f} s teardown"
    with pytest.raises(RuntimeError, match="no dftracer.utils runtime"):
        get_worker_runtime(worker)
    assert not [t for t in threading.enumerate() if t.name.startswith("dftracer-utils-dask")]


# --- get_worker_runtime errors ---------------------------------------------------


def test_get_worker_runtime_outside_a_worker_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="Dask task"):
        get_worker_runtime()


def test_get_worker_runtime_before_registration_raises_runtime_error(in_process_client: Client) -> None:
    with pytest.raises(RuntimeError, match="register_plugin"):
        in_process_client.submit(call_get_worker_runtime).result(timeout=30)
    progress = cluster_progress(in_process_client)
    assert len(progress) == 2
    assert all(summary is None for summary in progress.values())


# --- in-process cluster -----------------------------------------------------------


def test_in_process_workers_each_get_their_own_runtime_sized_as_asked(in_process_client: Client) -> None:
    client = in_process_client
    result = client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=2, io_threads=1, python_threads=1))
    addresses = sorted(client.scheduler_info()["workers"])
    assert len(addresses) == 2
    assert set(result) == set(addresses)

    futures = {
        address: client.submit(
            squares_on_worker_runtime, list(range(i * 10, i * 10 + 10)), workers=[address], pure=False
        )
        for i, address in enumerate(addresses)
    }
    for i, address in enumerate(addresses):
        assert futures[address].result(timeout=30) == [x * x for x in range(i * 10, i * 10 + 10)]

    facts = client.run(runtime_facts)
    assert set(facts) == set(addresses)
    assert len({f["id"] for f in facts.values()}) == 2, "workers sharing a process must not share a runtime"
    for f in facts.values():
        assert (f["threads"], f["io_threads"], f["python_threads"]) == (2, 1, 1)

    progress = cluster_progress(client)
    assert set(progress) == set(addresses)
    for summary in progress.values():
        assert summary is not None
        assert summary["total"] == summary["completed"] == 10
        assert summary["failed"] == 0
        permanent = [w for w in summary["workers"] if w["pool"] == "compute" and not w["temporary"]]
        assert len(permanent) == 2, summary["workers"]


def test_threads_zero_sizes_each_runtime_to_its_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dftdask, "_usable_cpus", lambda: 2)
    with _in_process_cluster(n_workers=1, threads_per_worker=3) as cluster, Client(cluster) as client:
        client.register_plugin(DFTracerUtilsDaskWorkerPlugin())
        (facts,) = client.run(runtime_facts).values()
        assert facts["threads"] == 2  # min(nthreads=3, usable CPUs=2)
    with _in_process_cluster(n_workers=1, threads_per_worker=1) as cluster, Client(cluster) as client:
        client.register_plugin(DFTracerUtilsDaskWorkerPlugin())
        (facts,) = client.run(runtime_facts).values()
        assert facts["threads"] == 1


def test_registering_twice_keeps_one_runtime_per_worker(in_process_client: Client) -> None:
    client = in_process_client
    cluster = client.cluster
    assert isinstance(cluster, LocalCluster)
    client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=1))
    before = _runtimes(cluster)
    assert len(before) == 2 and all(rt is not None for rt in before.values())

    client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=1))
    client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=2))  # same name: ignored too
    after = _runtimes(cluster)
    assert after.keys() == before.keys()
    for address, rt in before.items():
        assert after[address] is rt
        assert rt is not None and not rt._native.is_shut_down and rt.threads == 1
    task_ids = {client.submit(task_runtime_identity, workers=[a], pure=False).result(timeout=30) for a in before}
    assert task_ids == {id(rt) for rt in before.values()}


def test_closing_the_cluster_shuts_runtimes_down_without_hang_or_leaked_threads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="dftracer.utils")
    threads_before = os_thread_count()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cluster = _in_process_cluster()
        client = Client(cluster)
        client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=2, io_threads=2))
        assert client.submit(squares_on_worker_runtime, [1, 2, 3]).result(timeout=30) == [1, 4, 9]
        runtimes = [rt for rt in _runtimes(cluster).values() if rt is not None]
        assert len(runtimes) == 2
        threads_running = os_thread_count()
        # Two runtimes of 2 compute + 2 I/O workers each (plus their watchdogs).
        assert threads_running >= threads_before + 8

        began = time.monotonic()
        client.close()
        cluster.close()
        elapsed = time.monotonic() - began

    assert elapsed < 20, f"closing took {elapsed:.1f} s"
    for rt in runtimes:
        assert rt._native.is_shut_down
    assert not [t for t in threading.enumerate() if t.name.startswith("dftracer-utils-dask")]
    # Every runtime thread joined: what remains is Dask's own long-lived threads.
    deadline = time.monotonic() + 5
    while os_thread_count() > threads_running - 8 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os_thread_count() <= threads_running - 8

    thread_warnings = [w for w in caught if "thread" in str(w.message).lower()]
    assert not thread_warnings, [str(w.message) for w in thread_warnings]
    leak_logs = [r for r in caplog.records if "leak" in r.getMessage().lower() or "still" in r.getMessage().lower()]
    assert not leak_logs, [r.getMessage() for r in leak_logs]
    assert not [r for r in caplog.records if r.name.startswith("dftracer") and r.levelno >= logging.WARNING]
    # Match the template: getMessage() formats lazily, and a runtime's repr
    # now says "shut down" in the set-up record too.
    shut = [r for r in caplog.records if r.name == "dftracer.utils.dask" and "shut down" in str(r.msg)]
    assert len(shut) == 2


# --- worker processes --------------------------------------------------------------


def test_worker_processes_each_get_their_own_runtime() -> None:
    began = time.monotonic()
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        Client(cluster) as client,
    ):
        client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=2, io_threads=1))
        addresses = sorted(client.scheduler_info()["workers"])
        assert len(addresses) == 2

        futures = [
            client.submit(squares_on_worker_runtime, [i, i + 1, i + 2], workers=[a], pure=False)
            for i, a in enumerate(addresses)
        ]
        assert [f.result(timeout=60) for f in futures] == [[0, 1, 4], [1, 4, 9]]

        facts = client.run(runtime_facts)
        assert set(facts) == set(addresses)
        assert len({f["pid"] for f in facts.values()}) == 2
        assert all(f["pid"] != os.getpid() for f in facts.values())
        for f in facts.values():
            assert (f["threads"], f["io_threads"]) == (2, 1)

        client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=2, io_threads=1))
        again = client.run(runtime_facts)
        assert {a: f["id"] for a, f in again.items()} == {a: f["id"] for a, f in facts.items()}

        progress = cluster_progress(client)
        assert set(progress) == set(addresses)
        for summary in progress.values():
            assert summary is not None
            assert summary["total"] == summary["completed"] == 3
            assert summary["threads"] == 2

        # Removing the plugin tears each worker process's runtime down and
        # joins its threads (2 compute + 1 I/O at least).
        threads_with = client.run(os_thread_count)
        client.unregister_worker_plugin(dftdask.PLUGIN_NAME)
        assert all(summary is None for summary in cluster_progress(client).values())
        threads_without = client.run(os_thread_count)
        for address in addresses:
            assert threads_without[address] <= threads_with[address] - 3
        with pytest.raises(RuntimeError, match="no dftracer.utils runtime"):
            client.submit(call_get_worker_runtime, pure=False).result(timeout=30)
    assert time.monotonic() - began < 45


# --- drop-in for upstream's plugin: attributes, minimal workers, teardown ------------


class BareWorker:
    """The least a worker can be: an object that takes attributes (no
    address, no nthreads, no event loop)."""


def test_plugin_reads_back_the_sizes_it_was_given() -> None:
    assert (DFTracerUtilsDaskWorkerPlugin().threads, DFTracerUtilsDaskWorkerPlugin().io_threads) == (0, 0)
    plugin = DFTracerUtilsDaskWorkerPlugin(threads=4, io_threads=2)
    assert (plugin.threads, plugin.io_threads) == (4, 2)
    assert DFTracerUtilsDaskWorkerPlugin(0, 3).io_threads == 3  # positional, as upstream's signature


def test_setup_on_a_bare_worker_stores_the_runtime_and_makes_it_the_default() -> None:
    before = dft.peek_default_runtime()
    plugin = DFTracerUtilsDaskWorkerPlugin(threads=2, io_threads=1)
    worker: Any = BareWorker()
    plugin.setup(worker)
    try:
        rt = worker.dftracer_utils_runtime
        assert isinstance(rt, Runtime)
        assert (rt.threads, rt.io_threads) == (2, 1)
        assert get_worker_runtime(worker) is rt
        assert dft.get_default_runtime() is rt
        assert dft.peek_default_runtime() is rt
        assert rt.submit(square, 7).get() == 49
    finally:
        assert plugin.teardown(worker) is None  # synchronous code: done on return
    assert rt._native.is_shut_down
    assert not hasattr(worker, "dftracer_utils_runtime")
    assert dft.peek_default_runtime() is before


def test_threads_zero_on_a_worker_that_does_not_say_uses_the_usable_cpus(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dftdask, "_usable_cpus", lambda: 3)
    assert DFTracerUtilsDaskWorkerPlugin().resolved_threads(BareWorker()) == 3


def test_setup_logs_the_address_when_the_worker_has_one(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="dftracer.utils.dask")
    plugin = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1)
    named: Any = types.SimpleNamespace(address="tcp://10.1.2.3:4567")
    bare: Any = BareWorker()
    plugin.setup(named)
    plugin.setup(bare)
    plugin.teardown(named)
    plugin.teardown(bare)
    messages = [r.getMessage() for r in caplog.records if r.name == "dftracer.utils.dask"]
    assert any("tcp://10.1.2.3:4567" in m for m in messages)
    assert any("BareWorker" in m for m in messages)


def test_teardown_from_synchronous_code_waits_for_running_tasks_and_is_idempotent() -> None:
    plugin = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1)
    worker: Any = BareWorker()
    plugin.setup(worker)
    rt = worker.dftracer_utils_runtime
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.2)
        return "done"

    running = rt.submit(slow)
    assert started.wait(10)
    queued = [rt.submit(square, i) for i in range(5)]
    assert plugin.teardown(worker) is None
    assert running.done() and running.get() == "done"  # finished before teardown returned
    assert all(h.done() for h in queued)  # each ran or was cancelled, none left hanging
    assert rt._native.is_shut_down
    assert plugin.teardown(worker) is None  # again: nothing to do
    assert plugin.teardown(BareWorker()) is None  # a worker it never set up


def test_teardown_on_a_running_loop_is_idempotent_too() -> None:
    plugin = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1)
    worker: Any = BareWorker()
    plugin.setup(worker)
    rt = worker.dftracer_utils_runtime

    async def main() -> None:
        first = plugin.teardown(worker)
        second = plugin.teardown(worker)
        assert first is not None and second is not None
        await second  # already complete
        await first

    asyncio.run(main())
    assert rt._native.is_shut_down


def test_teardown_on_a_loop_shuts_down_even_if_nobody_awaits_it() -> None:
    plugin = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1)
    worker: Any = BareWorker()
    plugin.setup(worker)
    rt = worker.dftracer_utils_runtime
    started = threading.Event()

    def slow() -> str:
        started.set()
        time.sleep(0.2)
        return "done"

    handle = rt.submit(slow)
    assert started.wait(10)

    async def main() -> None:
        plugin.teardown(worker)  # dropped: the loop ends right after

    asyncio.run(main())
    assert _wait_for(lambda: rt._native.is_shut_down, timeout=10)
    assert handle.get() == "done"
    assert _wait_for(lambda: not [t for t in threading.enumerate() if t.name.startswith("dftracer-utils-dask")])


def test_teardown_of_another_plugin_instance_leaves_the_runtime_alone() -> None:
    owner = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1)
    other = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1)
    worker: Any = BareWorker()
    owner.setup(worker)
    rt = worker.dftracer_utils_runtime
    other.setup(worker)  # keeps the live runtime
    assert worker.dftracer_utils_runtime is rt
    other.teardown(worker)
    assert not rt._native.is_shut_down
    owner.teardown(worker)
    assert rt._native.is_shut_down


def test_workers_sharing_a_process_restore_the_default_they_replaced() -> None:
    mine = Runtime(threads=1, io_threads=1)
    before = dft.peek_default_runtime()
    dft.set_default_runtime(mine)
    try:
        plugin = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1)
        w1: Any = BareWorker()
        w2: Any = BareWorker()
        plugin.setup(w1)
        plugin.setup(w2)
        assert dft.peek_default_runtime() is w2.dftracer_utils_runtime
        plugin.teardown(w1)  # not the default any more: nothing changes
        assert dft.peek_default_runtime() is w2.dftracer_utils_runtime
        plugin.teardown(w2)  # back past w1's (gone) to the program's own
        assert dft.peek_default_runtime() is mine
    finally:
        dft.set_default_runtime(before)
        mine.shutdown()


# --- the default runtime inside Dask tasks --------------------------------------------


def default_runtime_identity() -> int:
    return id(dft.get_default_runtime())


def nested_default_runtime_identity() -> Tuple[int, int, Optional[int]]:
    """(the Dask task's default, a runtime task's default, its peek) as ids."""
    rt = dft.get_default_runtime()
    inner = rt.submit(lambda: (id(dft.get_default_runtime()), id(dft.peek_default_runtime())))
    nested, peeked = inner.get()
    return id(rt), nested, peeked


def worker_runtime_identity(dask_worker: Worker) -> int:
    return id(dask_worker.dftracer_utils_runtime)  # type: ignore[attr-defined]


def test_get_default_runtime_in_a_dask_task_is_that_workers_runtime(in_process_client: Client) -> None:
    client = in_process_client
    before = dft.peek_default_runtime()
    client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1))
    own = client.run(worker_runtime_identity)
    assert len(set(own.values())) == 2
    for address, rt_id in own.items():
        assert client.submit(default_runtime_identity, workers=[address], pure=False).result(timeout=30) == rt_id
        outer, nested, peeked = client.submit(nested_default_runtime_identity, workers=[address], pure=False).result(
            timeout=30
        )
        assert outer == nested == peeked == rt_id
    client.unregister_worker_plugin(dftdask.PLUGIN_NAME)
    assert dft.peek_default_runtime() is before


# --- register_auto_thread_plugin ------------------------------------------------------


def test_auto_thread_plugin_sizes_each_runtime_to_its_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dftdask, "_usable_cpus", lambda: 64)
    with _in_process_cluster(n_workers=2, threads_per_worker=3) as cluster, Client(cluster) as client:
        result = dftdask.register_auto_thread_plugin(client)
        assert result is not None and set(result) == set(client.scheduler_info()["workers"])
        facts = client.run(runtime_facts)
        assert [f["threads"] for f in facts.values()] == [3, 3]
        ids = {a: f["id"] for a, f in facts.items()}
        # Again, or the plain plugin after it: the same name, nothing changes.
        dftdask.register_auto_thread_plugin(client)
        client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=1))
        assert {a: f["id"] for a, f in client.run(runtime_facts).items()} == ids


def test_auto_thread_plugin_uses_the_current_client_by_default() -> None:
    with _in_process_cluster(n_workers=1, threads_per_worker=1) as cluster, Client(cluster) as client:
        assert dftdask.register_auto_thread_plugin() is not None
        assert [f["threads"] for f in client.run(runtime_facts).values()] == [1]


def test_auto_thread_plugin_without_a_client_does_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="dftracer.utils.dask")
    assert dftdask.register_auto_thread_plugin() is None
    assert any("no Dask client" in r.getMessage() for r in caplog.records)


def test_auto_thread_plugin_divides_the_host_cpus_when_a_worker_does_not_say(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dftdask, "_usable_cpus", lambda: 8)
    plugin = dftdask.AutoThreadDaskWorkerPlugin({"10.0.0.1": 4, "10.0.0.2": 2})
    assert plugin.threads == 0
    at = lambda address: types.SimpleNamespace(address=address)  # noqa: E731
    assert plugin.resolved_threads(at("tcp://10.0.0.1:4000")) == 2
    assert plugin.resolved_threads(at("tcp://10.0.0.2:4000")) == 4
    assert plugin.resolved_threads(at("tcp://10.9.9.9:4000")) == 2  # unknown host: the busiest count
    assert plugin.resolved_threads(BareWorker()) == 2
    assert plugin.resolved_threads(types.SimpleNamespace(address="tcp://10.0.0.1:1", nthreads=3)) == 3
    assert plugin.resolved_threads(types.SimpleNamespace(nthreads=100)) == 8  # capped at the CPUs
    assert dftdask.AutoThreadDaskWorkerPlugin().resolved_threads(BareWorker()) == 8  # alone
    copy = pickle.loads(pickle.dumps(plugin))
    assert copy.host_worker_counts == {"10.0.0.1": 4, "10.0.0.2": 2} and copy.name == dftdask.PLUGIN_NAME


# --- cluster-wide progress, pushed to the client -------------------------------------


def phase_work(part: int, steps: int) -> int:
    for i in range(steps):
        assert dftdask.publish_progress("reading", i + 1, steps, batch=f"part-{part}")
    rt = dft.get_default_runtime()
    handles = [rt.submit(square, x) for x in range(10)]
    return sum(h.get() for h in handles)


def publish_from_a_runtime_task() -> bool:
    rt = dft.get_default_runtime()
    published: bool = rt.submit(dftdask.publish_progress, "nested", 1, 1, batch="inner").get()
    return published


def test_progress_aggregator_sums_what_workers_publish() -> None:
    summaries: List[dftdask.ClusterProgress] = []
    with _in_process_cluster(n_workers=2) as cluster, Client(cluster) as client:
        client.register_plugin(DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1, progress_interval=0.05))
        # Work done before the aggregator starts is read from the scheduler.
        assert sum(client.gather(client.map(phase_work, [0, 1], [3, 3]))) == 2 * 285
        with dftdask.ProgressAggregator(client, callback=summaries.append) as progress:
            assert _wait_for(lambda: progress.summary()["completed"] == 20 and progress.summary()["workers"] == 2)
            s = progress.summary()
            assert (s["total"], s["running"], s["queued"], s["failed"]) == (20, 0, 0, 0)
            assert s["threads"] == 2 and set(s["per_worker"]) == set(client.scheduler_info()["workers"])
            assert s["phases"]["reading"] == {"done": 6, "total": 6}
            # More work while subscribed reaches the callback.
            client.gather(client.map(phase_work, [2, 3], [2, 2], pure=False))
            assert _wait_for(lambda: progress.summary()["completed"] == 40)
            assert progress.summary()["phases"]["reading"] == {"done": 10, "total": 10}
            assert summaries and summaries[-1]["completed"] <= 40
            assert client.submit(publish_from_a_runtime_task, pure=False).result(timeout=30) is True
            assert _wait_for(lambda: "nested" in progress.summary()["phases"])
        last = progress.summary()  # readable after stop
        assert last["completed"] == 40


def test_progress_aggregator_keeps_the_newest_message_of_each_worker() -> None:
    agg = dftdask.ProgressAggregator(client=None)  # type: ignore[arg-type]  # handle_event needs no client

    def runtime_event(worker: str, started: float, seq: int, completed: int, closed: bool = False) -> Any:
        counts = dict.fromkeys(("total", "running", "blocked", "queued", "failed", "cancelled", "timed_out"), 0)
        counts["total"] = completed
        message = {
            "kind": "runtime",
            "worker": worker,
            "started": started,
            "seq": seq,
            "time": 0.0,
            "closed": closed,
            "threads": 2,
            "io_threads": 1,
            "python_threads": 2,
            "completed": completed,
            **counts,
        }
        return (0.0, message)

    agg.handle_event(runtime_event("a", 1.0, 2, completed=5))
    agg.handle_event(runtime_event("a", 1.0, 1, completed=3))  # stale: older seq
    agg.handle_event(runtime_event("b", 1.0, 1, completed=7))
    assert agg.summary()["completed"] == 12 and agg.summary()["workers"] == 2
    agg.handle_event(runtime_event("b", 1.0, 2, completed=7, closed=True))
    s = agg.summary()
    assert s["completed"] == 12 and s["workers"] == 1 and s["threads"] == 2  # closed keeps its counts
    agg.handle_event(runtime_event("b", 2.0, 1, completed=1))  # restarted worker: a new publisher
    assert agg.summary()["completed"] == 6 and agg.summary()["workers"] == 2
    agg.handle_event((0.0, {"kind": "phase", "phase": "p", "batch": "1", "done": 1, "total": 4}))
    agg.handle_event((0.0, {"kind": "phase", "phase": "p", "batch": "2", "done": 2, "total": 4}))
    agg.handle_event((0.0, {"kind": "phase", "phase": "p", "batch": "1", "done": 4, "total": 4}))
    assert agg.summary()["phases"] == {"p": {"done": 6, "total": 8}}
    # Upstream's phase messages carry no "kind": summed the same way.
    agg.handle_event((0.0, {"phase": "q", "batch": "0_8", "done": 3, "total": 5}))
    assert agg.summary()["phases"]["q"] == {"done": 3, "total": 5}
    for junk in (None, (0.0, "text"), (0.0, {"kind": "runtime"}), (0.0, {"kind": "other"})):
        agg.handle_event(junk)  # ignored, never raised
    assert agg.summary()["completed"] == 6


def test_progress_aggregator_callback_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    def broken(summary: dftdask.ClusterProgress) -> None:
        raise RuntimeError("callback bug")

    agg = dftdask.ProgressAggregator(client=None, callback=broken)  # type: ignore[arg-type]
    agg.handle_event((0.0, {"kind": "phase", "phase": "p", "batch": "1", "done": 1, "total": 1}))
    assert any("callback raised" in r.getMessage() for r in caplog.records)


def test_publish_progress_outside_a_worker_returns_false() -> None:
    assert dftdask.publish_progress("p", 1, 2) is False


def test_publisher_marks_the_runtime_closed_at_teardown() -> None:
    events: List[Tuple[str, Dict[str, Any]]] = []

    async def main() -> None:
        worker: Any = types.SimpleNamespace(address="tcp://w:1", log_event=lambda t, m: events.append((t, m)))
        plugin = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1, progress_interval=0.01)
        plugin.setup(worker)
        worker.dftracer_utils_runtime.submit(square, 3).get()
        await asyncio.sleep(0.1)
        pending = plugin.teardown(worker)
        assert pending is not None
        await pending

    asyncio.run(main())
    assert events and all(topic == dftdask.PROGRESS_TOPIC for topic, _ in events)
    messages = [m for _, m in events]
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    assert messages[-1]["closed"] is True and messages[-1]["completed"] == 1
    assert not any(m["closed"] for m in messages[:-1])
    assert any(m["completed"] == 1 and not m["closed"] for m in messages)


def test_progress_interval_zero_publishes_nothing() -> None:
    events: List[Any] = []

    async def main() -> None:
        worker: Any = types.SimpleNamespace(address="tcp://w:1", log_event=lambda t, m: events.append(m))
        plugin = DFTracerUtilsDaskWorkerPlugin(threads=1, io_threads=1, progress_interval=0)
        plugin.setup(worker)
        await asyncio.sleep(0.05)
        pending = plugin.teardown(worker)
        assert pending is not None
        await pending

    asyncio.run(main())
    assert events == []
    with pytest.raises(ValueError):
        DFTracerUtilsDaskWorkerPlugin(progress_interval=-1)


def _wait_for(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return bool(predicate())
