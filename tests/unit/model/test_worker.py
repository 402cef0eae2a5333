"""The checking subprocess's parent: any bytes the child prints, any way it ends, one clear outcome.

- output that is not UTF-8 (onnxruntime logging a model's own bytes) is decoded with replacement;
- a reply outside the protocol is a bug of the deployer's worker protocol, not a checker crash;
- a missing reply stays a crash (ModelCrashError).
"""

from __future__ import annotations

import sys
from pathlib import Path

import onnx
import pytest
from onnx import TensorProto, helper

from deployer.errors import DeployerError, ModelError
from deployer.model import convert
from deployer.model.errors import ModelCrashError
from deployer.model.worker import Worker, WorkerProtocolError
from tests.unit.model import builders


def resize_with_mode(path: Path, mode: bytes) -> Path:
    """A valid-looking model whose string attribute holds `mode` (b'\\xff\\xfe' is not UTF-8)."""
    graph = helper.make_graph(
        [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode)],
        "bytes_attribute",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 2, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 4])],
        [helper.make_tensor("scales", TensorProto.FLOAT, [4], [1, 1, 2, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def child(code: str) -> Worker:
    """A stand-in child: `code` runs with `request` (the parsed stdin) and `reply` (its path) defined."""
    prelude = "import json, sys, os; request = json.loads(sys.stdin.read()); reply = request['reply']\n"
    return Worker([sys.executable, "-c", prelude + code])


def test_a_model_that_makes_onnxruntime_print_non_utf8_is_a_model_error(tmp_path: Path) -> None:
    source = resize_with_mode(tmp_path / "bytes.onnx", b"\xff\xfe")
    with pytest.raises(ModelError) as caught:
        Worker().call("check", source)
    message = str(caught.value)
    assert "bytes.onnx" in message and "creating an onnxruntime session" in message
    # onnxruntime's own words, with the model's bytes replaced, not a UnicodeDecodeError of ours
    assert "mode attribute is \ufffd\ufffd" in message and "\x1b[" not in message


def test_convert_refuses_that_model_with_one_message(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ModelError, match="mode attribute is"):
        convert(resize_with_mode(tmp_path / "bytes.onnx", b"\xff\xfe"), out=out)
    assert not out.exists() or not any(out.iterdir())


def test_non_utf8_output_of_a_crashing_child_is_quoted_with_replacement(tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "m.onnx")
    worker = child(
        "import signal\n"
        "sys.stdout.buffer.write(b'out \\xff\\xfe\\n'); sys.stdout.flush()\n"
        "sys.stderr.buffer.write(b'@@step creating an onnxruntime session\\nbad bytes \\xff\\xfe here\\n')\n"
        "sys.stderr.flush(); os.kill(os.getpid(), signal.SIGKILL)\n"  # no faulthandler lines after ours
    )
    with pytest.raises(ModelCrashError) as caught:
        worker.call("check", source)
    message = str(caught.value)
    assert "SIGKILL" in message and "creating an onnxruntime session" in message
    assert "bad bytes \ufffd\ufffd here" in message


def test_non_utf8_output_beside_a_good_reply_is_harmless(tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "m.onnx")
    worker = child(
        "sys.stdout.buffer.write(b'\\xff\\xfe'); sys.stderr.buffer.write(b'\\xfe\\xff\\n')\n"
        "open(reply, 'w').write(json.dumps({'ok': True, 'opset': 17}))\n"
    )
    assert worker.call("check", source) == {"ok": True, "opset": 17}


@pytest.mark.parametrize(("written", "words"), [
    (b"{\"ok\": tr", "not JSON"),
    (b"\xff\xfe not even text", "not JSON"),
    (b"[1, 2]", "its reply is list"),
    (b"{\"result\": 1}", "without a boolean 'ok'"),
    (b"{\"ok\": \"yes\"}", "without a boolean 'ok'"),
])  # fmt: skip
def test_a_reply_outside_the_protocol_is_a_protocol_bug_not_a_crash(tmp_path: Path, written: bytes, words: str) -> None:
    source = builders.onnx_linear(tmp_path / "m.onnx")
    worker = child(f"open(reply, 'wb').write({written!r})\n")
    with pytest.raises(WorkerProtocolError) as caught:
        worker.call("check", source)
    message = str(caught.value)
    assert message.startswith("bug in the deployer's worker protocol") and words in message and "m.onnx" in message
    assert not isinstance(caught.value, DeployerError)  # a bug: the CLI keeps its traceback


def test_a_reply_the_real_child_cannot_serialize_is_a_protocol_bug(tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "m.onnx")
    # the real worker's main(), with one step returning what JSON cannot hold
    worker = Worker([sys.executable, "-c",
                     "import sys; import deployer.model._worker as w; "
                     "w.STEPS['check'] = lambda req: {'value': object()}; sys.exit(w.main())"])
    with pytest.raises(WorkerProtocolError, match="cannot be serialized"):
        worker.call("check", source)


def test_a_child_that_exits_without_a_reply_is_still_a_crash(tmp_path: Path) -> None:
    source = builders.onnx_linear(tmp_path / "m.onnx")
    with pytest.raises(ModelCrashError, match="exited with code 4"):
        child("sys.stderr.buffer.write(b'\\xff'); sys.exit(4)\n").call("check", source)


def test_the_real_child_still_answers_a_good_model(tmp_path: Path) -> None:
    reply = Worker().call("check", builders.onnx_linear(tmp_path / "m.onnx"))
    assert reply["ok"] is True and reply["inputs"] and reply["opset"]
