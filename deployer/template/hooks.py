"""The golden-set check as the deployment's PreTraffic hook (CodeDeploy lifecycle hook) on AWS.

Before CodeDeploy moves any traffic to a new version it invokes the PreTraffic hook and waits for
its verdict. Ours is the same image as the new version with another command,
`functions.golden.handler`: it runs the golden set (golden.json in the image, else the
manifest's sample) through the image's own model, compares the answers (or, for
`"compare": "live"`, invokes the live alias and compares with its answers), and reports
Succeeded or Failed with PutLifecycleEventHookExecutionStatus. Failed stops the deployment:
no traffic moves and the stack update rolls back. The local cloud runs the same comparison
itself (deployer/local/cloud/shift.py).

Its role may write its own logs, report to this stack's deployment groups and invoke the live
alias (for "live"), nothing else. CodeDeploy's role (alarms.py) may invoke this hook only.
"""

from __future__ import annotations

from typing import Any

from deployer.config import DeployConfig
from deployer.template.names import ALIAS_RESOURCE, GOLDEN_HOOK, GOLDEN_HOOK_NAME, GOLDEN_HOOK_ROLE, IMAGE_URI, arn, getatt, ref, sub

__all__ = ["golden_hook_resources", "HOOK_COMMAND"]

HOOK_COMMAND = "functions.golden.handler"


def golden_hook_resources(config: DeployConfig, environment: dict[str, str]) -> dict[str, Any]:
    return {
        GOLDEN_HOOK: {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "FunctionName": sub(GOLDEN_HOOK_NAME),
                "Description": f"PreTraffic hook: the new version of {config.name} must answer its golden set",
                "PackageType": "Image",
                "ImageUri": ref(IMAGE_URI),
                "ImageConfig": {"Command": [HOOK_COMMAND]},
                "Architectures": [config.architecture],
                "MemorySize": config.memory_mb,
                "Timeout": max(config.timeout_s, 60),
                "Role": getatt(GOLDEN_HOOK_ROLE, "Arn"),
                "Environment": {"Variables": {**environment, "LIVE_ALIAS_ARN": arn("lambda", f"function:{ALIAS_RESOURCE}")}},
            },
        },
        GOLDEN_HOOK_ROLE: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "The golden-set hook: report its verdict to CodeDeploy, invoke the live alias, write its logs",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                   "Action": "sts:AssumeRole"}],
                },
                "Policies": [
                    {
                        "PolicyName": "golden-set-hook",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": "codedeploy:PutLifecycleEventHookExecutionStatus",
                                 "Resource": arn("codedeploy", "deploymentgroup:${AWS::StackName}-*/*")},
                                {"Effect": "Allow", "Action": "lambda:InvokeFunction",
                                 "Resource": arn("lambda", f"function:{ALIAS_RESOURCE}")},
                                {"Effect": "Allow", "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                                 "Resource": arn("logs", f"log-group:/aws/lambda/{GOLDEN_HOOK_NAME}:*")},
                            ],
                        },
                    }
                ],
            },
        },
    }
