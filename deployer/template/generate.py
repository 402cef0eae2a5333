"""`generate`: the SAM template of one model artifact and one deployment config, as a dict.

A pure function: same manifest + same config → same dict, with the same key order (the YAML
writer keeps it), so the repository's template.yaml can be compared byte for byte.

What is in it, and why it is that way:
- One `AWS::Serverless::Function`, `PackageType: Image`, image from the `ImageUri` parameter
  (the deployer passes the pushed ECR URI; the default is the local tag, for `sam local`). No
  `Handler`: the image's CMD is `functions.app.handler`.
- Local names are by architecture: `local_image_tag` is `<repository>:<model version>-<arch>`
  and `local_build_context` is `build/<name>-<arch>`, so an arm64 and an x86_64 build of one
  model live side by side and the template names the pair of its own `Architectures`. Both are
  pure functions of the manifest's version, the config and the architecture.
- `build_metadata` is the function's `Metadata` for `sam build` (DockerContext, Dockerfile,
  DockerTag, DockerImage): the build context `python -m deployer build` writes (its Dockerfile
  only COPYs wheels and files prepared on the host: no pip, no network in the build), tagged as
  `build` tags it. `sam build` → `sam local invoke` then runs that image. The template written
  for `sam` carries it (report.py); the translation deployed by push does not need it. `FunctionName` is the stack name, so
  the log group, alarms and roles can name it without a `Ref` (see names.py).
- `AutoPublishAlias: live` with `AutoPublishAliasAllProperties`: a new version is published
  when any property changes, not only the image; otherwise a memory or environment change
  would update `$LATEST` while the alias kept serving the old version.
- `DeploymentPreference` (alarms.py) with a CodeDeploy role scoped to this function.
- The REST API (api.py), the log group with retention, the dashboard (dashboard.py), and, when
  the manifest has a drift baseline, the drift alarm (alarms.py; not a deployment alarm).
- The execution role may only write to its own log group: no `*` action, no `*` resource.
  EMF metrics are log lines, so metrics need no `cloudwatch:PutMetricData` either.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deployer.config import DeployConfig
from deployer.errors import ModelError
from deployer.template.alarms import alarm_resources, deployment_preference, deployment_role
from deployer.template.api import api_events, api_resource
from deployer.template.dashboard import dashboard_resource
from deployer.template.hooks import golden_hook_resources
from deployer.template.names import (
    ALIAS,
    API,
    DASHBOARD,
    DEPLOY_ROLE,
    FUNCTION,
    FUNCTION_NAME,
    FUNCTION_ROLE,
    IMAGE_URI,
    LOG_GROUP,
    LOG_GROUP_NAME,
    MODEL_PATH,
    HandlerSeries,
    getatt,
    ref,
    sub,
)
from functions.manifest import MODEL_PATH_VARIABLE, Manifest, ManifestError, validate_manifest

__all__ = ["generate", "local_image_tag", "local_build_context", "build_metadata", "docker_metadata",
           "function_environment"]

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
BUILD_ROOT = Path("build")  # relative to the working folder, as the CLI's other defaults
DOCKERFILE = "Dockerfile"  # deployer.image.context writes it at the top of the build context


def local_image_tag(manifest: Mapping[str, Any], config: DeployConfig, arch: str | None = None) -> str:
    """`<repository>:<model version>-<arch>`: the `ImageUri` default, i.e. the tag of a local build
    for `arch` (default: the config's architecture)."""
    resolved = config.for_model(str(manifest["name"]))
    return f"{resolved.image.repository}:{manifest['version']}-{arch or resolved.architecture}"


def local_build_context(manifest: Mapping[str, Any], config: DeployConfig, arch: str | None = None) -> Path:
    """`build/<name>-<arch>`, relative to the working folder: where `build` writes the build context
    by default, and where the template's `Metadata` sends `sam build`."""
    resolved = config.for_model(str(manifest["name"]))
    return BUILD_ROOT / f"{resolved.name}-{arch or resolved.architecture}"


def build_metadata(
    manifest: Mapping[str, Any], config: DeployConfig, *, template_dir: Path | None = None, context: Path | None = None
) -> dict[str, str]:
    """The function's `Metadata` for `sam build`: the build context (`context`, default
    `local_build_context`) and the repository:tag `build` uses. `sam build` resolves DockerContext
    from the template's folder (`template_dir`, default the working folder): see docker_metadata."""
    folder = context if context is not None else local_build_context(manifest, config)
    return docker_metadata(local_image_tag(manifest, config), folder, template_dir)


def docker_metadata(image: str, context: Path, template_dir: Path | None = None) -> dict[str, str]:
    """`Metadata` that makes `sam build` build `context`'s Dockerfile as `image` (repository:tag).
    DockerContext is relative to the template's folder when the context is under it or both are in
    the working folder (a project moves as a whole), else absolute."""
    folder = Path(context)
    if template_dir is not None or folder.is_absolute():
        here, target, start = Path.cwd(), folder.absolute(), Path(template_dir or ".").absolute()
        inside = target.is_relative_to(start) or (target.is_relative_to(here) and start.is_relative_to(here))
        folder = Path(os.path.relpath(target, start)) if inside else target
    repository, _, tag = image.rpartition(":")
    return {"DockerContext": folder.as_posix(), "Dockerfile": DOCKERFILE, "DockerTag": tag, "DockerImage": repository}


def function_environment(config: DeployConfig) -> dict[str, str]:
    """The variables the handler reads (functions/app.py, model.py, tensors.py, drift.py)."""
    monitoring = config.monitoring
    return {
        MODEL_PATH_VARIABLE: MODEL_PATH,
        "MODEL_THREADS": str(config.model_threads or 0),  # 0: every CPU the function has
        "MAX_BATCH_SIZE": str(config.max_batch_size),
        "POWERTOOLS_SERVICE_NAME": str(config.name),
        "POWERTOOLS_METRICS_NAMESPACE": config.metrics_namespace,
        "POWERTOOLS_LOG_LEVEL": config.log_level,
        "DRIFT_EVERY_N": str(monitoring.every_n if monitoring.drift else 0),  # 0: the monitor is off
        "DRIFT_EVERY_S": str(monitoring.every_s),
        "DRIFT_MIN_ROWS": str(monitoring.min_rows),
        "DRIFT_SAMPLE_ROWS": str(monitoring.sample_rows),
        "DRIFT_MAX_FEATURES": str(monitoring.max_features),
    }


def generate(
    manifest: Mapping[str, Any],
    config: DeployConfig,
    *,
    build_metadata: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The SAM template for the model described by `manifest`, deployed as `config` says.

    `build_metadata`, when given, becomes the function's `Metadata` (what `sam build` reads
    for an image function: Dockerfile, DockerContext, DockerTag).
    """
    try:
        checked: Manifest = validate_manifest(dict(manifest))
    except ManifestError as exc:
        raise ModelError(str(exc)) from exc
    config = config.for_model(checked["name"])
    version = checked["version"]
    series = HandlerSeries(config.metrics_namespace, checked["name"], version, str(config.name))
    resources: dict[str, Any] = {
        FUNCTION: _function(config, checked, build_metadata),
        FUNCTION_ROLE: _function_role(),
        LOG_GROUP: _log_group(config),
        API: api_resource(config),
        **alarm_resources(config, series, checked),
        DEPLOY_ROLE: deployment_role(),
        # The hook's one request (the golden set) is not traffic: no drift monitor there.
        **golden_hook_resources(config, {**function_environment(config), "DRIFT_EVERY_N": "0"}),
        DASHBOARD: dashboard_resource(config, series, checked),
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": SAM_TRANSFORM,
        "Description": (
            f"onnx-lambda-deployer: model {config.name} (version {version}) on AWS Lambda behind "
            f"a REST API, with canary deployments, alarms and a dashboard"
        ),
        "Parameters": {
            IMAGE_URI: {
                "Type": "String",
                "Description": "The function's container image (an ECR URI when deployed)",
                "Default": local_image_tag(checked, config),
            }
        },
        "Resources": resources,
        "Outputs": _outputs(config, checked),
    }


def _function(config: DeployConfig, manifest: Manifest, build_metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "FunctionName": sub(FUNCTION_NAME),
        "Description": f"Serves the ONNX model {config.name} version {manifest['version']}",
        "PackageType": "Image",
        "ImageUri": ref(IMAGE_URI),
        "Architectures": [config.architecture],
        "MemorySize": config.memory_mb,
        "Timeout": config.timeout_s,
        "EphemeralStorage": {"Size": config.ephemeral_storage_mb},
        "Role": getatt(FUNCTION_ROLE, "Arn"),
        "Environment": {"Variables": function_environment(config)},
    }
    if config.reserved_concurrency is not None:
        properties["ReservedConcurrentExecutions"] = config.reserved_concurrency
    properties["AutoPublishAlias"] = ALIAS
    properties["AutoPublishAliasAllProperties"] = True
    if config.provisioned_concurrency is not None:
        properties["ProvisionedConcurrencyConfig"] = {
            "ProvisionedConcurrentExecutions": config.provisioned_concurrency
        }
    properties["DeploymentPreference"] = deployment_preference(config)
    properties["Events"] = api_events(config)
    properties["Tags"] = {"onnx-lambda:model": str(config.name), "onnx-lambda:model-version": manifest["version"]}
    resource: dict[str, Any] = {"Type": "AWS::Serverless::Function", "Properties": properties}
    if build_metadata:
        resource["Metadata"] = dict(build_metadata)
    return resource


def _function_role() -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "Description": "Execution role of this stack's model function: write its own logs, nothing else",
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [
                {
                    "PolicyName": "write-own-logs",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                # The log group's Arn attribute ends in ":*": its streams.
                                "Resource": getatt(LOG_GROUP, "Arn"),
                            }
                        ],
                    },
                }
            ],
        },
    }


def _log_group(config: DeployConfig) -> dict[str, Any]:
    # Deleted with the stack, on purpose: a retained group named /aws/lambda/<stack> would make
    # creating a stack of the same name again fail ("already exists"). Retention bounds the logs.
    return {
        "Type": "AWS::Logs::LogGroup",
        "DeletionPolicy": "Delete",
        "UpdateReplacePolicy": "Delete",
        "Properties": {"LogGroupName": sub(LOG_GROUP_NAME), "RetentionInDays": config.log_retention_days},
    }


def _outputs(config: DeployConfig, manifest: Manifest) -> dict[str, Any]:
    outputs: dict[str, Any] = {
        "ApiUrl": {
            "Description": "Base URL of the REST API (append /v2/models/<name>/infer, /v1/models/<name>:predict, ...)",
            "Value": sub(f"https://${{{API}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{config.api.stage}/"),
        },
        "FunctionArn": {"Description": "The model function", "Value": getatt(FUNCTION, "Arn")},
        "AliasArn": {"Description": f"The '{ALIAS}' alias the API invokes", "Value": ref(f"{FUNCTION}.Alias")},
        "ImageUri": {"Description": "The deployed container image", "Value": ref(IMAGE_URI)},
        "LogGroupName": {"Description": "The function's log group", "Value": ref(LOG_GROUP)},
        "DashboardName": {"Description": "The CloudWatch dashboard", "Value": ref(DASHBOARD)},
        "ModelName": {"Description": "The name the routes serve", "Value": manifest["name"]},
        "ModelVersion": {"Description": "The manifest's version of the model", "Value": manifest["version"]},
    }
    if config.api.auth == "api_key":
        outputs["ApiKeyId"] = {
            "Description": "The API key's id (aws apigateway get-api-key --include-value --api-key <id>)",
            "Value": ref(f"{API}.ApiKey"),
        }
    return outputs
