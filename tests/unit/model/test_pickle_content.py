"""Issue 9 (High 1): a pickle is refused from its content, whatever its name or --framework.

Each payload, when unpickled, writes a marker file; the marker must never appear without
--trust-pickle, and nothing may be written to the output folder.
"""

from __future__ import annotations

import io
import json
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pytest

from deployer.model import convert
from deployer.model.errors import ModelError, UnsafeModelError
from deployer.model.pickles import pickle_evidence
from tests.unit.model import builders

ROOT = Path(__file__).resolve().parents[3]


class _Payload:
    """Unpickling this runs exec(): the attack the check stops."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return exec, (f"open({str(self.marker)!r}, 'w').write('ran')",)


def _pickled(protocol: int) -> Callable[[Path, Path], bytes]:
    return lambda marker, tmp: pickle.dumps(_Payload(marker), protocol=protocol)


def _joblib(compress: Any) -> Callable[[Path, Path], bytes]:
    def build(marker: Path, tmp: Path) -> bytes:
        joblib.dump(_Payload(marker), tmp / "dump", compress=compress)
        return (tmp / "dump").read_bytes()
    return build


def _torch_save(marker: Path, tmp: Path) -> bytes:
    torch = builders.need("torch", "torch")

    buffer = io.BytesIO()
    torch.save(_Payload(marker), buffer)
    return buffer.getvalue()


def _pt2_with_payload(marker: Path, tmp: Path) -> bytes:
    """A real torch.export archive whose sample inputs were swapped for the payload."""
    torch = builders.need("torch", "torch")

    ep = torch.export.export(torch.nn.Linear(4, 2), (torch.randn(2, 4),))
    torch.export.save(ep, tmp / "real.pt2")
    evil = _torch_save(marker, tmp)
    out = io.BytesIO()
    with zipfile.ZipFile(tmp / "real.pt2") as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, evil if info.filename.endswith("sample_inputs/model.pt") else data)
    return out.getvalue()


PAYLOADS: dict[str, Callable[[Path, Path], bytes]] = {
    "protocol-0": _pickled(0),
    "protocol-1": _pickled(1),
    "protocol-2": _pickled(2),
    "protocol-5": _pickled(5),
    "joblib-zlib": _joblib(3),
    "joblib-gzip": _joblib(("gzip", 3)),
    "joblib-bz2": _joblib(("bz2", 3)),
    "joblib-xz": _joblib(("xz", 3)),
    "joblib-lzma": _joblib(("lzma", 3)),
    "torch-save-zip": _torch_save,
    "pt2-with-pickled-sample": _pt2_with_payload,
}
NAMES = ["model.bin", "model.dat", "model.model", "model.onnx", "model"]


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
@pytest.mark.parametrize("framework", ["auto", "sklearn", "torch", "onnx"])
def test_pickle_refused_by_content(tmp_path: Path, payload: str, framework: str) -> None:
    marker = tmp_path / "marker"
    data = PAYLOADS[payload](marker, tmp_path)
    for index, name in enumerate(NAMES):
        source = tmp_path / f"{index}" / name
        source.parent.mkdir()
        source.write_bytes(data)
        out = tmp_path / f"out{index}"
        with pytest.raises(UnsafeModelError) as caught:
            convert(source, out=out, framework=framework)
        message = str(caught.value)
        assert "--trust-pickle" in message and str(source) in message, message
        assert not marker.exists(), f"{payload} as {name} with --framework {framework} was unpickled"
        assert not out.exists()


def test_evidence_names_what_the_pickle_imports(tmp_path: Path) -> None:
    (tmp_path / "m.bin").write_bytes(pickle.dumps(_Payload(tmp_path / "x"), protocol=4))
    evidence = pickle_evidence(tmp_path / "m.bin")
    assert evidence is not None and "builtins.exec" in evidence


@pytest.mark.parametrize("name", ["model.bin", "model.pt"])
def test_trusted_pickle_of_a_non_model_says_so(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_bytes(pickle.dumps(12345, protocol=4))
    with pytest.raises(ModelError, match=r"builtins\.int, which is not a scikit-learn"):
        convert(tmp_path / name, out=tmp_path / "out", framework="sklearn", trust_pickle=True)


def test_not_pickles(tmp_path: Path, torch_sources: dict[str, Any]) -> None:
    """Formats whose loaders never run a pickle are not flagged (or they could not be converted)."""
    torch = builders.need("torch", "torch")

    onnx_file = builders.onnx_linear(tmp_path / "lin.onnx", features=4, outputs=2)
    torch.save(torch.nn.Linear(4, 2).state_dict(), tmp_path / "weights.pt")
    ep = torch.export.export(torch.nn.Linear(4, 2), (torch.randn(2, 4),))
    torch.export.save(ep, tmp_path / "real.pt2")
    (tmp_path / "notes.txt").write_text("this is not a model\n" * 10)
    for path in [onnx_file, tmp_path / "weights.pt", tmp_path / "real.pt2", tmp_path / "notes.txt",
                 *[p for p in torch_sources.values() if isinstance(p, Path) and p.suffix in (".pt", ".pt2")]]:
        assert pickle_evidence(path) is None, path


def test_push_of_a_pickle_named_bin_runs_nothing(tmp_path: Path) -> None:
    """The CLI path of the issue: `push model.bin` must refuse before loading, with exit != 0."""
    marker = tmp_path / "marker"
    (tmp_path / "model.bin").write_bytes(pickle.dumps(_Payload(marker), protocol=4))
    from deployer.local.cloud import client

    try:
        done = subprocess.run(
            [sys.executable, "-m", "deployer", "push", str(tmp_path / "model.bin"), "--json"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
            env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        )
    finally:
        client.stop(tmp_path)  # push started the project's local cloud before it read the model
    assert done.returncode != 0
    assert "--trust-pickle" in json.loads(done.stdout.splitlines()[-1])["error"]
    assert "Traceback" not in done.stderr
    assert not marker.exists()
