"""Logging control: the level, colour and file of the ``dftracer.utils`` logger.

Everything the package logs goes through the standard ``logging`` logger
``dftracer.utils`` (its modules log to children of it), and so does what the
C++ engine reports (the watchdog's stalls, temporary workers and long
tasks): one stream, filtered by one level.

Nothing here touches ``logging`` until asked. A program that configured
``logging`` itself keeps its configuration unless it calls
:func:`set_log_level` or :func:`set_log_color`, or sets one of the
environment variables read at import:

``DFTRACER_UTILS_LOG_LEVEL``
    ``trace``, ``debug``, ``info``, ``warn`` (or ``warning``), ``error`` or
    ``off``, as for :func:`set_log_level`.
``DFTRACER_UTILS_LOG_COLOR``
    ``auto``, ``always`` or ``never``, as for :func:`set_log_color`.
``DFTRACER_UTILS_LOG_FILE``
    a path: the package's log records are appended to that file (never
    coloured), whatever else handles them.

An invalid value in the environment is reported as a warning and ignored;
it never stops the import.

Example::

    import dftracer.utils as dft

    dft.set_log_level("info")     # the watchdog's reports and the runtime's own
    dft.set_log_color("never")
    assert dft.get_log_level() == "info"
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import TYPE_CHECKING, Dict, List, Optional, TextIO

__all__ = ["set_log_level", "get_log_level", "set_log_color", "LOGGER_NAME", "TRACE"]

#: The logger every record of the package (Python and C++) goes through.
LOGGER_NAME = "dftracer.utils"
#: Level number of ``"trace"``, below ``logging.DEBUG``.
TRACE = 5
# Above CRITICAL: nothing passes.
_OFF = logging.CRITICAL + 10

_LEVELS: Dict[str, int] = {
    "trace": TRACE,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "off": _OFF,
}
_ALIASES = {"warning": "warn"}
_COLOR_MODES = ("auto", "always", "never")

_ANSI = {
    TRACE: "\033[2m",  # dim
    logging.DEBUG: "\033[36m",  # cyan
    logging.INFO: "\033[32m",  # green
    logging.WARNING: "\033[33m",  # yellow
    logging.ERROR: "\033[31m",  # red
    logging.CRITICAL: "\033[1;31m",  # bold red
}
_RESET = "\033[0m"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

if logging.getLevelName(TRACE) == f"Level {TRACE}":
    logging.addLevelName(TRACE, "TRACE")

_logger = logging.getLogger(LOGGER_NAME)
_lock = threading.Lock()


def _wants_color(mode: str, stream: TextIO) -> bool:
    if mode == "always":
        return True
    if mode == "never":
        return False
    # auto: a terminal that has not asked for plain text.
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class _Formatter(logging.Formatter):
    """The package's format, with the level name coloured when asked."""

    def __init__(self, color: bool) -> None:
        super().__init__(_FORMAT)
        self.color = color

    def formatMessage(self, record: logging.LogRecord) -> str:
        if not self.color:
            return super().formatMessage(record)
        code = _ANSI.get(record.levelno, "")
        plain = record.levelname
        record.levelname = f"{code}{plain}{_RESET}" if code else plain
        try:
            return super().formatMessage(record)
        finally:
            record.levelname = plain


if TYPE_CHECKING:
    _StreamHandler = logging.StreamHandler[TextIO]
else:  # not subscriptable at run time before Python 3.11
    _StreamHandler = logging.StreamHandler


class _ConsoleHandler(_StreamHandler):
    """Writes the package's records to stderr, but only while nothing else
    would show them: once the program configures ``logging`` (a handler on
    the root logger, or on ``dftracer``/``dftracer.utils``), the records
    reach its handlers instead, in its format, and this one stays quiet. So
    a record is never printed twice, and a later ``logging.basicConfig``
    still wins."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)
        self.color_mode = "auto"
        self._formatters = {False: _Formatter(color=False), True: _Formatter(color=True)}

    def emit(self, record: logging.LogRecord) -> None:
        if _other_handlers_see(record):
            return
        # sys.stderr looked up per record: tools and tests that swap it get
        # the records. (Handler.handle holds the handler's lock here.)
        self.stream = sys.stderr
        super().emit(record)

    def format(self, record: logging.LogRecord) -> str:
        return self._formatters[_wants_color(self.color_mode, self.stream)].format(record)


def _own_handlers() -> List[logging.Handler]:
    return [h for h in (_console, _file_handler) if h is not None]


def _other_handlers_see(record: logging.LogRecord) -> bool:
    """True when a handler other than the package's own (or a NullHandler,
    which shows nothing) would receive ``record`` on its way from its
    logger to the root."""
    own = _own_handlers()
    logger: Optional[logging.Logger] = logging.getLogger(record.name)
    while logger is not None:
        if any(h not in own and not isinstance(h, logging.NullHandler) for h in logger.handlers):
            return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


_console: Optional[_ConsoleHandler] = None
_file_handler: Optional[logging.FileHandler] = None


def _ensure_console() -> _ConsoleHandler:
    global _console
    if _console is None:
        _console = _ConsoleHandler()
        _logger.addHandler(_console)
    return _console


def _parse_level(level: object) -> str:
    if not isinstance(level, str):
        raise TypeError(f"log level must be a str, not {type(level).__name__}")
    name = level.strip().lower()
    name = _ALIASES.get(name, name)
    if name not in _LEVELS:
        raise ValueError(f"unknown log level {level!r}: use one of {', '.join(_LEVELS)} (or 'warning')")
    return name


def _parse_color(mode: object) -> str:
    if not isinstance(mode, str):
        raise TypeError(f"log color mode must be a str, not {type(mode).__name__}")
    name = mode.strip().lower()
    if name not in _COLOR_MODES:
        raise ValueError(f"unknown log color mode {mode!r}: use one of {', '.join(_COLOR_MODES)}")
    return name


def set_log_level(level: str) -> None:
    """Sets the level of the ``dftracer.utils`` logger, which every record of
    the package passes through (the C++ engine's included).

    ``level`` is ``"trace"``, ``"debug"``, ``"info"``, ``"warn"``
    (``"warning"`` is accepted and read as ``"warn"``), ``"error"`` or
    ``"off"``; case does not matter. Unless the program configured
    ``logging`` itself, the records are written to stderr from then on; if
    it did, they go to its handlers.

    Example::

        dft.set_log_level("debug")
        dft.set_log_level("off")    # silence the package entirely

    Raises:
        ValueError: an unknown level name.
        TypeError: ``level`` is not a str.
    """
    name = _parse_level(level)
    with _lock:
        _ensure_console()
        _logger.setLevel(_LEVELS[name])


def get_log_level() -> str:
    """The level records of ``dftracer.utils`` pass at now, as a name of
    :func:`set_log_level` (``"warn"`` by ``logging``'s default, when nobody
    set one)."""
    effective = _logger.getEffectiveLevel()
    for name in ("trace", "debug", "info", "warn"):
        if effective <= _LEVELS[name]:
            return name
    return "error" if effective <= logging.CRITICAL else "off"


def set_log_color(mode: str) -> None:
    """Sets whether the package's stderr output colours the level names:
    ``"auto"`` (when stderr is a terminal and ``NO_COLOR`` is not set),
    ``"always"`` or ``"never"``. Files and the program's own handlers are
    never coloured.

    Raises:
        ValueError: an unknown mode.
        TypeError: ``mode`` is not a str.
    """
    name = _parse_color(mode)
    with _lock:
        _ensure_console().color_mode = name


def _set_log_file(path: str) -> None:
    """Appends the package's records to ``path`` (DFTRACER_UTILS_LOG_FILE)."""
    global _file_handler
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(_Formatter(color=False))
    with _lock:
        if _file_handler is not None:
            _logger.removeHandler(_file_handler)
            _file_handler.close()
        _file_handler = handler
        _logger.addHandler(handler)


def _configure_from_environment() -> None:
    """Applies DFTRACER_UTILS_LOG_LEVEL, _LOG_COLOR and _LOG_FILE (at import)."""
    path = os.environ.get("DFTRACER_UTILS_LOG_FILE")
    if path:
        # With a handler on the logger, logging's last-resort stderr output
        # no longer fires: the console handler keeps warnings on stderr.
        with _lock:
            _ensure_console()
        try:
            _set_log_file(path)
        except OSError as exc:
            _logger.warning("DFTRACER_UTILS_LOG_FILE=%r cannot be opened for appending: %s", path, exc)
    level = os.environ.get("DFTRACER_UTILS_LOG_LEVEL")
    if level:
        try:
            set_log_level(level)
        except ValueError as exc:
            _logger.warning("DFTRACER_UTILS_LOG_LEVEL ignored: %s", exc)
    color = os.environ.get("DFTRACER_UTILS_LOG_COLOR")
    if color:
        try:
            set_log_color(color)
        except ValueError as exc:
            _logger.warning("DFTRACER_UTILS_LOG_COLOR ignored: %s", exc)
