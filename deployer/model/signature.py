"""A model's signature as the manifest states it: tensor names, KServe datatypes, shapes.

Shapes keep symbolic dimensions by name (``["batch", 4]``); an unnamed dynamic dimension is -1.
The first dimension is the batch when it is symbolic; a model with a fixed first dimension is
run in chunks of that size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["TensorSpec", "ONNX_ELEM_TO_DATATYPE", "DATATYPE_TO_DTYPE", "spec_from_dict"]

# onnx.TensorProto.DataType values (stable in the ONNX spec) -> KServe v2 datatype.
ONNX_ELEM_TO_DATATYPE: dict[int, str] = {
    1: "FP32", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
    8: "BYTES", 9: "BOOL", 10: "FP16", 11: "FP64", 12: "UINT32", 13: "UINT64",
}
DATATYPE_TO_DTYPE: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_), "INT8": np.dtype(np.int8), "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32), "INT64": np.dtype(np.int64), "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16), "UINT32": np.dtype(np.uint32), "UINT64": np.dtype(np.uint64),
    "FP16": np.dtype(np.float16), "FP32": np.dtype(np.float32), "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.str_),
}


@dataclass(frozen=True)
class TensorSpec:
    name: str
    datatype: str
    shape: tuple[int | str, ...]  # int >= 0 fixed, str symbolic, -1 unknown

    @property
    def dtype(self) -> np.dtype[Any]:
        return DATATYPE_TO_DTYPE[self.datatype]

    @property
    def batch(self) -> int | None:
        """The fixed first dimension, or None when it is dynamic (or the tensor is a scalar)."""
        if not self.shape:
            return None
        first = self.shape[0]
        return first if isinstance(first, int) and first >= 0 else None

    @property
    def row_shape(self) -> tuple[int | str, ...]:
        return self.shape[1:]

    def to_manifest(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}

    def describe(self) -> str:
        return f"{self.name} ({self.datatype} {list(self.shape)})"


def spec_from_dict(data: dict[str, Any]) -> TensorSpec:
    """From the worker's JSON: {"name", "elem_type" | "datatype", "shape"}."""
    datatype = data.get("datatype") or ONNX_ELEM_TO_DATATYPE.get(int(data.get("elem_type", 0)))
    if datatype is None:
        raise ValueError(f"tensor {data.get('name')!r} has an element type the runtime cannot serve "
                         f"(ONNX elem_type {data.get('elem_type')})")
    shape = tuple(d if isinstance(d, (int, str)) else -1 for d in data.get("shape") or ())
    return TensorSpec(str(data["name"]), datatype, shape)
