"""Section 4: decoding a 150k-float request body (the ResNet-18 input, 1x3x224x224 FP32).

Re-measures the PERF-NOTES figures side by side, round-robin in one process:

- ``json.loads`` + ``np.asarray`` (stdlib JSON, flat ``data`` list)
- ``orjson.loads`` + ``np.asarray``; and each of the two steps alone, with two other ways to
  turn the list into an array (dtype inferred then cast; ``np.fromiter`` for flat lists)
- base64 raw bytes in JSON: ``orjson.loads`` + ``b64decode`` + ``np.frombuffer``
- v2 binary extension as API Gateway hands it over (base64 of the whole body, ``isBase64Encoded``):
  ``b64decode`` + ``orjson.loads`` of the header + ``np.frombuffer``
- v2 binary extension with the raw body (a runtime that passes bytes, e.g. the local endpoint)
"""

from __future__ import annotations

import base64
import gc
import json
import time
from typing import Any, Callable

import numpy as np
import orjson

from bench.events import make_body, sample_input

__all__ = ["run_parse"]


def _variants() -> dict[str, tuple[str, Callable[[], Any]]]:
    x = sample_input((1, 3, 224, 224))
    json_body, _ = make_body("v2-json", x)
    b64_body, _ = make_body("v2-b64", x)
    bin_body, bin_headers = make_body("v2-binary", x)
    bin_b64 = base64.b64encode(bin_body).decode("ascii")
    hlen = int(bin_headers["Inference-Header-Content-Length"])
    json_str = json_body.decode()
    parsed = orjson.loads(json_body)
    data_list = parsed["inputs"][0]["data"]

    def json_std() -> Any:
        doc = json.loads(json_str)
        return np.asarray(doc["inputs"][0]["data"], dtype=np.float32)

    def json_orjson() -> Any:
        doc = orjson.loads(json_body)
        return np.asarray(doc["inputs"][0]["data"], dtype=np.float32)

    def orjson_only() -> Any:
        return orjson.loads(json_body)

    def asarray_only() -> Any:
        return np.asarray(data_list, dtype=np.float32)

    def array_astype_only() -> Any:  # dtype inferred (float64), then cast
        return np.array(data_list).astype(np.float32, copy=False)

    def fromiter_only() -> Any:
        return np.fromiter(data_list, dtype=np.float32, count=len(data_list))

    def b64_in_json() -> Any:
        doc = orjson.loads(b64_body)
        return np.frombuffer(base64.b64decode(doc["inputs"][0]["data"]), "<f4")

    def binary_apigw() -> Any:
        raw = base64.b64decode(bin_b64)
        orjson.loads(raw[:hlen])
        return np.frombuffer(raw, "<f4", offset=hlen)

    def binary_raw() -> Any:
        orjson.loads(bin_body[:hlen])
        return np.frombuffer(bin_body, "<f4", offset=hlen)

    sizes = {"json": len(json_body), "b64": len(b64_body), "bin": len(bin_body),
             "bin_b64": len(bin_b64)}
    return {
        "json.loads + np.asarray": (f"{sizes['json']:,} B JSON", json_std),
        "orjson.loads + np.asarray": (f"{sizes['json']:,} B JSON", json_orjson),
        "  orjson.loads alone": (f"{sizes['json']:,} B JSON", orjson_only),
        "  np.asarray(list) alone": ("150,528-float list", asarray_only),
        "  np.array(list).astype(float32) alone (dtype inferred, then cast)": (
            "150,528-float list", array_astype_only),
        "  np.fromiter(list, float32) alone (flat lists only)": ("150,528-float list", fromiter_only),
        "base64 in JSON: orjson + b64decode + frombuffer": (f"{sizes['b64']:,} B JSON", b64_in_json),
        "v2 binary via API Gateway: b64decode + header + frombuffer": (
            f"{sizes['bin_b64']:,} B base64 event body", binary_apigw),
        "v2 binary, raw bytes: header + frombuffer": (f"{sizes['bin']:,} B body", binary_raw),
    }




def run_parse(rounds: int, log=print) -> dict[str, Any]:
    variants = _variants()
    names = list(variants)
    ref = variants["orjson.loads + np.asarray"][1]()
    for name in names:  # correctness: every decoder yields the same floats
        out = variants[name][1]()
        if isinstance(out, np.ndarray):
            assert np.array_equal(np.asarray(out).ravel(), ref.ravel()), name
    log(f"  parse: {len(names)} decoders x {rounds} rounds ...")
    samples: dict[str, list[int]] = {n: [] for n in names}
    for name in names:
        variants[name][1]()
    gc.collect()
    pc = time.perf_counter_ns
    for i in range(rounds):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            fn = variants[name][1]
            t0 = pc()
            fn()
            samples[name].append(pc() - t0)
    return {"samples": samples, "inputs": {n: v[0] for n, v in variants.items()}}
