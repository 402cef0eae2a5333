"""The model fuzzer's loop, run in its own process by tests/fuzz/test_convert.py.

    python -m tests.fuzz.convert_driver SPEC.json

A process of its own because convert's parent side reads untrusted protobufs (C++) and builds
parity inputs from untrusted shapes: a crash or a runaway allocation there must end this
process, under an address-space limit, not pytest. The test restarts it past a model that
killed it and reports that model.

For model i (its own seed, `FUZZ_SEED:model:i`): pick a seed model, mutate it into a fresh
folder, `deployer.convert` it into an out folder (fresh, or holding a previous artifact), and
judge: a refusal must be a DeployerError whose message holds no traceback, with the out folder
untouched; anything else raised is a bug; a published artifact must load in the handler and
answer its own manifest sample. One JSON line per model goes to the results file, after a
`start` line, so a crash names its model.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import resource
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ADDRESS_SPACE = 8 * 1024**3  # of this process; convert's parent side must refuse, not allocate, beyond


def _tree_digest(folder: Path) -> dict[str, str] | None:
    if not folder.exists():
        return None
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _serve_sample(out: Path) -> str | None:
    """Load the artifact as the handler does and ask it its own manifest sample: None when fine."""
    import numpy as np

    from functions.app import Service
    from functions.manifest import load_manifest

    manifest = load_manifest(str(out))
    if manifest is None:
        return "no manifest.json was published"
    service = Service(str(out))
    if service.model is None:
        return f"the handler cannot load the artifact: {service.error}"
    sample = manifest.get("sample")
    if not sample:
        return None
    inputs = []
    for spec in manifest["inputs"]:
        arr = np.array(sample["inputs"][spec["name"]])
        data = arr.ravel().tolist()
        inputs.append({"name": spec["name"], "datatype": spec["datatype"], "shape": list(arr.shape), "data": data})
    event = {"httpMethod": "POST", "path": f"/v2/models/{manifest['name']}/infer",
             "headers": {"Content-Type": "application/json"}, "body": json.dumps({"inputs": inputs}),
             "isBase64Encoded": False, "requestContext": {"stage": "prod", "requestId": "fuzz"}}
    answer = service.handler(event, None)
    if answer["statusCode"] != 200:
        return f"the artifact's own sample is answered {answer['statusCode']}: {answer['body'][:300]}"
    got = {o["name"]: o["data"] for o in json.loads(answer["body"])["outputs"]}
    for name, want in sample["outputs"].items():
        w, g = np.array(want), np.array(got.get(name))
        if w.dtype.kind in "fiub" and g.dtype.kind in "fiub":
            if w.size != g.size or not np.allclose(g.ravel().astype(float), w.ravel().astype(float), rtol=1e-4,
                                                   atol=1e-5, equal_nan=True):
                return f"the artifact answers its sample's output {name} differently from the manifest"
        elif w.ravel().tolist() != g.ravel().tolist():
            return f"the artifact answers its sample's output {name} differently from the manifest"
    return None


def main(spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    sys.path.insert(0, spec["repo"])
    from deployer.errors import DeployerError
    from deployer.model import convert
    from deployer.model.worker import Worker
    from tests.fuzz.onnx_mutations import build_seeds, mutate_model
    from tests.fuzz.targets import TRACEBACK

    work = Path(spec["work"])
    artifacts = Path(spec["artifacts"])
    worker = Worker(argv=spec["worker_argv"], timeout=180) if spec.get("worker_argv") else Worker(timeout=180)
    seeds = build_seeds(work / "seeds")
    previous = work / "previous"
    if not (previous / "manifest.json").exists():
        convert(seeds["linear"].folder / "model.onnx", out=previous, worker=worker)
    results = open(spec["results"], "a", encoding="utf-8")

    def write(record: dict[str, Any]) -> None:
        results.write(json.dumps(record) + "\n")
        results.flush()

    for i in range(spec["start"], spec["stop"]):
        rng = random.Random(f"{spec['seed']}:model:{i}")
        seed = seeds[rng.choice(sorted(seeds))]
        src = work / "src" / f"m{i}"
        shutil.rmtree(src, ignore_errors=True)
        mutations = mutate_model(rng, seed, src)
        out = work / "out" / f"m{i}"
        shutil.rmtree(out, ignore_errors=True)
        if rng.random() < 0.2:
            shutil.copytree(previous, out)
        before = _tree_digest(out)
        write({"i": i, "event": "start", "seed": seed.name, "mutations": mutations})
        said: list[str] = []
        started = time.monotonic()
        record: dict[str, Any] = {"i": i, "seed": seed.name, "mutations": mutations, "problems": []}
        try:
            convert(src / "model.onnx", out=out, worker=worker, sample=seed.sample, progress=said.append)
        except DeployerError as exc:
            message = str(exc)
            record["outcome"] = f"refused {type(exc).__name__}"
            record["message"] = message[:2000]
            if not message.strip():
                record["problems"].append("a refusal without a message")
            if TRACEBACK.search(message):
                record["problems"].append("a traceback in the refusal's message")
            if "validation error" in message:  # pydantic's words: convert built a manifest its own schema refuses
                record["problems"].append("convert built an invalid manifest (a bug of convert, not of the model)")
            if _tree_digest(out) != before:
                record["problems"].append("the out folder was changed by a refused convert")
        except BaseException as exc:  # noqa: BLE001 (a bug: convert raised outside the DeployerError tree)
            if isinstance(exc, KeyboardInterrupt):
                raise
            record["outcome"] = f"BUG {type(exc).__name__}"
            record["message"] = f"{type(exc).__name__}: {str(exc)[:500]}"
            record["traceback"] = traceback.format_exc()[-4000:]
            record["problems"].append(f"convert raised {type(exc).__name__}, not a DeployerError")
            if _tree_digest(out) != before:
                record["problems"].append("the out folder was changed by a failed convert")
        else:
            record["outcome"] = "converted"
            try:
                problem = _serve_sample(out)
            except Exception as exc:  # noqa: BLE001
                problem = f"checking the published artifact raised {type(exc).__name__}: {exc}"
            if problem:
                record["problems"].append(problem)
        record["seconds"] = round(time.monotonic() - started, 3)
        if any(TRACEBACK.search(line) for line in said):
            record["problems"].append("a traceback in convert's progress output")
        if record["problems"]:
            keep = artifacts / f"model-{spec['seed']}-{i}"
            shutil.rmtree(keep, ignore_errors=True)
            shutil.copytree(src, keep, symlinks=True)
            (keep / "finding.json").write_text(json.dumps(record, indent=1))
            record["reproducer"] = str(keep)
        shutil.rmtree(src, ignore_errors=True)
        shutil.rmtree(out, ignore_errors=True)
        write(record)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
