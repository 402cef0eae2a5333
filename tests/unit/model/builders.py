"""Models for the converter tests, built in code (nothing in the repository).

Each builder writes into a folder it is given and returns what the test needs; TensorFlow and
torch are imported inside the builders so that tests that do not use them do not pay for them.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


def need(module: str, extra: str) -> Any:
    """Import `module` for a test, or skip the test, with the fix, when the `extra` is not
    installed. Under CI (CI set, as CI services do) every extra is installed, so a missing one
    fails instead of hiding the tests behind a skip."""
    import pytest

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        reason = f"needs {module} from the '{extra}' extra (pip install -e '.[{extra}]'): {exc}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


def onnx_linear(path: Path, features: int = 4, outputs: int = 3, seed: int = 0) -> Path:
    """y = x @ W + b as an ONNX file, input x FP32 [N, features]."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((features, outputs)).astype(np.float32)
    b = rng.standard_normal(outputs).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", features])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", outputs])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tests")
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def onnx_conv_bn(path: Path, channels: int = 8, size: int = 16, seed: int = 0) -> Path:
    """Conv + BatchNormalization + Relu + global pool + Gemm: something offline optimization folds."""
    rng = np.random.default_rng(seed)
    inits = [
        numpy_helper.from_array(rng.standard_normal((channels, 3, 3, 3)).astype(np.float32) * 0.2, "cw"),
        numpy_helper.from_array((1 + 0.1 * rng.standard_normal(channels)).astype(np.float32), "s"),
        numpy_helper.from_array((0.1 * rng.standard_normal(channels)).astype(np.float32), "bb"),
        numpy_helper.from_array((0.1 * rng.standard_normal(channels)).astype(np.float32), "m"),
        numpy_helper.from_array((1 + 0.1 * np.abs(rng.standard_normal(channels))).astype(np.float32), "v"),
        numpy_helper.from_array(rng.standard_normal((channels, 5)).astype(np.float32), "fw"),
        numpy_helper.from_array(np.zeros(5, np.float32), "fb"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "cw"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"]),
        helper.make_node("Relu", ["n"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fw", "fb"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "convbn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tests")
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def onnx_with_external_data(folder: Path, location: str) -> Path:
    """model.onnx whose weight W claims to live at `location` (the file itself is not written)."""
    path = onnx_linear(folder / "model.onnx")
    model = onnx.load(str(path))
    tensor = next(t for t in model.graph.initializer if t.name == "W")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", "0"), ("length", "48")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def onnx_with_real_external_data(folder: Path) -> Path:
    """model.onnx + weights.bin inside the same folder (the allowed case)."""
    path = onnx_linear(folder / "model.onnx", features=64, outputs=32)
    model = onnx.load(str(path))
    onnx.save(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)
    return path


def iris_pipeline(classifier: str = "logreg", string_labels: bool = False) -> tuple[Any, np.ndarray]:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_iris()
    y = data.target_names[data.target] if string_labels else data.target
    final = (LogisticRegression(max_iter=500, random_state=0) if classifier == "logreg"
             else RandomForestClassifier(n_estimators=10, max_depth=4, random_state=0))
    pipe = make_pipeline(StandardScaler(), final).fit(data.data, y)
    return pipe, data.data.astype(np.float32)


def regressor() -> tuple[Any, np.ndarray]:
    from sklearn.datasets import make_regression
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import MinMaxScaler

    x, y = make_regression(n_samples=80, n_features=6, noise=0.1, random_state=0)
    return make_pipeline(MinMaxScaler(), Ridge()).fit(x, y), x.astype(np.float32)


def torch_mlp(features: int = 8, classes: int = 3, seed: int = 0) -> Any:
    torch = need("torch", "torch")

    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(features, 16), torch.nn.ReLU(), torch.nn.Linear(16, classes),
                               torch.nn.Softmax(dim=1)).eval()


def torch_files(folder: Path, features: int = 8) -> dict[str, Path]:
    """The same MLP as TorchScript (.pt) and as torch.export (.pt2) with a dynamic batch."""
    torch = need("torch", "torch")

    model = torch_mlp(features)
    x = torch.randn(4, features)
    folder.mkdir(parents=True, exist_ok=True)
    torch.jit.save(torch.jit.trace(model, x), str(folder / "mlp.pt"))
    program = torch.export.export(model, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(folder / "mlp.pt2"))
    fixed = torch.export.export(model, (x,))  # no dynamic_shapes: the batch is specialized to 4
    torch.export.save(fixed, str(folder / "mlp-fixed.pt2"))
    return {"torchscript": folder / "mlp.pt", "export": folder / "mlp.pt2",
            "export-fixed": folder / "mlp-fixed.pt2", "module": model}  # type: ignore[dict-item]


_CALLS = [0]


def drifting_module(features: int = 4) -> Any:
    """A module whose answer changes with every call (a counter outside the module, which
    torch.export neither restores nor can see): its export cannot match the original."""
    torch = need("torch", "torch")

    class Drift(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(features, 2)

        def forward(self, x: Any) -> Any:
            _CALLS[0] += 1
            return self.lin(x) * float(_CALLS[0])

    torch.manual_seed(0)
    return Drift().eval()


def keras_model(features: int = 8, classes: int = 3) -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    need("tensorflow", "tensorflow")
    keras = need("keras", "tensorflow")

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((features,)), keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(classes, activation="softmax")])


def keras_files(folder: Path, model: Any) -> dict[str, Path]:
    """The Keras model as .keras, .h5 and a .tflite with a dynamic batch."""
    tf = need("tensorflow", "tensorflow")

    folder.mkdir(parents=True, exist_ok=True)
    model.save(str(folder / "model.keras"))
    model.save(str(folder / "model.h5"))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    (folder / "model.tflite").write_bytes(converter.convert())
    return {"keras": folder / "model.keras", "h5": folder / "model.h5", "tflite": folder / "model.tflite"}
