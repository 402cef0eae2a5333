"""`GET /metrics` of the local gateway: Prometheus' text exposition of what it served.

Each Gateway owns one `GatewayMetrics`, with its own CollectorRegistry (never the global one:
several gateways live in one process, the local cloud runs one per stage):

    onnx_lambda_requests_total{model,version,route,status}      requests answered by the gateway
    onnx_lambda_request_duration_seconds{model,version,route}   their latency as the client saw it
    onnx_lambda_cold_starts_total{model,version}                from the handler's EMF (ColdStart)
    onnx_lambda_model_load_seconds{model,version}               the last cold start's ModelLoadMs
    onnx_lambda_inference_duration_seconds{model,version}       the handler's InferenceMs
    onnx_lambda_handler_errors_total{model,version,kind}        the handler's Errors by kind
    onnx_lambda_drift{model,version,metric,feature}             the last value of every other handler
                                                                metric (drift: PSI per feature, out of
                                                                range share, prediction shift, ...)

Per request (`observe_request`, on the request's thread after the answer is sent): a counter and
a histogram observation, and a look at the first bytes of a KServe v2 answer for its model version
(`{"model_name":...,"model_version":...` leads every v2 infer answer). `route` is the route's
template (/v2/models/{model}/infer, ...), so client paths cannot grow the label set; `model` is the
path's model name once an answer proved it is served, else "unknown". `version` is the answer's
model version, else the one version of that model seen so far, else "".

The handler's EMF lines (`observe_output`) feed the other families; they reach a gateway only where
its owner hands it the function's output (LocalEndpoint does; module doc of deployer.local).
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

__all__ = ["GatewayMetrics", "gateway_metrics", "route_template", "CONTENT_TYPE"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_V2_ANSWER = re.compile(rb'^\{"model_name":"([^"\\]{1,200})","model_version":"([^"\\]{0,200})"')
_REQUEST_METRICS = frozenset({"ColdStart", "ModelLoadMs", "RequestMs", "InferenceMs", "BatchSize", "PayloadBytes", "Errors"})
_HANDLER_DIMS = frozenset({"model", "version", "service"})
_STATIC = {"/v2/health/live", "/v2/health/ready", "/v2", "/openapi.json", "/", "/ping"}
_MODEL_ROUTES = (  # KServe v2, TF Serving, TorchServe's inference and describe-model routes
    (re.compile(r"^/v2/models/([^/]+)(/versions/[^/]+)?(/infer|/ready)?$"), "/v2/models/"),
    (re.compile(r"^/v1/models/([^/:]+)(/versions/[^/:]+)?(/metadata|:predict|:classify)?$"), "/v1/models/"),
    (re.compile(r"^/predictions/([^/]+)(/[^/]+)?()$"), "/predictions/"),
    (re.compile(r"^/models/([^/]+)(/[^/]+)?()$"), "/models/"),
)


def route_template(path: str) -> tuple[str, str | None]:
    """(the route's template, the model name in the path or None) for a request path."""
    bare = path.split("?", 1)[0].rstrip("/") or "/"
    if bare in _STATIC:
        return bare, None
    for pattern, prefix in _MODEL_ROUTES:
        match = pattern.match(bare)
        if match:
            versioned = ""
            if match.group(2):
                versioned = "/versions/{version}" if match.group(2).startswith("/versions/") else "/{version}"
            return f"{prefix}{{model}}{versioned}{match.group(3) or ''}", match.group(1)
    return "other", None


class GatewayMetrics:
    """One gateway's metrics (module doc)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=False)
        reg = self.registry
        self.requests = Counter("onnx_lambda_requests", "Requests answered by the local API Gateway",
                                ["model", "version", "route", "status"], registry=reg)  # fmt: skip
        self.latency = Histogram("onnx_lambda_request_duration_seconds", "Request latency at the local API Gateway",
                                 ["model", "version", "route"], buckets=_BUCKETS, registry=reg)  # fmt: skip
        self.cold_starts = Counter("onnx_lambda_cold_starts", "Cold starts (the handler's ColdStart)",
                                   ["model", "version"], registry=reg)  # fmt: skip
        self.model_load = Gauge("onnx_lambda_model_load_seconds", "Model load time of the last cold start",
                                ["model", "version"], registry=reg)  # fmt: skip
        self.inference = Histogram("onnx_lambda_inference_duration_seconds", "The handler's InferenceMs",
                                   ["model", "version"], buckets=_BUCKETS, registry=reg)  # fmt: skip
        self.handler_errors = Counter("onnx_lambda_handler_errors", "The handler's Errors by kind",
                                      ["model", "version", "kind"], registry=reg)  # fmt: skip
        self.drift = Gauge("onnx_lambda_drift", "Last value of every other handler metric (drift and shift)",
                           ["model", "version", "metric", "feature"], registry=reg)  # fmt: skip
        self._lock = threading.Lock()
        self._versions: dict[str, set[str]] = {}  # model → versions seen

    def _seen(self, model: str, version: str) -> None:
        with self._lock:
            self._versions.setdefault(model, set()).add(version)

    def _version_of(self, model: str) -> str:
        versions = self._versions.get(model)
        return next(iter(versions)) if versions is not None and len(versions) == 1 else ""

    def observe_request(self, path: str, status: int, seconds: float, body: bytes = b"") -> None:
        """One answered request (module doc); cheap: no JSON is parsed."""
        route, name = route_template(path)
        model, version = "", ""
        match = _V2_ANSWER.match(body[:512]) if body[:14] == b'{"model_name":' else None
        if match:
            model, version = match.group(1).decode(errors="replace"), match.group(2).decode(errors="replace")
            self._seen(model, version)
        elif name is not None:
            with self._lock:
                known = name in self._versions
                if not known and status < 400:
                    self._versions[name] = set()  # a 2xx proves the name is served; versions come with answers
                    known = True
                version = self._version_of(name) if known else ""
            model = name if known else "unknown"
        self.requests.labels(model, version, route, str(status)).inc()
        self.latency.labels(model, version, route).observe(seconds)

    def observe_output(self, line: str) -> None:
        """One line the function printed: an EMF document of the handler feeds the handler families."""
        if not line.startswith("{") or '"_aws"' not in line:
            return
        try:
            doc = json.loads(line)
            directives = doc["_aws"]["CloudWatchMetrics"]
        except (ValueError, KeyError, TypeError):
            return
        model, version = str(doc.get("model", "")), str(doc.get("version", ""))
        if model:
            self._seen(model, version)
        for directive in directives if isinstance(directives, list) else []:
            for metric in directive.get("Metrics", []):
                name = str(metric.get("Name", ""))
                value = _number(doc.get(name))
                if value is None:
                    continue
                if name == "ColdStart":
                    self.cold_starts.labels(model, version).inc(value)
                elif name == "ModelLoadMs":
                    self.model_load.labels(model, version).set(value / 1000.0)
                elif name == "InferenceMs":
                    self.inference.labels(model, version).observe(value / 1000.0)
                elif name == "Errors" and "kind" in doc:
                    self.handler_errors.labels(model, version, str(doc["kind"])).inc(value)
                elif name not in _REQUEST_METRICS:
                    extra = [f"{k}={doc[k]}" for dims in directive.get("Dimensions", []) for k in dims
                             if k not in _HANDLER_DIMS and k in doc]  # fmt: skip
                    feature = str(doc.get("feature", "")) if "feature" in doc else ",".join(extra)
                    self.drift.labels(model, version, name, feature).set(value)

    def exposition(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


def _number(value: Any) -> float | None:
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return None


def gateway_metrics() -> GatewayMetrics | None:
    """A GatewayMetrics, or None when prometheus_client is not installed (GET /metrics then says so)."""
    try:
        return GatewayMetrics()
    except ImportError:
        return None
