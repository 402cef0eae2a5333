"""Section 3: warm invoke latency through the local runtime, and `sam local invoke`.

``deployer.local.LocalEndpoint`` (Runtime Interface Emulator + awslambdaric behind an API
Gateway emulation on 127.0.0.1) is timed from the client's side: start-up (``__enter__``), the
first request (cold: the handler's import and model load happen behind it, or before it if the
endpoint pre-warms), then warm requests.

``sam local invoke`` runs one container per invoke; it needs a Docker daemon and a function
image whose CMD is ``functions.app.handler``. With ``--sam-image`` the bench derives one image
per model from it with the bench model inside; without, it builds its own from the stand-in
base image (bench/sam_image.py). Without Docker or a base image the column says "not measured"
and why.

The local loop (``run_loop``, issue 12's target) is what a user runs, side by side with SAM on
the same model, image and event, in alternation (the order rotating every round):

- *invoke*: ``python -m deployer invoke MODEL -d @body`` (a fresh process: the CLI, the RIE on
  the host, the runtime's init, the request, the stop) against ``sam local invoke`` of the image
  ``python -m deployer build MODEL --base-image <stand-in>`` built, with the API Gateway event
  of the same body. Wall time of each command, spawn to exit.
- *served*: one request (a new TCP connection each, as curl makes) to a running ``python -m
  deployer serve MODEL``, against ``sam local start-api`` on the same image, both started and
  warmed before the rounds, in two modes of SAM's: its default (what a plain ``sam local
  start-api`` gives: a new container for every request) and ``--warm-containers EAGER`` (one
  container kept; its warm request is ~20 ms, mostly SAM's own Flask proxy and Docker hop). Each
  mode is its own phase with its own paired rounds; the default mode's are fewer (~1-2 s each).

SAM runs without AWS credentials in its environment (it calls STS otherwise) and without
telemetry. The model is examples/iris/model: the loop's cost, not the model's, is measured.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["run_local", "run_sam", "run_loop", "docker_status"]

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOP_MODEL = REPO_ROOT / "examples" / "iris" / "model"
_READY_S = 120.0
_DEFAULT_MODE_PAIRS = 12  # SAM's default mode starts a container per request: ~1-2 s each
EAGER = "sam local start-api --warm-containers EAGER"


def run_local(model_dirs: dict[str, Path], kinds: dict[str, str], warm: dict[str, int],
              log=print) -> dict[str, Any]:
    import numpy as np

    from bench.events import make_body, infer_path, response_output, sample_input

    try:
        from deployer.local import LocalEndpoint  # type: ignore[attr-defined]
    except ImportError as exc:
        return {"error": f"not measured: deployer.local.LocalEndpoint is not importable ({exc})"}

    out: dict[str, Any] = {}
    for model, folder in model_dirs.items():
        manifest = json.loads((folder / "manifest.json").read_text())
        shape = tuple(1 if d == -1 else d for d in manifest["inputs"][0]["shape"])
        x = sample_input(shape)
        kind = kinds[model]
        body, headers = make_body(kind, x)
        path = infer_path(kind, manifest["name"])
        log(f"  local endpoint {model}: {kind}, 1 cold + {warm[model]} warm requests ...")
        entry: dict[str, Any] = {"kind": kind, "body_bytes": len(body)}
        try:
            t0 = time.perf_counter_ns()
            with LocalEndpoint(Path(folder), port=0) as ep:
                t1 = time.perf_counter_ns()
                resp = ep.request("POST", path, body, headers)
                t2 = time.perf_counter_ns()
                entry["enter_ms"] = (t1 - t0) / 1e6
                entry["first_ms"] = (t2 - t1) / 1e6
                entry["first_status"] = resp.status
                if resp.status != 200:
                    entry["error"] = f"first request: HTTP {resp.status}: {bytes(resp.body)[:300]!r}"
                    out[model] = entry
                    continue
                got = response_output({"body": resp.body, "isBase64Encoded": False})
                entry["output_ok"] = got is not None and bool(np.isfinite(got).all())
                ns: list[int] = []
                statuses: set[int] = set()
                for _ in range(warm[model]):
                    a = time.perf_counter_ns()
                    r = ep.request("POST", path, body, headers)
                    ns.append(time.perf_counter_ns() - a)
                    statuses.add(r.status)
                entry["warm_ns"] = ns
                entry["warm_statuses"] = sorted(statuses)
                t3 = time.perf_counter_ns()
            entry["exit_ms"] = (time.perf_counter_ns() - t3) / 1e6
        except Exception as exc:  # report, don't hide: the column says what went wrong
            entry["error"] = f"{type(exc).__name__}: {exc}"
        out[model] = entry
    return out


def docker_status() -> tuple[bool, str]:
    docker = shutil.which("docker")
    if not docker:
        return False, "the docker CLI is not installed"
    try:
        proc = subprocess.run([docker, "info", "--format", "{{.ServerVersion}}"],
                              capture_output=True, timeout=15)
    except subprocess.TimeoutExpired:
        return False, "`docker info` did not answer in 15 s"
    if proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        return False, f"`docker info` failed: {msg[-1] if msg else proc.returncode}"
    return True, f"Docker server {proc.stdout.decode().strip()}"


def _sam_bin() -> str | None:
    here = Path(sys.executable).parent / "sam"
    return str(here) if here.exists() else shutil.which("sam")


def _derived_image(image: str, model: str, folder: Path, log=print) -> tuple[str | None, str]:
    """`image` with the bench model copied in and MODEL_PATH pointing at it (docker build,
    no network: the base is local)."""
    tag = f"onnx-lambda-bench/{model}:{json.loads((folder / 'manifest.json').read_text())['version']}"
    with tempfile.TemporaryDirectory(prefix="bench-img-") as tmp:
        ctx = Path(tmp)
        shutil.copytree(folder, ctx / "model")
        (ctx / "Dockerfile").write_text(
            f"FROM {image}\nCOPY model/ /opt/bench-model/\nENV MODEL_PATH=/opt/bench-model\n")
        log(f"  docker build {tag} (FROM {image}) ...")
        p = subprocess.run(["docker", "build", "--network", "none", "-q", "-t", tag, str(ctx)],
                           capture_output=True, timeout=600)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace")[-500:]
    return tag, ""


def run_sam(model_dirs: dict[str, Path], image: str | None, runs: int, log=print) -> dict[str, Any]:
    """Time `sam local invoke` of a function image, or say why it was not measured.

    `image` is a function image of this project (CMD functions.app.handler); the bench derives
    one image per model from it with the bench's model folder inside, so the invoke runs the
    same model as the other sections.
    """
    from bench.events import make_event, sample_input

    sam = _sam_bin()
    if not sam:
        return {"error": "not measured: the `sam` CLI is not installed (aws-sam-cli)"}
    ok, why = docker_status()
    if not ok:
        return {"error": f"not measured: {why}"}
    if image:
        proc = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
        if proc.returncode != 0:
            return {"error": f"not measured: image {image!r} is not in the local Docker store"}
        out: dict[str, Any] = {"image": image, "how": f"{image} + the bench model (--sam-image)"}
    else:
        from bench.sam_image import build_function_image, find_base_image

        base, py = find_base_image()
        if base is None:
            return {"error": f"not measured: {py}"}
        out = {"image": base, "how": f"bench-built image: {base} (Python {py}) + run-time wheels "
                                     "+ functions/ + the bench model (bench/sam_image.py)"}
    for model, folder in model_dirs.items():
        if image:
            tag, err = _derived_image(image, model, folder, log)
        else:
            try:
                tag, err = build_function_image(base, py, model, folder, log)
            except subprocess.CalledProcessError as exc:
                tag, err = None, f"pip download failed: {exc.stderr.decode(errors='replace')[-300:]}"
        if tag is None:
            out[model] = {"ns": [], "errors": [f"docker build failed: {err}"]}
            continue
        manifest = json.loads((folder / "manifest.json").read_text())
        shape = tuple(1 if d == -1 else d for d in manifest["inputs"][0]["shape"])
        event = make_event("v2-json" if model == "mlp" else "v2-binary", manifest["name"],
                           sample_input(shape))
        with tempfile.TemporaryDirectory(prefix="bench-sam-") as tmp:
            work = Path(tmp)
            (work / "event.json").write_text(json.dumps(event))
            (work / "template.yaml").write_text(
                "AWSTemplateFormatVersion: '2010-09-09'\n"
                "Transform: AWS::Serverless-2016-10-31\n"
                "Resources:\n"
                "  Fn:\n"
                "    Type: AWS::Serverless::Function\n"
                "    Properties:\n"
                "      PackageType: Image\n"
                f"      ImageUri: {tag}\n"
                "      MemorySize: 3008\n"
                "      Timeout: 60\n")
            cmd = [sam, "local", "invoke", "Fn", "-t", str(work / "template.yaml"),
                   "-e", str(work / "event.json"), "--skip-pull-image",
                   "--container-host", "127.0.0.1", "--container-host-interface", "127.0.0.1"]
            log(f"  sam local invoke {model}: {runs} invokes (+1 warm-up) ...")
            ns: list[int] = []
            errors: list[str] = []
            for i in range(runs + 1):
                t0 = time.perf_counter_ns()
                p = subprocess.run(cmd, capture_output=True, timeout=300, cwd=work,
                                   env={**os.environ, "SAM_CLI_TELEMETRY": "0"})
                dt = time.perf_counter_ns() - t0
                text = p.stdout.decode(errors="replace").replace(" ", "")
                if p.returncode == 0 and '"statusCode":200' in text:
                    if i:
                        ns.append(dt)
                else:
                    errors.append(f"exit {p.returncode}: "
                                  f"{(p.stdout + p.stderr).decode(errors='replace')[-400:]}")
            out[model] = {"ns": ns, "errors": errors[:3], "derived_image": tag}
    return out


# --------------------------------------------------------------------------- the local loop vs SAM

def _no_aws_env() -> dict[str, str]:
    """The environment without AWS_* (SAM calls STS when it finds credentials) and no telemetry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def deployer_image(folder: Path, base: str, log=print) -> tuple[str | None, str]:
    """`python -m deployer build FOLDER --base-image BASE` (cached by the deployer): (tag, "") or (None, why)."""
    out = REPO_ROOT / "bench" / ".models" / "deployer-build" / folder.name
    log(f"  python -m deployer build {folder.relative_to(REPO_ROOT)} --base-image {base} ...")
    p = subprocess.run([sys.executable, "-m", "deployer", "build", str(folder), "--base-image", base,
                        "--out", str(out), "--json"], capture_output=True, cwd=REPO_ROOT,
                       env=_no_aws_env(), timeout=1800)
    try:
        return str(json.loads(p.stdout)["image"]), ""
    except (ValueError, KeyError):
        return None, (p.stdout + p.stderr).decode(errors="replace")[-600:]


def _template(image: str) -> str:
    return ("AWSTemplateFormatVersion: '2010-09-09'\n"
            "Transform: AWS::Serverless-2016-10-31\n"
            "Resources:\n"
            "  Fn:\n"
            "    Type: AWS::Serverless::Function\n"
            "    Properties:\n"
            "      PackageType: Image\n"
            f"      ImageUri: {image}\n"
            "      MemorySize: 1024\n"   # deployer serve/invoke's default
            "      Timeout: 30\n"
            "      Events:\n"
            "        Api:\n"
            "          Type: Api\n"
            "          Properties:\n"
            "            Path: /{proxy+}\n"
            "            Method: ANY\n")


def _timed(cmd: list[str], cwd: Path, env: dict[str, str], ok) -> tuple[int | None, str]:
    t0 = time.perf_counter_ns()
    p = subprocess.run(cmd, capture_output=True, cwd=cwd, env=env, timeout=300)
    dt = time.perf_counter_ns() - t0
    out = p.stdout.decode(errors="replace")
    if p.returncode == 0 and ok(out):
        return dt, ""
    return None, f"exit {p.returncode}: {(p.stdout + p.stderr).decode(errors='replace')[-400:]}"


def _endpoint_once(folder: Path, path: str, body: bytes) -> tuple[int | None, str]:
    from deployer.local import LocalEndpoint

    t0 = time.perf_counter_ns()
    try:  # as `deployer invoke` makes it: no /metrics on a one-shot endpoint
        with LocalEndpoint(folder, port=0, output=lambda line: None, metrics=False) as ep:
            status = ep.request("POST", path, body, {"Content-Type": "application/json"}).status
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"
    dt = time.perf_counter_ns() - t0
    return (dt, "") if status == 200 else (None, f"HTTP {status}")


def _post(port: int, path: str, body: bytes) -> tuple[int, int]:
    """(ns, status) of one POST on a new connection, as curl makes it."""
    import http.client

    t0 = time.perf_counter_ns()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        status = resp.status
    finally:
        conn.close()
    return time.perf_counter_ns() - t0, status


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen, sig: int) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _wait_served(port: int, path: str, body: bytes, proc: subprocess.Popen) -> float:
    """Seconds until the first 200 (the cold request included), or raise."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < _READY_S:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before serving")
        try:
            if _post(port, path, body)[1] == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"no 200 within {_READY_S:.0f} s")


def run_loop(rounds: int, served_pairs: int, log=print) -> dict[str, Any]:
    """The local loop against SAM (module docstring): invoke rounds, then served pairs."""
    import signal

    import numpy as np

    from bench.events import make_body, make_event
    from bench.sam_image import find_base_image

    sam = _sam_bin()
    if not sam:
        return {"error": "not measured: the `sam` CLI is not installed (aws-sam-cli)"}
    ok, why = docker_status()
    if not ok:
        return {"error": f"not measured: {why} (start it: infra/dockerd/start)"}
    base, py = find_base_image()
    if base is None:
        return {"error": f"not measured: {py} (infra/standin-base/build)"}
    folder = LOOP_MODEL
    manifest = json.loads((folder / "manifest.json").read_text())
    image, err = deployer_image(folder, base, log)
    if image is None:
        return {"error": f"not measured: python -m deployer build failed: {err}"}
    name, input_name = manifest["name"], manifest["inputs"][0]["name"]
    x = np.array([[5.1, 3.5, 1.4, 0.2]], dtype=np.float32)  # the manifest's sample row of iris
    body, _ = make_body("v2-json", x, input_name)
    path = f"/v2/models/{name}/infer"
    env = _no_aws_env()
    out: dict[str, Any] = {"image": image, "base": base, "model": str(folder.relative_to(REPO_ROOT)),
                           "body_bytes": len(body)}
    with tempfile.TemporaryDirectory(prefix="bench-loop-") as tmp:
        work = Path(tmp)
        (work / "body.json").write_bytes(body)
        (work / "event.json").write_text(json.dumps(make_event("v2-json", name, x, input_name)))
        (work / "template.yaml").write_text(_template(image))
        ours = [sys.executable, "-m", "deployer", "invoke", str(folder), "-d", f"@{work / 'body.json'}", "--json"]
        theirs = [sam, "local", "invoke", "Fn", "-t", str(work / "template.yaml"), "-e",
                  str(work / "event.json"), "--skip-pull-image", "--container-host", "127.0.0.1",
                  "--container-host-interface", "127.0.0.1"]
        variants: dict[str, Any] = {
            "deployer invoke": lambda: _timed(ours, REPO_ROOT, env, lambda o: '"status": 200' in o),
            "sam local invoke": lambda: _timed(theirs, REPO_ROOT, env,
                                               lambda o: '"statusCode":200' in o.replace(" ", "")),
            # what of ours is the runtime, not the CLI process: start, init + request, stop
            "LocalEndpoint in-process": lambda: _endpoint_once(folder, path, body),
            # and what the CLI process costs before it does anything: the interpreter, the CLI, the engine
            "python alone": lambda: _timed([sys.executable, "-c", "pass"], REPO_ROOT, env, lambda o: True),
            "CLI imports alone": lambda: _timed([sys.executable, "-c", "import deployer.cli"], REPO_ROOT, env,
                                                lambda o: True),
            "CLI + local runtime imports": lambda: _timed(
                [sys.executable, "-c", "import deployer.cli, deployer.local"], REPO_ROOT, env, lambda o: True),
        }
        log(f"  invoke: {rounds} rounds of `python -m deployer invoke`, `sam local invoke` ({image}) and "
            "LocalEndpoint in-process, alternating, + 1 warm-up each ...")
        samples: dict[str, list[int]] = {k: [] for k in variants}
        errors: list[str] = []
        for r in range(rounds + 1):
            order = list(variants)
            order = order[r % len(order):] + order[:r % len(order)]  # rotate the order every round
            got: dict[str, int | None] = {}
            for key in order:
                got[key], e = variants[key]()
                if e:
                    errors.append(f"{key}: {e}")
            if r and all(got.values()):
                for key, ns in got.items():
                    samples[key].append(ns)
        out["invoke"] = {"samples": samples, "errors": errors[:4], "commands": {
            "deployer invoke": f"python -m deployer invoke {out['model']} -d @body.json --json",
            "sam local invoke": "sam local invoke Fn -t template.yaml -e event.json --skip-pull-image "
                                "--container-host 127.0.0.1 --container-host-interface 127.0.0.1"}}
        out["served"] = _served(work, folder, image, sam, path, body, served_pairs, env, log, signal)
    out["served"]["hops"] = _hops(folder, path, body)
    return out


def _served(work: Path, folder: Path, image: str, sam: str, path: str, body: bytes, pairs: int,
            env: dict[str, str], log, signal) -> dict[str, Any]:
    """Phase 1: ours against SAM's --warm-containers EAGER, `pairs` rounds; phase 2: ours against
    SAM's default mode (a container per request), fewer rounds. Ours runs through both."""
    ours_port = _free_port()
    sam_args = ["local", "start-api", "-t", str(work / "template.yaml"), "--host", "127.0.0.1", "--skip-pull-image",
                "--container-host", "127.0.0.1", "--container-host-interface", "127.0.0.1"]
    res: dict[str, Any] = {"commands": {
        "deployer serve": f"python -m deployer serve {folder.relative_to(REPO_ROOT)} --port <free>",
        "sam local start-api": "sam local start-api -t template.yaml --host 127.0.0.1 --port <free> "
                               "--skip-pull-image --container-host 127.0.0.1 --container-host-interface 127.0.0.1",
        EAGER: "sam local start-api ... --warm-containers EAGER (the same options)"}}
    with open(work / "serve.log", "wb") as ours_log:
        ours = subprocess.Popen([sys.executable, "-m", "deployer", "serve", str(folder), "--port", str(ours_port)],
                                cwd=REPO_ROOT, env=env, stdout=ours_log, stderr=subprocess.STDOUT)
        try:
            res["ready_s"] = {"deployer serve": _wait_served(ours_port, path, body, ours)}
            for _ in range(3):  # warm: the first answers are not timed
                _post(ours_port, path, body)
            phases = ((EAGER, ["--warm-containers", "EAGER"], pairs, "eager"),
                      ("sam local start-api", [], min(pairs, _DEFAULT_MODE_PAIRS), "default"))
            for key, extra, rounds, name in phases:
                log(f"  served: `python -m deployer serve` and `{key}`, {rounds} request pairs, alternating ...")
                res[name] = _served_phase(work, sam, [*sam_args, *extra], key, ours_port, path, body, rounds, env,
                                          name, signal)
        except Exception as exc:  # the section says what failed
            res["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            _stop(ours, signal.SIGTERM)
    # the first phase's figures where the report had them before (ours vs EAGER)
    eager = res.get("eager") or {}
    if eager.get("samples"):
        res["samples"], res["statuses"] = eager["samples"], eager["statuses"]
    return res


def _served_phase(work: Path, sam: str, args: list[str], key: str, ours_port: int, path: str, body: bytes,
                  rounds: int, env: dict[str, str], name: str, signal) -> dict[str, Any]:
    sam_port = _free_port()
    out: dict[str, Any] = {}
    with open(work / f"sam-{name}.log", "wb") as sam_log:
        theirs = subprocess.Popen([sam, *args, "--port", str(sam_port)], cwd=work, env=env, stdout=sam_log,
                                  stderr=subprocess.STDOUT)
        try:
            out["ready_s"] = _wait_served(sam_port, path, body, theirs)
            for _ in range(2):  # warm, as ours was (in the default mode each one is a container anyway)
                _post(sam_port, path, body)
            ports = {"deployer serve": ours_port, key: sam_port}
            samples: dict[str, list[int]] = {k: [] for k in ports}
            statuses: set[int] = set()
            for r in range(rounds):
                for k in (list(ports) if r % 2 == 0 else list(reversed(ports))):
                    ns, status = _post(ports[k], path, body)
                    samples[k].append(ns)
                    statuses.add(status)
            out["samples"], out["statuses"] = samples, sorted(statuses)
        except Exception as exc:
            tail = (work / f"sam-{name}.log").read_bytes()[-400:].decode(errors="replace")
            out["error"] = f"{type(exc).__name__}: {exc}; sam log: {tail}"
        finally:
            _stop(theirs, signal.SIGINT)  # SAM removes its containers on Ctrl-C
    return out


def _hops(folder: Path, path: str, body: bytes, n: int = 200) -> dict[str, Any]:
    """Where our warm request's time goes, in-process: through the gateway vs straight to the
    emulator with the same event, alternating (the remainder is the RIE + awslambdaric hop)."""
    from deployer.local import LocalEndpoint

    headers = {"Content-Type": "application/json"}
    event = json.dumps({"resource": "/{proxy+}", "path": path, "httpMethod": "POST", "headers": headers,
                        "multiValueHeaders": {k: [v] for k, v in headers.items()},
                        "queryStringParameters": None, "multiValueQueryStringParameters": None,
                        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
                        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": "POST",
                                           "path": "/prod" + path, "stage": "prod", "requestId": "bench",
                                           "identity": {"sourceIp": "127.0.0.1"}},
                        "body": body.decode(), "isBase64Encoded": False}).encode()
    gateway: list[int] = []
    direct: list[int] = []
    try:
        with LocalEndpoint(folder, port=0, output=lambda line: None) as ep:
            ep.request("POST", path, body, headers)
            for _ in range(n):
                a = time.perf_counter_ns()
                r = ep.request("POST", path, body, headers)
                b = time.perf_counter_ns()
                status, _ = ep.invoke(event)
                gateway.append(b - a)
                direct.append(time.perf_counter_ns() - b)
                if r.status != 200 or status != 200:
                    return {"error": f"HTTP {r.status}, invoke {status}"}
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return {"gateway_keepalive_ns": gateway, "emulator_direct_ns": direct}
