"""`metrics --plot FILE.png`: the report's series as time series, one panel per measure, versions in colour.

A panel holds one measure family (invocations, errors, duration_ms, request_ms, ... one per drift
metric); the versions are its colours and the statistics or features its line styles. Drawn with
matplotlib's object API on the Agg canvas (no pyplot, no display, no global backend switch),
imported only here and only when a plot is asked for.

Written whole or not at all: `check_target` proves the folder takes a new file before anything is
read (an unwritable path fails fast, with nothing left), and the PNG is drawn into a temporary
file beside the target and renamed over it, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from deployer.errors import DependencyError
from deployer.monitor.errors import OutputError
from deployer.monitor.report import MetricsReport

__all__ = ["check_target", "write_plot", "panels"]

_STYLES = ("-", "--", ":", "-.")
_TITLES = {
    "invocations": "invocations (Lambda)",
    "errors": "errors (Lambda)",
    "throttles": "throttles (Lambda)",
    "duration_ms": "duration, ms (Lambda)",
    "requests": "requests (handler)",
    "request_ms": "request, ms (handler)",
    "inference_ms": "inference, ms (handler)",
    "handler_errors": "errors (handler)",
    "errors_by_kind": "errors by kind (handler)",
    "cold_starts": "cold starts",
    "model_load_ms": "model load, ms",
}


def check_target(path: Path) -> None:
    """OutputError unless a PNG can be written at `path` (a probe file is created and removed)."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise OutputError(f"--plot {path}: the plot is a PNG; name the file FILE.png")
    if target.is_dir():
        raise OutputError(f"--plot {path} is a folder; name a file in it, such as {target / 'metrics.png'}")
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"--plot {path}: the folder {folder} does not exist; create it or pick another path")
    try:
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=f".{target.name}.", suffix=".probe", delete=True)
        probe.close()
    except OSError as exc:
        raise OutputError(f"--plot {path}: cannot write in {folder} ({exc.strerror or exc}); pick another path") from exc


def panels(report: MetricsReport) -> list[str]:
    """The panel families of the report, in the order of the module doc's measures."""
    order = list(_TITLES)
    found: dict[str, None] = {}
    for version in report.versions:
        for measure, points in version.series.items():
            if points:
                found[_family(measure)] = None
    return sorted(found, key=lambda f: (order.index(f) if f in order else len(order), f))


def _family(measure: str) -> str:
    parts = measure.split("/")
    return "/".join(parts[:2]) if parts[0] in ("drift", "other") else parts[0]


def _lines(report: MetricsReport, family: str) -> Iterator[tuple[int, str, str, list[object], list[float]]]:
    for colour, version in enumerate(report.versions):
        measures = sorted(m for m, points in version.series.items() if points and _family(m) == family)
        for style, measure in enumerate(measures):
            points = version.series[measure]
            detail = measure[len(family) + 1 :] if measure != family else ""
            label = f"v{version.version}" + (f" {detail}" if detail else "")
            yield colour, _STYLES[style % len(_STYLES)], label, [t for t, _ in points], [v for _, v in points]


def write_plot(report: MetricsReport, path: Path) -> Path:
    """Draw the report into `path` (module doc); the path written."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.dates import DateFormatter
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise DependencyError("--plot needs matplotlib: pip install 'onnx-lambda-deployer[monitor]' "
                              "(or pip install matplotlib)") from exc  # fmt: skip
    check_target(path)
    families = panels(report)
    columns = 2 if len(families) > 1 else 1
    rows = max(1, -(-len(families) // columns))
    figure = Figure(figsize=(7 * columns, 2.8 * rows + 0.8), layout="constrained")
    FigureCanvasAgg(figure)
    figure.suptitle(f"{report.stack} ({report.model}), {report.window.start:%Y-%m-%d %H:%M}–"
                    f"{report.window.end:%H:%M} UTC, {report.window.period_s // 60} min periods")  # fmt: skip
    colours = [f"C{i % 10}" for i in range(len(report.versions))]
    for index, family in enumerate(families or ["invocations"]):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.set_title(_TITLES.get(family, family.replace("/", ": ")), fontsize=10)
        for colour, style, label, times, values in _lines(report, family):
            axes.plot(times, values, linestyle=style, marker="." if len(values) < 30 else None,
                      color=colours[colour], label=label)  # fmt: skip
        axes.set_xlim(report.window.start, report.window.end)  # the whole window, however few the points
        axes.xaxis.set_major_formatter(DateFormatter("%H:%M"))
        axes.tick_params(labelsize=8)
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=7, loc="best")
    target = Path(path)
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # as a plain open() would create it (mkstemp makes 0600)
        with os.fdopen(fd, "wb") as handle:
            figure.savefig(handle, format="png", dpi=100)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        _remove(temporary)
        raise OutputError(f"--plot {path}: writing failed ({exc.strerror or exc}); nothing was written") from exc
    except BaseException:
        _remove(temporary)
        raise
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
