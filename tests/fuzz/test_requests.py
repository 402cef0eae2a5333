"""Request fuzzing against the real local runtime: gateway emulation → RIE → awslambdaric → handler.

For each served model (tests/fuzz/targets.py) the fuzzer sends FUZZ_REQUESTS / 3 requests, each
built from its own seed (`FUZZ_SEED:model:index`): a valid KServe v2 (JSON, base64 or binary
extension) or TF Serving (instances or inputs) request, mostly mutated — tree mutations (deleted
and duplicated keys, type swaps, huge numbers, deep nesting, random shapes and datatypes, odd
strings), byte mutations (flips, insertions, truncation, invalid UTF-8), header mutations (content
type, binary header length) — and sometimes left valid, when its answer must equal onnxruntime's.

Pass: no 5xx but a ModelFailure 500, every error a JSON {"error": ...}, no traceback anywhere, one
cold start per model (no crash, no reset), a correct prediction every 250 requests and at the end.
Failing requests are written to FUZZ_ARTIFACTS as JSON (method, path, headers, body in base64).
"""

from __future__ import annotations

import base64
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnxruntime as ort
import pytest

from deployer.errors import LocalRuntimeError
from deployer.local import LocalEndpoint
from tests.fuzz.mutations import dumps, mutate_bytes, mutate_tree
from tests.fuzz.report import SECTIONS, Budget, Section
from tests.fuzz.targets import TARGETS, TRACEBACK, Case, Target, big_case, other_case, problems, valid_case

pytestmark = [pytest.mark.local, pytest.mark.fuzz]

FORMS = [("v2-json", 0.28), ("v2-base64", 0.08), ("v2-binary", 0.14), ("tf-instances", 0.17), ("tf-inputs", 0.15),
         ("ts-predictions", 0.1),
         ("other", 0.075), ("big", 0.005)]
CANARY_EVERY = 250
CONTENT_TYPES = ["application/json", "application/json; charset=utf-8", "text/plain", "application/octet-stream",
                 "application/x-www-form-urlencoded", "", "application/vnd+json", "APPLICATION/JSON",
                 "multipart/form-data; boundary=x", "application/json\u00e9"]


def make_case(target: Target, seed: int, index: int) -> Case:
    """The index-th request for this target: the same for the same seed, whatever ran before."""
    rng = random.Random(f"{seed}:{target.name}:{index}")
    form = rng.choices([f for f, _ in FORMS], [w for _, w in FORMS])[0]
    if form == "v2-base64" and target.name == "words":
        form = "v2-json"
    if form == "other":
        return other_case(target, rng, index)
    if form == "big":
        return big_case(target, rng, index)
    case, tree = valid_case(target, rng, index, form)
    if rng.random() < 0.1:
        return case  # left valid: its answer is checked against onnxruntime
    roll = rng.random()
    if case.form == "v2-binary":
        _mutate_binary(rng, case, tree, roll)
    elif roll < 0.6:
        tree, done = mutate_tree(rng, tree, rng.choice([1, 1, 2, 3]))
        case.body = dumps(tree, ensure_ascii=rng.random() < 0.5).encode()
        case.mutations += done
    elif roll < 0.9:
        case.body, done = mutate_bytes(rng, case.body, rng.choice([1, 1, 2, 4]))
        case.mutations += done
    else:
        _mutate_headers(rng, case)
    if not case.mutations:
        case.mutations.append("none took effect")
    return case


def _mutate_binary(rng: random.Random, case: Case, tree: Any, roll: float) -> None:
    length = int(case.headers["Inference-Header-Content-Length"])
    header, raw = case.body[:length], case.body[length:]
    if roll < 0.4:
        tree, done = mutate_tree(rng, tree, rng.choice([1, 1, 2]))
        header = dumps(tree).encode()
        case.mutations += done
    elif roll < 0.55:
        header, done = mutate_bytes(rng, header, rng.choice([1, 2]))
        case.mutations += [f"header {d}" for d in done]
    elif roll < 0.8:
        raw, done = mutate_bytes(rng, raw, rng.choice([1, 2]))
        case.mutations += [f"tensor bytes {d}" for d in done]
    else:
        _mutate_headers(rng, case)
    if rng.random() < 0.8 or not case.mutations:
        case.headers["Inference-Header-Content-Length"] = str(len(header))
    if rng.random() < 0.2:
        case.headers["Inference-Header-Content-Length"] = str(rng.choice(
            [0, -1, 1, len(header) - 1, len(header) + 1, len(header) + len(raw), len(header) + len(raw) + 1, 2**63,
             " 5", "0x10", "1e3", "", "١٢"]))
        case.mutations.append("header length " + case.headers["Inference-Header-Content-Length"])
    case.body = header + raw


def _mutate_headers(rng: random.Random, case: Case) -> None:
    roll = rng.random()
    if roll < 0.6:
        ctype = rng.choice(CONTENT_TYPES)
        if ctype:
            case.headers["Content-Type"] = ctype
        else:
            case.headers.pop("Content-Type", None)
        case.mutations.append(f"content type {ctype!r}")
    elif roll < 0.8:
        case.headers["Inference-Header-Content-Length"] = str(rng.choice([0, 1, 10, len(case.body), -5, "x"]))
        case.mutations.append("stray binary header length")
    else:
        case.headers["Content-Encoding"] = rng.choice(["gzip", "br", "identity", "x"])
        case.mutations.append("content encoding " + case.headers["Content-Encoding"])


def _wire(headers: dict[str, str]) -> dict[str, Any]:
    """Header values as UTF-8 bytes: http.client would refuse what latin-1 cannot encode."""
    return {name: value.encode() for name, value in headers.items()}


class Output:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


@pytest.fixture(scope="module")
def targets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Target]:
    root = tmp_path_factory.mktemp("fuzz-models")
    built = {name: make(root) for name, make in TARGETS.items()}
    for target in built.values():
        target.session = ort.InferenceSession(str(target.folder / "model.onnx"), providers=["CPUExecutionProvider"])
    return built


@pytest.fixture(scope="module")
def section() -> Iterator[Section]:
    section = Section("requests against `serve` (the local runtime): status per form")
    SECTIONS.append(section)
    yield section


def _save(artifacts: Path, case: Case, status: int | str, body: bytes, found: list[str]) -> Path:
    path = artifacts / f"request-{case.target}-{case.index}.json"
    path.write_text(json.dumps({
        "target": case.target, "index": case.index, "form": case.form, "mutations": case.mutations,
        "method": case.method, "path": case.path, "headers": case.headers,
        "body_base64": base64.b64encode(case.body).decode(), "body_head": case.body[:300].decode("utf-8", "replace"),
        "status": status, "answer_head": body[:600].decode("utf-8", "replace"), "problems": found,
    }, indent=1))
    return path


def _canary(endpoint: LocalEndpoint, target: Target, seed: int, index: int) -> list[str]:
    rng = random.Random(f"canary:{seed}:{target.name}:{index}")
    case, _ = valid_case(target, rng, index, rng.choice(["v2-json", "v2-binary", "tf-instances", "tf-inputs", "ts-predictions"]))
    answer = endpoint.request(case.method, case.path, case.body, case.headers)
    return problems(case, target, answer.status, answer.headers, answer.body)


@pytest.mark.parametrize("name", list(TARGETS))
def test_fuzz_requests(name: str, targets: dict[str, Target], fuzz_budget: Budget, section: Section,
                       artifacts: Path) -> None:
    target = targets[name]
    count = fuzz_budget.requests // len(TARGETS) + (1 if list(TARGETS).index(name) < fuzz_budget.requests % len(TARGETS)
                                                     else 0)
    output = Output()
    failures: list[str] = []
    started = time.monotonic()
    with LocalEndpoint(target.folder, output=output, timeout_s=30) as endpoint:
        for index in range(count):
            case = make_case(target, fuzz_budget.seed, index)
            try:
                answer = endpoint.request(case.method, case.path, case.body, _wire(case.headers))
                status, headers, body = answer.status, answer.headers, answer.body
                found = problems(case, target, status, headers, body)
            except LocalRuntimeError as exc:
                status, body, found = "no answer", str(exc).encode(), [f"no answer: {exc}"]
            section.counts[(f"{name} {case.form}", str(status))] += 1
            if found:
                where = _save(artifacts, case, status, body, found)
                failures.append(f"{name}#{case.index} {case.form} {case.mutations[:3]} -> {status}: "
                                f"{'; '.join(found)[:300]} (reproducer: {where})")
            if index % CANARY_EVERY == CANARY_EVERY - 1:
                failures += [f"{name} canary after #{index}: {p}" for p in _canary(endpoint, target, fuzz_budget.seed, index)]
        failures += [f"{name} final prediction: {p}" for p in _canary(endpoint, target, fuzz_budget.seed, -1)]
        lines = list(output.lines)
    elapsed = time.monotonic() - started
    cold = sum(1 for line in lines if '"ColdStart"' in line)
    if cold != 1:
        failures.append(f"{name}: {cold} cold starts in {count} requests (a crash or a reset of the runtime)")
    for line in lines:
        if TRACEBACK.search(line) or "unhandled error" in line or "Runtime exited" in line:
            failures.append(f"{name}: in the function's output: {line[:400]}")
            break
    section.notes.append(f"{name}: {count} requests in {elapsed:.1f} s ({count / max(elapsed, 1e-9):.0f}/s), "
                         f"{cold} cold start(s), {len(failures)} failure(s), seed {fuzz_budget.seed}")
    section.notes += [f"  {f}" for f in failures[:10]]
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures[:30])
