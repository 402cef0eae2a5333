"""The SAM template of a model: generated from the artifact and the config, checked offline.

    generate(manifest, config)          → the template as a dict (pure, deterministic)
    local_image_tag / local_build_context / build_metadata → `build`'s tag and context by architecture,
                                          and the function's Metadata that sends `sam build` there
    dump_yaml(template)                 → its YAML text (stable key order, long-form intrinsics)
    write_template(model_dir, out, cfg) → writes it, translates and lints it → TemplateReport
    translate(template)                 → the CloudFormation translation (aws-sam-translator, offline)
    lint(template)                      → cfn-lint findings (SAM template or translation)
    check(template)                     → lint, translate, lint the translation: (translation, findings)

Parts: generate.py (function, roles, log group, outputs), api.py (REST API, routes, auth),
alarms.py (rollback alarms, CodeDeploy role), dashboard.py, names.py (logical ids, names),
checks.py (translation, lint, ignored rules with reasons), report.py, yaml_io.py.
aws-sam-translator and cfn-lint are imported only inside `translate` and `lint`.
"""

from __future__ import annotations

from deployer.template.checks import IGNORED_RULES, Finding, check, lint, translate
from deployer.template.generate import build_metadata, function_environment, generate, local_build_context, local_image_tag
from deployer.template.report import TemplateReport, load_model_manifest, render, write_template
from deployer.template.yaml_io import dump_yaml, load_yaml

__all__ = [
    "Finding",
    "IGNORED_RULES",
    "build_metadata",
    "TemplateReport",
    "check",
    "dump_yaml",
    "function_environment",
    "generate",
    "lint",
    "load_model_manifest",
    "load_yaml",
    "local_build_context",
    "local_image_tag",
    "render",
    "translate",
    "write_template",
]
