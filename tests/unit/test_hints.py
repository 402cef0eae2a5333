"""Every option a user-facing message names exists on the command that message comes from.

A hint that tells the user to pass `--base-image` to a command that has no such option (push's
fallback did, issue 11 #4) sends them into a usage error. This test reads every string literal
of `deployer/` (docstrings excluded), keeps the ones that mention `--option` in prose (not the
argv tokens handed to docker or pip), and checks each option against Typer's click command:

- a message that names the command (`python -m deployer build ... --arch`, or `push --golden`)
  is checked against that command;
- a command of another tool (`aws ...`, `docker ...`, `pip ...`, `tensorboard ...`), in the same
  backtick-quoted or unquoted stretch of text, is not ours and is skipped;
- otherwise the message is about the commands its module serves (COMMANDS_OF, by path prefix,
  the longest wins; in cli.py, the command whose function encloses it), and the option must
  exist on every one of them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from deployer.cli import app

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "deployer"

DEPLOY_VERBS = ("push", "plan", "status", "rollback", "delete")
COMMANDS_OF: dict[str, tuple[str, ...]] = {
    "deployer/_clikit.py": ("*",),  # the frame of every command (--json)
    "deployer/aws/": (*DEPLOY_VERBS, "metrics", "logs"),
    "deployer/deploy/": ("push", "plan"),
    "deployer/deploy/api.py": DEPLOY_VERBS,
    "deployer/deploy/manage.py": ("status", "rollback", "delete"),
    "deployer/deploy/golden.py": ("push",),
    "deployer/deploy/smoke.py": ("push",),
    "deployer/image/": ("build", "push", "plan"),
    "deployer/local/cloud/": ("local up",),
    "deployer/local/cloud/runtimes.py": ("push",),  # a version that cannot start fails push's smoke test
    "deployer/model/": ("convert",),
    "deployer/monitor/": ("metrics", "logs"),
    "deployer/monitor/logs.py": ("logs",),
    "deployer/monitor/metrics.py": ("metrics",),
    "deployer/monitor/plot.py": ("metrics",),
    "deployer/monitor/tensorboard.py": ("metrics",),
    "deployer/monitor/timespec.py": ("metrics",),  # --since is on logs too; --period only on metrics
    "deployer/template/": ("template",),
}
# (file, option) → the commands it is about, where the module's commands are too many, with why.
NARROWER: dict[tuple[str, str], tuple[str, ...]] = {
    # push and plan choose their build context folder themselves: only `build --out` can be wrong
    ("deployer/image/build.py", "--out"): ("build",),
}
# (file, option): options of another tool's command that is assembled in parts (no marker in the part).
FOREIGN: dict[tuple[str, str], str] = {
    ("deployer/aws/ecr.py", "--image-tag-mutability"): "aws ecr put-image-tag-mutability, built in parts",
    ("deployer/deploy/plan.py", "--resources-to-skip"): "aws cloudformation continue-update-rollback",
}
CLI_HELPERS = {"_read_data": "invoke", "_check_port_free": "local up"}

OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")
ARGV_TOKEN = re.compile(r"^\s*--[\w-]+(=.*)?(/--[\w-]+)?\s*$")
OTHER_TOOL = re.compile(r"(?<![\w-])(aws|awscurl|docker|pip|sam|tensorboard|curl|systemctl|apt-get|git)\s+[a-z{-]")


def _verbs() -> set[str]:
    return set(_commands())


def _commands() -> dict[str, Any]:
    """name → click command (Typer's; `local up` for a subgroup's)."""
    root: Any = typer.main.get_command(app)
    found: dict[str, Any] = {}
    for name, command in root.commands.items():
        if hasattr(command, "commands"):
            found.update({f"{name} {sub}": inner for sub, inner in command.commands.items()})
        else:
            found[name] = command
    return found


def _options(command: Any) -> set[str]:
    return {opt for param in command.params for opt in (*param.opts, *param.secondary_opts) if opt.startswith("--")}


def _messages(path: Path) -> Iterator[tuple[int, str, str | None]]:
    """(line, text with placeholders as {}, enclosing function) of each string that is not a docstring."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
    owner: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and isinstance(tree, ast.Module) and node in tree.body:
            for inner in ast.walk(node):
                owner[id(inner)] = node.name
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(value) for value in node.values)
            text = "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)  # type: ignore[misc]
            yield node.lineno, text, owner.get(id(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            yield node.lineno, node.value, owner.get(id(node))


def _hints() -> Iterator[tuple[str, int, str, str, tuple[str, ...]]]:
    """(file, line, option, message, commands it must exist on) for every option named in prose."""
    verbs = _verbs()
    named = re.compile(r"python -m deployer (local \w+|\w+)|(?<![\w-])(" + "|".join(sorted(verbs, key=len, reverse=True))
                       + r")\s+(?=--)")  # fmt: skip
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, text, function in _messages(path):
            if ARGV_TOKEN.match(text) or not OPTION.search(text):
                continue
            for stretch in text.split("`"):
                marker: tuple[int, str | None] = (-1, None)  # position, our command (None: another tool's)
                events = [(m.start(), m.group(1) or m.group(2)) for m in named.finditer(stretch)]
                events += [(m.start(), None) for m in OTHER_TOOL.finditer(stretch)]
                for found in OPTION.finditer(stretch):
                    option = found.group(0)
                    before = [event for event in events if event[0] < found.start()]
                    marker = max(before) if before else (-1, None)
                    if (rel, option) in FOREIGN or (before and marker[1] is None):
                        continue
                    if marker[1] is not None:
                        commands: tuple[str, ...] = (marker[1],)
                    elif rel == "deployer/cli.py":
                        command = function if function in verbs else CLI_HELPERS.get(function or "", "")
                        if not command:
                            continue  # module-level help text of a shared option: checked where it is used
                        commands = (command,)
                    else:
                        commands = NARROWER.get((rel, option)) or _commands_of(rel)
                    yield rel, line, option, text, commands


def _commands_of(rel: str) -> tuple[str, ...]:
    prefixes = [prefix for prefix in COMMANDS_OF if rel.startswith(prefix)]
    assert prefixes, f"{rel} has messages naming options: add it to COMMANDS_OF (which commands show them?)"
    return COMMANDS_OF[max(prefixes, key=len)]


def test_every_option_a_hint_names_exists_on_its_command() -> None:
    commands = _commands()
    wrong = []
    checked = 0
    for rel, line, option, text, about in _hints():
        for name in (sorted(commands) if about == ("*",) else about):
            assert name in commands, f"{rel}:{line}: no command {name!r}"
            checked += 1
            if option not in _options(commands[name]):
                wrong.append(f"{rel}:{line}: {option} is not an option of `{name}`: {text[:160]!r}")
    assert not wrong, "hints name options their command lacks:\n" + "\n".join(wrong)
    assert checked > 50  # the scan found the hints (there are ~70 today), not nothing


def test_the_scan_sees_the_cases_it_must() -> None:
    """The rules above on known messages: a push hint naming --base-image is checked against push,
    build and plan; an aws command's options are skipped; a named command wins over the module."""
    found = {(rel, option): about for rel, _, option, _, about in _hints()}
    assert found[("deployer/image/build.py", "--base-image")] == ("build", "push", "plan")
    assert found[("deployer/deploy/golden.py", "--golden")] == ("push",)
    assert found[("deployer/template/report.py", "--arch")] == ("build",)
    assert ("deployer/aws/ecr.py", "--repository-name") not in found
    assert ("deployer/aws/_call.py", "--profile") in found  # "or pass another --profile", after `aws configure ...`


@pytest.mark.parametrize("command", ["build", "push", "plan"])
def test_push_and_plan_take_builds_image_options(command: str) -> None:
    assert {"--arch", "--base-image", "--no-cache"} <= _options(_commands()[command])
