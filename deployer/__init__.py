"""onnx-lambda-deployer: a trained model to a monitored HTTPS endpoint on AWS Lambda."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("onnx-lambda-deployer")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"

__all__ = ["__version__", "convert"]


def __getattr__(name: str) -> object:
    # `deployer.convert` without paying for onnx and the converters on `import deployer`.
    if name == "convert":
        from deployer.model import convert

        return convert
    raise AttributeError(f"module 'deployer' has no attribute {name!r}")
