"""Every example of the API reference (reference/runtime-api.txt), run as
written. Each runs as ``__main__`` (derived names carry no module prefix
there); names the snippets leave undefined (``process``, ``files``,
``failing_function``, ...) are supplied as globals. Where the reference only
shows a value in a comment, an assert checks it."""

from __future__ import annotations

import re

import pytest

import dftracer.utils as dft


def process(f):
    return f"processed {f}"


def failing_function():
    raise ValueError("boom")


def test_runtime_class_example_doubles_21(run_as_main):
    run_as_main(
        """
        from dftracer.utils import Runtime
        with Runtime(threads=8, io_threads=8, python_threads=4) as rt:
            h = rt.submit(lambda x: x * 2, 21)
            assert h.get() == 42
        """
    )


def test_submit_example_adds_with_explicit_name(run_as_main):
    with dft.Runtime(threads=2) as rt:
        ns = run_as_main(
            """
            h = rt.submit(lambda x, y: x + y, 3, 4, name="add")
            result = h.get()  # 7
            """,
            rt=rt,
        )
    assert ns["result"] == 7
    assert ns["h"].name == "add"


def test_set_error_callback_example_prints_failure(capsys, run_as_main):
    with dft.Runtime(threads=2) as rt:
        run_as_main(
            """
            rt.set_error_callback(
                lambda h, e: print(f"FAILED {h.name}: {e}")
            )
            rt.submit(failing_function, name="monitored")
            rt.wait_all()
            """,
            rt=rt,
            failing_function=failing_function,
        )
    assert "FAILED monitored: boom" in capsys.readouterr().out


def test_task_handle_class_example_get_wait_done(run_as_main):
    with dft.Runtime(threads=2) as rt:
        ns = run_as_main(
            """
            h = rt.submit(lambda: 42)
            result = h.get()  # int
            h.wait()
            assert h.done()
            """,
            rt=rt,
        )
    assert ns["result"] == 42


def test_submitting_tasks_section_runs_as_written(capsys, run_as_main):
    files = ["a.pfw", "b.pfw", "c.pfw"]
    ns = run_as_main(
        """
        import dftracer.utils as dft

        rt = dft.Runtime(threads=8, io_threads=4)

        # Submit a Python callable
        h = rt.submit(lambda x, y: x + y, 3, 4, name="add")
        result = h.get()  # blocks, returns 7

        # Fire multiple tasks
        handles = [rt.submit(process, f, name=f"proc-{f}") for f in files]
        rt.wait_all()  # blocks until all complete

        # Check results
        for h in handles:
            print(h.name, h.get())
        """,
        process=process,
        files=files,
    )
    ns["rt"].shutdown()
    assert ns["result"] == 7
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"proc-{f} processed {f}" for f in files]


def test_name_auto_derivation_section_runs_as_written(run_as_main):
    with dft.Runtime(threads=2) as rt:
        ns = run_as_main(
            """
            def my_function(): ...
            h1 = rt.submit(my_function)  # name = "my_function"

            class Pipeline:
                def run(self): ...
            p = Pipeline()
            h2 = rt.submit(p.run)  # name = "Pipeline.run"

            h3 = rt.submit(lambda: None)  # name = "<lambda>"

            # Explicit override
            h4 = rt.submit(my_function, name="custom-name")
            """,
            rt=rt,
        )
        rt.wait_all()
    assert [ns[h].name for h in ("h1", "h2", "h3", "h4")] == [
        "my_function",
        "Pipeline.run",
        "<lambda>",
        "custom-name",
    ]


@pytest.mark.parametrize("threads", [1, 2, 8])
def test_composing_pattern_1_resolves_value_then_submits(threads, run_as_main):
    with dft.Runtime(threads=threads) as rt:

        def index(filename):
            return f"index({filename})"

        def process(result):
            return f"process({result})"

        ns = run_as_main(
            """
            # Pattern 1: resolve value, pass to next task
            def compose(filename):
                h1 = rt.submit(index, filename)
                result = h1.get()  # blocks for index result
                h2 = rt.submit(process, result)  # uses resolved value
                return h2.get()

            h = rt.submit(compose, "trace.pfw.gz", name="compose")
            print(h.get())
            """,
            rt=rt,
            index=index,
            process=process,
        )
        assert ns["h"].get(timeout=30) == "process(index(trace.pfw.gz))"
        assert ns["h"].name == "compose"


@pytest.mark.parametrize("threads", [1, 2, 8])
def test_composing_pattern_2_passes_handle_to_next_task(threads, run_as_main):
    with dft.Runtime(threads=threads) as rt:

        def index(filename):
            return f"index({filename})"

        def process(h):  # "process calls h1.get()"
            return f"process({h.get()})"

        ns = run_as_main(
            """
            # Pattern 2: pass handle directly (utility unwraps internally)
            def compose(filename):
                h1 = rt.submit(index, filename)
                h2 = rt.submit(process, h1)  # process calls h1.get()
                return h2.get()

            h = rt.submit(compose, "trace.pfw.gz", name="compose")
            """,
            rt=rt,
            index=index,
            process=process,
        )
        assert ns["h"].get(timeout=30) == "process(index(trace.pfw.gz))"


def test_error_handling_per_task_example_catches_value_error(capsys, run_as_main):
    with dft.Runtime(threads=2) as rt:
        run_as_main(
            """
            h = rt.submit(failing_function, name="fail")
            try:
                h.get()
            except ValueError as e:
                print(f"Task failed: {e}")
            """,
            rt=rt,
            failing_function=failing_function,
        )
    assert capsys.readouterr().out == "Task failed: boom\n"


def test_error_handling_batch_examples_run_as_written(capsys, run_as_main):
    with dft.Runtime(threads=2) as rt:
        with pytest.raises(RuntimeError) as info:
            run_as_main(
                """
                # Default: wait_all() does NOT raise on errors
                rt.submit(failing_function, name="fail")
                rt.wait_all()

                # Check failures
                for h in rt.get_failed():
                    print(f"{h.name} failed: {h.exception}")

                # Strict mode: raise after all tasks complete
                rt.wait_all(raise_on_error=True)  # RuntimeError: 1 task(s) failed: ...
                """,
                rt=rt,
                failing_function=failing_function,
            )
    assert capsys.readouterr().out == "fail failed: boom\n"
    assert re.match(r"1 task\(s\) failed: ", str(info.value))
    assert "fail" in str(info.value)


def test_error_callback_example_reports_monitored_task(capsys, run_as_main):
    with dft.Runtime(threads=2) as rt:
        run_as_main(
            """
            rt.set_error_callback(lambda h, e: print(f"FAILED {h.name}: {e}"))
            rt.submit(failing_function, name="monitored")
            rt.wait_all()
            """,
            rt=rt,
            failing_function=failing_function,
        )
    assert capsys.readouterr().out == "FAILED monitored: boom\n"


def test_progress_tracking_example_has_documented_shape():
    with dft.Runtime(threads=2) as rt:
        for i in range(10):
            rt.submit(lambda i=i: i, name="iter_lines")
        rt.wait_all()
        progress = rt.get_progress()
    for key in ("total", "completed", "running", "queued", "failed", "workers", "tasks", "errors"):
        assert key in progress
    assert (progress["total"], progress["completed"], progress["running"], progress["queued"], progress["failed"]) == (
        10,
        10,
        0,
        0,
        0,
    )
    for worker in progress["workers"]:
        assert {"id", "idle", "task", "queue_depth"} <= set(worker)
    task = progress["tasks"][0]
    assert task["name"] == "iter_lines" and task["state"] == "completed"
    assert task["progress_pct"] == 100.0
    assert task["execution_duration_ms"] >= 0.0 and task["queued_duration_ms"] >= 0.0
    assert progress["errors"] == []


def test_module_docstring_example_measures_lengths():
    with dft.Runtime(threads=4) as rt:
        handles = [rt.submit(len, s, name=f"len-{s}") for s in ("a", "bb", "ccc")]
        rt.wait_all()
        assert [h.get() for h in handles] == [1, 2, 3]
