"""The public surface of `deployer`, pinned (as httpx's tests/test_exported_members.py pins its own)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import deployer
import deployer.api

REPO = Path(__file__).resolve().parents[3]

EXPORTED = [
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


def test_exported_members() -> None:
    assert deployer.__all__ == EXPORTED
    public = [name for name in dir(deployer) if not name.startswith("_")]
    assert public == sorted(name for name in EXPORTED if not name.startswith("_"))  # dir() shows the API, nothing else
    for name in EXPORTED:
        member = getattr(deployer, name)
        if name == "__version__":
            continue
        assert member is getattr(deployer.api, name), name
        # convert is the engine's own function (no wrapper restating its signature); the rest live in deployer.api
        assert member.__module__ == ("deployer.model.convert" if name == "convert" else "deployer.api"), name
        assert inspect.getdoc(member), f"deployer.{name} has no docstring"
        if inspect.isfunction(member):
            assert inspect.signature(member).return_annotation not in (inspect.Signature.empty, "Any"), name


def test_import_deployer_stays_cheap() -> None:
    """`import deployer` loads none of the API's dependencies; the first use of a verb does."""
    code = (
        "import sys, deployer\n"
        "heavy = ('onnx', 'onnxruntime', 'numpy', 'boto3', 'typer', 'rich', 'docker',\n"
        "         'deployer.api', 'deployer.model')\n"
        "print(sorted(m for m in sys.modules if m in heavy))\n"
        "deployer.status\n"
        "print('deployer.api' in sys.modules, 'boto3' in sys.modules)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["[]", "True False"]


def test_push_and_plan_take_every_option_the_cli_has() -> None:
    """The Python API's push/plan keep up with PushOptions (the CLI's options, typed)."""
    import dataclasses

    from deployer.deploy import PushOptions

    fields = {f.name for f in dataclasses.fields(PushOptions)} - {"model", "overrides", "serve"}
    push_params = set(inspect.signature(deployer.push).parameters)
    plan_params = set(inspect.signature(deployer.plan).parameters)
    assert fields - push_params == set()
    assert fields - {"trust_pickle", "golden"} - plan_params == set()
