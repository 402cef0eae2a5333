"""The command line's frame: Typer as this CLI wants it, exit codes, progress, third-party noise.

`App` is a `typer.Typer` whose commands and groups render and fail the way a person (or a
script) expects, whatever Typer's version does by default:

- help: a flag shows no value placeholder (Typer 0.29's Rich help prints `<bool>` beside every
  flag, which reads as "takes a value": `--json true` then fails with "Got unexpected extra
  argument"); arguments are named click-style in upper case (`SOURCE`, `[MODEL]`), not `{source}`.
- usage errors under `--json` print `{"error": ..., "exit_code": 2}` on stdout, as every other
  error does (the human message still goes to stderr).
- Ctrl-C exits 130 with one line on stderr, whatever the command was doing.
- every help page ends with the exit codes (`EXIT_CODES`, from deployer/errors.py's tree; a test
  keeps the two in step).

`progress(console, title)` shows what a long step does: a spinner on a terminal, one line per
step when stderr is a pipe or a file (a spinner there prints nothing, so a piped `convert` was
silent for 5-12 s). `native_noise_filtered(console)` drops the INFO/WARNING lines C++ libraries
write straight to file descriptor 2 (TensorFlow's absl "oneDNN custom operations are on", torch's
"torchvision is not installed"): environment variables cannot silence absl's lines written before
its logging is initialised, so fd 2 goes through a filter while a conversion runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence

from typing import TYPE_CHECKING, Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "App", "EXIT_CODES", "EPILOG", "INTERRUPTED", "LazyConsole", "progress", "native_noise_filtered", "asks_json",
]  # fmt: skip

# exit code → what it means; the classes come from deployer/errors.py's tree (see its docstring)
EXIT_CODES: dict[int, str] = {
    0: "done",
    1: "failed: a model, image, runtime or deploy error; a failed request",
    2: "bad option, config file, environment value or command line",  # ConfigError, usage errors
    3: "AWS credentials or region missing or rejected",  # CredentialsError, RegionError
    4: "the AWS endpoint did not answer",  # EndpointError
    5: "the deploy was rolled back; the previous version keeps serving",  # DeployFailed
    6: "the stack is in a state that needs a person",  # StackStateError
    7: "another push to the same stack is running",  # ConcurrentPushError
    130: "interrupted (Ctrl-C)",
}
INTERRUPTED = 130
EPILOG = "\b\nExit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items()) + (
    '\nWith --json an error is one line on stdout: {"error": "...", "exit_code": N}'
)


class LazyConsole:
    """A rich `Console(**options)` made on first use, standing in for it (attributes read and set).

    Importing rich costs ~30 ms (rich.console and its themes), a tenth of a one-shot `invoke`
    that has nothing to print until the runtime is starting; made here on first use, that import
    runs while the runtime's init does, in its own process. Thread-safe: the local runtime's
    output lines arrive on their reader thread.
    """

    def __init__(self, **options: Any) -> None:
        object.__setattr__(self, "_options", options)
        object.__setattr__(self, "_console", None)
        object.__setattr__(self, "_lock", threading.Lock())

    @property
    def console(self) -> Console:
        console = self._console
        if console is None:
            with self._lock:
                console = self._console
                if console is None:
                    from rich.console import Console

                    console = Console(**self._options)
                    object.__setattr__(self, "_console", console)
        return console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self.console, name, value)


def asks_json(args: Sequence[str]) -> bool:
    """`--json` among the arguments (before a `--`)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == "--json":
            return True
    return False


def error_json(message: str, exit_code: int) -> None:
    sys.stdout.write(json.dumps({"error": message, "exit_code": exit_code}) + "\n")
    sys.stdout.flush()


def _tidy(params: list[Any]) -> list[Any]:
    """Flags without a value placeholder, arguments named in upper case (idempotent)."""
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""  # TyperOption.display_type_rich shows the metavar when one is set
        elif isinstance(param, TyperArgument) and param.metavar is None and param.name:
            param.metavar = param.name.upper()
    return params


class Command(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        # click's own layout: OPTIONS, then SOURCE (required) or [MODEL] (optional)
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = str(param.metavar) + ("..." if param.nargs != 1 else "")
                pieces.append(name if param.required else f"[{name}]")
            else:
                pieces.extend(param.get_usage_pieces(ctx))
        return pieces


class Group(TyperGroup):
    def get_params(self, ctx: Any) -> list[Any]:
        return _tidy(super().get_params(ctx))

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        as_json = asks_json(args)
        try:
            ctx = super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as exc:
            _usage_error_json(exc, as_json)
            raise
        ctx.meta.setdefault("deployer.json", as_json)
        return ctx

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except typer.TyperException as exc:
            _usage_error_json(exc, bool(ctx.meta.get("deployer.json")))
            raise
        except KeyboardInterrupt:
            if ctx.parent is not None:
                raise  # the root group says it once
            if ctx.meta.get("deployer.json"):
                error_json("interrupted", INTERRUPTED)
            from rich.console import Console

            Console(stderr=True).print("[yellow]interrupted[/] (Ctrl-C)", highlight=False)
            raise typer.Exit(INTERRUPTED) from None


def _usage_error_json(exc: BaseException, as_json: bool) -> None:
    format_message = getattr(exc, "format_message", None)
    if not as_json or getattr(exc, "_deployer_json_done", False) or not callable(format_message):
        return
    exc._deployer_json_done = True  # type: ignore[attr-defined]  # nested groups re-raise the same one
    error_json(str(format_message()), int(getattr(exc, "exit_code", 2)))


class App(typer.Typer):
    """typer.Typer with this module's Command and Group classes and the exit codes as epilog."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", Group)
        kwargs.setdefault("epilog", EPILOG)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        kwargs.setdefault("cls", Command)
        kwargs.setdefault("epilog", EPILOG)
        return super().command(*args, **kwargs)


@contextlib.contextmanager
def progress(console: Console, title: str) -> Iterator[Callable[[str], None]]:
    """Yields `update(message)`: a spinner on a terminal; on a pipe or file, one line per new message."""
    if console.is_terminal:
        with console.status(f"{title}…") as status:
            yield lambda message: status.update(f"{message}…")
        return
    console.print(f"{title}…", highlight=False, markup=False, soft_wrap=True)
    last = [title]

    def update(message: str) -> None:
        if message != last[0]:
            last[0] = message
            console.print(f"  {message}…", highlight=False, markup=False, soft_wrap=True)

    yield update


# absl / glog lines of INFO or WARNING level ("I0000 00:00:1796... 1714 port.cc:153] ...",
# "W1202 15:49:13.162000 1975 .../_registration.py:107] ..."), and absl's pre-init banner
_NOISE = re.compile(
    rb"^(?:[IW]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^\]\n]+\] "
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)"
)


@contextlib.contextmanager
def native_noise_filtered(console: Console) -> Iterator[None]:
    """Route fd 2 through a filter that drops third-party INFO/WARNING log lines; `console` keeps
    writing to the real stderr (so a terminal stays a terminal for its spinner)."""
    try:
        if sys.stderr.fileno() != 2:
            raise ValueError("sys.stderr is not file descriptor 2")
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # sys.stderr replaced (a test runner, embedded use): leave it be
        yield
        return
    read_end, write_end = os.pipe()
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    real = os.fdopen(os.dup(saved), "w", encoding="utf-8", errors="replace", closefd=True)
    previous_file = getattr(console, "_file", None)  # None: the console follows sys.stderr, as it will again
    console.file = real

    def pump() -> None:
        with os.fdopen(read_end, "rb") as pipe:
            for line in pipe:
                if not _NOISE.match(line):
                    os.write(saved, line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last write end closes: the pump sees end of file
        thread.join(timeout=5)
        console.file = previous_file  # type: ignore[assignment]
        real.close()
        os.close(saved)
