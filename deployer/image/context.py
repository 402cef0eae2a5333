"""The build context: a folder that `docker build` and `sam build` turn into the same layers.

    build/<name>/
      Dockerfile            FROM <base>, three COPY steps, ENV, LABEL, CMD (no RUN)
      .dockerignore         only Dockerfile and layers/ are sent to the daemon
      layers/1-dependencies/var/task/...            → layer 1: runtime dependencies
      layers/2-model/opt/model/{manifest.json,model.onnx,...}   → layer 2: the model
      layers/3-code/var/task/functions/...          → layer 3: the handler code

Order: what changes least comes first, so a new model re-ships only layer 2 and new code only
layer 3 (Docker's layers are content-addressed: equal bytes, equal digest, nothing re-pushed).

Reproducible layers. A layer's digest is the sha256 of its tar, and the classic builder writes
into that tar, for every file and every directory it touched: the name, size, mode, uid/gid
(COPY makes them 0:0), and mtime. Measured on Docker 20.10 (overlay2): files and folders
copied from the context keep the context's mtime and mode; a folder the COPY *merges into*
(its "." entry, e.g. /var/task in `COPY deps/ /var/task/`) or *creates* as a destination gets
the build's wall-clock time. Hence:
- each layer folder holds the full path from / (`COPY layers/1-dependencies/ /`): every
  directory in the layer's tar then comes from the context, none from the builder's clock;
- every file and folder of layers/ gets mtime 1980-01-01T00:00:00Z (`EPOCH`, the earliest time
  a zip or wheel can record) and mode 0644 / 0755 (0755 where any execute bit was set), whatever
  the umask or the owner of the checkout;
- contents are fixed: pinned wheels installed by pip with `--no-compile` into a fresh folder,
  byte code compiled with `--invalidation-mode unchecked-hash` (no timestamps in .pyc),
  console scripts removed (their shebang names this machine's Python), nothing random in names;
- the Dockerfile carries no timestamp; its ENV/LABEL/CMD go after the COPY steps and make no
  layer (the image config's `created` time differs per build, the layers do not).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from functions.manifest import CODE_DIR, HANDLER

__all__ = [
    "EPOCH",
    "HANDLER",
    "LAYERS_DIR",
    "TASK_ROOT",
    "BuildContext",
    "ContextLayer",
    "dockerfile_text",
    "dockerignore_text",
    "link_or_copy_tree",
    "normalize_tree",
    "tree_listing",
    "write_context",
]

EPOCH = 315532800  # 1980-01-01T00:00:00Z
TASK_ROOT = CODE_DIR  # LAMBDA_TASK_ROOT: first on the handler's import path (functions/manifest.py)
LAYERS_DIR = "layers"
DOCKERFILE = "Dockerfile"
DOCKERIGNORE = ".dockerignore"


@dataclass(frozen=True)
class ContextLayer:
    """One COPY step: `folder` (relative to the context) becomes a layer holding `target`."""

    role: str  # dependencies | model | code
    folder: str  # e.g. layers/2-model
    target: str  # where its content lands in the image, e.g. /opt/model
    holds: str  # one line for people: what is in it
    files: int = 0
    content_bytes: int = 0


@dataclass(frozen=True)
class BuildContext:
    path: Path
    dockerfile: Path
    layers: tuple[ContextLayer, ...]


def dockerfile_text(
    base_image: str,
    layers: Sequence[ContextLayer],
    *,
    env: Mapping[str, str],
    labels: Mapping[str, str],
    cmd: Sequence[str] = (HANDLER,),
    header: Iterable[str] = (),
) -> str:
    """The Dockerfile: FROM, one COPY per layer (in order), then ENV, LABEL, CMD. No RUN step,
    so an arm64 image builds on an x86_64 machine (and back) without emulation."""
    lines = [f"# {line}".rstrip() for line in header]
    lines.append(f"FROM {base_image}")
    for number, layer in enumerate(layers, 1):
        lines.append(f"# layer {number}: {layer.holds}")
        lines.append(f"COPY {layer.folder}/ /")
    for key, value in env.items():
        lines.append(f"ENV {key}={_quote(value)}")
    if labels:
        lines.append("LABEL " + " \\\n      ".join(f"{key}={_quote(value)}" for key, value in labels.items()))
    lines.append("CMD " + json.dumps(list(cmd)))
    return "\n".join(lines) + "\n"


def dockerignore_text() -> str:
    """Send only what the Dockerfile copies (the folder may hold the model or a build.json)."""
    return f"# written by onnx-lambda-deployer: the daemon gets the Dockerfile and {LAYERS_DIR}/ only\n*\n!{DOCKERFILE}\n!{LAYERS_DIR}\n"


def write_context(
    out_dir: Path,
    *,
    base_image: str,
    dependencies: tuple[Path, str],
    model_files: Sequence[tuple[Path, str]],
    model_target: str,
    model_holds: str,
    code: tuple[Path, str],
    env: Mapping[str, str],
    labels: Mapping[str, str],
    header: Iterable[str] = (),
) -> BuildContext:
    """(Re)write the build context in `out_dir`: layers/, Dockerfile, .dockerignore.

    `dependencies` and `code` are (prepared folder, description): the folder's content goes to
    /var/task and /var/task/functions. `model_files` are (source, name in the image) pairs copied
    to `model_target`. layers/ is deleted first, so nothing stale can reach an image.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    layers_root = out_dir / LAYERS_DIR
    if layers_root.exists():
        shutil.rmtree(layers_root)
    layers_root.mkdir()

    deps_src, deps_holds = dependencies
    deps_folder = f"{LAYERS_DIR}/1-dependencies"
    link_or_copy_tree(deps_src, _under(out_dir / deps_folder, TASK_ROOT))

    model_folder = f"{LAYERS_DIR}/2-model"
    model_dest = _under(out_dir / model_folder, model_target)
    model_dest.mkdir(parents=True)
    for source, name in sorted(model_files, key=lambda pair: pair[1]):
        destination = model_dest / name
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, destination)

    code_src, code_holds = code
    code_folder = f"{LAYERS_DIR}/3-code"
    link_or_copy_tree(code_src, _under(out_dir / code_folder, f"{TASK_ROOT}/functions"))

    normalize_tree(layers_root)
    layers = tuple(
        ContextLayer(role, folder, target, holds, *_count(out_dir / folder))
        for role, folder, target, holds in (
            ("dependencies", deps_folder, TASK_ROOT, deps_holds),
            ("model", model_folder, model_target, model_holds),
            ("code", code_folder, f"{TASK_ROOT}/functions", code_holds),
        )
    )
    dockerfile = out_dir / DOCKERFILE
    _write_text(dockerfile, dockerfile_text(base_image, layers, env=env, labels=labels, header=header))
    _write_text(out_dir / DOCKERIGNORE, dockerignore_text())
    return BuildContext(out_dir, dockerfile, layers)


def normalize_tree(root: Path, *, mtime: int = EPOCH) -> None:
    """Fixed mtime and 0644/0755 modes for `root` and everything under it (symlinks: mtime only)."""
    paths = [root, *sorted(root.rglob("*"))]
    for path in paths:
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            os.utime(path, (mtime, mtime), follow_symlinks=False)
            continue
        if stat.S_ISDIR(info.st_mode):
            mode = 0o755
        else:
            mode = 0o755 if info.st_mode & 0o111 else 0o644
        if stat.S_IMODE(info.st_mode) != mode:
            os.chmod(path, mode)
        if int(info.st_mtime) != mtime or info.st_mtime_ns % 1_000_000_000:
            os.utime(path, (mtime, mtime))


def link_or_copy_tree(source: Path, destination: Path) -> None:
    """Copy `source`'s content into `destination` (created), hard-linking files where the file
    system allows (the cached dependency tree is ~150 MB; links make this instant)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, destination, symlinks=True, copy_function=_link_or_copy)


def tree_listing(root: Path) -> list[tuple[str, int, int, int, str]]:
    """(relative path, mode, mtime, size, sha256 of content) of everything under `root`, sorted:
    what the classic builder puts in a layer's tar headers, for comparing contexts."""
    import hashlib

    rows = []
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        digest = ""
        if stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        elif stat.S_ISLNK(info.st_mode):
            digest = "->" + os.readlink(path)
        rows.append((path.relative_to(root).as_posix(), info.st_mode, int(info.st_mtime), info.st_size if digest else 0, digest))
    return rows


def _link_or_copy(source: str, destination: str) -> str:
    try:
        os.link(source, destination)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
            raise
        shutil.copy2(source, destination)
    return destination


def _under(folder: Path, absolute: str) -> Path:
    """`folder` + an absolute image path: where that path's content sits in the layer folder."""
    return folder.joinpath(*PurePosixPath(absolute).relative_to("/").parts)


def _count(folder: Path) -> tuple[int, int]:
    files = 0
    size = 0
    for path in folder.rglob("*"):
        info = path.lstat()
        if stat.S_ISREG(info.st_mode):
            files += 1
            size += info.st_size
    return files, size


def _quote(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8", newline="\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
