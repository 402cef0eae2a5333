"""onnx-lambda-deployer: a trained model to a monitored HTTPS endpoint on AWS Lambda.

The Python API is the CLI's verbs as typed functions (deployer/api.py):

    import deployer
    model = deployer.convert("model.joblib", out="build/churn", trust_pickle=True, sample="rows.csv")
    deployer.invoke(model.out, {"instances": [[...]]}).json()
    deployer.push(model.out).url

They are loaded on first use, so `import deployer` stays cheap (no onnx, numpy, boto3 or typer:
tests/unit/deployer/test_exported_members.py pins it).
"""

from __future__ import annotations

import typing as _typing

if _typing.TYPE_CHECKING:
    from deployer.api import (
        Answer,
        Deletion,
        Rollback,
        StackStatus,
        build,
        convert,
        delete,
        invoke,
        plan,
        push,
        rollback,
        serve,
        status,
        write_template,
    )

__all__ = [
    "Answer",
    "Deletion",
    "Rollback",
    "StackStatus",
    "__version__",
    "build",
    "convert",
    "delete",
    "invoke",
    "plan",
    "push",
    "rollback",
    "serve",
    "status",
    "write_template",
]

_API = frozenset(__all__) - {"__version__"}


def __getattr__(name: str) -> object:
    # `deployer.push` and the rest without paying for the API's imports on `import deployer`
    if name == "__version__":  # read on first use: importlib.metadata costs ~30 ms of every CLI start
        import importlib.metadata

        try:
            version = importlib.metadata.version("onnx-lambda-deployer")
        except importlib.metadata.PackageNotFoundError:  # running from a source tree that was not installed
            version = "0.0.0+source"
        globals()["__version__"] = version
        return version
    if name in _API:
        from deployer import api

        return getattr(api, name)
    raise AttributeError(f"module 'deployer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({name for name in globals() if name.startswith("__") and name.endswith("__")} | set(__all__))
