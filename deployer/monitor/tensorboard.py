"""`metrics --tensorboard DIR`: the report's series as TensorBoard event files, one run per version.

    DIR/v1/events.out.tfevents.<time>.<host>.<pid>.<n>.onnx-lambda     run "v1" (Lambda version 1)
    DIR/model-<version>/...                                           handler metrics no Lambda version claims

Scalars are tagged with the report's measure names (report.py: invocations, duration_ms/p99,
errors_by_kind/NotFound, drift/...), one point per period: step = periods since the window's
start (the same step is the same minute in every run and tag), wall time = the period's start.
Written with TensorBoard's own record writer and event protos (tensorboard.summary.writer's
RecordWriter, what its EventFileWriter and torch.utils.tensorboard use underneath; the file is
opened here, not through `tensorboard.compat.tf`, which would import TensorFlow when installed:
seconds and a screen of logs) as `simple_value` scalars, which TensorBoard's scalar dashboard and
its EventAccumulator read. Values are float32 there, as in every TensorBoard scalar.

`tensorboard --logdir DIR` shows them. Each run of the command replaces the files it wrote before
in that run (suffix .onnx-lambda; nothing else in DIR is touched), since each holds the whole
window. The files are written into a staging folder inside DIR and moved into place at the end,
so an interrupted write leaves nothing; an unwritable DIR fails before anything is read.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import time
from pathlib import Path

from deployer.errors import DependencyError
from deployer.monitor.errors import OutputError
from deployer.monitor.report import MetricsReport, VersionReport

__all__ = ["check_folder", "write_runs", "run_name", "SUFFIX"]

SUFFIX = ".onnx-lambda"


def run_name(version: VersionReport) -> str:
    return f"v{version.version}" if not version.version.startswith("model ") else version.version.replace(" ", "-")


def check_folder(folder: Path) -> None:
    """OutputError unless event files can be written under `folder` (created when missing)."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise OutputError(f"--tensorboard {folder} is a file; name a folder (it is created when missing)")
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(f"--tensorboard {folder}: {existing} is a file, not a folder")
    try:
        probe = tempfile.NamedTemporaryFile(dir=existing, prefix=".tensorboard.", suffix=".probe", delete=True)
        probe.close()
    except OSError as exc:
        raise OutputError(f"--tensorboard {folder}: cannot write in {existing} ({exc.strerror or exc}); "
                          "pick another folder") from exc  # fmt: skip


def write_runs(report: MetricsReport, folder: Path) -> list[Path]:
    """One run per version under `folder` (module doc); the run folders."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.record_writer import RecordWriter
    except ImportError as exc:
        raise DependencyError("--tensorboard needs tensorboard: pip install 'onnx-lambda-deployer[monitor]' "
                              "(or pip install tensorboard)") from exc  # fmt: skip
    check_folder(folder)
    root = Path(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=root, prefix=".writing-"))
    except OSError as exc:
        raise OutputError(f"--tensorboard {folder}: cannot create it ({exc.strerror or exc})") from exc
    start, period = report.window.start, report.window.period_s
    runs: list[Path] = []
    try:
        for number, version in enumerate(report.versions):
            run = staging / run_name(version)
            run.mkdir()
            name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{number}{SUFFIX}"
            with open(run / name, "wb") as handle:
                writer = RecordWriter(handle)
                header = event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2",
                                         source_metadata=event_pb2.SourceMetadata(writer="onnx-lambda-deployer"))  # fmt: skip
                writer.write(header.SerializeToString())
                for measure, points in sorted(version.series.items()):
                    for at, value in points:
                        step = int((at - start).total_seconds()) // period
                        value_pb = summary_pb2.Summary.Value(tag=measure, simple_value=float(value))
                        event = event_pb2.Event(wall_time=at.timestamp(), step=step, summary=summary_pb2.Summary(value=[value_pb]))
                        writer.write(event.SerializeToString())
                handle.flush()
                os.fsync(handle.fileno())
        for staged in sorted(staging.iterdir()):
            target = root / staged.name
            target.mkdir(exist_ok=True)
            for old in target.glob(f"events.out.tfevents.*{SUFFIX}"):
                old.unlink()
            for new in staged.iterdir():
                os.replace(new, target / new.name)
            runs.append(target)
    except OSError as exc:
        raise OutputError(f"--tensorboard {folder}: writing failed ({exc.strerror or exc})") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return runs
