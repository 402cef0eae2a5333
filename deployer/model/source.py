"""What every converter hands to the pipeline: the candidate ONNX file and a way to run the original.

A converter (`from_onnx`, `from_sklearn`, `from_torch`, `from_tf`) takes the user's object or
file, writes `candidate.onnx` into the pipeline's private work folder and returns a `Converted`.
Its `reference` runs the original model on inputs keyed by the ONNX input names and returns
outputs keyed by the ONNX output names (the ones it can produce); for an ONNX source there is
no other original, and the pipeline runs the unoptimized file instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deployer.model.samples import RawSample

__all__ = ["Converted", "SourceOptions", "Reference", "Progress"]

Reference = Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class SourceOptions:
    workdir: Path
    sample: RawSample | None
    trust_pickle: bool
    progress: Progress
    opset: int | None = None


@dataclass
class Converted:
    framework: str  # onnx | sklearn | torch | keras | tflite
    onnx_path: Path
    producer: str  # converter and version, e.g. "skl2onnx 1.20.0"
    reference: Reference | None
    reference_name: str  # what ran as the original, for the parity report
    source: str  # the file, or a description of the in-memory object
    labels: list[Any] | None = None
    scores_for: dict[str, str] = field(default_factory=dict)  # label output -> its scores output
    notes: list[str] = field(default_factory=list)
