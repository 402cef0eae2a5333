"""Preparing layer content on the host: wheels, their installed tree, byte code. Cached.

No pip and no network inside the image build (TLS is intercepted in some builds, arm64 would
need emulation): everything is made here and the Dockerfile only COPYs it.

    download_wheels(pins, target)   pip download --no-deps of exactly the pins, for the target's
                                    CPython, ABI and manylinux platforms      → cache/wheels-<key>/
    install_tree(wheels, target)    pip install --no-deps --no-compile --target, offline, from those
                                    wheels only; then strip (below) and byte-compile → cache/deps-<key>/
    code_tree(functions_dir)        functions/ without caches, byte-compiled   → cache/code-<key>/

Stripped from the installed tree, all of it unused at run time: console scripts (`bin/`: their
shebang names this machine's Python), `__pycache__`, and the `tests` folders inside packages
(numpy's test suites, ~8 MB; `numpy.testing` stays). Each dist-info RECORD is rewritten without
the removed files, so the metadata stays true.

Byte code. Lambda's file system is read-only, so CPython can never cache byte code there: every
cold start would compile numpy, onnxruntime and powertools from source. Measured with the iris
model on the stand-in (`import functions.app`, read-only, as uid 1000): 547-658 ms without
.pyc, 243-285 ms with. The .pyc are made with `--invalidation-mode unchecked-hash` (no source
mtime in them; two compiles give identical bytes; the source path recorded in them is the one
in the image, /var/task/..., whatever folder they were compiled in), by the target's own CPython: a one-off
container of the base image (`--network none`, the tree bind-mounted) when it runs on this
machine's architecture, else this Python when its version is the target's. An arm64 image built
on x86_64 otherwise ships without byte code, and the build result says so.

Cache entries are content-addressed (key = sha256 of every input) and published with an atomic
rename, so parallel builds and interrupted ones never see half a tree. Nothing is pruned: about
45 MB of wheels and 145 MB of tree per Python, architecture and pin set (`rm -rf` of the cache
folder is always safe; build contexts hold hard links, not references).
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from deployer.errors import DependencyError, LocalRuntimeError
from deployer.image.context import TASK_ROOT, normalize_tree
from deployer.image.docker import Docker, Mount
from deployer.image.requirements import Pin, Target

__all__ = [
    "RECIPE",
    "BytecodeError",
    "Compiler",
    "Pip",
    "Wheel",
    "code_tree",
    "default_cache_dir",
    "download_wheels",
    "install_tree",
]

# Bump when what these functions put in a tree changes: it is part of every cache key.
RECIPE = "2"
STRIP_DIRS = frozenset({"tests"})

Runner = Callable[..., "subprocess.CompletedProcess[str]"]


def default_cache_dir() -> Path:
    """Wheels and installed trees: under the one cache folder of the project (blobs.cache_root)."""
    from deployer.image.blobs import cache_root

    return cache_root() / "image"


@dataclass(frozen=True)
class Wheel:
    path: Path
    name: str  # canonical
    version: str
    sha256: str


class Pip:
    """pip of this Python (`python -m pip`), run as a subprocess; `runner` is injectable."""

    def __init__(self, python: str = sys.executable, runner: Runner = subprocess.run) -> None:
        self.python = python
        self._runner = runner

    def __call__(self, args: Sequence[str], *, offline: bool = False, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
        env["PIP_NO_INPUT"] = "1"
        if offline:
            # No config file at all: its find-links or index could offer other files of the same
            # name and version; the install must use exactly the wheels that were downloaded.
            env["PIP_CONFIG_FILE"] = os.devnull
        try:
            return self._runner(
                [self.python, "-m", "pip", *args], env=env, capture_output=True, text=True,
                timeout=timeout, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        except FileNotFoundError as exc:
            raise DependencyError(f"cannot run {self.python} -m pip: {exc.strerror}") from exc
        except subprocess.TimeoutExpired as exc:
            raise DependencyError(f"pip {args[0]} did not finish in {timeout:.0f} s") from exc


class BytecodeError(LocalRuntimeError):
    """The target's CPython could not be run to byte-compile (the build then goes on without)."""


class Compiler:
    """Byte-compiles folders with the target's CPython (see the module docstring)."""

    def __init__(
        self,
        docker: Docker | None,
        image: str | None,
        *,
        host_python: str = sys.executable,
        host_version: str = f"{sys.version_info[0]}.{sys.version_info[1]}",
        runner: Runner = subprocess.run,
    ) -> None:
        self.docker = docker
        self.image = image  # None: the base image cannot run on this machine
        self.host_python = host_python
        self.host_version = host_version
        self._runner = runner

    @classmethod
    def disabled(cls) -> Compiler:
        """A compiler that never compiles (trees are made without byte code)."""
        return cls(None, None, host_version="")

    def how(self, target: Target) -> str | None:
        """How byte code will be made for `target` (part of cache keys), or None when it cannot."""
        if self.image is not None and self.docker is not None:
            return f"image:{target.python}"
        if self.host_version == target.python:
            return f"host:{target.python}"
        return None

    def compile(self, folder: Path, target: Target, *, installed_at: str) -> None:
        """Write __pycache__/*.pyc beside every source in `folder`, whose content will be at
        `installed_at` in the image (the path recorded in the byte code, for tracebacks)."""
        args = ["-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", "-p", installed_at]
        if self.image is not None and self.docker is not None:
            mount = Mount(folder.resolve(), "/compile")
            user = f"{os.getuid()}:{os.getgid()}" if hasattr(os, "getuid") else None
            proc = self.docker.run(
                self.image, [*args, "-s", mount.target, mount.target], entrypoint="python3", mounts=[mount], user=user
            )
        elif self.host_version == target.python:
            proc = self._runner(
                [self.host_python, *args, "-s", str(folder), str(folder)], capture_output=True, text=True,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        else:
            raise BytecodeError(f"no CPython {target.python} to byte-compile with")
        # A source file CPython cannot compile cannot be imported either: compileall's exit
        # status 1 for such files costs nothing at run time. No byte code at all means the
        # compiler did not run (no bind mounts on a remote daemon, a broken image).
        if proc.returncode != 0 and next(folder.rglob("*.pyc"), None) is None:
            raise BytecodeError(f"byte-compiling with CPython {target.python} failed: {_tail(proc.stdout + proc.stderr)}")


# --------------------------------------------------------------------------- wheels


def download_wheels(
    pins: Sequence[Pin],
    target: Target,
    *,
    cache_dir: Path,
    pip: Pip,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[list[Wheel], bool]:
    """The wheel of every pin for `target` (downloaded once per pin set); (wheels, from cache)."""
    key = _key("wheels", target.abi, *target.platforms, *map(str, pins))
    folder = cache_dir / f"wheels-{target.abi}-{target.machine}-{key}"
    cached = folder.is_dir()
    if not cached:
        progress(f"downloading {len(pins)} wheels for CPython {target.python} linux {target.machine}")
        with _publish(folder) as tmp:
            proc = pip(["download", "--no-deps", *target.pip_args(), "--dest", str(tmp), *map(str, pins)])
            if proc.returncode != 0:
                raise DependencyError(
                    f"pip could not download the runtime wheels for CPython {target.python} linux {target.machine} "
                    f"({', '.join(map(str, pins))}): {_tail(proc.stderr)}"
                )
            _match_wheels(sorted(tmp.glob("*.whl")), pins, target)
    return _match_wheels(sorted(folder.glob("*.whl")), pins, target), cached


def _match_wheels(files: Sequence[Path], pins: Sequence[Pin], target: Target) -> list[Wheel]:
    by_name: dict[str, Wheel] = {}
    for path in files:
        try:
            name, version, _build, _tags = parse_wheel_filename(path.name)
        except InvalidWheelFilename as exc:
            raise DependencyError(f"{path}: not a wheel file name ({exc})") from exc
        by_name[name] = Wheel(path, name, str(version), _sha256(path))
    wheels = []
    for pin in pins:
        wheel = by_name.get(canonicalize_name(pin.name))
        if wheel is None or wheel.version != pin.version:
            raise DependencyError(
                f"no wheel of {pin} for CPython {target.python} linux {target.machine} "
                f"({' or '.join(target.platforms)}); the image needs binary wheels of every runtime dependency"
            )
        wheels.append(wheel)
    return wheels


# --------------------------------------------------------------------------- trees


def install_tree(
    wheels: Sequence[Wheel],
    target: Target,
    *,
    cache_dir: Path,
    pip: Pip,
    compiler: Compiler,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[Path, bool, bool]:
    """The dependencies' installed tree for `target`; (folder, byte-compiled, from cache)."""
    how = compiler.how(target)
    key = _key("deps", RECIPE, target.abi, target.machine, how or "no-bytecode", *(w.sha256 for w in wheels))
    folder = cache_dir / f"deps-{target.abi}-{target.machine}-{key}"
    if folder.is_dir():
        return folder, how is not None, True
    progress(f"installing {len(wheels)} wheels into the dependencies layer")
    with _publish(folder) as tmp:
        links = sorted({str(w.path.parent) for w in wheels})
        args = ["install", "--no-deps", "--no-compile", "--no-index", "--no-warn-script-location", "--target", str(tmp),
                *target.pip_args()]  # fmt: skip
        for link in links:
            args += ["--find-links", link]
        args += [f"{w.name}=={w.version}" for w in wheels]
        proc = pip(args, offline=True)
        if proc.returncode != 0:
            raise DependencyError(f"pip could not install the runtime wheels into a folder: {_tail(proc.stderr)}")
        strip_tree(tmp)
        if how is not None:
            progress(f"byte-compiling the dependencies for CPython {target.python}")
            compiler.compile(tmp, target, installed_at=TASK_ROOT)
        normalize_tree(tmp)
    return folder, how is not None, False


def code_tree(
    source: Path,
    target: Target,
    *,
    cache_dir: Path,
    compiler: Compiler,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[Path, int, bool]:
    """`source` (the functions/ package) without caches, byte-compiled; (folder, modules, compiled)."""
    files = sorted(p for p in source.rglob("*") if p.is_file() and not _is_cache(p.relative_to(source)))
    how = compiler.how(target)
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(source).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    key = _key("code", RECIPE, how or "no-bytecode", digest.hexdigest())
    folder = cache_dir / f"code-{key}"
    modules = sum(1 for p in files if p.suffix == ".py")
    if folder.is_dir():
        return folder, modules, how is not None
    with _publish(folder) as tmp:
        for path in files:
            destination = tmp / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
        if how is not None:
            progress("byte-compiling functions/")
            compiler.compile(tmp, target, installed_at=f"{TASK_ROOT}/functions")
        normalize_tree(tmp)
    return folder, modules, how is not None


def strip_tree(root: Path) -> list[str]:
    """Remove console scripts, byte-code caches and packages' test suites; fix RECORD. Returns
    the removed paths (relative, sorted)."""
    removed: list[str] = []
    for path in sorted(root.rglob("*"), reverse=True):
        relative = path.relative_to(root)
        parts = relative.parts
        doomed = (
            parts[0] == "bin"
            or "__pycache__" in parts
            or path.suffix in (".pyc", ".pyo")
            # `tests` inside a package (never a top-level one: that would be an importable package)
            or any(part in STRIP_DIRS for part in parts[1:-1])
            or (len(parts) > 1 and parts[-1] in STRIP_DIRS and path.is_dir())
        )
        if not doomed:
            continue
        if path.is_dir() and not path.is_symlink():
            path.rmdir()  # its content came first: the walk is in reverse order
        else:
            path.unlink()
        removed.append(relative.as_posix())
    gone = set(removed)
    for record in sorted(root.glob("*.dist-info/RECORD")):
        _rewrite_record(record, gone)
    return sorted(removed)


def _rewrite_record(record: Path, gone: set[str]) -> None:
    rows = list(csv.reader(io.StringIO(record.read_text(encoding="utf-8"))))
    # pip records console scripts relative to its temporary scheme ("../../bin/f2py"): outside
    # the tree, and removed with bin/.
    kept = [
        row for row in rows
        if row and not row[0].startswith("../") and os.path.normpath(row[0]).replace(os.sep, "/") not in gone
    ]  # fmt: skip
    if len(kept) != len(rows):
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(kept)
        record.write_text(out.getvalue(), encoding="utf-8")


def _is_cache(relative: Path) -> bool:
    return "__pycache__" in relative.parts or relative.suffix in (".pyc", ".pyo")


# --------------------------------------------------------------------------- helpers


@contextmanager
def _publish(folder: Path) -> Iterator[Path]:
    """A temporary folder beside `folder`, renamed to it on success (kept if another won)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _key(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tail(text: str, lines: int = 6) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip() and "is ignored" not in line]
    return " | ".join(kept[-lines:]) or "no output"
