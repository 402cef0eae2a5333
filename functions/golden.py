"""The golden-set check: before any traffic reaches a new version, its answers are compared.

A fine-tuned model must not silently change answers. The golden set travels in the version's own
image (`<model>/golden.json`, written by `push --golden FILE`; without one, the manifest's sample
and the converter's parity tolerance are used), so what is checked is exactly what will serve:

    {"inputs":  {"x": [[...], ...]},                  one list entry per row, keyed by input name
     "outputs": {"y": [[...], ...]},                  expected answers ("compare": "expected")
     "tolerance": {"y": {"atol": 1e-4, "rtol": 1e-3}},  per output; exact for integers and strings
     "compare": "expected" | "live"}                  "live": must match the live version instead

`check(golden, answer, reference)` returns the rows that differ and by how much. Two callers:
the local cloud (deployer.local.cloud.shift) runs it against the new version's runtime, and on
AWS `handler` is the PreTraffic hook of the CodeDeploy deployment (the same image, the command
`functions.golden.handler`): it runs the set through this image's own model and reports
Succeeded or Failed to CodeDeploy, which then shifts traffic or rolls back.

Standard library only at import; boto3 is imported by the AWS hook alone.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["GOLDEN_FILE", "load_golden", "request_body", "outputs_of", "check", "RowDifference", "describe", "handler",
           "shape_of", "flatten"]

from functions.manifest import GOLDEN_FILE, MANIFEST_FILE, MODEL_DIR, MODEL_PATH_VARIABLE  # noqa: E402 - the contract
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3
_DATATYPES = {"float": "FP32", "int": "INT64", "bool": "BOOL", "str": "BYTES"}


class RowDifference:
    """One row of one output that differs: what was expected, what came, by how much."""

    __slots__ = ("output", "row", "expected", "got", "abs_diff")

    def __init__(self, output: str, row: int, expected: Any, got: Any, abs_diff: float | None) -> None:
        self.output, self.row, self.expected, self.got, self.abs_diff = output, row, expected, got, abs_diff

    def to_dict(self) -> dict[str, Any]:
        return {"output": self.output, "row": self.row, "expected": self.expected, "got": self.got,
                "abs_diff": self.abs_diff}  # fmt: skip

    def __str__(self) -> str:
        by = f" (off by {self.abs_diff:.3g})" if self.abs_diff is not None else ""
        return f"row {self.row} of {self.output}: expected {_short(self.expected)}, got {_short(self.got)}{by}"


def load_golden(model_dir: str | Path) -> dict[str, Any] | None:
    """The version's golden set: golden.json, else the manifest's sample; None when neither exists."""
    folder = Path(model_dir)
    if (folder / GOLDEN_FILE).is_file():
        return dict(json.loads((folder / GOLDEN_FILE).read_text()))
    try:
        manifest = json.loads((folder / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return None
    sample = manifest.get("sample") or {}
    if not sample.get("inputs") or not sample.get("outputs"):
        return None
    tolerance = (manifest.get("parity") or {}).get("tolerance") or {}
    return {"inputs": sample["inputs"], "outputs": sample["outputs"], "tolerance": tolerance, "compare": "expected",
            "source": "the manifest's sample"}  # fmt: skip


def request_body(golden: dict[str, Any], model: dict[str, Any]) -> bytes:
    """The golden inputs as one KServe v2 JSON request (datatypes from the manifest's signature)."""
    specs = {spec["name"]: spec for spec in model.get("inputs", [])}
    inputs = []
    for name, rows in golden["inputs"].items():
        shape = shape_of(rows)
        datatype = specs.get(name, {}).get("datatype") or _datatype(rows)
        inputs.append({"name": name, "datatype": datatype, "shape": shape, "data": flatten(rows)})
    return json.dumps({"inputs": inputs}).encode()


def outputs_of(answer: bytes | str) -> dict[str, list[Any]]:
    """A v2 answer's outputs as {name: list of rows} (shape applied)."""
    doc = json.loads(answer)
    out = {}
    for item in doc["outputs"]:
        out[item["name"]] = _rows(item.get("data", []), item.get("shape") or [len(item.get("data", []))])
    return out


def check(golden: dict[str, Any], answer: dict[str, list[Any]], reference: dict[str, list[Any]] | None = None) -> list[RowDifference]:
    """Rows of `answer` that differ from the golden outputs (or from `reference`, the live version's)."""
    expected = reference if golden.get("compare") == "live" else golden.get("outputs") or {}
    tolerance = golden.get("tolerance") or {}
    differences: list[RowDifference] = []
    for name, want_rows in expected.items():
        got_rows = answer.get(name)
        if got_rows is None:
            differences.append(RowDifference(name, -1, "an output", "nothing", None))
            continue
        tol = tolerance.get(name) or {}
        atol, rtol = float(tol.get("atol", DEFAULT_ATOL)), float(tol.get("rtol", DEFAULT_RTOL))
        if len(got_rows) != len(want_rows):
            differences.append(RowDifference(name, -1, f"{len(want_rows)} rows", f"{len(got_rows)} rows", None))
            continue
        for row, (want, got) in enumerate(zip(want_rows, got_rows)):
            diff = _row_difference(flatten(want), flatten(got), atol, rtol)
            if diff is not None:
                differences.append(RowDifference(name, row, want, got, diff if diff >= 0 else None))
    return differences


def describe(differences: list[RowDifference], rows: int, limit: int = 5) -> str:
    shown = "; ".join(str(d) for d in differences[:limit])
    more = f" and {len(differences) - limit} more" if len(differences) > limit else ""
    return f"{len(differences)} of {rows} golden row(s) differ: {shown}{more}"


def _row_difference(want: list[Any], got: list[Any], atol: float, rtol: float) -> float | None:
    """None when equal within tolerance; the largest absolute difference, or -1 for a mismatch of kind."""
    if len(want) != len(got):
        return -1.0
    worst = 0.0
    bad = False
    for a, b in zip(want, got):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            fa, fb = float(a), float(b)
            if math.isnan(fa) and math.isnan(fb):
                continue
            gap = abs(fa - fb)
            if isinstance(a, float) or isinstance(b, float):
                if not gap <= atol + rtol * abs(fa):
                    bad = True
            elif gap:
                bad = True
            worst = max(worst, gap)
        elif a != b:
            return -1.0
    return worst if bad else None


def shape_of(value: Any) -> list[int]:
    """The shape of a nested JSON list (first elements followed)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0] if value else None
    return shape


def flatten(value: Any) -> list[Any]:
    """A nested JSON list's leaves in row-major order (no recursion: a client controls the depth)."""
    if not isinstance(value, list):
        return [value]
    out: list[Any] = []
    stack = [iter(value)]
    while stack:
        item = next(stack[-1], _END)
        if item is _END:
            stack.pop()
        elif isinstance(item, list):
            stack.append(iter(item))
        else:
            out.append(item)
    return out


_END = object()


def _rows(flat: list[Any], shape: list[int]) -> list[Any]:
    if len(shape) <= 1:
        return list(flat)
    per = 1
    for dim in shape[1:]:
        per *= dim
    return [_nest(flat[i * per : (i + 1) * per], shape[1:]) for i in range(shape[0])]


def _nest(flat: list[Any], shape: list[int]) -> Any:
    if len(shape) <= 1:
        return list(flat)
    per = len(flat) // shape[0] if shape[0] else 0
    return [_nest(flat[i * per : (i + 1) * per], shape[1:]) for i in range(shape[0])]


def _datatype(rows: Any) -> str:
    first = flatten(rows)[:1]
    return _DATATYPES.get(type(first[0]).__name__, "FP32") if first else "FP32"


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 80 else text[:77] + "..."


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:  # pragma: no cover - runs on AWS only
    """CodeDeploy PreTraffic hook: check this image's model on the golden set, report the verdict."""
    import boto3

    from functions.app import service

    model_dir = os.environ.get(MODEL_PATH_VARIABLE, MODEL_DIR)
    folder = model_dir if os.path.isdir(model_dir) else os.path.dirname(model_dir)
    golden = load_golden(folder)
    verdict, reason = "Succeeded", "no golden set: nothing to compare"
    if golden is not None and service.model is not None:
        body = request_body(golden, json.loads((Path(folder) / MANIFEST_FILE).read_text()))
        answer = service.handler(json.loads(body), context)  # a direct invoke: the answer is the v2 JSON itself
        reference = None
        if golden.get("compare") == "live":
            live = boto3.client("lambda").invoke(FunctionName=os.environ["LIVE_ALIAS_ARN"], Payload=body)
            reference = outputs_of(live["Payload"].read())
        differences = check(golden, outputs_of(json.dumps(answer)), reference)
        rows = len(next(iter(golden["inputs"].values()), []))
        if differences:
            verdict, reason = "Failed", describe(differences, rows)
        else:
            reason = f"{rows} golden row(s) match"
    print(json.dumps({"golden_check": verdict, "reason": reason}))
    boto3.client("codedeploy").put_lifecycle_event_hook_execution_status(
        deploymentId=event["DeploymentId"], lifecycleEventHookExecutionId=event["LifecycleEventHookExecutionId"],
        status=verdict,
    )
    return {"status": verdict, "reason": reason}
