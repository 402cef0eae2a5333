"""--plot and --tensorboard: written whole or not at all, readable by matplotlib and TensorBoard."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from deployer.monitor.errors import OutputError
from deployer.monitor.report import DriftValue, MetricsReport, VersionReport
from deployer.monitor.timespec import Window

T0 = datetime(2026, 12, 2, 13, 0, tzinfo=timezone.utc)


def report() -> MetricsReport:
    def series(*values: float) -> list[tuple[datetime, float]]:
        return [(T0 + timedelta(minutes=2 + i), v) for i, v in enumerate(values)]

    two = VersionReport("2", "mv2", invocations=9, cold_starts=1,
                        drift=[DriftValue("PSI", {"feature": "a"}, 0.3, 0.4)],
                        series={"invocations": series(4, 5), "duration_ms/p99": series(12.25, 3.5),
                                "drift/PSI/feature=a": series(0.3, 0.2), "cold_starts": series(1)})  # fmt: skip
    one = VersionReport("1", "mv1", invocations=3, series={"invocations": series(3), "errors_by_kind/NotFound": series(1)})
    return MetricsReport("onnx-m", "onnx-m", "m", "OnnxLambda", "us-east-1", "local", Window(T0, T0 + timedelta(minutes=10), 60),
                         [two, one])  # fmt: skip


def test_plot_is_a_png_matplotlib_reads_back_and_nothing_else_is_left(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib import image

    from deployer.monitor.plot import panels, write_plot

    target = write_plot(report(), tmp_path / "metrics.png")
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.imread(str(target)).shape[0] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.png"]
    assert panels(report()) == ["invocations", "duration_ms", "errors_by_kind", "cold_starts", "drift/PSI"]


@pytest.mark.parametrize("where", ["missing/metrics.png", "afile/metrics.png", "metrics.txt", "."])
def test_unwritable_plot_paths_are_refused_before_anything_is_written(tmp_path: Path, where: str) -> None:
    from deployer.monitor.plot import check_target

    (tmp_path / "afile").write_text("not a folder")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(OutputError, match="--plot"):
        check_target(tmp_path / where)
    assert sorted(tmp_path.rglob("*")) == before


def test_tensorboard_runs_hold_the_report_values(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from deployer.monitor.tensorboard import write_runs

    runs = write_runs(report(), tmp_path / "tb")
    assert sorted(p.name for p in runs) == ["v1", "v2"]
    assert sorted(p.name for p in (tmp_path / "tb").iterdir()) == ["v1", "v2"]  # no staging folder left
    write_runs(report(), tmp_path / "tb")  # again: the previous files of each run are replaced, not added to
    assert len(list((tmp_path / "tb" / "v2").iterdir())) == 1
    events = EventAccumulator(str(tmp_path / "tb" / "v2"))
    events.Reload()
    assert set(events.Tags()["scalars"]) == {"invocations", "duration_ms/p99", "drift/PSI/feature=a", "cold_starts"}
    scalars = events.Scalars("duration_ms/p99")
    assert [(s.step, s.value) for s in scalars] == [(2, 12.25), (3, 3.5)]
    assert scalars[0].wall_time == (T0 + timedelta(minutes=2)).timestamp()


def test_tensorboard_into_a_file_is_refused(tmp_path: Path) -> None:
    from deployer.monitor.tensorboard import check_folder

    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a file"):
        check_folder(tmp_path / "f")
    with pytest.raises(OutputError, match="not a folder"):
        check_folder(tmp_path / "f" / "runs")
