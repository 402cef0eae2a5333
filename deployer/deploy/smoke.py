"""The smoke test: the manifest's sample through the deployed endpoint, compared with its outputs.

`POST /v2/models/{name}/infer` with `manifest.sample.inputs` (KServe v2 JSON), then every output
in `manifest.sample.outputs` is compared with the answer: integers and strings exactly, floats
within a tolerance (the converter's parity tolerance for that output when the manifest has one,
else atol 1e-4, rtol 1e-3). The result says what really happened:

    passed    every expected output matched
    failed    the endpoint answered, and `reason` holds the first differences (or the HTTP error)
    skipped   nothing was sent, and `reason` says why: an emulator that cannot run functions
              (a moto endpoint), or a manifest without a sample

`send(method, path, body, headers) -> (status, body)` is injected: the local endpoint, a signed
HTTPS request to API Gateway, or a fake in tests.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from functions.golden import flatten, request_body

__all__ = ["SmokeResult", "smoke_test", "skipped", "sample_request"]

Send = Callable[[str, str, bytes, Mapping[str, str]], tuple[int, bytes]]
DEFAULT_ATOL = 1e-4
DEFAULT_RTOL = 1e-3


@dataclass(frozen=True)
class SmokeResult:
    status: str  # "passed" | "failed" | "skipped"
    reason: str = ""
    checked: tuple[str, ...] = ()
    differences: tuple[str, ...] = field(default=())

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.reason:
            out["reason"] = self.reason
        if self.checked:
            out["checked"] = list(self.checked)
        if self.differences:
            out["differences"] = list(self.differences)
        return out


def skipped(reason: str) -> SmokeResult:
    return SmokeResult("skipped", reason)


def sample_request(manifest: Mapping[str, Any]) -> bytes | None:
    """The v2 infer body of the manifest's sample, or None without one (functions/golden.py builds it)."""
    sample = manifest.get("sample")
    if not sample or not sample.get("inputs"):
        return None
    return request_body({"inputs": sample["inputs"]}, dict(manifest))


def smoke_test(send: Send, manifest: Mapping[str, Any]) -> SmokeResult:
    body = sample_request(manifest)
    if body is None:
        return skipped("the manifest has no sample to compare with (its `notes` say why: rows too large to store, "
                       "or outputs that were not finite); pass a golden set with push --golden to check answers")
    name = manifest["name"]
    path = f"/v2/models/{name}/infer"
    try:
        status, answer = send("POST", path, body, {"Content-Type": "application/json"})
    except Exception as exc:  # a smoke test reports; the deploy itself already succeeded
        return SmokeResult("failed", f"POST {path}: no answer ({exc})")
    if status != 200:
        text = answer.decode("utf-8", "replace")[:300]
        return SmokeResult("failed", f"POST {path} answered {status}: {text}")
    try:
        outputs = {o["name"]: o for o in json.loads(answer)["outputs"]}
    except (ValueError, KeyError, TypeError) as exc:
        return SmokeResult("failed", f"POST {path}: not a v2 inference answer ({exc})")
    tolerance = (manifest.get("parity") or {}).get("tolerance") or {}
    differences: list[str] = []
    expected = manifest["sample"].get("outputs") or {}
    for out_name, value in expected.items():
        got = outputs.get(out_name)
        if got is None:
            differences.append(f"{out_name}: missing from the answer")
            continue
        want = flatten(value)
        data = got.get("data")
        if isinstance(data, list) and data and isinstance(data[0], list):
            data = flatten(data)
        tol = tolerance.get(out_name, {})
        differences += _compare(out_name, want, data, tol.get("atol", DEFAULT_ATOL), tol.get("rtol", DEFAULT_RTOL))
    checked = tuple(expected)
    if differences:
        return SmokeResult("failed", "; ".join(differences[:5]), checked, tuple(differences))
    return SmokeResult("passed", f"{len(checked)} output(s) of {manifest['sample'].get('rows', '?')} sample row(s) match", checked)


def _compare(name: str, want: list[Any], got: Any, atol: float, rtol: float) -> list[str]:
    if not isinstance(got, list):
        return [f"{name}: expected a list of {len(want)} values, got {type(got).__name__}"]
    if len(got) != len(want):
        return [f"{name}: expected {len(want)} values, got {len(got)}"]
    out = []
    for i, (a, b) in enumerate(zip(want, got)):
        if isinstance(a, float) or isinstance(b, float):
            try:
                fa, fb = float(a), float(b)
            except (TypeError, ValueError):
                out.append(f"{name}[{i}]: expected {a!r}, got {b!r}")
                continue
            if math.isnan(fa) and math.isnan(fb):
                continue
            if not abs(fa - fb) <= atol + rtol * abs(fa):
                out.append(f"{name}[{i}]: expected {fa:.6g}, got {fb:.6g}")
        elif a != b:
            out.append(f"{name}[{i}]: expected {a!r}, got {b!r}")
    return out
