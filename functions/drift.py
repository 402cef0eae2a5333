"""Input drift and prediction shift, measured in each execution environment against the manifest.

The baseline. `deployer convert` writes it from the user's sample (the training rows; a baseline of
rows generated from the signature would be meaningless, so generated rows give none): per feature
of each numeric [N, F] or [N] input, `features` (names, `<input>[<i>]` by default), the inner
`edges` of DRIFT_BINS quantile bins (deciles) and the `shares` of the sample in each bin, beside
the training min/max; under `predictions`, per output, the original model's predictions on the
same rows: class shares for a label output (or for the argmax of a scores output named by the
labels), else mean, p50, p90 and bins. A value falls in bin i when edges[i-1] <= value < edges[i]
(`bin_index`); the first and last bins are open, so every value has a bin. The converter computes
the shares with this module's own `bin_counts`, so both sides bin alike. Without a baseline the
monitor is off, silently.

The window. Per request the monitor keeps references to the monitored input and output arrays
(an append each: numpy work per request, even one slice assignment into a preallocated buffer,
cost 2-3 us in the handler's loop, where its caches are cold), one request in `stride`. Every
DRIFT_EVERY_N requests (default 4000) or DRIFT_EVERY_S seconds (default 60), whichever comes first
(and as soon as 8,192 rows wait), the kept arrays are binned in one vectorized pass and dropped;
at those checks, if the window holds at least DRIFT_MIN_ROWS rows (default 200), its statistics
are emitted and a new window starts, otherwise it keeps growing until the next check. The stride
is chosen at each check so that the next interval observes about DRIFT_SAMPLE_ROWS rows (default
500): a busy environment samples its requests (a quiet one observes all of them, and the first
interval of an environment observes all), and DriftRows is that sample's size. The clock is only
read by requests: an environment that gets none emits nothing (Lambda freezes it anyway).
Why these defaults: a window of 500 rows resolves PSI well (same distribution: ~0.02 plus the
baseline's own noise); CloudWatch keeps one-minute datapoints; and each window costs ~0.5-1 ms in
the handler's loop and writes one EMF line per feature, per output and per class, plus one: at
100 requests a 100-feature model wrote about one metric line per request (doubling the log volume)
for no finer view. The 60 s rule still closes a window a minute at low traffic.
DRIFT_EVERY_N=0 turns the monitor off. Batches over 4,096 rows are sampled with a stride.

The statistics (EMF, dimensions model, version, service, + feature / output / class; the names are
declared in functions/series.py):
- DriftPSI per feature: PSI = sum over bins of (a - e) * ln(a / e), a the window's share and e the
  baseline's. Smoothing: the window's count of every bin that can hold a value gets 1/2 added
  (PSI_PRIOR, a Jeffreys prior; a bin between two tied deciles can hold none), then both shares are
  floored at PSI_EPSILON = 1e-4. Without the prior a bin of small baseline share that a window
  leaves empty by chance dominated: on iris (150 sample rows, tied deciles) 7 % of same-distribution
  windows of 100 rows passed 0.2 on one feature; with it, 1-2 % at 100 rows and none of 2,000 at
  200 rows (99th percentile 0.11), while two standard deviations of shift in one feature give ~3.
  Rule of thumb: < 0.1 stable, 0.1-0.2 moderate, > 0.2 a shift. With n rows in the window and m in
  the sample, same distribution, PSI is about (bins - 1) * (1/n + 1/m), hence DRIFT_MIN_ROWS.
  NaN values fall in the first bin and count as out of range.
- DriftOutOfRange per feature: the share of values outside the training [min, max].
- DriftPSIMax: the largest DriftPSI of the window (the drift alarm reads this one metric, whatever
  the number of features; the dashboard shows which feature it was).
- DriftRows: rows in the window.
- PredictionPSI per monitored output; PredictionClassShare per class of a categorical output (shares
  of classes the baseline did not see are left out, so they may sum to less than 1); PredictionMean,
  PredictionP50, PredictionP90 of a numeric output (quantiles over the window's last 4,096 values).
At most DRIFT_MAX_FEATURES features (default 100, in manifest order) are monitored.

Shutdown. Lambda sends SIGTERM to the runtime only when an extension is registered; otherwise the
environment is frozen and later killed, and the window in progress (< N requests, < T seconds) is
lost. The monitor flushes from `atexit` (a normal interpreter exit: the local runtimes, tests), and
from a SIGTERM handler only when DRIFT_FLUSH_ON_SIGTERM=1: Python runs a signal handler only when
the main thread returns to the interpreter, and the runtime client waits for the next event in C,
so a replaced SIGTERM could delay an orderly stop until it is SIGKILLed. Both are best effort.

Failures. A computation that fails (a bug, an input shaped unlike its baseline in a way not
foreseen) turns the monitor off for the environment with one log line; writing the EMF lines fails
like any metrics write and is handled by the handler (functions/app.py).

Cost, measured with `.venv/bin/python -m bench.drift --cold-runs 30` (bench/drift.py; figures in
bench/RESULTS.md section 6; 2 shared vCPUs): three handlers in one process (with the monitor,
without, and a second without as the A/A floor), v2 JSON body, batch 1, rounds of one check
interval, after the first interval (stride 8):

    model                    handler   monitor's own time, in place   side by side (95% interval)   A/A
    iris, 4 features         43.1 us   1.04 us per request (2.4 %)    +1.0 us [-1.4, +3.0]          -0.2 [-3.7, +3.9]
    MLP, 100 features        45.8 us   1.28 us per request (2.8 %)    +3.8 us [+0.6, +7.3]          +0.2 [-3.2, +4.2]

The first interval of an environment observes every request (~2 us each on iris). Cold start:
importing this module 0.46 ms (after numpy, byte code cached), building the monitor 0.04 ms
(0.12 ms for 100 features); spawn-to-first-answer A/B runs against the code before the monitor
(+3.8, +8.1, -4.3 ms over ~140) are within the machine's noise. Measured on the way: copying each
request's rows into preallocated buffers instead of keeping references cost 2.8 vs 2.1 us per
request in the handler's loop (numpy calls there run with cold caches), and checks every 1,000
requests (250-row samples) 1.6 us against 1.2 us every 4,000 (500 rows), both timed in place.
"""

from __future__ import annotations

import atexit
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from functions.manifest import has_drift_baseline
from functions.series import (
    DRIFT_EVERY_N, DRIFT_EVERY_S, DRIFT_MAX_FEATURES, DRIFT_MIN_ROWS, DRIFT_SAMPLE_ROWS, Feature, drift_features,
    prediction_series,
)

__all__ = [
    "Drift", "DriftSettings", "drift_settings", "bin_index", "bin_counts", "open_bins", "psi", "PSI_EPSILON",
    "PSI_PRIOR",
]

PSI_EPSILON = 1e-4
PSI_PRIOR = 0.5  # added to the window's count of every bin that can hold a value (Jeffreys prior)
FOLD_ROWS = 8192  # rows kept by reference that are binned at once, before the check is due
MAX_ROWS_PER_REQUEST = 4096  # larger batches are sampled with a stride
KEEP_VALUES = 4096  # the last values of a numeric output kept for its p50/p90
MAX_STRIDE = 1000  # at most one request in this many is skipped over


def bin_index(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """values [n, F], edges [F, B-1] (each row sorted) → the bin of each value, [n, F] in 0..B-1:
    bin i holds edges[i-1] <= v < edges[i]. NaN lands in bin 0. (The definition; `bin_counts`
    counts the same bins without building this array.)"""
    return (values[:, :, None] >= edges[None, :, :]).sum(axis=2)


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts per bin, [F, B], of values [n, F] against edges [F, B-1], binned as `bin_index` says.

    From the number of values at or above each edge (non-increasing along a sorted row of edges):
    bin 0 holds the rest, bin i the difference of edges i-1 and i, the last bin the values at or
    above the last edge. Small inputs in one broadcast compare; large ones one pass per edge into a
    reused boolean buffer, 2-4x faster than building bin indices and counting them."""
    values = np.asarray(values, dtype=np.float64)
    rows, features = values.shape
    inner = edges.shape[1]
    if values.size * inner <= 32768:
        above = np.count_nonzero(values[:, :, None] >= edges[None, :, :], axis=0).T  # [B-1, F]
    else:
        above = np.empty((inner, features), dtype=np.intp)
        scratch = np.empty(values.shape, dtype=bool)
        for j, column in enumerate(edges.T):
            np.greater_equal(values, column, out=scratch)
            above[j] = np.count_nonzero(scratch, axis=0)
    counts = np.empty((features, inner + 1), dtype=np.int64)
    counts[:, 0] = rows - above[0]
    counts[:, 1:-1] = (above[:-1] - above[1:]).T
    counts[:, -1] = above[-1]
    return counts


def open_bins(edges: np.ndarray) -> np.ndarray:
    """[F, B] True where a bin can hold a value: not between two equal edges (tied quantiles)."""
    edges = np.atleast_2d(edges)
    found = np.ones((edges.shape[0], edges.shape[1] + 1), dtype=bool)
    found[:, 1:-1] = edges[:, 1:] > edges[:, :-1]
    return found


def psi(counts: np.ndarray, shares: np.ndarray, bins: np.ndarray | None = None) -> np.ndarray:
    """PSI of the window's counts [F, B] against the baseline's shares [F, B], per row.

    The window's counts get PSI_PRIOR (1/2) added in every bin that can hold a value (`bins`, all by
    default), then both shares are floored at PSI_EPSILON: a bin the window left empty by chance
    costs a bounded amount instead of dominating (module docstring)."""
    counts = np.asarray(counts, dtype=np.float64)
    if bins is not None:
        counts = counts + PSI_PRIOR * bins
    else:
        counts = counts + PSI_PRIOR
    total = counts.sum(axis=-1, keepdims=True)
    actual = np.maximum(counts / np.maximum(total, 1.0), PSI_EPSILON)
    expected = np.maximum(np.asarray(shares, dtype=np.float64), PSI_EPSILON)
    return ((actual - expected) * np.log(actual / expected)).sum(axis=-1)


class DriftSettings:
    __slots__ = ("every_n", "every_s", "min_rows", "sample_rows", "max_features", "on_sigterm")

    def __init__(self, every_n: int = DRIFT_EVERY_N, every_s: float = DRIFT_EVERY_S, min_rows: int = DRIFT_MIN_ROWS,
                 max_features: int = DRIFT_MAX_FEATURES, on_sigterm: bool = False,
                 sample_rows: int = DRIFT_SAMPLE_ROWS) -> None:
        self.every_n, self.every_s, self.min_rows, self.sample_rows = every_n, every_s, min_rows, sample_rows
        self.max_features, self.on_sigterm = max_features, on_sigterm


def drift_settings(environ: Mapping[str, str], warn: Callable[[str, dict[str, Any]], None]) -> DriftSettings:
    """DRIFT_EVERY_N, DRIFT_EVERY_S, DRIFT_MIN_ROWS, DRIFT_SAMPLE_ROWS, DRIFT_MAX_FEATURES,
    DRIFT_FLUSH_ON_SIGTERM; a bad value is logged and the default used."""
    default = DriftSettings()

    def read(var: str, fallback: float, low: float, high: float) -> float:
        raw = environ.get(var)
        if not raw:
            return fallback
        try:
            value = float(raw)
        except ValueError:
            value = float("nan")
        if not low <= value <= high:
            warn(f"{var} ignored", {"value": raw[:100], "using": fallback, "expected": f"{low:g} to {high:g}"})
            return fallback
        return value

    return DriftSettings(
        every_n=int(read("DRIFT_EVERY_N", default.every_n, 0, 1e9)),
        every_s=read("DRIFT_EVERY_S", default.every_s, 1, 86400),
        min_rows=int(read("DRIFT_MIN_ROWS", default.min_rows, 1, 1e9)),
        sample_rows=int(read("DRIFT_SAMPLE_ROWS", default.sample_rows, 1, 1e9)),
        max_features=int(read("DRIFT_MAX_FEATURES", default.max_features, 0, 10000)),
        on_sigterm=environ.get("DRIFT_FLUSH_ON_SIGTERM", "").strip().lower() in ("1", "true", "yes", "on"),
    )


class _Buffer:
    """The arrays of one tensor from the requests observed since the last binning, by reference:
    per request an append (numpy work per request, even one slice assignment into a preallocated
    buffer, cost 2-3 us in the handler's loop, cold caches included); binned in one pass when
    FOLD_ROWS rows wait or the window is checked."""

    __slots__ = ("row", "arrays", "fill")

    def __init__(self, row: tuple[int, ...]) -> None:
        self.row = row  # the shape of one row as requests carry it: () for one value, (width,)
        self.arrays: list[Any] = []
        self.fill = 0  # rows waiting

    def add(self, arr: Any) -> bool:
        """Keep `arr`; True when enough rows wait to be binned now."""
        if arr is None:
            return False
        self.arrays.append(arr)
        self.fill += len(arr) if getattr(arr, "ndim", 0) else 1
        return self.fill >= FOLD_ROWS

    def take(self) -> np.ndarray | None:
        """The waiting rows as one float64 [n, width] array (None when none fit), and the list emptied."""
        arrays, self.arrays, self.fill = self.arrays, [], 0
        row = self.row
        try:
            if all(type(a) is np.ndarray and a.shape[1:] == row and len(a) <= MAX_ROWS_PER_REQUEST for a in arrays):
                data = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
                if data.dtype.kind in "biuf":
                    return data.reshape(len(data), -1).astype(np.float64, copy=False)
        except (TypeError, ValueError):  # one by one below
            pass
        rows = [r for r in (self._rows(a) for a in arrays) if r is not None]
        if not rows:
            return None
        data = rows[0] if len(rows) == 1 else np.concatenate(rows)
        return data.reshape(len(data), -1).astype(np.float64, copy=False)

    def _rows(self, arr: Any) -> np.ndarray | None:
        """`arr` in this buffer's row shape (a [n, 1] column for one value per row, or the reverse),
        strided to MAX_ROWS_PER_REQUEST rows; None when it is not numeric rows of that shape."""
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "biuf" or not arr.ndim:
            return None
        if arr.shape[1:] != self.row:
            if arr.shape[1:] in ((), (1,)) and self.row in ((), (1,)):
                arr = arr.reshape(len(arr), *self.row)
            else:
                return None
        if len(arr) > MAX_ROWS_PER_REQUEST:
            arr = arr[:: -(-len(arr) // MAX_ROWS_PER_REQUEST)]
        return arr


class _Input:
    """The monitored features of one input: their columns, bins, range and the window's counts."""

    __slots__ = ("name", "columns", "names", "edges", "shares", "bins", "low", "high", "counts", "outside", "rows",
                 "buffer", "all_columns")

    def __init__(self, name: str, stats: Mapping[str, Any], features: list[Feature]) -> None:
        self.name = name
        self.columns = np.array([f.index for f in features], dtype=np.intp)
        self.names = [f.name for f in features]
        self.edges = np.array(stats["edges"], dtype=np.float64)[self.columns]
        self.shares = np.array(stats["shares"], dtype=np.float64)[self.columns]
        self.low = np.array(stats["min"], dtype=np.float64)[self.columns]
        self.high = np.array(stats["max"], dtype=np.float64)[self.columns]
        if self.edges.ndim != 2 or self.shares.shape != (len(features), self.edges.shape[1] + 1):
            raise ValueError(f"baseline of input {name!r}: edges and shares do not match")
        self.bins = open_bins(self.edges)
        self.counts = np.zeros(self.shares.shape, dtype=np.int64)
        self.outside = np.zeros(len(features), dtype=np.int64)
        self.rows = 0
        width = len(stats["features"])  # values in a row
        # a [N] input's one feature is named after the input (deployer/model/samples.py), else [N, width]
        self.buffer = _Buffer(() if stats["features"] == [name] else (width,))
        self.all_columns = len(features) == width

    def add(self, arr: Any) -> None:
        if self.buffer.add(arr):
            self.fold()

    def fold(self) -> None:
        if self.buffer.fill:
            data = self.buffer.take()
            if data is not None:
                self._count(data)

    def _count(self, data: np.ndarray) -> None:
        if not self.all_columns:
            data = data[:, self.columns]
        self.counts += bin_counts(data, self.edges)
        inside = (data >= self.low) & (data <= self.high)
        self.outside += len(data) - np.count_nonzero(inside, axis=0)
        self.rows += len(data)

    def reset(self) -> None:
        self.counts[:] = 0
        self.outside[:] = 0
        self.rows = 0


class _Output:
    """One monitored output: class counts, or bins + sums + the last values of a numeric one."""

    __slots__ = ("name", "kind", "classes", "names", "lookup", "shares", "edges", "bins", "counts", "rows", "total",
                 "finite", "kept", "kept_count", "buffer")

    def __init__(self, name: str, stats: Mapping[str, Any]) -> None:
        self.name = name
        self.kind = str(stats["kind"])
        self.shares = np.array(stats["shares"], dtype=np.float64)
        self.names = [str(n) for n in stats.get("names") or ()]
        self.lookup: dict[Any, int] | None = None
        self.classes: np.ndarray | None = None
        self.edges: np.ndarray | None = None
        self.bins: np.ndarray | None = None
        if self.kind == "values":
            self.edges = np.array([stats["edges"]], dtype=np.float64)
            if self.shares.shape != (self.edges.shape[1] + 1,):
                raise ValueError(f"prediction baseline of output {name!r}: edges and shares do not match")
            self.bins = open_bins(self.edges)[0]
        elif self.kind in ("classes", "argmax"):
            values = list(stats.get("classes") or range(len(self.names)))
            if len(values) != len(self.names) or self.shares.shape != (len(values),):
                raise ValueError(f"prediction baseline of output {name!r}: classes, names and shares do not match")
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            if numeric and values == sorted(values):
                self.classes = np.array(values, dtype=np.float64)
            else:
                self.lookup = {v: i for i, v in enumerate(values)}  # strings, booleans: counted as they come
        else:
            raise ValueError(f"prediction baseline of output {name!r}: unknown kind {self.kind!r}")
        self.counts = np.zeros(len(self.shares), dtype=np.int64)
        self.rows = 0
        self.total = 0.0  # sum of the finite values of a numeric output
        self.finite = 0
        self.kept: list[np.ndarray] = []
        self.kept_count = 0
        self.buffer = _Buffer((len(self.counts),) if self.kind == "argmax" else ())

    def add(self, arr: Any) -> None:
        if self.lookup is not None:
            self._lookup(arr)
            return
        if self.buffer.add(arr):
            self.fold()

    def _lookup(self, arr: Any) -> None:
        if not isinstance(arr, np.ndarray) or not arr.ndim or arr.ndim > 2 or (arr.ndim == 2 and arr.shape[1] != 1):
            return
        lookup, counts = self.lookup, self.counts
        for value in arr.reshape(-1).tolist():
            index = lookup.get(value)  # type: ignore[union-attr]
            if index is not None:
                counts[index] += 1
        self.rows += len(arr)

    def fold(self) -> None:
        if self.buffer.fill:
            data = self.buffer.take()
            if data is not None:
                self._count(data)

    def _count(self, data: np.ndarray) -> None:
        if self.kind == "argmax":
            self.counts += np.bincount(data.argmax(axis=1), minlength=len(self.counts))
            self.rows += len(data)
            return
        values = data[:, 0]
        if self.kind == "values":
            self.counts += bin_counts(data, self.edges)[0]  # type: ignore[arg-type]
            finite = values[np.isfinite(values)]
            self.total += float(finite.sum())
            self.finite += len(finite)
            self.rows += len(values)
            self.kept.append(finite[-KEEP_VALUES:].copy())
            self.kept_count += len(self.kept[-1])
            if self.kept_count > 2 * KEEP_VALUES:
                last = np.concatenate(self.kept)[-KEEP_VALUES:]
                self.kept, self.kept_count = [last], len(last)
            return
        classes = self.classes
        position = np.minimum(np.searchsorted(classes, values), len(classes) - 1)  # type: ignore[arg-type]
        known = classes[position] == values  # type: ignore[index]
        self.counts += np.bincount(position[known], minlength=len(self.counts))
        self.rows += len(values)

    def statistics(self) -> list[tuple[dict[str, str], dict[str, float]]]:
        docs: list[tuple[dict[str, str], dict[str, float]]] = []
        own = {"output": self.name}
        if self.kind == "values":
            values: dict[str, float] = {"PredictionPSI": float(psi(self.counts, self.shares, self.bins))}
            if self.finite:
                kept = np.concatenate(self.kept)[-KEEP_VALUES:]
                p50, p90 = np.percentile(kept, [50, 90])
                values["PredictionMean"] = float(self.total / self.finite)
                values["PredictionP50"], values["PredictionP90"] = float(p50), float(p90)
            docs.append((own, values))
            return docs
        docs.append((own, {"PredictionPSI": float(psi(self.counts, self.shares))}))
        share = (self.counts / max(1, self.rows)).tolist()
        for name, value in zip(self.names, share):
            docs.append(({"output": self.name, "class": name}, {"PredictionClassShare": value}))
        return docs

    def reset(self) -> None:
        self.counts[:] = 0
        self.rows = 0
        self.total = 0.0
        self.finite = 0
        self.kept, self.kept_count = [], 0


class Drift:
    """The drift monitor of one execution environment (module docstring)."""

    def __init__(self, manifest: Mapping[str, Any], outputs: Sequence[str], write: Callable[[list[Any]], None],
                 settings: DriftSettings | None = None, warn: Callable[[str, dict[str, Any]], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings or DriftSettings()
        self._write = write
        self._warn = warn or (lambda message, extra: None)
        self._clock = clock
        features = drift_features(manifest, self.settings.max_features)
        by_input: dict[str, list[Feature]] = {}
        for feature in features:
            by_input.setdefault(feature.input, []).append(feature)
        baseline = manifest.get("baseline") or {}
        self._inputs = [_Input(name, baseline[name], found) for name, found in by_input.items()]
        predictions = manifest.get("predictions") or {}
        self._outputs = [_Output(p.output, predictions[p.output]) for p in prediction_series(manifest)
                         if p.output in outputs]
        # where each monitored output is among the results when all outputs are returned
        self._positions = [(out, list(outputs).index(out.name)) for out in self._outputs]
        self._requests = 0  # since the last check
        self._observed = 0  # of them, kept
        self._stride = 1  # observe one request in `stride` (chosen at each check, see `_tick`)
        self._skip = 0
        self._rows_at_check = 0
        self._due = clock() + self.settings.every_s
        self.windows = 0  # windows emitted so far
        self.enabled = bool(self._inputs or self._outputs)

    @classmethod
    def for_model(cls, model: Any, write: Callable[[list[Any]], None], environ: Mapping[str, str] | None = None,
                  warn: Callable[[str, dict[str, Any]], None] | None = None) -> Drift | None:
        """The monitor for a loaded model, or None when its manifest has no baseline or DRIFT_EVERY_N=0."""
        manifest = getattr(model, "manifest", None)
        if not has_drift_baseline(manifest):
            return None
        settings = drift_settings(os.environ if environ is None else environ, warn or (lambda m, e: None))
        if settings.every_n <= 0:
            return None
        try:
            drift = cls(manifest, [o.name for o in model.outputs], write, settings, warn)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            if warn:
                warn("drift monitoring off: the manifest's baseline cannot be read",
                     {"reason": f"{type(exc).__name__}: {exc}"})
            return None
        if not drift.enabled:
            return None
        atexit.register(drift.close)
        if settings.on_sigterm:
            drift._on_sigterm()
        return drift

    def observe(self, feeds: Mapping[str, np.ndarray], names: Sequence[str] | None, results: Sequence[Any]) -> None:
        """Per request: keep what the model saw and said (one request in `stride`); check the window.
        `names`: the outputs `results` holds, in order; None when it holds all of them."""
        self._requests += 1
        if self._skip:
            self._skip -= 1
        else:
            self._skip = self._stride - 1
            self._observed += 1
            try:
                for spec in self._inputs:
                    spec.add(feeds.get(spec.name))
                if names is None:
                    for out, position in self._positions:
                        out.add(results[position])
                else:
                    for out, _ in self._positions:
                        index = _index(names, out.name)
                        if index is not None:
                            out.add(results[index])
            except Exception as exc:  # a bug of ours must never cost an answer: off for this environment
                self._off(exc)
                return
        if self._requests >= self.settings.every_n or self._clock() >= self._due:
            self._tick()

    def _off(self, exc: Exception) -> None:
        self.enabled = False  # the handler stops calling `observe`
        self._warn("drift monitoring off in this environment: computing the statistics failed",
                   {"reason": f"{type(exc).__name__}: {str(exc)[:300]}"})

    def _tick(self) -> None:
        requests, observed = self._requests, self._observed
        self._requests = self._observed = 0
        self._due = self._clock() + self.settings.every_s
        try:
            self._fold()
            rows = self._rows()
            if observed:  # sample so that the next interval observes about `sample_rows` rows
                expected = requests * (rows - self._rows_at_check) / observed
                self._stride = max(1, min(MAX_STRIDE, int(expected // self.settings.sample_rows)))
            docs = self._window()
            self._rows_at_check = self._rows()
        except Exception as exc:  # a bug of ours must never cost an answer: off for this environment
            self._off(exc)
            return
        if docs:
            self._write(docs)

    def _rows(self) -> int:
        return max([s.rows for s in self._inputs] + [o.rows for o in self._outputs] + [0])

    def _fold(self) -> None:
        for spec in self._inputs:
            spec.fold()
        for out in self._outputs:
            out.fold()

    def _window(self) -> list[tuple[dict[str, str], dict[str, float]]] | None:
        """The window's EMF documents when it holds enough rows (and a fresh window), else None."""
        rows = self._rows()
        if rows < self.settings.min_rows:
            return None
        docs: list[tuple[dict[str, str], dict[str, float]]] = []
        head: dict[str, float] = {"DriftRows": rows}
        features: list[tuple[dict[str, str], dict[str, float]]] = []
        worst = None
        for spec in self._inputs:
            if spec.rows < self.settings.min_rows:
                continue
            scores = psi(spec.counts, spec.shares, spec.bins)
            outside = (spec.outside / spec.rows).tolist()
            for name, score, share in zip(spec.names, scores.tolist(), outside):
                features.append(({"feature": name}, {"DriftPSI": score, "DriftOutOfRange": share}))
            top = float(scores.max())
            worst = top if worst is None else max(worst, top)
        if worst is not None:
            head["DriftPSIMax"] = float(worst)
        docs.append(({}, head))
        docs += features
        for out in self._outputs:
            if out.rows >= self.settings.min_rows:
                docs += out.statistics()
        for spec in self._inputs:
            spec.reset()
        for out in self._outputs:
            out.reset()
        self.windows += 1
        return docs

    def close(self) -> None:
        """Emit the window in progress (if it holds enough rows): at exit, best effort."""
        if not self.enabled:
            return
        try:
            self._fold()
            docs = self._window()
            if docs:
                self._write(docs)
        except Exception:  # at exit there is no one left to tell
            pass

    def _on_sigterm(self) -> None:
        import _signal  # already loaded by the interpreter; `signal` would cost ~0.5 ms of import

        previous = _signal.getsignal(_signal.SIGTERM)

        def handle(signum: int, frame: Any) -> None:
            self.close()
            self.enabled = False
            if callable(previous):
                previous(signum, frame)
                return
            _signal.signal(_signal.SIGTERM, previous if previous is not None else _signal.SIG_DFL)
            os.kill(os.getpid(), signum)

        try:
            _signal.signal(_signal.SIGTERM, handle)
        except ValueError:  # not the main thread: no handler can be installed
            pass


def _index(names: Sequence[str], name: str) -> int | None:
    try:
        return list(names).index(name)
    except ValueError:
        return None
