"""The loaded model: one onnxruntime session per execution environment, and its signature.

Cold start is what this product sells, so loading is shaped by measurement (PERF-NOTES):
- the session is created from the file path, never from bytes: ORT then memory-maps external
  weights, and bytes + `use_ort_model_bytes_for_initializers` crashed onnxruntime 1.32;
- the runtime graph optimization level is the converter's per-model choice
  (`manifest.runtime.graph_optimization_level`, see `session_optimization_level`);
- the files are checked against the manifest by size at run time (MODEL_VERIFY=size, the default:
  one stat per file, ~10 us), not by sha256: the digest is verified when the image is built
  (deployer/image/build.py hashes every model file against the manifest before it becomes a layer)
  and the image is content-addressed and immutable, so a run-time hash re-proves what the image
  digest already proves. It cost 30-90 ms of every cold start at one vCPU for a 47 MB model;
  `.venv/bin/python -m bench --only overhead,cold` prices it (cold start with MODEL_VERIFY=sha256
  against the default, bench/RESULTS.md of 2026-12-02: ResNet-18 +34 ms at 1 CPU, +113 ms at 2
  under load; MLP and small CNN +3 ms at 1 CPU). The size
  still catches a truncated or swapped file in a hand-assembled folder; MODEL_VERIFY=sha256 brings
  the full check back (hashed in a thread beside session creation, as hashlib and onnxruntime
  release the GIL) and MODEL_VERIFY=none skips both;
- intra-op threads follow the CPUs this process may really use (affinity and cgroup quota),
  since Lambda gives vCPUs in proportion to memory and `os.cpu_count()` reports the host's;
- `start_loading` does the cheap checks at once and, on 2+ CPUs, creates the session in a
  background thread (`_thread`: `threading` is not needed for it) so that functions/app.py imports
  the rest of the handler meanwhile; `Loading.result()` waits for it and raises its errors in the
  caller's thread, as `load_model` (the same thing without the thread) does. onnxruntime releases
  the GIL for most of session creation; on one CPU the two threads would only take turns, so there
  it is created at once (priced by `.venv/bin/python -m bench.eager_lazy`, functions/app.py).
"""

from __future__ import annotations

import _thread
import os
import time
from typing import Any

import numpy as np
import onnxruntime as ort

from functions.manifest import MANIFEST_FILE, MODEL_DIR, MODEL_FILE, MODEL_PATH_VARIABLE, Manifest, load_manifest, sha256_file

__all__ = ["Model", "TensorInfo", "ModelLoadError", "Loading", "load_model", "start_loading", "available_cpus",
           "session_optimization_level"]

DEFAULT_MODEL_PATH = MODEL_DIR  # functions/manifest.py holds the model-folder contract


class ModelLoadError(Exception):
    """The model could not be loaded; the message says what and where."""


class TensorInfo:
    """One input or output of the signature. (Plain slotted classes here, not dataclasses:
    building dataclasses costs ~3 ms of cold start, bench/RESULTS.md.)"""

    __slots__ = ("name", "datatype", "shape", "dtype", "wire_shape", "symbols")

    def __init__(self, name: str, datatype: str, shape: tuple[int | None, ...], dtype: np.dtype[Any] | None,
                 symbols: tuple[str | None, ...] = ()) -> None:
        self.name = name
        self.datatype = datatype  # KServe v2 name: FP32, INT64, ...
        self.shape = shape  # None = dynamic dimension
        self.dtype = dtype  # None for BYTES (object arrays)
        self.wire_shape = [-1 if d is None else d for d in shape]
        # The name of each named dynamic dimension ("batch"), else None: inputs that share a name
        # must agree on its size, which onnxruntime checks late (a 500) or not at all (broadcast).
        self.symbols = symbols or tuple(None for _ in shape)

    def describe(self) -> str:
        return f"{self.name} ({self.datatype} {self.wire_shape})"


class Model:
    """The loaded model: session, signature, and where it came from."""

    __slots__ = ("name", "version", "session", "inputs", "outputs", "manifest", "load_ms", "threads", "_by_name",
                 "output_names", "runner")

    def __init__(
        self,
        name: str,
        version: str,
        session: ort.InferenceSession,
        inputs: tuple[TensorInfo, ...],
        outputs: tuple[TensorInfo, ...],
        manifest: Manifest | None,
        load_ms: float,
        threads: int,
    ) -> None:
        self.name, self.version, self.session = name, version, session
        self.inputs, self.outputs, self.manifest = inputs, outputs, manifest
        self.load_ms, self.threads = load_ms, threads
        self._by_name = {spec.name: spec for spec in inputs}
        self.output_names = [spec.name for spec in outputs]
        self.runner = _runner(session)

    def input(self, name: str) -> TensorInfo | None:
        return self._by_name.get(name)


def _runner(session: ort.InferenceSession) -> Any:
    """What `run(names, feeds, options)` calls: the session's compiled `run` directly. onnxruntime's
    Python `InferenceSession.run` only re-checks the feed's names (functions/tensors.py has checked them
    against the signature already; the compiled run checks them again and raises InvalidArgument, a 400),
    fills in the output names (the caller passes them) and retries on other providers after an EPFail
    (CPU only here: nothing to fall back to). Measured with a bench MLP (batch 1, 20,000 calls, best of 5,
    load average ~6): 36 us through the wrapper, 29 us direct. Any other session object keeps its own run."""
    compiled = getattr(session, "_sess", None)
    if compiled is not None and callable(getattr(compiled, "run", None)) and \
            session.get_providers() == ["CPUExecutionProvider"]:
        return compiled.run
    return session.run


def available_cpus() -> int:
    """CPUs this process can use: affinity, capped by a cgroup v2/v1 CPU quota."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    quota = _cgroup_quota()
    if quota is not None:
        cpus = min(cpus, max(1, int(quota + 0.999)))
    return max(1, cpus)


def _cgroup_quota() -> float | None:
    try:
        with open("/sys/fs/cgroup/cpu.max") as fh:
            limit, period = fh.read().split()[:2]
        return None if limit == "max" else int(limit) / int(period)
    except (OSError, ValueError):
        pass
    try:
        with open("/sys/fs/cgroup/cpu/cpu.cfs_quota_us") as fh:
            limit_us = int(fh.read())
        with open("/sys/fs/cgroup/cpu/cpu.cfs_period_us") as fh:
            period_us = int(fh.read())
        return None if limit_us <= 0 else limit_us / period_us
    except (OSError, ValueError):
        return None


def _resolve(path: str) -> tuple[str, str | None]:
    """(model file, folder holding the manifest or None) for a file or folder path."""
    if os.path.isdir(path):
        model_file = os.path.join(path, MODEL_FILE)
        if not os.path.isfile(model_file):
            raise ModelLoadError(f"{path} is a folder without {MODEL_FILE}; set MODEL_PATH to the model")
        return model_file, path
    if os.path.isfile(path):
        if not path.endswith(".onnx"):
            raise ModelLoadError(f"{path} is not an .onnx file; set MODEL_PATH to a .onnx file or folder")
        return path, None
    raise ModelLoadError(f"no model at {path}; set MODEL_PATH to a .onnx file or a model folder")


def load_model(path: str | None = None, threads: int | None = None) -> Model:
    """Create the session for the model at `path` (default: env MODEL_PATH or /opt/model)."""
    return start_loading(path, threads, background=False).result()


def start_loading(path: str | None = None, threads: int | None = None, background: bool | None = None) -> Loading:
    """Start loading the model at `path` (default: env MODEL_PATH or /opt/model); `result()` gives it.

    The cheap checks (path, manifest, MODEL_VERIFY, sizes) run here; the session is created in a
    background thread when `background` (default: more than one CPU is available), so that the caller
    can import the rest of the handler meanwhile. Errors of either part are raised by `result()`."""
    return Loading(path, threads, background)


class Loading:
    """A model load under way. onnxruntime releases the GIL for most of session creation, so on two
    CPUs the handler's other imports (orjson, its own modules, ~10 ms) run beside it; on one CPU the
    two would only interleave, with a GIL hand-over cost, so the session is then created at once."""

    __slots__ = ("_started", "_done", "_session", "_error", "_model", "_threads", "_model_file", "_folder",
                 "_manifest", "_expected", "_digests", "_checker", "_ready_at")

    def __init__(self, path: str | None, threads: int | None, background: bool | None) -> None:
        self._started = time.perf_counter()
        self._done: Any = None  # a lock held while the session is created in the background
        self._session: ort.InferenceSession | None = None
        self._error: BaseException | None = None
        self._model: Model | None = None
        self._checker: Any = None
        self._expected: list[tuple[str, str, int | None]] = []
        self._digests: dict[str, str] = {}
        self._ready_at = 0.0
        cpus = available_cpus()
        try:
            options = self._prepare(path, threads or int(os.environ.get("MODEL_THREADS") or 0) or cpus)
        except ModelLoadError as exc:
            self._error = exc
            return
        if background is None:
            background = cpus > 1
        if background:
            self._done = _thread.allocate_lock()
            self._done.acquire()
            _thread.start_new_thread(self._create, (options,))
        else:
            self._create(options)

    def _prepare(self, path: str | None, threads: int) -> ort.SessionOptions:
        path = path or os.environ.get(MODEL_PATH_VARIABLE) or DEFAULT_MODEL_PATH
        self._model_file, self._folder = _resolve(path)
        try:
            self._manifest = manifest = load_manifest(self._folder) if self._folder else None
        except ValueError as exc:
            raise ModelLoadError(str(exc)) from exc
        verify = _verify_mode()
        folder = self._folder
        # (file, expected sha256, expected size) of model.onnx and its external data
        expected = _expected(manifest, folder) if manifest is not None and folder and verify != "none" else []
        if verify == "size":
            _check_sizes(expected, folder or "")
        if expected and verify == "sha256":  # hashed beside session creation (hashlib releases the GIL)
            import threading  # only here: the default path starts no threading.Thread

            self._expected = expected
            self._checker = threading.Thread(target=_hash_all, args=(expected, self._digests), daemon=True)
            self._checker.start()
        self._threads = threads
        options = ort.SessionOptions()
        options.intra_op_num_threads = self._threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = session_optimization_level(manifest)
        return options

    def _create(self, options: ort.SessionOptions) -> None:
        try:
            self._session = ort.InferenceSession(self._model_file, options, providers=["CPUExecutionProvider"])
        except BaseException as exc:  # kept for result(): raised in the caller's thread
            self._error = exc
        finally:
            self._ready_at = time.perf_counter()
            if self._done is not None:
                self._done.release()

    def result(self) -> Model:
        """The loaded model (waiting for the session if it is still being created), or ModelLoadError."""
        if self._model is not None:
            return self._model
        if self._done is not None:
            self._done.acquire()  # released by _create when the session is made (or failed)
            self._done.release()
        waited = time.perf_counter()
        error = self._error
        if isinstance(error, ModelLoadError):
            raise error
        if isinstance(error, Exception):  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise ModelLoadError(f"onnxruntime could not load {self._model_file}: {_first_line(error)}") from error
        if error is not None:
            raise error
        if self._checker is not None:
            self._checker.join()
            for path, want, _ in self._expected:
                got = self._digests.get(path, "unreadable")
                if got != want:
                    raise ModelLoadError(
                        f"{path} does not match {os.path.join(self._folder or '', MANIFEST_FILE)}: "
                        f"sha256 {got[:12]}… expected {want[:12]}…; rebuild the artifact"
                    )
        session, manifest = self._session, self._manifest
        assert session is not None
        name = manifest["name"] if manifest else os.path.splitext(os.path.basename(self._model_file))[0]
        version = manifest["version"] if manifest else "1"
        inputs = tuple(_info(arg) for arg in session.get_inputs())
        outputs = tuple(_info(arg) for arg in session.get_outputs())
        # the load itself: start to session made, plus the signature; not the time the caller spent
        # on its other imports before it asked for the result
        load_ms = (self._ready_at - self._started + time.perf_counter() - waited) * 1000.0
        model = Model(name=name, version=version, session=session, inputs=inputs, outputs=outputs,
                      manifest=manifest, load_ms=load_ms, threads=self._threads)
        self._model = model
        return model


_LEVELS = {
    "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def session_optimization_level(manifest: Manifest | None) -> ort.GraphOptimizationLevel:
    """The runtime graph optimization level the converter chose for this artifact:
    `manifest.runtime.graph_optimization_level` (disable_all | basic | extended | all). Manifests
    written before that field existed but optimized offline (`runtime.optimized`) get disable_all;
    no manifest (a bare .onnx) gets onnxruntime's default, all."""
    runtime = (manifest or {}).get("runtime") or {}
    level = runtime.get("graph_optimization_level")
    if level is None:
        level = "disable_all" if runtime.get("optimized") else "all"
    try:
        return _LEVELS[level]
    except KeyError:
        raise ModelLoadError(f"manifest.json: runtime.graph_optimization_level is {level!r}; "
                             f"expected one of {', '.join(_LEVELS)}; rebuild the artifact") from None


VERIFY_MODES = ("size", "sha256", "none")


def _verify_mode() -> str:
    mode = (os.environ.get("MODEL_VERIFY") or "size").strip().lower()
    if mode not in VERIFY_MODES:
        raise ModelLoadError(f"MODEL_VERIFY is {mode[:40]!r}; expected one of {', '.join(VERIFY_MODES)} "
                             "(size: the default, checked against manifest.json; sha256: hash every file)")
    return mode


def _expected(manifest: Manifest, folder: str) -> list[tuple[str, str, int | None]]:
    model = manifest["model"]
    entries = [{"file": MODEL_FILE, "sha256": model["sha256"], "size_bytes": model.get("size_bytes")}]
    entries += model.get("external_data") or []
    return [(os.path.join(folder, e["file"]), e["sha256"], e.get("size_bytes")) for e in entries]


def _check_sizes(expected: list[tuple[str, str, int | None]], folder: str) -> None:
    for path, _, size in expected:
        if not isinstance(size, int):
            continue  # a manifest without sizes: nothing cheap to compare
        try:
            got = os.stat(path).st_size
        except OSError:
            got = -1
        if got != size:
            found = "missing" if got < 0 else f"{got:,} bytes"
            raise ModelLoadError(
                f"{path} does not match {os.path.join(folder, MANIFEST_FILE)}: {found}, expected {size:,} bytes; "
                "the file was cut or replaced after the artifact was built: rebuild the artifact"
            )


def _hash_all(expected: list[tuple[str, str, int | None]], out: dict[str, str]) -> None:
    for path, _, _ in expected:
        try:
            out[path] = sha256_file(path)
        except OSError:
            pass  # reported as "unreadable" by the caller


def _info(arg: Any) -> TensorInfo:
    from functions.tensors import ORT_TO_DATATYPE  # imported while the session is created, not before

    datatype, dtype = ORT_TO_DATATYPE.get(arg.type, ("BYTES", None))
    dims = arg.shape or ()
    shape = tuple(d if isinstance(d, int) and d >= 0 else None for d in dims)
    symbols = tuple(d if isinstance(d, str) and d else None for d in dims)
    return TensorInfo(name=arg.name, datatype=datatype, shape=shape, dtype=dtype, symbols=symbols)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:500]
