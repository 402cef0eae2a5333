"""The local cloud's AWS endpoint: moto on 127.0.0.1, plus what moto lacks for our templates, persistent.

This package is the one place where the deployer extends moto (the local cloud is part of the
product, and an emulator is what it needs). `install()` is idempotent and changes moto in this
process only; `EmulatorServer` serves it on loopback, journals every mutation and replays the
journal on start. One module per resource kind or concern:

    lambda_alias.py      AWS::Lambda::Alias through moto's Lambda backend; Ref = alias ARN
    lambda_version.py    AWS::Lambda::Version: GetAtt Version; a published version keeps its own image
    apigateway.py        AWS::ApiGateway::RestApi with its OpenAPI Body imported; AWS::ApiGateway::Stage
    codedeploy.py        AWS::CodeDeploy::Application and ::DeploymentGroup (stored; ids from moto's generator)
    cloudwatch_alarm.py  AWS::CloudWatch::Alarm (single-metric alarms stored whole)
    cloudwatch_metrics.py  GetMetricData with percentile statistics (p50, p99.9), which moto answers with a 500
    changesets.py        change sets in dependency order, with events, rollback and outputs; ordered DeleteStack
    ecr_blobs.py         pushed layer bytes kept content-addressed; manifests read back by tag or digest
    mutations.py         which requests mutate (and are journaled), which headers a replay needs
    journal.py           the append-only journal: records, fsync, torn-tail recovery, layer-part spools
    server.py            EmulatorServer: one request at a time, seeds, journal, replay

Why moto is pinned exactly (pyproject.toml: moto[server]==5.2.5). These modules rely on moto
internals, not its API; each was read and tested against 5.2.5, and a new moto means re-reading
these and running tests/unit/cloud and tests/functional/cloud before moving the pin:

    lambda_alias.py      CloudFormationModel's protocol (create/update_from_cloudformation_json,
                         delete(account, region)); LambdaBackend.create_alias/update_alias/delete_alias
                         keyword names; UnknownFunctionException
    lambda_version.py    LambdaVersion has no get_cfn_attribute; LambdaStorage.publish_version and its
                         `_functions[name]["latest"]`; that a published version shares `code` with $LATEST
    apigateway.py        RestAPI.create_from_cloudformation_json; APIGatewayBackend.put_rest_api(id, body,
                         fail_on_warnings, mode=); RestAPI.create_stage's 8 positional parameters,
                         `stages`, `apis`; that a Deployment has no physical_resource_id
    codedeploy.py        CodeDeployBackend.create_application/create_deployment_group signatures,
                         `applications`, `deployment_groups`; the module-level `uuid` its models draw from
    cloudwatch_alarm.py  CloudWatchBackend.put_metric_alarm keyword names, delete_alarms, Alarm.alarm_arn
    cloudwatch_metrics.py  Statistics.get_statistics_for_type and metric_single_values_list;
                         CloudWatchBackend._get_paginated and paged_metric_data
    changesets.py        CloudFormationBackend.execute_change_set/delete_stack (replaced), `stacks`,
                         `change_sets`, `deleted_stacks`, `exports`; Stack.resource_map's private
                         `_template`, `_resource_json_map`, `_parsed_resources`, `_delete_resource`,
                         build_resource_diff, load_*; Stack._add_stack_event/_parse_template/
                         _create_output_map; parsing.parse_and_update_resource; Event's constructor;
                         Stack.parse_template (static) and ChangeSet._parse_template (replaced)
    ecr_blobs.py         ECRBackend.complete_layer_upload and `repository.uploads[id].layer_parts`
                         (dropped by moto after completion); `repositories[name].images`,
                         Image.image_manifest/image_tags/get_image_digest
    server.py, journal   `moto.moto_api._internal.mock_random` as the source of every id moto draws
                         (uuids, random strings, API ids, upload ids), seedable; moto_api_backend.reset;
                         DomainDispatcherApplication/create_backend_app/MotoRequestHandler; which
                         backends draw ids when first created (EC2 does; ours do not)
    install()            parsing.get_model_list/get_model_map/get_name_type_map are lru_cached lists of
                         CloudFormationModel.__subclasses__()

Registration. moto's `get_model_map()` maps each direct CloudFormationModel subclass by its
`cloudformation_type()`, computed once (lru_cache). The models here are module-level classes;
`install()` imports them, clears those caches (so the direct subclasses are listed) and then sets
each type explicitly, which also registers RestApiModel (a subclass of moto's RestAPI, not a
direct one) over moto's own RestAPI. Importing a model module alone registers nothing for sure:
call `install()`.

`GET /_onnx-lambda/emulator` on the server answers who it is (MODELLED_TYPES), so a deployer
reaching it through AWS_ENDPOINT_URL deploys the template unchanged (deployer/deploy/compat.py).
tests/functional uses this server.
"""

from __future__ import annotations

import threading

from deployer.local.cloud.emulator.server import EmulatorServer

__all__ = ["install", "EmulatorServer", "MODELLED_TYPES", "ACCOUNT_ID"]

ACCOUNT_ID = "123456789012"  # moto's default account
MODELLED_TYPES = (
    "AWS::Lambda::Alias",
    "AWS::ApiGateway::Stage",
    "AWS::CodeDeploy::Application",
    "AWS::CodeDeploy::DeploymentGroup",
    "AWS::CloudWatch::Alarm",
)
_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Extend moto in this process (see the package doc). Safe to call more than once."""
    global _installed
    with _install_lock:
        if _installed:
            return
        from moto.cloudformation import parsing

        from deployer.local.cloud.emulator import (
            apigateway,
            changesets,
            cloudwatch_alarm,
            cloudwatch_metrics,
            codedeploy,
            ecr_blobs,
            lambda_alias,
            lambda_version,
        )

        models: list[type] = [
            lambda_alias.LambdaAliasModel,
            apigateway.RestApiModel,
            apigateway.StageModel,
            codedeploy.CodeDeployApplicationModel,
            codedeploy.DeploymentGroupModel,
            cloudwatch_alarm.AlarmModel,
        ]
        parsing.get_model_list.cache_clear()
        parsing.get_model_map.cache_clear()
        parsing.get_name_type_map.cache_clear()
        model_map = parsing.get_model_map()
        name_types = parsing.get_name_type_map()
        for model in models:
            model_map[model.cloudformation_type()] = model  # type: ignore[attr-defined]
            name_types[model.cloudformation_type()] = model.cloudformation_name_type()  # type: ignore[attr-defined]
        lambda_version.patch()
        cloudwatch_metrics.patch()
        codedeploy.patch()
        changesets.patch()
        ecr_blobs.patch()
        _installed = True
