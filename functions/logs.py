"""The handler's structured log lines: Powertools Logger's JSON format, written with orjson.

Why not Powertools' `Logger` itself: importing it costs ~30 ms of every cold start (it pulls in
`logging`, botocore, jmespath, uuid, typing_extensions; bench/RESULTS.md, import ladder) and
~50-170 us per line (PERF-NOTES), while the handler needs four things of it: a JSON line per
event with Powertools' keys, the level from the environment, the traceback of a bug, and stdout.
Loading it from a background thread while the session is created does not help where it
matters: at one vCPU (Lambda below 1,769 MB) the import's CPU time is simply added, and at two
it holds the GIL most of the time. So this module writes the same lines with orjson (~2 us a line)
and imports nothing but the standard library and orjson.

The format, key for key and in Powertools' order (aws_lambda_powertools/logging/formatter.py,
checked against Powertools' own output by tests/unit/functions/test_logs.py):

    {"level": "INFO", "location": "<function>:<line>", "message": "...",
     "timestamp": "2026-12-02 15:44:35,965+0000", "service": "<service>", <extra keys...>,
     ["xray_trace_id": "1-..." when _X_AMZN_TRACE_ID is set]}

and for `exception` (the unhandled-error path, a bug: rare) Powertools' formatter is loaded on
first use and formats the line, so the traceback fields (`exception`, `exception_name`,
`stack_trace`) are exactly Powertools'. Level: AWS_LAMBDA_LOG_LEVEL (Lambda's advanced logging controls), else
POWERTOOLS_LOG_LEVEL, else LOG_LEVEL, else INFO, as Powertools resolves it.

A line that cannot be written (stdout closed, a pipe whose reader went away) goes to stderr
instead, which Lambda captures too; logging never raises into the handler.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

import orjson

__all__ = ["Logger", "DEBUG", "INFO", "WARNING", "ERROR", "log_level"]

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
_NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", CRITICAL: "CRITICAL"}
_BY_NAME = {"DEBUG": DEBUG, "INFO": INFO, "WARNING": WARNING, "WARN": WARNING, "ERROR": ERROR,
            "CRITICAL": CRITICAL, "FATAL": CRITICAL, "TRACE": DEBUG}


def log_level(environ: dict[str, str] | os._Environ[str] | None = None) -> int:
    """The level Powertools would use: Lambda's advanced logging controls first, then its own variables."""
    env = os.environ if environ is None else environ
    for key in ("AWS_LAMBDA_LOG_LEVEL", "POWERTOOLS_LOG_LEVEL", "LOG_LEVEL"):
        value = env.get(key)
        if value and value.strip().upper() in _BY_NAME:
            return _BY_NAME[value.strip().upper()]
    return INFO


def _timestamp(now: float) -> str:
    # Powertools: time.strftime("%Y-%m-%d %H:%M:%S,<ms>%z", time.localtime(record.created))
    return time.strftime(f"%Y-%m-%d %H:%M:%S,{int(now * 1000) % 1000:03d}%z", time.localtime(now))


def _trace_id() -> str | None:
    header = os.environ.get("_X_AMZN_TRACE_ID")
    if not header:
        return None
    root = header.split(";", 1)[0]
    return root.split("=", 1)[1] if root.startswith("Root=") else None


class Logger:
    """A Powertools-format JSON logger: `info`/`warning`/`error`/`debug`/`exception(message, extra=...)`."""

    def __init__(self, service: str, level: int | str | None = None, stream: TextIO | None = None) -> None:
        self.service = service
        self.level = log_level() if level is None else self._as_level(level)
        self.stream = stream  # None: sys.stdout at the time of writing (tests and runtimes swap it)
        self._powertools: Any = None  # Powertools' JSON formatter, loaded for the first traceback

    @staticmethod
    def _as_level(level: int | str) -> int:
        return level if isinstance(level, int) else _BY_NAME[level.upper()]

    def setLevel(self, level: int | str) -> None:  # noqa: N802 (logging's spelling)
        self.level = self._as_level(level)

    def isEnabledFor(self, level: int) -> bool:  # noqa: N802
        return level >= self.level

    def debug(self, message: str, extra: dict[str, Any] | None = None) -> None:
        if self.level <= DEBUG:
            self._write(DEBUG, message, extra)

    def info(self, message: str, extra: dict[str, Any] | None = None) -> None:
        if self.level <= INFO:
            self._write(INFO, message, extra)

    def warning(self, message: str, extra: dict[str, Any] | None = None) -> None:
        if self.level <= WARNING:
            self._write(WARNING, message, extra)

    def error(self, message: str, extra: dict[str, Any] | None = None) -> None:
        if self.level <= ERROR:
            self._write(ERROR, message, extra)

    def exception(self, message: str, extra: dict[str, Any] | None = None) -> None:
        """ERROR with the current exception's traceback, formatted by Powertools (loaded now: a bug's path)."""
        if self.level > ERROR:
            return
        caller = sys._getframe(1)
        try:
            import logging

            if self._powertools is None:
                from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

                self._powertools = LambdaPowertoolsFormatter(service=self.service)
            record = logging.LogRecord(self.service, ERROR, caller.f_code.co_filename, caller.f_lineno, message,
                                       None, sys.exc_info(), func=caller.f_code.co_name)
            record.__dict__.update(extra or {})
            line = self._powertools.format(record) + "\n"
        except Exception:  # Powertools missing or broken: our line, with the traceback as text
            import traceback

            self._write(ERROR, message, {**(extra or {}), "exception": traceback.format_exc().rstrip()})
            return
        self._put(line)

    def _write(self, level: int, message: str, extra: dict[str, Any] | None) -> None:
        caller = sys._getframe(2)
        now = time.time()
        entry: dict[str, Any] = {
            "level": _NAMES[level],
            "location": f"{caller.f_code.co_name}:{caller.f_lineno}",
            "message": message,
            "timestamp": _timestamp(now),
            "service": self.service,
        }
        if extra:  # Powertools leaves out keys whose value is None
            entry.update({key: value for key, value in extra.items() if value is not None})
        trace = _trace_id()
        if trace:
            entry["xray_trace_id"] = trace
        self._put(orjson.dumps(entry, default=str).decode() + "\n")

    def _put(self, line: str) -> None:
        try:
            (self.stream or sys.stdout).write(line)
        except Exception:  # stdout is what broke: stderr, as Python's logging does
            try:
                sys.stderr.write(line)
            except Exception:
                pass
