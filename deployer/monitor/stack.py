"""What a deployed stack publishes, read from the stack and its function (describe calls only).

    describe(cfn, lam, stack) → Deployed: the function, its log group, the model name the routes
    serve, the EMF namespace and service its handler writes with (the function's own environment:
    what runs, not what a config file says now), and each published version's model version.

A function version carries the description the function had when it was published, and the
template writes the model's version into it ("Serves the ONNX model NAME version V",
deployer/template/generate.py); that is how a Lambda version (`ExecutedVersion`) is matched
with the handler's `version` dimension. A version whose description says nothing is shown
alone, its handler metrics beside it under the model version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from deployer.aws.errors import AwsError
from deployer.monitor._aws import call, pages
from deployer.monitor.errors import StackNotFound

__all__ = ["Deployed", "describe", "DEFAULT_NAMESPACE"]

DEFAULT_NAMESPACE = "OnnxLambda"  # functions/app.py: POWERTOOLS_METRICS_NAMESPACE unset
_MODEL_VERSION = re.compile(r"\bversion (\S+)\s*$")


@dataclass(frozen=True)
class Deployed:
    stack: str
    function: str
    log_group: str
    model: str
    namespace: str
    service: str
    alias: str = "live"
    model_versions: Mapping[str, str] = field(default_factory=dict)  # Lambda version → model version
    url: str = ""


def describe(cfn: Any, lam: Any, stack: str, *, where: str = "") -> Deployed:
    """The stack's function and what its handler publishes; StackNotFound when there is none."""
    try:
        found = call(cfn, "describe_stacks", StackName=stack)["Stacks"]
    except AwsError as exc:
        if exc.code == "ValidationError" and "does not exist" in str(exc):
            raise StackNotFound(f"no stack {stack}{where}: push creates it (or pass --stack-name of a pushed stack)") from exc
        raise
    if not found or found[0].get("StackStatus") == "DELETE_COMPLETE":
        raise StackNotFound(f"no stack {stack}{where}: push creates it (or pass --stack-name of a pushed stack)")
    outputs = {o["OutputKey"]: o.get("OutputValue", "") for o in found[0].get("Outputs", []) or []}
    function = outputs.get("FunctionArn", "").rsplit(":function:", 1)[-1].split(":", 1)[0] or stack
    try:
        config = call(lam, "get_function_configuration", FunctionName=function)
    except AwsError as exc:
        if exc.code == "ResourceNotFoundException":
            raise StackNotFound(f"stack {stack}{where} has no function {function} (status "
                                f"{found[0].get('StackStatus')}): push it again") from exc  # fmt: skip
        raise
    env = (config.get("Environment") or {}).get("Variables") or {}
    versions: dict[str, str] = {}
    for page in pages(lam, "list_versions_by_function", FunctionName=function):
        for version in page.get("Versions", []):
            if version.get("Version") == "$LATEST":
                continue
            match = _MODEL_VERSION.search(str(version.get("Description") or ""))
            if match:
                versions[str(version["Version"])] = match.group(1)
    return Deployed(
        stack=stack,
        function=function,
        log_group=outputs.get("LogGroupName") or f"/aws/lambda/{function}",
        model=outputs.get("ModelName") or str(env.get("POWERTOOLS_SERVICE_NAME") or stack),
        namespace=str(env.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE),
        service=str(env.get("POWERTOOLS_SERVICE_NAME") or ""),
        model_versions=versions,
        url=outputs.get("ApiUrl", ""),
    )
