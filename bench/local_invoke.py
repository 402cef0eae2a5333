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

__all__ = ["run_local", "run_sam", "docker_status"]


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
