"""Deterministic YAML for templates: the dict's own key order, long-form intrinsics, no tags.

Intrinsic functions stay in their long form (`Fn::GetAtt: [A, B]`, `Ref: X`), which every
YAML reader loads as plain data; short forms (`!Ref`) would need CloudFormation's own tags to
read back. Strings that YAML could mistake for another type (`'2010-09-09'`, `'0'`, `'true'`)
are quoted by the dumper itself. Lines are never folded (the dashboard body stays one line),
so the text depends only on the dict, never on the writer's line width.

PyYAML is imported on first use: it comes with the `aws` extra (cfn-lint needs it too).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from deployer.errors import DependencyError

__all__ = ["dump_yaml", "load_yaml"]


def _yaml() -> Any:
    try:
        import yaml
    except ImportError as exc:
        raise DependencyError(
            "PyYAML is required to write templates; install it with: pip install 'onnx-lambda-deployer[aws]'"
        ) from exc
    return yaml


@cache
def _dumper() -> Any:
    yaml = _yaml()

    class Dumper(yaml.SafeDumper):  # type: ignore[misc, name-defined]
        """SafeDumper that indents lists under their key (the usual style of SAM templates)."""

        def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:  # noqa: ARG002
            super().increase_indent(flow, False)

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    return Dumper


def dump_yaml(template: dict[str, Any]) -> str:
    """The template as YAML text; the same dict always gives the same bytes."""
    return str(
        _yaml().dump(
            template,
            Dumper=_dumper(),
            sort_keys=False,
            default_flow_style=False,
            allow_unicode=True,
            width=1 << 20,
            indent=2,
        )
    )


def load_yaml(text: str) -> Any:
    return _yaml().safe_load(text)
