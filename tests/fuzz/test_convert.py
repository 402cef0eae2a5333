"""Model fuzzing of `deployer.convert`: FUZZ_MODELS mutated ONNX models (tests/fuzz/onnx_mutations.py).

The loop runs in tests/fuzz/convert_driver.py's own process (see there why); this test starts
it, restarts it past a model that killed it, and judges the results. Pass: every model is
either converted into an artifact the handler serves, or refused with a DeployerError whose
message holds no traceback and with the out folder untouched; nothing else is raised, no
process dies. Findings are copied to FUZZ_ARTIFACTS (the model folder and finding.json).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fuzz import _zygote
from tests.fuzz.report import SECTIONS, Budget, Section

pytestmark = pytest.mark.fuzz

REPO = Path(__file__).resolve().parents[2]
# Where a refusal happened, from its message: (words in the message, stage).
STAGES = [
    ("onnxruntime crashed", "checker crashed"), ("exited with code", "checker died"),
    ("took longer than", "checker time-out"), ("not a readable ONNX model", "protobuf (parent)"),
    ("not a complete ONNX model", "protobuf (parent)"), ("is empty", "protobuf (parent)"),
    ("external data", "external data"), ("pickle", "pickle"), ("'reading the ONNX protobuf'", "protobuf (checker)"),
    ("'onnx.checker", "onnx.checker"), ("'creating an onnxruntime session", "onnxruntime session"),
    ("'running inference", "running the model"), ("'optimizing", "optimizing"), ("parity check failed", "parity"),
    ("values for even one call", "input too large"), ("must be unique", "duplicate names"),
    ("declares its output", "declared output shape"), ("fails on the first", "some batch sizes only"),
    ("dimension fixed to 0", "empty input"), ("is not UTF-8 text", "names not UTF-8"),
    ("names no location", "external data"),
    ("element type the runtime cannot serve", "signature"), ("cannot be generated", "signature"),
]


def stage_of(message: str) -> str:
    return next((stage for words, stage in STAGES if words in message), "other")


@pytest.fixture(scope="module")
def zygote(tmp_path_factory: pytest.TempPathFactory, fuzz_budget: Budget) -> Iterator[list[str] | None]:
    """The fork server's client command line, or None for the real worker (FUZZ_REAL_WORKER=1)."""
    if fuzz_budget.real_worker:
        yield None
        return
    sock = str(tmp_path_factory.mktemp("zygote") / "worker.sock")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.Popen(_zygote.server_argv(sock), stdout=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "the fork server did not start"
        yield _zygote.client_argv(sock)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run_driver(spec: dict, spec_path: Path) -> tuple[int, str]:
    spec_path.write_text(json.dumps(spec))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "tests.fuzz.convert_driver", str(spec_path)], cwd=REPO, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace",
                          timeout=3600)
    return done.returncode, done.stderr


def test_fuzz_convert(zygote: list[str] | None, fuzz_budget: Budget, tmp_path: Path, artifacts: Path) -> None:
    section = Section("mutated models given to `deployer.convert`: outcome per seed model")
    stages = Section("refusals of `deployer.convert`: error class per stage")
    SECTIONS.extend([section, stages])
    results = tmp_path / "results.jsonl"
    spec = {"repo": str(REPO), "seed": fuzz_budget.seed, "start": 0, "stop": fuzz_budget.models,
            "work": str(tmp_path / "work"), "results": str(results), "artifacts": str(artifacts),
            "worker_argv": zygote}
    failures: list[str] = []
    started = time.monotonic()
    records: dict[int, dict] = {}
    restarts = 0
    while spec["start"] < spec["stop"]:
        code, stderr = _run_driver(spec, tmp_path / "spec.json")
        records = {}
        starts: dict[int, dict] = {}
        for line in results.read_text().splitlines() if results.exists() else []:
            item = json.loads(line)
            (starts if item.get("event") == "start" else records)[item["i"]] = item
        from tests.fuzz.targets import TRACEBACK

        if code == 0:
            if TRACEBACK.search(stderr):
                failures.append(f"a traceback on the driver's stderr: {stderr[-1500:]}")
            break
        unfinished = sorted(set(starts) - set(records))
        if not unfinished:
            failures.append(f"the driver failed before its first model (exit {code}): {stderr[-1500:]}")
            break
        dead = unfinished[0]
        item = starts[dead]
        failures.append(f"model #{dead} ({item['seed']}: {item['mutations']}) killed the convert process "
                        f"(exit {code}): {stderr.strip().splitlines()[-1][:300] if stderr.strip() else ''}")
        section.counts[(item["seed"], "CRASH")] += 1
        with results.open("a") as fh:
            fh.write(json.dumps({"i": dead, "seed": item["seed"], "mutations": item["mutations"], "outcome": "CRASH",
                                 "problems": ["the convert process died"], "seconds": 0}) + "\n")
        spec["start"] = dead + 1
        restarts += 1
    elapsed = time.monotonic() - started
    records = {}
    for line in results.read_text().splitlines() if results.exists() else []:
        item = json.loads(line)
        if item.get("event") != "start":
            records[item["i"]] = item
    seconds: Counter[str] = Counter()
    for i in sorted(records):
        item = records[i]
        if item["outcome"] != "CRASH":
            section.counts[(item["seed"], item["outcome"])] += 1
        if item["outcome"].startswith("refused"):
            stages.counts[(stage_of(item.get("message", "")), item["outcome"].split()[-1])] += 1
        seconds[item["outcome"]] += item.get("seconds", 0)
        for problem in item["problems"]:
            if item["outcome"] != "CRASH":
                failures.append(f"model #{i} ({item['seed']}: {item['mutations']}) {item['outcome']}: {problem}; "
                                f"{item.get('message', '')[:300]} (reproducer: {item.get('reproducer')})")
    slowest = max(records.values(), key=lambda r: r.get("seconds", 0), default=None)
    section.notes.append(f"{len(records)} models in {elapsed:.1f} s ({len(records) / max(elapsed, 1e-9):.1f}/s), "
                         f"seed {fuzz_budget.seed}, checks in {'fresh worker processes' if zygote is None else 'forks of one pre-imported worker'}, "
                         f"{restarts} restart(s) of the convert process")
    section.notes.append("time by outcome: " + ", ".join(f"{k} {v:.1f} s" for k, v in seconds.most_common()))
    if slowest:
        section.notes.append(f"slowest: model #{slowest['i']} ({slowest['seed']}, {slowest['outcome']}) "
                             f"{slowest.get('seconds', 0):.1f} s")
    section.notes += [f"  {f[:400]}" for f in failures[:10]]
    assert len(records) == fuzz_budget.models or failures, f"{len(records)} of {fuzz_budget.models} models ran"
    assert not failures, f"{len(failures)} failure(s):\n" + "\n".join(failures[:30])
