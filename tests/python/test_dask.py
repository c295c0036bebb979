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
from typing import Any, Dict, Iterator, List, Optional

import pytest

pytest.importorskip("distributed")

from distributed import Client, LocalCluster, Worker  # noqa: E402
from distributed.diagnostics.plugin import WorkerPlugin  # noqa: E402

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
    return {w.address: getattr(w, "_dftracer_utils_runtime", None) for w in workers}


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
    assert 'pip install "dftracer-utils[dask]"' in proc.stdout
    assert "dask extra" in proc.stdout


# --- the plugin object ------------------------------------------------------------


def test_plugin_has_fixed_name_is_idempotent_and_pickles() -> None:
    plugin = DFTracerUtilsDaskWorkerPlugin(threads=3, io_threads=2, python_threads=1)
    assert isinstance(plugin, WorkerPlugin)
    assert plugin.idempotent is True
    assert plugin.name == DFTracerUtilsDaskWorkerPlugin().name == dftdask.PLUGIN_NAME
    copy = pickle.loads(pickle.dumps(plugin))
    assert (copy.threads, copy.io_threads, copy.python_threads) == (3, 2, 1)
    assert vars(copy) == {"threads": 3, "io_threads": 2, "python_threads": 1}


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
        await plugin.teardown(worker)
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
        address: client.submit(squares_on_worker_runtime, list(range(i * 10, i * 10 + 10)), workers=[address], pure=False)
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
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, Client(cluster) as client:
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
