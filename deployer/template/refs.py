"""References between a template's resources: what `Ref`, `Fn::GetAtt`, `Fn::Sub` and `DependsOn` name.

One walker for everything that orders or trims resources by what they refer to: the trimming of
a template for a bare moto endpoint (deployer/deploy/compat.py) and the order the local cloud's
change sets run and delete in (deployer/local/cloud/emulator/changesets.py). Pure: no AWS, no moto.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ["template_refs", "depends_on"]


def template_refs(node: Any, *, sub_text: bool = True) -> set[str]:
    """Logical ids a template fragment refers to: Ref, Fn::GetAtt, Fn::Sub.

    `sub_text=False` leaves out the ${X} names in a Sub's text and keeps only its variables map:
    an unresolvable ${X} stays text in moto (no failure), so it is not a hard dependency there.
    """
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                if sub_text:
                    text = value if isinstance(value, str) else value[0]
                    found |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(value, list) and len(value) > 1:
                    found |= template_refs(value[1], sub_text=sub_text)
            else:
                found |= template_refs(value, sub_text=sub_text)
    elif isinstance(node, list):
        for item in node:
            found |= template_refs(item, sub_text=sub_text)
    return found


def depends_on(resource: Mapping[str, Any]) -> set[str]:
    """A resource's DependsOn as a set of logical ids."""
    value = resource.get("DependsOn") or []
    return {value} if isinstance(value, str) else set(value)
