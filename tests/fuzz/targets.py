"""The served models of the request fuzzer, their valid bodies, and what a good answer is.

Three models cover the decoding paths: the bundled iris classifier (FP32 [batch, 4] → INT64
label + FP32 probabilities), a string identity (BYTES [N, 2] → the same strings) and a two-input
model whose inputs share the dimension N (FP32 a + INT64 b). For each, `valid_case` builds a
correct request in one of the protocols' forms, with the answer onnxruntime gives for it; the
fuzzer mutates such requests and `problems` judges every answer.
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from functions.manifest import MODEL_FILE
from functions.tensors import DATATYPE_TO_DTYPE
from tests.fuzz.mutations import Raw, dumps
from tests.models import identity_model, two_input_folder, write_manifest

__all__ = ["Case", "Target", "TARGETS", "problems", "TRACEBACK", "build_folder"]

REPO = Path(__file__).resolve().parents[2]
IRIS = REPO / "examples" / "iris" / "model"
JSON_CT = {"Content-Type": "application/json"}
# A Python traceback or the frame lines of one (faulthandler's dump has no "Traceback" header).
TRACEBACK = re.compile(r'Traceback \(most recent call last\)|File "[^"]*", line \d+')
MODEL_FAILURE = "the model failed on this input"  # ModelFailure's message (functions/inference.py)
WORDS = ["setosa", "versicolor", "", " ", "é", "日本語", "🙂", "tab\there", 'quote"', "back\\slash", "a\u0000b",
         "None", "b'abc'", "x" * 64]


@dataclass
class Case:
    """One HTTP request and, when it is valid, the outputs it must get."""

    index: int
    target: str
    form: str  # v2-json, v2-base64, v2-binary, tf-instances, tf-inputs, ts-predictions, other
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    expected: dict[str, np.ndarray] | None = None  # outputs by name, for a valid request
    binary_out: set[str] = field(default_factory=set)
    mutations: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)  # the strings a words request carries

    @property
    def mutated(self) -> bool:
        return bool(self.mutations)


@dataclass
class Target:
    name: str
    folder: Path
    inputs: list[tuple[str, str, int]]  # name, datatype, columns (every input is [N, columns])
    outputs: list[str]
    session: ort.InferenceSession | None = None

    def arrays(self, rng: random.Random, rows: int) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for name, datatype, cols in self.inputs:
            out[name] = np.array([[_value(rng, datatype) for _ in range(cols)] for _ in range(rows)],
                                 dtype=DATATYPE_TO_DTYPE.get(datatype, np.dtype(object)))
        return out

    def expect(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        assert self.session is not None
        return dict(zip(self.outputs, self.session.run(self.outputs, feeds)))


def _value(rng: random.Random, datatype: str) -> Any:
    """One valid element: small values mostly, the type's extremes sometimes."""
    if datatype == "BYTES":
        return rng.choice(WORDS)
    if datatype == "BOOL":
        return rng.random() < 0.5
    dtype = DATATYPE_TO_DTYPE[datatype]
    if dtype.kind == "f":
        if datatype == "FP32" or rng.random() < 0.8:
            return float(dtype.type(rng.choice([rng.uniform(-10, 10), rng.randrange(-5, 9)])))
        info = np.finfo(dtype)
        return float(rng.choice([info.max, info.min, info.tiny, -info.tiny, 0.0, -0.0]))
    info = np.iinfo(dtype)
    if datatype == "INT64" and rng.random() < 0.9:
        return rng.randrange(-1000, 1000)
    return rng.choice([int(info.min), int(info.max), 0, 1, rng.randrange(int(info.min), int(info.max) + 1)])


MIXED = ["BOOL", "INT8", "UINT8", "INT16", "UINT16", "INT32", "UINT32", "UINT64", "FP16", "FP64"]


def mixed_model(folder: Path) -> Path:
    """One identity input/output pair per datatype the other targets do not take, each [N, 2]."""
    from onnx import helper

    from tests.models import ONNX_TYPES, _save

    nodes = [helper.make_node("Identity", [d.lower()], [f"out_{d.lower()}"]) for d in MIXED]
    graph = helper.make_graph(
        nodes, "mixed",
        [helper.make_tensor_value_info(d.lower(), ONNX_TYPES[d], ["N", 2]) for d in MIXED],
        [helper.make_tensor_value_info(f"out_{d.lower()}", ONNX_TYPES[d], ["N", 2]) for d in MIXED],
    )
    _save(graph, folder / MODEL_FILE)
    spec = [{"name": d.lower(), "datatype": d, "shape": ["N", 2]} for d in MIXED]
    write_manifest(folder, "mixed", spec, [{**t, "name": f"out_{t['name']}"} for t in spec])
    return folder


def build_folder(name: str, root: Path) -> Path:
    """The model folder of a target (iris is the bundled example as it is)."""
    if name == "iris":
        return IRIS
    folder = root / name
    folder.mkdir(parents=True, exist_ok=True)
    if name == "pair":
        return two_input_folder(folder, "pair")
    if name == "mixed":
        return mixed_model(folder)
    identity_model(folder / MODEL_FILE, "BYTES", ["N", 2])
    write_manifest(folder, "words", [{"name": "x", "datatype": "BYTES", "shape": ["N", 2]}],
                   [{"name": "y", "datatype": "BYTES", "shape": ["N", 2]}])
    return folder


TARGETS: dict[str, Callable[[Path], Target]] = {
    "iris": lambda root: Target("iris", build_folder("iris", root), [("X", "FP32", 4)], ["label", "probabilities"]),
    "words": lambda root: Target("words", build_folder("words", root), [("x", "BYTES", 2)], ["y"]),
    "pair": lambda root: Target("pair", build_folder("pair", root), [("a", "FP32", 3), ("b", "INT64", 3)],
                                ["total", "doubled"]),
    "mixed": lambda root: Target("mixed", build_folder("mixed", root), [(d.lower(), d, 2) for d in MIXED],
                                 [f"out_{d.lower()}" for d in MIXED]),
}


def _scalars(arr: np.ndarray) -> list[Any]:
    return arr.tolist()


def _bytes_of(arr: np.ndarray) -> bytes:
    if arr.dtype == object:
        return b"".join(len(s.encode()).to_bytes(4, "little") + s.encode() for s in arr.ravel())
    return np.ascontiguousarray(arr).tobytes()


def valid_case(target: Target, rng: random.Random, index: int, form: str) -> tuple[Case, Any]:
    """A correct request (and its JSON tree, for the mutator; None for binary bodies)."""
    rows = rng.choice([1, 1, 2, 3, 5, 8])
    feeds = target.arrays(rng, rows)
    expected = target.expect(feeds)
    strings = [s for arr in feeds.values() if arr.dtype == object for s in arr.ravel()]
    v2 = f"/v2/models/{target.name}" + (rng.choice(["", "/versions/" + _version(target)]) if rng.random() < 0.2 else "")
    if form.startswith("v2"):
        tensors = []
        raw_parts: list[bytes] = []
        for name, datatype, _ in target.inputs:
            arr = feeds[name]
            entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(arr.shape)}
            if form == "v2-binary":
                raw = _bytes_of(arr)
                entry["parameters"] = {"binary_data_size": len(raw)}
                raw_parts.append(raw)
            elif form == "v2-base64" and arr.dtype != object:
                entry["data"] = base64.b64encode(arr.tobytes()).decode()
            else:
                entry["data"] = _scalars(arr) if rng.random() < 0.5 else _scalars(arr.ravel())
            tensors.append(entry)
        tree: dict[str, Any] = {"inputs": tensors}
        if rng.random() < 0.2:
            tree["id"] = f"req-{index}"
        binary_out: set[str] = set()
        if rng.random() < 0.3:
            wanted = rng.sample(target.outputs, rng.randrange(1, len(target.outputs) + 1))
            tree["outputs"] = [{"name": n, **({"parameters": {"binary_data": True}} if rng.random() < 0.4 else {})}
                               for n in wanted]
            binary_out = {o["name"] for o in tree["outputs"] if "parameters" in o}
            expected = {n: expected[n] for n in wanted}
        elif rng.random() < 0.1:
            tree["parameters"] = {"binary_data_output": True}
            binary_out = set(target.outputs)
        header = dumps(tree, ensure_ascii=rng.random() < 0.5).encode()
        if form == "v2-binary":
            headers = {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))}
            case = Case(index, target.name, form, "POST", v2 + "/infer", headers, header + b"".join(raw_parts),
                        expected, binary_out, strings=strings)
            return case, tree
        return Case(index, target.name, form, "POST", v2 + "/infer", dict(JSON_CT), header, expected, binary_out,
                    strings=strings), tree
    if form == "ts-predictions":  # TorchServe's /predictions: the input itself, {"data": ...} or {"instances": [...]}
        path = f"/predictions/{target.name}" + (f"/{_version(target)}" if rng.random() < 0.2 else "")
        if len(target.inputs) == 1:
            value: Any = _scalars(feeds[target.inputs[0][0]])
        else:
            value = {name: _scalars(feeds[name]) for name, _, _ in target.inputs}
        wrap = rng.choice(["bare", "data", "instances"])
        if wrap == "instances":
            if len(target.inputs) == 1:
                tree = {"instances": value}
            else:
                tree = {"instances": [{name: _scalars(feeds[name][i]) for name, _, _ in target.inputs}
                                      for i in range(rows)]}
        else:
            tree = value if wrap == "bare" else {"data": value}
        body = dumps(tree, ensure_ascii=rng.random() < 0.5).encode()
        return Case(index, target.name, form, "POST", path, dict(JSON_CT), body, expected, strings=strings), tree
    tf = f"/v1/models/{target.name}:predict"
    if form == "tf-instances":
        if len(target.inputs) == 1:
            instances: Any = _scalars(feeds[target.inputs[0][0]])
        else:
            instances = [{name: _scalars(feeds[name][i]) for name, _, _ in target.inputs} for i in range(rows)]
        tree = {"instances": instances}
    else:
        if len(target.inputs) == 1 and rng.random() < 0.5:
            tree = {"inputs": _scalars(feeds[target.inputs[0][0]])}
        else:
            tree = {"inputs": {name: _scalars(feeds[name]) for name, _, _ in target.inputs}}
    body = dumps(tree, ensure_ascii=rng.random() < 0.5).encode()
    return Case(index, target.name, form, "POST", tf, dict(JSON_CT), body, expected, strings=strings), tree


def _version(target: Target) -> str:
    manifest = target.folder / "manifest.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else "1"


def _outputs_v2(case: Case, status: int, headers: dict[str, str], body: bytes) -> dict[str, np.ndarray]:
    size = headers.get("inference-header-content-length")
    head = json.loads(body[: int(size)] if size is not None else body)
    raw = body[int(size):] if size is not None else b""
    got: dict[str, np.ndarray] = {}
    offset = 0
    for out in head["outputs"]:
        shape = out["shape"]
        params = out.get("parameters") or {}
        if "binary_data_size" in params:
            n = params["binary_data_size"]
            chunk = raw[offset : offset + n]
            offset += n
            if out["datatype"] == "BYTES":
                items, pos = [], 0
                while pos < len(chunk):
                    length = int.from_bytes(chunk[pos : pos + 4], "little")
                    items.append(chunk[pos + 4 : pos + 4 + length].decode())
                    pos += 4 + length
                got[out["name"]] = np.array(items, dtype=object).reshape(shape)
            else:
                got[out["name"]] = np.frombuffer(chunk, dtype=DATATYPE_TO_DTYPE[out["datatype"]]).reshape(shape)
        else:
            got[out["name"]] = np.array(out["data"], dtype=object).reshape(shape)  # JSON numbers exactly
    return got


def _outputs_tf(case: Case, target: Target, answer: Any) -> dict[str, np.ndarray]:
    if "outputs" in answer:
        outs = answer["outputs"]
        if len(target.outputs) == 1:
            return {target.outputs[0]: np.array(outs, dtype=object)}
        return {k: np.array(v, dtype=object) for k, v in outs.items()}
    preds = answer["predictions"]
    if len(target.outputs) == 1:
        return {target.outputs[0]: np.array(preds, dtype=object)}
    return {name: np.array([row[name] for row in preds], dtype=object) for name in target.outputs}


def _same(name: str, want: np.ndarray, got: np.ndarray) -> str | None:
    if list(got.shape) != list(want.shape):
        return f"output {name}: shape {list(got.shape)}, expected {list(want.shape)}"
    if want.dtype == object or want.dtype.kind in "iub":
        if got.ravel().tolist() != want.ravel().tolist():
            return f"output {name}: {got.ravel().tolist()[:6]} expected {want.ravel().tolist()[:6]}"
    else:
        try:
            close = np.allclose(got.astype(np.float64), want.astype(np.float64), rtol=1e-6, atol=1e-6)
        except (TypeError, ValueError):
            close = False
        if not close:
            return f"output {name}: {got.ravel()[:6]} expected {want.ravel()[:6]}"
    return None


def problems(case: Case, target: Target, status: int, headers: dict[str, str], body: bytes) -> list[str]:
    """What is wrong with this answer (empty when nothing is)."""
    found: list[str] = []
    text = body.decode("utf-8", "replace")
    if TRACEBACK.search(text):
        found.append("traceback in the body")
    if status >= 500:
        message = _error_of(body)
        if not (status == 500 and message is not None and message.startswith(MODEL_FAILURE)):
            found.append(f"{status} answered")
        elif case.expected is not None and not case.mutated:
            found.append("ModelFailure on a valid request")
    ctype = headers.get("content-type", "")
    if status >= 400 and case.method != "HEAD":  # a HEAD answer has no body
        if "application/json" not in ctype:
            found.append(f"error answered as {ctype or 'no content type'}")
        elif _error_of(body) is None:
            found.append("error body is not {\"error\": \"...\"}")
    if case.expected is not None and not case.mutated:
        if status != 200:
            found.append(f"valid request answered {status}")
        else:
            found.extend(_check_outputs(case, target, headers, body))
    elif status == 200 and case.form != "other":
        found.extend(_check_shape_of_answer(case, target, headers, body))
    return found


def _error_of(body: bytes) -> str | None:
    try:
        obj = json.loads(body)
    except ValueError:
        return None
    message = obj.get("error") if isinstance(obj, dict) else None
    return message if isinstance(message, str) and message else None


def _check_outputs(case: Case, target: Target, headers: dict[str, str], body: bytes) -> list[str]:
    assert case.expected is not None
    try:
        if case.form.startswith("v2"):
            got = _outputs_v2(case, 200, headers, body)
        elif case.form.startswith("ts"):  # a batch in: one prediction per row, as TF Serving's predictions
            got = _outputs_tf(case, target, {"predictions": json.loads(body)})
        else:
            got = _outputs_tf(case, target, json.loads(body))
    except (ValueError, KeyError, TypeError) as exc:
        return [f"unreadable answer to a valid request: {type(exc).__name__}: {exc}"]
    found = []
    if set(got) != set(case.expected):
        found.append(f"outputs {sorted(got)}, expected {sorted(case.expected)}")
    for name, want in case.expected.items():
        if name in got:
            problem = _same(name, want, got[name])
            if problem:
                found.append(problem)
    return found


def _check_shape_of_answer(case: Case, target: Target, headers: dict[str, str], body: bytes) -> list[str]:
    """A 200 to a mutated request: well formed, and no string the client did not send."""
    try:
        got = _outputs_v2(case, 200, headers, body) if case.path.startswith("/v2/") and case.path.endswith("/infer") \
            else (_outputs_tf(case, target, json.loads(body)) if case.path.endswith(":predict") else
                  _ts_outputs(case, target, body) if case.path.startswith("/predictions/") else {})
    except (ValueError, KeyError, TypeError) as exc:
        return [f"unreadable 200 answer: {type(exc).__name__}: {exc}"]
    if target.name != "words":
        return []
    sent = _sent_strings(case)
    for arr in got.values():
        for item in arr.ravel().tolist():
            if not isinstance(item, str):
                return [f"a string output holds {type(item).__name__} {item!r:.40}"]
            if sent is not None:
                if item not in sent:
                    return [f"the model got the string {item!r:.60} that the request did not send (a repr?)"]
                continue
            forms = {item.encode(), dumps(item)[1:-1].encode(), dumps(item, ensure_ascii=False)[1:-1].encode()}
            if not any(f in case.body for f in forms):
                return [f"the model got the string {item!r:.60} that the request did not send (a repr?)"]
    return []


def _ts_outputs(case: Case, target: Target, body: bytes) -> dict[str, np.ndarray]:
    """TorchServe's answer: a list for a batch, one prediction for one example (a mutated body may
    have lost its batch dimension)."""
    answer = json.loads(body)
    if isinstance(answer, list):
        return _outputs_tf(case, target, {"predictions": answer})
    return _outputs_tf(case, target, {"predictions": [answer]})


def _sent_strings(case: Case) -> set[str] | None:
    """Every string the request carries, as the server should have read it (None: cannot tell)."""
    body, raw = case.body, b""
    size = case.headers.get("Inference-Header-Content-Length")
    if size is not None and case.headers.get("Content-Type", "").startswith("application/octet-stream"):
        try:
            body, raw = case.body[: int(size)], case.body[int(size):]
        except ValueError:
            return None
    try:
        tree = json.loads(body)
    except (ValueError, RecursionError):
        return None
    found: set[str] = set()
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            found.add(node)
        elif isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    pos = 0
    while pos + 4 <= len(raw):  # length-prefixed elements of the binary extension
        length = int.from_bytes(raw[pos : pos + 4], "little")
        found.add(raw[pos + 4 : pos + 4 + length].decode("utf-8", "replace"))
        pos += 4 + length
    return found


def big_case(target: Target, rng: random.Random, index: int) -> Case:
    """Bodies near Lambda's 6 MB limits: the batch cap, a request just under or over 6 MB, an answer
    that would be over it (strings of quotes double when the answer is escaped)."""
    name, datatype, cols = target.inputs[0]
    roll = rng.random()
    if target.name == "words" and roll < 0.6:
        size = rng.choice([700_000, 1_050_000, 1_150_000, 1_400_000])  # 4 elements: 2.8-5.6 MB raw
        char = rng.choice(['"', "\\", "x", "é"])  # quotes and backslashes double when escaped, é is 2 bytes
        arr = np.array([[char * size, char * size]] * 2, dtype=object)
        if rng.random() < 0.5:
            raw = _bytes_of(arr)
            header = dumps({"inputs": [{"name": name, "datatype": datatype, "shape": [2, 2],
                                        "parameters": {"binary_data_size": len(raw)}}],
                            **({"parameters": {"binary_data_output": True}} if rng.random() < 0.5 else {})}).encode()
            return Case(index, target.name, "big", "POST", f"/v2/models/{target.name}/infer",
                        {"Content-Type": "application/octet-stream", "Inference-Header-Content-Length": str(len(header))},
                        header + raw, mutations=[f"binary strings of {4 * size:,} bytes"])
        # (UTF-8, not \u escapes: bodies stay under the 24 MB the gateway drains before its 413; past
        # that it closes the connection without reading, by design)
        body = dumps({"inputs": [{"name": name, "datatype": datatype, "shape": [2, 2], "data": arr.tolist()}]},
                     ensure_ascii=False)
        return Case(index, target.name, "big", "POST", f"/v2/models/{target.name}/infer", dict(JSON_CT), body.encode(),
                    mutations=[f"JSON strings of {4 * size:,} characters"])
    rows = rng.choice([1024, 1025, 4096, 60_000])
    feeds = target.arrays(rng, 1)
    tree = {"inputs": [{"name": n, "datatype": d, "shape": [rows, c], "data": feeds[n].tolist() * rows}
                       for n, d, c in target.inputs]}
    return Case(index, target.name, "big", "POST", f"/v2/models/{target.name}/infer", dict(JSON_CT),
                dumps(tree).encode(), mutations=[f"{rows} rows"])


def other_case(target: Target, rng: random.Random, index: int) -> Case:
    """Routes, methods and metadata: the rest of the surface."""
    name = target.name
    path = rng.choice([f"/v2/models/{name}", f"/v2/models/{name}/ready", "/v2/health/live", "/v2/health/ready", "/v2",
                       f"/v1/models/{name}", f"/v1/models/{name}/metadata", "/openapi.json", f"/v2/models/{name}x/infer",
                       f"/v1/models/{name}:classify", f"/v1/models/{name}:predict/x", "/v2/models//infer", "/",
                       f"/v2/models/{name}/versions/nope/infer", f"/v2/models/{name}/infer/", "/v2/models/%00/infer",
                       f"/v1/models/{name}/versions/1:predict", "/v2/models/" + "a/" * 50, "/ping",
                       f"/models/{name}", f"/models/{name}/nope", f"/predictions/{name}/nope", "/predictions/",
                       f"/predictions/{name}x", f"/v1/models/{name}:classify"])
    method = rng.choice(["GET", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
    body = b"" if method in ("GET", "HEAD") or rng.random() < 0.5 else dumps(
        rng.choice([{}, [], {"inputs": []}, Raw("null")])).encode()
    return Case(index, name, "other", method, path, dict(JSON_CT), body)
