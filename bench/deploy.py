"""Section 8: time to a serving endpoint for `push` on the local target (issue 12's deploy target).

Each round takes a new temporary project directory (so a new local cloud, started by the first
push, as a user's first push starts it) and runs, as a user would, with no AWS credentials:

    python -m deployer push v1 --project P --json     first push: cloud start, model, stack created
    python -m deployer push v1 --project P --json     unchanged: must upload 0 bytes, update nothing
    python -m deployer push v2 --project P --json     changed model: new layers, stack updated

then stops the cloud it started (`deployer.local.cloud.client.stop`). v1 and v2 are one small
MLP (64-32-4, Gemm + ReLU, `onnx.helper`, seeds 0 and 1) converted by `deployer.model.convert`
under one name, so v2 is "the same model, retrained". Each push is timed from spawn to exit: the
push exits after its smoke test passed through the served URL, so that is the time to a serving
endpoint; one more request to the URL confirms that it serves (timed too).

"Unchanged" is verified three ways, none of them the push's own word alone: its summary
(`uploaded_bytes`, `uploaded_config_bytes`, `changed`, `change_set`, `steps`), and the local
cloud's AWS endpoint read through boto3 before and after the push: the stack's events, its
`LastUpdatedTime` and status, its change sets that were executed, and the function's published
versions. Any difference is a stack update.

The steps of one round run in their fixed order (each needs the one before); the rounds repeat
them, and the report gives medians with 95% bootstrap intervals and the paired ratios to the
first push within each round.

    .venv/bin/python -m bench.deploy --rounds 3        # alone; prints the raw figures as JSON
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

__all__ = ["run_deploy", "STEPS"]

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "benchdeploy"
STEPS = ("first", "unchanged", "changed")
_PUSH_TIMEOUT_S = 900


def _env() -> dict[str, str]:
    """No AWS_* variable: push then chooses the local target (and can reach no account)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}


def build_versions(root: Path, log: Callable[[str], None] = print) -> dict[str, Path]:
    """Two converted versions of one small MLP (v1, v2: seeds 0 and 1)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from deployer.model import convert

    out: dict[str, Path] = {}
    root.mkdir(parents=True, exist_ok=True)
    for tag, seed in (("v1", 0), ("v2", 1)):
        rng = np.random.default_rng(seed)
        dims = (64, 32, 4)
        inits, nodes, prev = [], [], "x"
        for i, (a, b) in enumerate(zip(dims, dims[1:])):
            inits += [numpy_helper.from_array((rng.standard_normal((a, b)) / np.sqrt(a)).astype(np.float32), f"W{i}"),
                      numpy_helper.from_array(np.zeros(b, np.float32), f"B{i}")]
            nodes.append(helper.make_node("Gemm", [prev, f"W{i}", f"B{i}"], [f"g{i}"]))
            prev = f"g{i}"
            if i < len(dims) - 2:
                nodes.append(helper.make_node("Relu", [prev], [f"r{i}"]))
                prev = f"r{i}"
        nodes.append(helper.make_node("Identity", [prev], ["y"]))
        graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="bench")
        model.ir_version = 8
        source = root / f"{tag}.onnx"
        onnx.save(model, str(source))
        log(f"  convert {tag} (seed {seed}) ...")
        out[tag] = Path(convert(source, out=root / tag, name=MODEL_NAME).out)
    return out


def _cloud_view(project: Path, stack: str) -> dict[str, Any]:
    """What the local cloud's AWS endpoint says about the stack (boto3, fake credentials)."""
    import boto3

    from deployer.local.cloud import client

    info = client.running(project)
    if info is None:
        return {"error": "no local cloud runs for the project"}
    kw = dict(endpoint_url=info.emulator_url, region_name=info.region, aws_access_key_id="testing",
              aws_secret_access_key="testing")
    cfn = boto3.client("cloudformation", **kw)
    lam = boto3.client("lambda", **kw)
    stacks = cfn.describe_stacks(StackName=stack)["Stacks"]
    events = [e for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack)
              for e in page["StackEvents"]]
    change_sets = [c for page in cfn.get_paginator("list_change_sets").paginate(StackName=stack)
                   for c in page["Summaries"]]
    function = next((r["PhysicalResourceId"] for r in cfn.describe_stack_resources(StackName=stack)["StackResources"]
                     if r["ResourceType"] == "AWS::Lambda::Function" and r["LogicalResourceId"] == "ModelFunction"),
                    None)
    versions = []
    if function:
        versions = [v["Version"] for page in lam.get_paginator("list_versions_by_function").paginate(
            FunctionName=function) for v in page["Versions"]]
    return {
        "status": stacks[0]["StackStatus"],
        "last_updated": str(stacks[0].get("LastUpdatedTime", "")),
        "events": len(events),
        "event_ids": sorted(e["EventId"] for e in events),
        "executed_change_sets": sorted(c["ChangeSetName"] for c in change_sets
                                       if c.get("ExecutionStatus") == "EXECUTE_COMPLETE"),
        "change_sets": len(change_sets),
        "versions": versions,
    }


def _serve_check(url: str, body: bytes) -> tuple[int, float]:
    """(HTTP status, ms) of one infer request to the pushed URL."""
    req = urllib.request.Request(f"{url.rstrip('/')}/v2/models/{MODEL_NAME}/infer", data=body,
                                 headers={"Content-Type": "application/json"})
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            resp.read()
            return resp.status, (time.perf_counter() - t0) * 1e3
    except urllib.error.HTTPError as exc:
        return exc.code, (time.perf_counter() - t0) * 1e3


def _push(folder: Path, project: Path) -> tuple[float, dict[str, Any] | None, str]:
    cmd = [sys.executable, "-m", "deployer", "push", str(folder), "--project", str(project), "--json"]
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, cwd=project, env=_env(), timeout=_PUSH_TIMEOUT_S)
    seconds = time.perf_counter() - t0
    try:
        summary = json.loads(p.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        summary = None
    err = "" if p.returncode == 0 and summary and "error" not in summary else \
        f"exit {p.returncode}: {(p.stdout + p.stderr).decode(errors='replace')[-600:]}"
    return seconds, summary, err


def run_deploy(rounds: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Rounds of first / unchanged / changed pushes (module docstring); raw figures."""
    from deployer.local.cloud import client

    body = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1, 64],
                                   "data": [0.1 * i for i in range(64)]}]}).encode()
    out: dict[str, Any] = {"rounds": [], "model": f"{MODEL_NAME}: MLP 64-32-4, converted (deployer.model.convert)"}
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as tmp:
        root = Path(tmp)
        versions = build_versions(root / "models", log)
        out["model_bytes"] = {tag: sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
                              for tag, folder in versions.items()}
        stack = f"onnx-{MODEL_NAME}"
        for r in range(rounds):
            project = root / f"project-{r}"
            project.mkdir()
            log(f"  round {r + 1}/{rounds}: push first, unchanged, changed ({project.name}) ...")
            entry: dict[str, Any] = {}
            try:
                for step, tag in zip(STEPS, ("v1", "v1", "v2")):
                    before = _cloud_view(project, stack) if step != "first" else None
                    seconds, summary, err = _push(versions[tag], project)
                    rec: dict[str, Any] = {"seconds": seconds}
                    if err:
                        rec["error"] = err
                        entry[step] = rec
                        break
                    assert summary is not None
                    status, ms = _serve_check(summary.get("url") or "", body)
                    after = _cloud_view(project, stack)
                    rec.update({
                        "uploaded_bytes": summary.get("uploaded_bytes"),
                        "uploaded_config_bytes": summary.get("uploaded_config_bytes"),
                        "changed": summary.get("changed"), "steps": summary.get("steps"),
                        "change_set": summary.get("change_set"), "status": summary.get("status"),
                        "image_kind": summary.get("image_kind"), "image_source": summary.get("image_source"),
                        "function_version": summary.get("function_version"),
                        "smoke": (summary.get("smoke_test") or {}).get("status"),
                        "serve_status": status, "serve_ms": ms,
                        "cloud_after": {k: v for k, v in after.items() if k != "event_ids"},
                    })
                    if before is not None and "error" not in before and "error" not in after:
                        new_events = sorted(set(after["event_ids"]) - set(before["event_ids"]))
                        rec["stack_diff"] = {
                            "new_events": len(new_events),
                            "last_updated_moved": before["last_updated"] != after["last_updated"],
                            "status": [before["status"], after["status"]],
                            "new_executed_change_sets": sorted(set(after["executed_change_sets"])
                                                               - set(before["executed_change_sets"])),
                            "versions": [before["versions"], after["versions"]],
                        }
                    entry[step] = rec
            except Exception as exc:  # the report says what failed
                entry["error"] = f"{type(exc).__name__}: {exc}"
            finally:
                stopped = client.stop(project)
                entry["cloud_stopped"] = bool(stopped)
            out["rounds"].append(entry)
    return out


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.deploy", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run_deploy(args.rounds, log=lambda m: print(m, file=sys.stderr)), indent=1, default=str))
