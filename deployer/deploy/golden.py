"""`push --golden FILE`: the golden set checked, then carried in the version's image.

The file (JSON) holds inputs keyed by input name (one list entry per row), and either expected
outputs with per-output tolerances, or `"compare": "live"` (the new version must answer as the
live one does, within tolerance). It is checked against the model's signature here, before
anything is built, and written as `golden.json` into a copy of the model folder, so the check
that runs before traffic moves (functions/golden.py, locally or as the PreTraffic hook on AWS)
reads it from the image it is checking.

    {"inputs": {"X": [[5.1, 3.5, 1.4, 0.2]]},
     "outputs": {"label": [0]},
     "tolerance": {"probabilities": {"atol": 1e-4, "rtol": 1e-3}},
     "compare": "expected"}
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deployer.errors import ConfigError
from functions.golden import GOLDEN_FILE, shape_of

__all__ = ["read_golden", "with_golden"]

_KEYS = {"inputs", "outputs", "tolerance", "compare", "description"}


def read_golden(path: Path, manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The golden set in `path`, checked against the model's signature; ConfigError naming the problem."""
    where = f"golden file {path}"
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from exc
    except ValueError as exc:
        raise ConfigError(f"{where}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a JSON object with 'inputs' and 'outputs' (or \"compare\": \"live\")")
    unknown = sorted(set(doc) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}; the keys are {', '.join(sorted(_KEYS))}")
    compare = doc.get("compare", "expected")
    if compare not in ("expected", "live"):
        raise ConfigError(f"{where}: 'compare' must be \"expected\" or \"live\", got {compare!r}")
    inputs = _tensors(doc.get("inputs"), manifest.get("inputs", []), where, "inputs")
    rows = {len(v) for v in inputs.values()}
    if len(rows) != 1 or 0 in rows:
        raise ConfigError(f"{where}: every input needs the same number of rows (at least one), got "
                          f"{', '.join(f'{k}: {len(v)}' for k, v in inputs.items())}")  # fmt: skip
    count = rows.pop()
    outputs: dict[str, Any] = {}
    if compare == "expected":
        outputs = _tensors(doc.get("outputs"), manifest.get("outputs", []), where, "outputs", partial=True)
        for name, value in outputs.items():
            if len(value) != count:
                raise ConfigError(f"{where}: output {name!r} has {len(value)} rows but the inputs have {count}")
    elif doc.get("outputs"):
        raise ConfigError(f"{where}: \"compare\": \"live\" compares with the live version; leave 'outputs' out")
    tolerance = doc.get("tolerance") or {}
    names = {spec["name"] for spec in manifest.get("outputs", [])}
    if not isinstance(tolerance, dict):
        raise ConfigError(f"{where}: 'tolerance' must map output names to {{\"atol\": ..., \"rtol\": ...}}")
    for name, tol in tolerance.items():
        if name not in names:
            raise ConfigError(f"{where}: tolerance for unknown output {name!r}; the model's outputs: {', '.join(sorted(names))}")
        if not isinstance(tol, dict) or set(tol) - {"atol", "rtol"} or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0 for v in tol.values()
        ):
            raise ConfigError(f"{where}: tolerance of {name!r} must be {{\"atol\": number >= 0, \"rtol\": number >= 0}}")
    return {"inputs": inputs, "outputs": outputs, "tolerance": tolerance, "compare": compare,
            "source": f"push --golden {Path(path).name}"}  # fmt: skip


def _tensors(value: Any, specs: list[Mapping[str, Any]], where: str, kind: str, partial: bool = False) -> dict[str, Any]:
    by_name = {spec["name"]: spec for spec in specs}
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"{where}: '{kind}' must map {kind[:-1]} names to lists of rows; the model's {kind}: "
                          f"{', '.join(by_name)}")  # fmt: skip
    for name, rows in value.items():
        spec = by_name.get(name)
        if spec is None:
            raise ConfigError(f"{where}: unknown {kind[:-1]} {name!r}; the model's {kind}: {', '.join(by_name)}")
        if not isinstance(rows, list):
            raise ConfigError(f"{where}: {kind[:-1]} {name!r} must be a list with one entry per row")
        want = list(spec.get("shape") or [])
        shape = shape_of(rows)
        if want and len(shape) != len(want):
            raise ConfigError(f"{where}: {kind[:-1]} {name!r} has shape {shape} but the model's is {want} "
                              f"(rank {len(want)}; the first dimension is the rows)")  # fmt: skip
        for axis, (w, g) in enumerate(zip(want, shape)):
            if axis and isinstance(w, int) and w >= 0 and w != g:
                raise ConfigError(f"{where}: {kind[:-1]} {name!r} has shape {shape} but the model's is {want} "
                                  f"(dimension {axis} must be {w})")  # fmt: skip
    if not partial:
        missing = [n for n in by_name if n not in value]
        if missing:
            raise ConfigError(f"{where}: missing input {missing[0]!r}; the model takes {', '.join(by_name)}")
    return dict(value)


def with_golden(model_dir: Path, golden: Mapping[str, Any], build_root: Path) -> Path:
    """A copy of `model_dir` with golden.json (files hard-linked where possible); the same inputs give
    the same folder, so an unchanged push stays unchanged."""
    text = json.dumps(golden, sort_keys=True, separators=(",", ":"))
    import hashlib

    key = hashlib.sha256(text.encode() + str(Path(model_dir).resolve()).encode()).hexdigest()[:16]
    target = Path(build_root) / f"{Path(model_dir).name}-golden-{key}"
    if (target / GOLDEN_FILE).is_file() and (target / GOLDEN_FILE).read_text() == text:
        return target
    staging = target.with_name(target.name + f".{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for item in Path(model_dir).iterdir():
        if item.is_file() and item.name != GOLDEN_FILE:
            try:
                os.link(item, staging / item.name)
            except OSError:
                shutil.copy2(item, staging / item.name)
    (staging / GOLDEN_FILE).write_text(text)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target
