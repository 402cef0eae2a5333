"""The local cloud's process: AWS (moto, extended) + one API Gateway per deployed stage + runtimes.

    LocalCloud(state).start()
      ├── flock <state>/cloud.lock          one cloud per project; a second is refused, naming the first
      ├── EmulatorServer                    the AWS endpoint on 127.0.0.1 (state journaled under aws/)
      ├── control server                    GET /status, POST /refresh, POST /stop (127.0.0.1 only)
      └── refresh()                         after every change to AWS state (debounced), and on demand:
            REST APIs → stages → the Lambda integration of their routes (function:alias)
            → one local API Gateway per (api, stage), on the port it had before (ports.json)
            → the alias's version and additional version weights (what Lambda routes by)
            → a runtime per (function, version) that receives traffic (runtimes.py), started on
              its first request and closed when no alias sends it traffic any more

A request at a stage's URL picks a version by the alias's weights, as Lambda does, and runs it in
that version's own image. So push, rollback, canary and delete are observable from the URL: after
`rollback` the previous image answers; after `delete` the stage's gateway is closed.
<state>/cloud.json says where everything listens (pid, emulator_url, control_url); clients read it
(client.py). Everything binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from deployer.errors import LocalRuntimeError
from deployer.local.cloud.metrics import MetricStore
from deployer.local.cloud.shift import DEFAULT_TIME_SCALE
from deployer.local.cloud.runtimes import ImageStore, PulledImage, VersionSpec, model_info, start_runtime

__all__ = ["LocalCloud", "Route", "LOCAL_REGION", "LOCAL_CREDENTIAL", "main"]

HOST = "127.0.0.1"
LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIAL = "local-cloud"  # never a real key: the emulator accepts anything
INFO_FILE = "cloud.json"


class CloudBusy(LocalRuntimeError):
    """Another local cloud holds this project's state."""


@dataclass
class Route:
    """One deployed stage: where it listens and which function alias it invokes."""

    stack: str
    api_id: str
    stage: str
    function: str
    alias: str
    url: str = ""
    version: str = ""
    weights: dict[str, float] = field(default_factory=dict)  # additional versions → share of traffic
    timeout_s: int = 30

    def pick(self, draw: float) -> str:
        """The version for one request, by the alias's routing config (draw in [0, 1))."""
        edge = 0.0
        for version, weight in sorted(self.weights.items()):
            edge += weight
            if draw < edge:
                return version
        return self.version


class _Active:
    """A started runtime of one version and its invoke."""

    def __init__(self, spec: VersionSpec, pulled: PulledImage, runtime: Any, invoke: Callable[[bytes], tuple[int, bytes]]) -> None:
        self.spec, self.pulled, self.runtime, self.invoke = spec, pulled, runtime, invoke


class LocalCloud:
    def __init__(self, state: Path, *, port: int = 0, control_port: int = 0, output: Callable[[str], None] | None = None,
                 draw: Callable[[], float] = random.random, time_scale: float = DEFAULT_TIME_SCALE) -> None:  # fmt: skip
        self.state = Path(state)
        self.time_scale = time_scale
        self.deployments: list[dict[str, Any]] = []
        self.port, self.control_port = port, control_port
        self.output = output or (lambda line: print(line, file=sys.stderr, flush=True))
        self.draw = draw
        self._lock = threading.RLock()  # routes, gateways, runtimes
        self._routes: dict[tuple[str, str], Route] = {}
        self._gateways: dict[tuple[str, str], Any] = {}
        self._active: dict[tuple[str, str], _Active] = {}
        self._starting: dict[tuple[str, str], threading.Lock] = {}
        self._changed = threading.Event()
        self._stopped = threading.Event()
        self._lockfile: Any = None
        self.server: Any = None
        self.control: ThreadingHTTPServer | None = None
        self.images: ImageStore | None = None
        self._clients: dict[str, Any] = {}
        self.metrics = MetricStore()
        self.telemetry: Any = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalCloud:
        self.state.mkdir(parents=True, exist_ok=True)
        self._lockfile = open(self.state / "cloud.lock", "a+")
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            other = _read_info(self.state)
            self._lockfile.close()
            where = f" (pid {other.get('pid')}, AWS endpoint {other.get('emulator_url')})" if other else ""
            raise CloudBusy(f"a local cloud already runs for this project{where}; `python -m deployer local down` "
                            "stops it") from exc
        from deployer.local.cloud.emulator import EmulatorServer

        try:
            from deployer.local.cloud.emulator import traffic

            self.server = EmulatorServer(port=self.port, state_dir=self.state / "aws", on_change=self._changed.set)
            self.server.on_replay(traffic.REPLAY_KIND, traffic.replayed)
            self.server.start()
            self._install_shifter()
            from deployer.local.cloud.emulator import ACCOUNT_ID
            from deployer.local.cloud.telemetry import Telemetry

            self.telemetry = Telemetry(account=ACCOUNT_ID, region=LOCAL_REGION, lock=self.server.lock,
                                       say=self.output).start()  # fmt: skip
            self.metrics.sink = self.telemetry.point
        except OSError as exc:
            self._release()
            raise LocalRuntimeError(f"cannot listen on {HOST}:{self.port} for the local cloud's AWS endpoint: "
                                    f"{exc.strerror or exc}; choose another --port, or 0 for a free one") from exc
        self.images = ImageStore(self.server, self.state / "images")
        self.control = _control_server(self, self.control_port)
        threading.Thread(target=self.control.serve_forever, name="cloud-control", daemon=True).start()
        self.refresh()
        threading.Thread(target=self._refresher, name="cloud-refresh", daemon=True).start()
        threading.Thread(target=self._alarm_loop, name="cloud-alarms", daemon=True).start()
        info = {"pid": os.getpid(), "emulator_url": self.server.url, "control_url": self.control_url,
                "region": LOCAL_REGION, "started": time.time()}  # fmt: skip
        _write_json(self.state / INFO_FILE, info)
        self.output(f"[cloud] AWS endpoint {self.server.url}, control {self.control_url}")
        return self

    @property
    def control_url(self) -> str:
        assert self.control is not None
        return f"http://{HOST}:{self.control.server_address[1]}"

    def wait(self) -> None:
        while not self._stopped.wait(0.5):
            pass

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        from deployer.local.cloud.emulator import traffic

        traffic.set_shifter(None)
        with self._lock:
            for gateway in self._gateways.values():
                gateway.close()
            self._gateways.clear()
            for active in self._active.values():
                active.runtime.close()
            self._active.clear()
        if self.telemetry is not None:
            self.telemetry.close()
        if self.control is not None:
            self.control.shutdown()
            self.control.server_close()
        if self.server is not None:
            self.server.stop()
        try:
            (self.state / INFO_FILE).unlink()
        except OSError:
            pass
        self._release()

    def _release(self) -> None:
        if self._lockfile is not None:
            fcntl.flock(self._lockfile, fcntl.LOCK_UN)
            self._lockfile.close()
            self._lockfile = None

    # ------------------------------------------------------------------ AWS state → routes

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = boto3.session.Session(
                aws_access_key_id=LOCAL_CREDENTIAL, aws_secret_access_key=LOCAL_CREDENTIAL, region_name=LOCAL_REGION
            ).client(service, endpoint_url=self.server.url)
        return self._clients[service]

    def _refresher(self) -> None:
        while not self._stopped.is_set():
            if self._changed.wait(0.5):
                time.sleep(0.05)  # a push makes many calls in a row: refresh once they settle
                self._changed.clear()
                try:
                    self.refresh()
                except Exception as exc:  # noqa: BLE001 - a refresh failure must not stop the cloud; said in its log
                    self.output(f"[cloud] refresh failed: {type(exc).__name__}: {exc}")

    def refresh(self) -> list[Route]:
        """Routes from the AWS state; gateways and runtimes made to match (module doc)."""
        routes = {(r.api_id, r.stage): r for r in self._read_routes()}
        with self._lock:
            ports = _read_json(self.state / "ports.json")
            for key in list(self._gateways):
                if key not in routes:
                    self._gateways.pop(key).close()
                    self.output(f"[cloud] {key[0]}/{key[1]}: stage gone, its gateway closed")
            for key, route in routes.items():
                if key not in self._gateways:
                    self._gateways[key] = self._open_gateway(route, ports.get(f"{key[0]}/{key[1]}", 0))
                    ports[f"{key[0]}/{key[1]}"] = self._gateways[key].port
                route.url = self._gateways[key].url + "/"
            _write_json(self.state / "ports.json", ports)
            self._routes = routes
            wanted = {(r.function, v) for r in routes.values() for v in [r.version, *r.weights]}
            for key in [k for k in self._active if k not in wanted]:
                self._active.pop(key).runtime.close()
        return list(routes.values())

    def _open_gateway(self, route: Route, port: int) -> Any:
        from deployer.local import Gateway

        key = (route.api_id, route.stage)

        def invoke(payload: bytes) -> tuple[int, bytes]:
            return self.invoke(key, payload)

        try:
            gateway = Gateway(invoke=invoke, timeout_s=route.timeout_s, port=port, log=self.output)
        except LocalRuntimeError:
            if not port:
                raise
            self.output(f"[cloud] port {port} of {route.stack} is taken now: it moves to a new port")
            gateway = Gateway(invoke=invoke, timeout_s=route.timeout_s, port=0, log=self.output)
        gateway.start()
        return gateway

    def _read_routes(self) -> list[Route]:
        apigw, lam, cfn = self._client("apigateway"), self._client("lambda"), self._client("cloudformation")
        owners: dict[str, str] = {}
        for page in cfn.get_paginator("describe_stacks").paginate():
            for stack in page["Stacks"]:
                if stack["StackStatus"] in ("DELETE_COMPLETE", "ROLLBACK_COMPLETE"):
                    continue
                for resource in cfn.describe_stack_resources(StackName=stack["StackName"])["StackResources"]:
                    if resource.get("ResourceType") == "AWS::ApiGateway::RestApi":
                        owners[resource.get("PhysicalResourceId", "")] = stack["StackName"]
        routes: list[Route] = []
        for page in apigw.get_paginator("get_rest_apis").paginate():
            for api in page.get("items", []):
                target = _integration_target(apigw, api["id"])
                if target is None:
                    continue
                function, alias = target
                for stage in apigw.get_stages(restApiId=api["id"]).get("item", []):
                    route = Route(owners.get(api["id"], api.get("name", "")), api["id"], stage["stageName"], function, alias)
                    try:
                        found = lam.get_alias(FunctionName=function, Name=alias)
                        route.version = found["FunctionVersion"]
                        weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
                        route.weights = {str(k): float(v) for k, v in weights.items()}
                        conf = lam.get_function_configuration(FunctionName=function, Qualifier=route.version)
                        route.timeout_s = int(conf.get("Timeout") or 30)
                    except lam.exceptions.ResourceNotFoundException:
                        continue  # an API whose function is gone serves nothing
                    routes.append(route)
        return routes

    # ------------------------------------------------------------------ requests

    def invoke(self, key: tuple[str, str], payload: bytes) -> tuple[int, bytes]:
        """One request of a stage: a version by the alias's weights, run, and Lambda's metrics recorded."""
        with self._lock:
            route = self._routes.get(key)
        if route is None:
            raise LocalRuntimeError("this stage is being removed")
        version = route.pick(self.draw())
        started = time.perf_counter()
        error = True
        try:
            status, answer = self._runtime(route.function, version).invoke(payload)
            error = status != 200 or _function_error(answer)
            return status, answer
        except LocalRuntimeError as exc:
            from deployer.local import Throttled

            if isinstance(exc, Throttled):
                self.metrics.invocation(route.function, route.alias, version, error=False, duration_ms=0, throttled=True)
                error = False
                started = -1.0
            raise
        finally:
            if started >= 0:
                self.metrics.invocation(route.function, route.alias, version, error=error,
                                        duration_ms=(time.perf_counter() - started) * 1000.0)  # fmt: skip

    def _runtime(self, function: str, version: str) -> _Active:
        key = (function, version)
        with self._lock:
            if key in self._active:
                return self._active[key]
            starting = self._starting.setdefault(key, threading.Lock())
        with starting:  # one start per version, however many requests arrive at once
            with self._lock:
                if key in self._active:
                    return self._active[key]
            spec = self.version_spec(function, version)
            assert self.images is not None
            pulled = self.images.pull(spec.repository, spec.reference)
            self.output(f"[cloud] {function}:{version}: starting {pulled.kind} image {pulled.digest[:19]}")
            runtime, call = start_runtime(spec, pulled, self.images, self._function_output(function, version))
            active = _Active(spec, pulled, runtime, call)
            with self._lock:
                self._active[key] = active
            return active

    def _function_output(self, function: str, version: str) -> Callable[[str], None]:
        prefix = f"[{function}:{version}] "
        stream = f"{time.strftime('%Y/%m/%d', time.gmtime())}/[{version}]{os.urandom(16).hex()}"  # as Lambda names them

        def sink(line: str) -> None:
            if self.telemetry is not None:
                self.telemetry.line(function, stream, line)
            with self._lock:  # each stage serving this function counts its EMF lines for GET /metrics
                gateways = [self._gateways[k] for k, r in self._routes.items() if r.function == function and k in self._gateways]
            for gateway in gateways:
                gateway.observe_output(line)
            if not self.metrics.record_emf(line):  # EMF lines become metrics, as CloudWatch Logs makes them
                self.output(prefix + line)

        return sink

    def version_spec(self, function: str, version: str) -> VersionSpec:
        """Lambda's configuration of one version, read in this process (a traffic shift runs inside a
        request the AWS endpoint is still answering: a call over HTTP would wait for itself)."""
        from moto.awslambda.models import lambda_backends

        from deployer.local.cloud.emulator import ACCOUNT_ID

        found = lambda_backends[ACCOUNT_ID][LOCAL_REGION].get_function(function, version)
        reserved = getattr(found, "reserved_concurrency", None)
        return VersionSpec(
            function=function, version=version, image_uri=str(found.code.get("ImageUri", "")),
            environment={str(k): str(v) for k, v in (found.environment_vars or {}).items()},
            timeout_s=int(found.timeout or 30), memory_mb=int(found.memory_size or 1024),
            concurrency=int(reserved) if reserved else None,
        )  # fmt: skip

    # ------------------------------------------------------------------ alarms

    def _alarm_loop(self) -> None:
        """Every alarm of every stack, evaluated on the local metrics once per scaled second and its state
        set in CloudWatch when it changes (DescribeAlarms, the dashboard and `status` read it), as
        CloudWatch evaluates alarms on its own, not only during deployments."""
        while not self._stopped.wait(max(0.2, 60.0 / self.time_scale / 4)):
            try:
                self.evaluate_alarms()
            except Exception as exc:  # noqa: BLE001 - an evaluation bug must not stop the cloud; said in its log
                self.output(f"[cloud] alarm evaluation failed: {type(exc).__name__}: {exc}")

    def evaluate_alarms(self) -> dict[str, str]:
        from moto.cloudwatch.models import cloudwatch_backends

        from deployer.local.cloud.emulator import ACCOUNT_ID, traffic
        from deployer.local.cloud.metrics import evaluate_alarm

        states: dict[str, str] = {}
        backend = cloudwatch_backends[ACCOUNT_ID][LOCAL_REGION]
        for props in traffic.alarms(ACCOUNT_ID, LOCAL_REGION):
            state = evaluate_alarm(props, self.metrics, time_scale=self.time_scale)
            states[state.name] = state.state
            with self.server.lock:
                alarm = backend.alarms.get(state.name)
                ours = str(getattr(alarm, "state_reason", "")).startswith("local evaluation")
                if alarm is not None and (alarm.state_value != state.state or not ours):
                    backend.set_alarm_state(state.name, f"local evaluation: {state.reason}", "{}", state.state)
                    self.output(f"[cloud] alarm {state.name}: {state.state} ({state.reason})")
        return states

    # ------------------------------------------------------------------ deployments

    def _install_shifter(self) -> None:
        from deployer.local.cloud.emulator import traffic
        from deployer.local.cloud.shift import Shifter

        shifter = Shifter(golden=self.golden_check, set_weights=self.set_weights, metrics=self.metrics,
                          time_scale=self.time_scale, say=self.output)  # fmt: skip

        def run(request: Any) -> dict[str, Any]:
            try:
                outcome = shifter(request)
            except traffic.ShiftFailed as exc:
                outcome = {"outcome": "failed", "reason": str(exc)}
            except Exception as exc:  # noqa: BLE001 - a bug here must fail the deployment, not the cloud
                outcome = {"outcome": "failed", "reason": f"the local deployment crashed: {type(exc).__name__}: {exc}"}
            self.output(f"[deploy] {request.function}:{request.alias} -> {request.to_version}: {outcome['outcome']}"
                        + (f": {outcome['reason']}" if outcome.get("reason") else ""))  # fmt: skip
            self.deployments.append({"function": request.function, "alias": request.alias, "from": request.from_version,
                                     "to": request.to_version, "config": request.config_name, **outcome,
                                     "at": time.time()})  # fmt: skip
            self.server.record(traffic.REPLAY_KIND, {"key": request.key, **outcome})
            return outcome

        traffic.set_shifter(run)

    def set_weights(self, request: Any, weights: dict[str, float]) -> None:
        """The alias's additional version weights, in Lambda (status shows them) and in the routes."""
        from moto.awslambda.models import lambda_backends

        from deployer.local.cloud.emulator import ACCOUNT_ID

        backend = lambda_backends[ACCOUNT_ID][LOCAL_REGION]
        alias = backend.get_alias(request.alias, request.function)
        routing = {"AdditionalVersionWeights": dict(weights)}  # {} clears them (None would keep moto's)
        backend.update_alias(request.alias, request.function, request.from_version, alias.description, routing)
        with self._lock:
            for route in self._routes.values():
                if route.function == request.function and route.alias == request.alias:
                    route.version, route.weights = request.from_version, dict(weights)

    def golden_check(self, request: Any) -> str:
        """The new version's golden set through its own runtime, before any traffic (functions/golden.py)."""
        from deployer.local.cloud.emulator.traffic import ShiftFailed
        from functions import golden as gold

        new = self._runtime(request.function, request.to_version)
        golden = new.pulled.golden
        if golden is None:
            return "no golden set (the manifest has no sample): nothing compared"
        body = gold.request_body(golden, new.pulled.model)
        path = f"/v2/models/{new.pulled.model.get('name', 'model')}/infer"
        answer = self._direct(new, path, body)
        reference = None
        if golden.get("compare") == "live":
            reference = gold.outputs_of(self._direct(self._runtime(request.function, request.from_version), path, body))
        rows = len(next(iter(golden["inputs"].values()), []))
        differences = gold.check(golden, gold.outputs_of(answer), reference)
        if differences:
            against = f"the live version {request.from_version}" if reference is not None else "the expected outputs"
            raise ShiftFailed(f"golden set ({golden.get('source', 'golden.json')}) of version {request.to_version} "
                              f"against {against}: {gold.describe(differences, rows)}; no traffic moved")  # fmt: skip
        return f"{rows} row(s) match ({golden.get('source', 'golden.json')})"

    def _direct(self, active: _Active, path: str, body: bytes) -> bytes:
        """One API Gateway request to a version's runtime (not through the alias): the answer's body."""
        from deployer.local._events import build_event
        from deployer.local.cloud.emulator.traffic import ShiftFailed

        event = build_event(method="POST", target=path, headers=[("Content-Type", "application/json")], body=body,
                            source_ip="127.0.0.1", request_id=f"golden-{time.monotonic_ns()}", now=time.time())  # fmt: skip
        status, answer = active.invoke(json.dumps(event).encode())
        try:
            reply = json.loads(answer)
            text = reply.get("body") or ""
            data = base64.b64decode(text) if reply.get("isBase64Encoded") else text.encode()
            code = int(reply.get("statusCode", status))
        except (ValueError, TypeError, AttributeError) as exc:
            raise ShiftFailed(f"version {active.spec.version} did not answer the golden set with an HTTP response: "
                              f"{answer[:200]!r}") from exc  # fmt: skip
        if code != 200:
            raise ShiftFailed(f"version {active.spec.version} answered the golden set with {code}: "
                              f"{data[:300].decode('utf-8', 'replace')}; no traffic moved")  # fmt: skip
        return data

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        with self._lock:
            routes = list(self._routes.values())
        stacks = []
        for route in routes:
            versions = []
            for version, weight in [(route.version, 1.0 - sum(route.weights.values())), *sorted(route.weights.items())]:
                entry: dict[str, Any] = {"version": version, "weight": round(weight, 4)}
                try:
                    spec = self.version_spec(route.function, version)
                    assert self.images is not None
                    pulled = self.images.pull(spec.repository, spec.reference)
                    entry.update({"image_uri": spec.image_uri, "image_digest": pulled.digest, "image_kind": pulled.kind,
                                  **model_info(pulled.model)})  # fmt: skip
                except Exception as exc:  # noqa: BLE001 - status reports what it cannot read
                    entry["error"] = f"{type(exc).__name__}: {exc}"
                versions.append(entry)
            stacks.append({"stack": route.stack, "url": route.url, "api_id": route.api_id, "stage": route.stage,
                           "function": route.function, "alias": route.alias, "versions": versions})  # fmt: skip
        return {"pid": os.getpid(), "emulator_url": self.server.url, "control_url": self.control_url,
                "region": LOCAL_REGION, "state": str(self.state), "time_scale": self.time_scale, "stacks": stacks,
                "deployments": self.deployments[-20:]}  # fmt: skip


def _function_error(answer: bytes) -> bool:
    """Whether the runtime reported a function error (an exception, a timeout) rather than a response."""
    head = answer[:200]
    return head.startswith(b"{") and b'"errorType"' in answer[:4096] and b'"statusCode"' not in head


def _integration_target(apigw: Any, api_id: str) -> tuple[str, str] | None:
    """(function, alias) the API's Lambda proxy integrations invoke, from their URIs."""
    for page in apigw.get_paginator("get_resources").paginate(restApiId=api_id, embed=["methods"]):
        for resource in page.get("items", []):
            for method in (resource.get("resourceMethods") or {}).values():
                uri = ((method or {}).get("methodIntegration") or {}).get("uri", "")
                parsed = _function_of(uri)
                if parsed:
                    return parsed
                for verb in (resource.get("resourceMethods") or {}):
                    try:
                        integration = apigw.get_integration(restApiId=api_id, resourceId=resource["id"], httpMethod=verb)
                    except Exception:  # noqa: BLE001 - a method without integration
                        continue
                    parsed = _function_of(integration.get("uri", ""))
                    if parsed:
                        return parsed
    return None


def _function_of(uri: str) -> tuple[str, str] | None:
    """`...:function:NAME:ALIAS/invocations` → (NAME, ALIAS); the alias defaults to $LATEST."""
    if ":function:" not in uri:
        return None
    tail = uri.split(":function:", 1)[1].split("/", 1)[0]
    name, _, qualifier = tail.partition(":")
    return name, qualifier or "$LATEST"


# ---------------------------------------------------------------------- control server


def _control_server(cloud: LocalCloud, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, doc: Any) -> None:
            body = json.dumps(doc).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/status":
                self._answer(200, cloud.status())
            else:
                self._answer(404, {"error": f"no route {self.path}"})

        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/refresh":
                try:
                    cloud.refresh()
                except Exception as exc:  # noqa: BLE001 - said to the caller
                    self._answer(500, {"error": f"refresh failed: {type(exc).__name__}: {exc}"})
                    return
                self._answer(200, cloud.status())
            elif self.path == "/stop":
                self._answer(200, {"stopping": True})
                threading.Thread(target=cloud.stop, daemon=True).start()
            else:
                self._answer(404, {"error": f"no route {self.path}"})

    server = ThreadingHTTPServer((HOST, port), Handler)
    server.daemon_threads = True
    return server


# ---------------------------------------------------------------------- files


def _read_json(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _read_info(state: Path) -> dict[str, Any]:
    return _read_json(state / INFO_FILE)


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    temp = path.with_suffix(f".{os.getpid()}.tmp")
    temp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(temp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployer.local.cloud", description="Run a project's local cloud.")
    parser.add_argument("--state", required=True, type=Path, help="the project's .deployer/cloud folder")
    parser.add_argument("--port", type=int, default=0, help="the AWS endpoint's port (0: a free one)")
    parser.add_argument("--time-scale", type=float, default=DEFAULT_TIME_SCALE,
                        help="how much faster than real time traffic shifts and alarm periods run")
    args = parser.parse_args(argv)
    cloud = LocalCloud(args.state, port=args.port, time_scale=args.time_scale)
    try:
        cloud.start()
    except LocalRuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    signal.signal(signal.SIGTERM, lambda signum, frame: threading.Thread(target=cloud.stop, daemon=True).start())
    try:
        cloud.wait()
    except KeyboardInterrupt:
        cloud.stop()
    return 0
