"""Logging control: set_log_level/get_log_level/set_log_color drive the
``dftracer.utils`` logger, which the C++ engine's records go through too;
DFTRACER_UTILS_LOG_LEVEL/_COLOR/_FILE; and a program's own logging
configuration is left alone unless it calls these."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Iterator

import pytest

import dftracer.utils as dft
from dftracer.utils import logging_control

LOGGER = logging.getLogger("dftracer.utils")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    level, handlers = LOGGER.level, list(LOGGER.handlers)
    console, file_handler = logging_control._console, logging_control._file_handler
    color = console.color_mode if console is not None else None
    yield
    LOGGER.setLevel(level)
    for h in list(LOGGER.handlers):
        if h not in handlers:
            LOGGER.removeHandler(h)
    logging_control._console, logging_control._file_handler = console, file_handler
    if console is not None and color is not None:
        console.color_mode = color


@pytest.mark.parametrize("level", ["trace", "debug", "info", "warn", "error", "off"])
def test_each_level_reads_back(level: str) -> None:
    dft.set_log_level(level)
    assert dft.get_log_level() == level


@pytest.mark.parametrize("spelling", ["warning", "WARNING", " Warn "])
def test_warning_is_accepted_and_read_back_as_warn(spelling: str) -> None:
    dft.set_log_level(spelling)
    assert dft.get_log_level() == "warn"


@pytest.mark.parametrize("bad", ["verbose", "", "warnings", "critical"])
def test_an_unknown_level_raises_value_error_and_changes_nothing(bad: str) -> None:
    dft.set_log_level("info")
    with pytest.raises(ValueError, match="log level"):
        dft.set_log_level(bad)
    assert dft.get_log_level() == "info"


def test_a_level_that_is_not_a_string_raises_type_error() -> None:
    with pytest.raises(TypeError):
        dft.set_log_level(10)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["auto", "always", "never", "ALWAYS"])
def test_color_modes_are_accepted(mode: str) -> None:
    dft.set_log_color(mode)


@pytest.mark.parametrize("bad", ["yes", "", "colour"])
def test_an_unknown_color_mode_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match="color"):
        dft.set_log_color(bad)
    with pytest.raises(TypeError):
        dft.set_log_color(True)  # type: ignore[arg-type]


def test_the_level_filters_every_logger_of_the_package(caplog: pytest.LogCaptureFixture) -> None:
    child = logging.getLogger("dftracer.utils.runtime")
    dft.set_log_level("error")
    child.warning("hidden warning")
    child.error("shown error")
    dft.set_log_level("trace")
    child.log(logging_control.TRACE, "shown trace")
    dft.set_log_level("off")
    child.critical("hidden critical")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["shown error", "shown trace"]
    assert logging.getLevelName(logging_control.TRACE) == "TRACE"


def test_without_a_call_the_level_follows_logging(caplog: pytest.LogCaptureFixture) -> None:
    LOGGER.setLevel(logging.NOTSET)
    assert dft.get_log_level() == logging_control.get_log_level()
    with caplog.at_level(logging.INFO):  # the root level, as a program sets it
        assert dft.get_log_level() == "info"


def _long_task_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    with dft.Runtime(threads=1, io_threads=1, watchdog_interval=10, long_task_threshold="30ms") as rt:
        rt.submit(time.sleep, 0.3, name="sleepy").get()
    return [r for r in caplog.records if r.name == "dftracer.utils" and "running longer than" in r.getMessage()]


def test_the_engines_records_go_through_the_package_logger(caplog: pytest.LogCaptureFixture) -> None:
    dft.set_log_level("warn")
    records = _long_task_records(caplog)
    assert len(records) == 1 and "'sleepy'" in records[0].getMessage()
    assert records[0].levelno == logging.WARNING
    caplog.clear()
    dft.set_log_level("error")
    assert _long_task_records(caplog) == []


# --- in a fresh interpreter: stderr, colour, environment, the program's own config ----


def test_set_log_level_without_logging_configured_writes_to_stderr(python_script) -> None:
    proc = python_script(
        """
        import logging
        import dftracer.utils as dft
        log = logging.getLogger("dftracer.utils.demo")
        log.info("before: not shown, logging's default is warning")
        dft.set_log_level("info")
        dft.set_log_color("never")
        log.info("plain")
        dft.set_log_color("always")
        log.info("coloured")
        dft.set_log_color("auto")  # stderr is a pipe here: no colour
        log.info("auto")
        """
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 3, proc.stderr
    assert lines[0].endswith("INFO dftracer.utils.demo: plain") and "\x1b[" not in lines[0]
    assert "\x1b[32mINFO\x1b[0m dftracer.utils.demo: coloured" in lines[1]
    assert lines[2].endswith("INFO dftracer.utils.demo: auto") and "\x1b[" not in lines[2]
    assert "before" not in proc.stderr


def test_importing_leaves_a_programs_logging_configuration_alone(python_script) -> None:
    proc = python_script(
        """
        import logging, sys
        logging.basicConfig(level=logging.INFO, format="USER %(levelname)s %(name)s %(message)s", stream=sys.stdout)
        import dftracer.utils as dft
        pkg = logging.getLogger("dftracer.utils")
        assert pkg.level == logging.NOTSET and pkg.handlers == [], (pkg.level, pkg.handlers)
        pkg.info("info through the program's handler")
        pkg.debug("debug: below the program's level")
        dft.set_log_level("debug")          # asked for: now debug passes, still the program's format
        pkg.debug("debug after set_log_level")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "USER INFO dftracer.utils info through the program's handler",
        "USER DEBUG dftracer.utils debug after set_log_level",
    ]
    assert proc.stderr == ""  # nothing printed twice


def test_a_null_handler_does_not_silence_the_package(python_script) -> None:
    proc = python_script(
        """
        import logging
        logging.getLogger().addHandler(logging.NullHandler())
        import dftracer.utils as dft
        dft.set_log_level("info")
        logging.getLogger("dftracer.utils").info("still shown")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert "INFO dftracer.utils: still shown" in proc.stderr


def test_a_later_logging_configuration_takes_over_from_the_package(python_script) -> None:
    proc = python_script(
        """
        import logging, sys
        import dftracer.utils as dft
        dft.set_log_level("info")
        log = logging.getLogger("dftracer.utils")
        log.info("to stderr")
        logging.basicConfig(format="USER %(message)s", stream=sys.stdout)
        log.info("to the program's handler only")
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["USER to the program's handler only"]
    assert "to stderr" in proc.stderr and "program's handler" not in proc.stderr


def test_environment_sets_level_and_color(python_script) -> None:
    proc = python_script(
        """
        import logging
        import dftracer.utils as dft
        print(dft.get_log_level())
        logging.getLogger("dftracer.utils").debug("from the environment")
        """,
        env={"DFTRACER_UTILS_LOG_LEVEL": "debug", "DFTRACER_UTILS_LOG_COLOR": "always"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "debug"
    assert "\x1b[36mDEBUG\x1b[0m dftracer.utils: from the environment" in proc.stderr


@pytest.mark.parametrize(
    "variable, value", [("DFTRACER_UTILS_LOG_LEVEL", "loud"), ("DFTRACER_UTILS_LOG_COLOR", "rainbow")]
)
def test_an_invalid_environment_value_is_reported_and_ignored(python_script, variable: str, value: str) -> None:
    proc = python_script(
        """
        import dftracer.utils as dft
        print(dft.get_log_level())
        """,
        env={variable: value},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "warn"
    assert variable in proc.stderr and repr(value) in proc.stderr


def test_log_file_receives_the_packages_records_and_the_engines(python_script, tmp_path: Path) -> None:
    log_file = tmp_path / "dft.log"
    log_file.write_text("kept line\n")
    proc = python_script(
        """
        import logging, time
        import dftracer.utils as dft
        logging.getLogger("dftracer.utils.runtime").info("python record")
        with dft.Runtime(threads=1, io_threads=1, watchdog_interval=10, long_task_threshold="30ms") as rt:
            rt.submit(time.sleep, 0.3, name="sleepy").get()
        """,
        env={"DFTRACER_UTILS_LOG_FILE": str(log_file), "DFTRACER_UTILS_LOG_LEVEL": "info"},
    )
    assert proc.returncode == 0, proc.stderr
    lines = log_file.read_text().splitlines()
    assert lines[0] == "kept line"  # appended, not truncated
    assert any(line.endswith("INFO dftracer.utils.runtime: python record") for line in lines)
    assert any("WARNING dftracer.utils: 1 task(s) running longer than" in line and "'sleepy'" in line for line in lines)
    assert not any("\x1b[" in line for line in lines)
    assert "python record" in proc.stderr  # stderr still shows them (nothing else configured)


def test_log_file_alone_keeps_warnings_on_stderr(python_script, tmp_path: Path) -> None:
    log_file = tmp_path / "dft.log"
    proc = python_script(
        """
        import logging
        import dftracer.utils as dft
        assert dft.get_log_level() == "warn"
        logging.getLogger("dftracer.utils").warning("careful")
        logging.getLogger("dftracer.utils").info("not at the default level")
        """,
        env={"DFTRACER_UTILS_LOG_FILE": str(log_file)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "careful" in proc.stderr and "careful" in log_file.read_text()
    assert "not at the default level" not in log_file.read_text()


def test_an_unwritable_log_file_is_reported_and_ignored(python_script, tmp_path: Path) -> None:
    proc = python_script(
        """
        import dftracer.utils as dft
        with dft.Runtime(threads=1, io_threads=1) as rt:
            print(rt.submit(len, "abc").get())
        """,
        env={"DFTRACER_UTILS_LOG_FILE": str(tmp_path / "missing-dir" / "dft.log")},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "3"
    assert "DFTRACER_UTILS_LOG_FILE" in proc.stderr
