"""The Lambda handler: `functions.app.handler` is the image's CMD.

This package is copied into the Lambda image and stands alone: it imports onnxruntime, numpy,
orjson and aws-lambda-powertools, never `deployer` (tests/unit/functions/test_imports.py pins the set).

What a cold start imports (issue 12): only what the first request needs: onnxruntime, numpy,
orjson and the handler's own modules. The log and EMF lines are written with orjson in
Powertools' and CloudWatch's formats (functions/logs.py, functions/metrics.py; tests compare them
with Powertools' own output): importing Powertools costs 21-44 ms of every cold start (its
`logging`, botocore, jmespath, uuid), so it is loaded only to format a bug's traceback. The OpenAPI
document's module loads on the first GET /openapi.json; the model files are checked by size, their
sha256 at image build (functions/model.py). Measured with `.venv/bin/python -m bench --only cold`
(bench/RESULTS.md, 2026-12-02 20:54, 2 shared vCPUs at load average 0.6-1.5; fresh processes
alternating, medians, first request included): handler / floor (import onnxruntime + session + one
run) MLP 1.13x, ResNet-18 1.03x, small CNN 1.13x at 2 CPUs and 1.09x, 1.08x, 1.08x at 1 CPU;
handler / the AWS-sample-style peer 1.00-1.11x at 2 CPUs, 1.03-1.07x at 1; before issue 12 MLP
1.23x. What is left at 1 CPU, where nothing runs beside the session: orjson ~2.3 ms beyond the
`json` the peer imports too (orjson imports dataclasses, uuid and copy), the handler's own modules
~4 ms (`taskset -c 1 .venv/bin/python -S -P -X importtime -c "import functions.app"`, small CNN, 15
fresh processes: manifest 0.66, kserve 0.49, model 0.42, tensors 0.38, tfserving 0.24 ms, ...; the
bench's import ladder, stdlib modules they pull in included, 5-7 ms), `threading` 0.7 ms (the
watchdog of functions/inference.py), and on the first request ~0.8 ms of the handler's own steps
(watchdog thread start ~0.25, EMF line ~0.15, the checks). Per request, against a minimal
handler on the same session and body (bench/stub_app.py: decode, run, encode; `bench --only overhead`,
2026-12-02 22:11 UTC): on the MLP (session.run ~0.05 ms) 1.50x binary, 1.65-1.73x JSON forms (was
1.83-1.99x before kserve.Plans, the templated EMF line and the trimmed request path; what is left is
~170-240 traced Python lines of validation, deadline, EMF line and drift statistics), ResNet-18
1.09-1.10x (binary, base64) and 1.40x JSON lists (numpy's dtype inference that refuses strings and
booleans), the small CNN 1.03-1.06x.

Cold start. The model is loaded at import, in Lambda's init phase, not on the first request, and
it is started first: `functions.model.start_loading()` runs right after onnxruntime is imported and,
on 2+ CPUs, creates the session in a background thread while this module imports the rest of the
handler (orjson, its own modules: ~8-10 ms, hidden behind a session creation that releases the GIL
for most of its work); `Service()` takes the result at the end of the import, and a load error is
raised there as before. On one CPU the session is created at once, before those imports: a thread
there can only take turns with them. Measured with `.venv/bin/python -m bench.eager_lazy 20` and
`... 12 --one-cpu` (fresh `python -S` processes, modes rotating, offline-optimized bench models,
base64 JSON body; 2026-12-02, a shared machine at load average 2.2-3.0), the paired ratio of what
the modes differ in (importing functions.app after onnxruntime, + the first request) to the
shipped mode: session first, then the imports, at 2 CPUs 1.21x on the MLP (58 vs 39 ms), 1.48x
on the small CNN (60 vs 39 ms), 0.99x on ResNet-18 (the ~10 ms vanish in ~270 ms of session
creation and the noise); at 1 CPU, where both are the same code, 0.94-1.00x, and a thread forced
on there 0.87-1.02x (within that noise). Loading on the first request instead (`lazy`) costs about
the same in total (0.98-1.12x) and puts the whole session creation (ResNet-18: ~210-330 ms) into
the first request; eager keeps it where Lambda gives the full CPU burst of initialization (and
where provisioned concurrency pre-pays it).
A model that cannot be loaded does not fail the import (Lambda would answer every request with
an opaque Runtime.ImportModuleError): the reason is kept and every request that needs the model
gets a 503 with it, while `/v2/health/live` still answers.

Per request: event → Request (functions/http.py) → route → protocol (kserve / tfserving) →
session.run → proxy response, then one EMF line (functions/metrics.py), then the drift monitor
keeps the request's feeds and outputs (functions/drift.py: references, one request in a stride;
the statistics every N requests or T seconds, ~1 us per request in all). Payloads are never logged.

Hardening (issue 9), each a 4xx/5xx JSON answer instead of a function error:
- deadline: `context.get_remaining_time_in_millis()` less `margin_ms` (DEADLINE_MARGIN_MS,
  default 500 ms: the last node of a stopped run, the 504 and its way out) is the request's
  deadline; none is left → 504 before anything runs; `session.run` is stopped by the watchdog
  of functions/inference.py when it passes → 504. No context, or one without that method
  (direct calls in tests and scripts): no deadline.
- response size: an answer over Lambda's 6,291,456-byte response limit → 413 (functions/http.py).
- metrics: a failing EMF write is logged once per run of failures, never fatal (functions/metrics.py).
Measured on 2 shared vCPUs with MODEL_PATH=examples/iris/model, in one process: the event of
`bench.events.make_event("v2-json", "iris", x, "X")` (batch 1) given to `handler(event,
bench.context.FakeContext(timeout_s=900))` and to `handler(event, None)` in alternation, 30
rounds of 300 calls, median per call, three processes per tree: the deadline path (context vs
None) costs +1.9 to +2.7 us per request on a ~30 us request (on the tree before these changes
the two were equal within ±0.4 us). Of it: RunOptions() 0.37 us, the watchdog's arm + disarm
0.35 us, the rest the context call and bookkeeping; `session.run` with RunOptions costs the same
as without. Before the watchdog took a slack of 5 ms, deadlines jittering by the context's
millisecond rounding woke its thread on every other request: +19 us in one run.
The response-size check adds 0.04 us to `json_response` (0.66 → 0.70 us, MLP answer), the
metrics try nothing measurable. Import and cold start unchanged (same modules; the watchdog
thread starts on the first armed run).
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, Callable

# The model first: its session is created in a background thread (on 2+ CPUs) while the imports
# below run; Service() takes the result at the end of this module (see the docstring, Cold start).
from functions.model import Loading, Model, ModelLoadError, start_loading

_loading = start_loading()

from functions import kserve, tfserving  # noqa: E402
from functions.errors import GatewayTimeout, HTTPError, MethodNotAllowed, ModelUnavailable, NotFound  # noqa: E402
from functions.http import Request, Response, error_response, json_response, parse_event  # noqa: E402
from functions.inference import Timing  # noqa: E402
from functions.logs import DEBUG, Logger  # noqa: E402
from functions.manifest import has_drift_baseline  # noqa: E402
from functions.metrics import RequestMetrics  # noqa: E402
from functions.tensors import Limits  # noqa: E402

if TYPE_CHECKING:
    from functions.drift import Drift  # loaded only for a model with a drift baseline (Service.__init__)

__all__ = ["handler", "service", "Service"]

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "onnx-lambda"
NAMESPACE = os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "OnnxLambda"

# What the handler's deadline keeps back from Lambda's (functions/inference.py): the last node of a
# stopped run, the 504 and its way out. Env DEADLINE_MARGIN_MS overrides it.
DEFAULT_DEADLINE_MARGIN_MS = 500.0

logger = Logger(service=SERVICE)
Route = Callable[[Request, Timing], Response]


def deadline_margin_ms(environ: dict[str, str] | None = None) -> float:
    """DEADLINE_MARGIN_MS from the environment, or the default (a bad value is logged, not fatal)."""
    raw = (environ if environ is not None else os.environ).get("DEADLINE_MARGIN_MS")
    if not raw:
        return DEFAULT_DEADLINE_MARGIN_MS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value < 900_000:  # NaN fails this too
        logger.warning("DEADLINE_MARGIN_MS ignored", extra={"value": raw[:100], "using_ms": DEFAULT_DEADLINE_MARGIN_MS,
                                                            "expected": "milliseconds, 0 to 900000"})
        return DEFAULT_DEADLINE_MARGIN_MS
    return value


class Service:
    """What one execution environment keeps between invocations, and the routing over it."""

    def __init__(self, model_path: str | None = None, limits: Limits | None = None,
                 margin_ms: float | None = None, loading: Loading | None = None) -> None:
        self.model: Model | None = None
        self.error: str | None = None
        self.cold = True
        self.limits = limits or Limits()
        self.margin_ms = deadline_margin_ms() if margin_ms is None else margin_ms
        self.metrics_failures = 0  # EMF lines lost in a row (see _metrics_failed)
        started = time.perf_counter()
        try:
            self.model = (loading or start_loading(model_path, background=False)).result()
        except ModelLoadError as exc:
            self.error = str(exc)
            logger.error("model not loaded", extra={"reason": self.error})
        self.load_ms = self.model.load_ms if self.model else (time.perf_counter() - started) * 1000.0
        name = self.model.name if self.model else "unavailable"
        version = self.model.version if self.model else "none"
        self.metrics = RequestMetrics(NAMESPACE, SERVICE, name, version)
        # Input drift and prediction shift against the manifest's baseline (functions/drift.py);
        # None when the manifest has none or DRIFT_EVERY_N=0. Imported only for a model with a baseline.
        self.drift: Drift | None = None
        if self.model and has_drift_baseline(self.model.manifest):
            from functions.drift import Drift

            self.drift = Drift.for_model(self.model, self.metrics.documents, warn=_warn)
        self._openapi: dict[str, Any] | None = None
        self._routes: dict[tuple[str, str], Route] = {}
        self._plans = kserve.Plans()  # binary requests' headers already checked (functions/kserve.py)
        self._debug = logger.isEnabledFor(DEBUG)
        self._static: dict[str, tuple[str, Route]] = {
            "/v2/health/live": ("GET", lambda req, t: json_response(200, {"live": True}, req.direct)),
            "/v2/health/ready": ("GET", self._ready),
            "/v2": ("GET", lambda req, t: json_response(200, SERVER, req.direct)),
            "/openapi.json": ("GET", lambda req, t: json_response(200, self.openapi(), req.direct)),
        }
        if self.model:
            logger.info(
                "model loaded",
                extra={"model": name, "version": version, "load_ms": round(self.load_ms, 2), "threads": self.model.threads},
            )

    def need_model(self) -> Model:
        if self.model is None:
            raise ModelUnavailable(f"the model is not loaded: {self.error}")
        return self.model

    def openapi(self) -> dict[str, Any]:
        if self._openapi is None:
            from functions import openapi  # only GET /openapi.json needs it: not at cold start

            self._openapi = openapi.document(self.need_model(), self.limits)  # the caps this service enforces
        return self._openapi

    def _ready(self, req: Request, timing: Timing) -> Response:
        self.need_model()
        return json_response(200, {"ready": True}, req.direct)

    def _model(self, name: str, version: str | None) -> Model:
        model = self.need_model()
        if name != model.name:
            raise NotFound(f"unknown model {name!r}; this endpoint serves {model.name!r}")
        if version is not None and version != model.version:
            raise NotFound(f"unknown version {version!r} of {name!r}; the deployed version is {model.version!r}")
        return model

    def _v2(self, rest: str) -> tuple[str, Route]:
        name, tail, version = _split(rest.split("/"))
        limits = self.limits
        if not tail:
            return "GET", lambda req, t: json_response(200, kserve.metadata(self._model(name, version)), req.direct)
        if tail == ["ready"]:
            return "GET", lambda req, t: (self._model(name, version), self._ready(req, t))[1]
        if tail == ["infer"]:
            plans, model = self._plans, self.model
            if model is not None and name == model.name and version in (None, model.version):
                # the model and this path cannot change in this environment: checked once, here
                return "POST", lambda req, t: kserve.infer(model, req, limits, t, plans)
            return "POST", lambda req, t: kserve.infer(self._model(name, version), req, limits, t, plans)
        raise NotFound(f"no route {rest!r} under /v2/models/; see GET /openapi.json")

    def _v1(self, rest: str) -> tuple[str, Route]:
        target, _, verb = rest.partition(":")
        name, tail, version = _split(target.split("/"))
        limits = self.limits
        if verb:
            if verb not in ("predict", "classify") or tail:
                raise NotFound(f"':{verb}' is not served; use POST /v1/models/{name}:predict (or :classify)")
            call = tfserving.predict if verb == "predict" else tfserving.classify
            if version is None and self.model is not None and name == self.model.name:
                model = self.model  # checked once, here: neither can change in this environment
                return "POST", lambda req, t: call(model, req, limits, t)
            return "POST", lambda req, t: call(self._tf_model(name, version), req, limits, t)
        if not tail:
            return "GET", lambda req, t: json_response(200, tfserving.status(self._tf_model(name, version)), req.direct)
        if tail == ["metadata"]:
            return "GET", lambda req, t: json_response(200, tfserving.metadata(self._tf_model(name, version)), req.direct)
        raise NotFound(f"no route {rest!r} under /v1/models/; see GET /openapi.json")

    def _tf_model(self, name: str, version: str | None) -> Model:
        """The model for a TF Serving route, whose versions are int64 numbers (tfserving.version_number)."""
        model = self._model(name, None)
        if version is not None:
            number = tfserving.version_number(model)
            if version != str(number):
                raise NotFound(f"unknown version {version!r} of {name!r}; in the TF Serving API the deployed "
                               f"version is {number} (content hash {model.version!r})")
        return model

    def _torchserve(self, path: str) -> tuple[str, Route]:
        """TorchServe's /ping, /predictions/{model}[/{version}], /models/{model}[/{version}] (functions/torchserve.py)."""
        from functions import torchserve  # only TorchServe routes load it

        if path == "/ping":
            return "GET", lambda req, t: torchserve.ping(self.error if self.model is None else None, req.direct)
        kind, _, rest = path[1:].partition("/")
        parts = rest.split("/")
        if len(parts) > 2 or not parts[0]:
            raise NotFound(f"no route {path!r}; TorchServe's are /{kind}/{{model}} and /{kind}/{{model}}/{{version}}")
        name, version = parts[0], (parts[1] if len(parts) == 2 else None)
        if kind == "models":
            return "GET", lambda req, t: json_response(200, torchserve.describe(self._model(name, version)), req.direct)
        limits = self.limits
        return "POST", lambda req, t: torchserve.predict(self._model(name, version), req, limits, t)

    def route(self, req: Request) -> Route:
        if req.direct:
            model = self.need_model()
            obj = req.parsed
            if isinstance(obj, dict) and ("instances" in obj or isinstance(obj.get("inputs"), dict)):
                return lambda r, t: tfserving.predict(model, r, self.limits, t)
            return lambda r, t: kserve.infer(model, r, self.limits, t)
        path = req.path.rstrip("/") or "/"
        if path in self._static:
            method, route = self._static[path]
        elif path.startswith("/v2/models/"):
            method, route = self._v2(path[len("/v2/models/") :])
        elif path.startswith("/v1/models/"):
            method, route = self._v1(path[len("/v1/models/") :])
        elif path == "/ping" or path.startswith(("/predictions/", "/models/")):
            method, route = self._torchserve(path)
        else:
            raise NotFound(f"no route {req.path!r}; see GET /openapi.json for what this endpoint serves")
        if req.method != method:
            raise MethodNotAllowed(f"{req.method} is not allowed on {req.path}; use {method}", (method,))
        return route

    def _route(self, req: Request) -> Route:
        """`route`, remembered per (method, path) for HTTP requests: the path is parsed once, not per
        request (a route's own checks, the model name and version, still run in the route)."""
        if req.direct:
            return self.route(req)
        key = (req.method, req.path)
        found = self._routes.get(key)
        if found is None:
            found = self.route(req)  # raises for an unknown path or method: nothing is kept
            if len(self._routes) < 64:  # bounded: paths are the client's to choose
                self._routes[key] = found
        return found

    def handler(self, event: Any, context: Any) -> Response:
        """Answer one invocation; every outcome is a response, never an unhandled exception."""
        started = time.perf_counter()
        timing = Timing()
        size = 0
        error: HTTPError | None = None
        try:
            remaining = getattr(context, "get_remaining_time_in_millis", None)  # None: no Lambda context
            if remaining is not None:
                left_ms = remaining() - self.margin_ms
                if left_ms <= 0:
                    raise GatewayTimeout(
                        f"the invocation has {left_ms + self.margin_ms:.0f} ms left, less than the "
                        f"{self.margin_ms:.0f} ms the handler keeps to answer: not started; raise the function's timeout"
                    )
                timing.deadline = time.monotonic() + left_ms / 1000.0
                timing.margin_ms = self.margin_ms
            req = parse_event(event, self.limits.max_body_bytes)
            size = req.size
            response = self._route(req)(req, timing)
        except HTTPError as exc:
            error = exc
            response = error_response(exc, _direct(event))
            logger.info(
                "request refused",
                extra={"request_id": _request_id(context), "status": exc.status, "kind": exc.kind,
                       "reason": exc.message},
            )
        except Exception:  # a bug of ours: the traceback goes to the log, never into the body
            request_id = _request_id(context)
            logger.exception("unhandled error", extra={"request_id": request_id})
            error = HTTPError(f"internal error; see the function's log for request {request_id}")
            response = error_response(error, _direct(event))
        try:  # metrics never cost the answer (a closed or broken stdout, a full pipe)
            self._emit(started, timing, size, error)
        except Exception as exc:
            self._metrics_failed(exc)
        else:
            if self.metrics_failures:
                self._metrics_recovered()
        if self._debug:  # one line per request at DEBUG; never the payload
            logger.debug("request", extra={"request_id": _request_id(context), "status": response.get("statusCode", 200),
                                           "ms": round((time.perf_counter() - started) * 1000.0, 3)})
        return response

    def _metrics_failed(self, exc: Exception) -> None:
        """Log the first failure of a run of failures, count the rest: a stdout that stays broken
        would otherwise add a log line (itself failing) to every request."""
        self.metrics_failures += 1
        if self.metrics_failures == 1:
            logger.error(
                "metrics not written; the request was answered. Further failures are counted and reported "
                "once metrics are written again",
                extra={"reason": f"{type(exc).__name__}: {str(exc)[:300]}"},
            )

    def _metrics_recovered(self) -> None:
        logger.warning("metrics written again", extra={"lost_emf_lines": self.metrics_failures})
        self.metrics_failures = 0

    def _emit(self, started: float, timing: Timing, size: int, error: HTTPError | None) -> None:
        request_ms = round((time.perf_counter() - started) * 1000.0, 3)
        inference_ms, batch = timing.inference_ms, timing.batch
        if error is None and inference_ms is not None and batch is not None and not self.cold:
            # the steady state's line: names fixed, values in a tuple (functions/metrics.py `write`)
            self.metrics.write(_STEADY, (request_ms, float(size), round(inference_ms, 3), float(batch)))
        else:
            values: dict[str, float] = {}
            if self.cold:
                self.cold = False
                values["ColdStart"] = 1
                values["ModelLoadMs"] = round(self.load_ms, 3)
            values["RequestMs"] = request_ms
            values["PayloadBytes"] = size
            if inference_ms is not None:
                values["InferenceMs"] = round(inference_ms, 3)
            if batch is not None:
                values["BatchSize"] = batch
            if error is not None:
                values["Errors"] = 1
            self.metrics.emit(values)
            if error is not None:
                self.metrics.error_kind(error.kind)
        drift = self.drift
        if drift is not None and timing.results is not None and drift.enabled:
            drift.observe(timing.feeds, timing.names, timing.results)  # type: ignore[arg-type]


# The metrics of an answered inference after the first: `_emit`'s line without a dict.
_STEADY = ("RequestMs", "PayloadBytes", "InferenceMs", "BatchSize")


def _request_id(context: Any) -> str | None:
    return getattr(context, "aws_request_id", None)


def _direct(event: Any) -> bool:
    """A direct invoke (answered with the plain JSON object), not an HTTP event."""
    return not (isinstance(event, dict) and ("httpMethod" in event or "requestContext" in event))


def _warn(message: str, extra: dict[str, Any]) -> None:
    logger.warning(message, extra=extra)


def _split(parts: list[str]) -> tuple[str, list[str], str | None]:
    """name, the rest of the path, and the version of `name[/versions/v]/rest...`."""
    name, tail = parts[0], parts[1:]
    if len(tail) >= 2 and tail[0] == "versions":
        return name, tail[2:], tail[1]
    return name, tail, None


# The package's version as a constant: importlib.metadata would add modules to every cold start, and
# the image copies functions/ without installing the package. tests/unit/functions/test_server_metadata.py
# keeps it equal to pyproject.toml's.
VERSION = "0.1.0"
# GET /v2: the Open Inference Protocol's server metadata (name, version, extensions).
SERVER = {"name": "onnx-lambda-deployer", "version": VERSION, "extensions": ["binary_tensor_data", "classification"]}

# The execution environment's one service, created in Lambda's init phase.
service = Service(loading=_loading)
handler = service.handler
del _loading
