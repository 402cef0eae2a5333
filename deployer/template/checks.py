"""Offline checks: translate the SAM template with aws-sam-translator, lint both with cfn-lint.

Translation without AWS. `samtranslator.translator.transform.transform` builds its Translator
without a boto session, and the Translator then asks `boto3.session.Session()` for a region
(NoRegionFound without one in the environment) and, for functions whose `Policies` name
managed policies, the loader for IAM's list of them. So this module builds the Translator
itself: a boto3 Session constructed with an explicit region (construction reads no
credentials and makes no call; only the region and partition are taken from it), and a
managed-policy map that is empty, because the template names no managed policy at all (both
roles are written out in full). The region the translator learns is a class attribute of
samtranslator's ArnGenerator, which the Translator sets as a side effect; it is restored after.
Parameters take their defaults unless given (SAM resolves `ImageUri` to compute the version's
logical id, as CloudFormation's transform does with the real value).

Lint. cfn-lint 1.x validates a SAM template against SAM's own schema (it no longer runs the
transform itself), and the translation against CloudFormation's resource schemas; both are run,
with errors, warnings and informational rules, for the given regions. The rules in
`IGNORED_RULES` are skipped, each with its reason; any other finding is reported.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from deployer.errors import DependencyError
from deployer.template.yaml_io import dump_yaml

__all__ = ["Finding", "Ignored", "IGNORED_RULES", "DEFAULT_REGION", "check", "translate", "lint", "lint_text"]

DEFAULT_REGION = "us-east-1"
_MISSING = "{what} is required to check templates; install it with: pip install 'onnx-lambda-deployer[aws]'"

Kind = Literal["sam", "translated"]


class Ignored(NamedTuple):
    """A cfn-lint rule that is not reported, on which templates, and why."""

    templates: tuple[Kind, ...]
    reason: str


# Nothing of severity error is here; warnings only when SAM, not this generator, writes them.
IGNORED_RULES: dict[str, Ignored] = {
    "W3005": Ignored(
        ("translated",),
        "SAM's generated usage plan and usage plan key (auth = api_key) carry a DependsOn on the API "
        "and the key they also Ref: redundant, harmless, and not ours to change; the rule stays on for "
        "the SAM template, which has no DependsOn",
    ),
    "I3042": Ignored(
        ("translated",),
        "informational: SAM writes the partition it resolved from the region into the ARNs it generates "
        "(permissions' SourceArn, integration URIs), as CloudFormation's transform does in each region; "
        "the SAM template uses ${AWS::Partition} everywhere and keeps the rule on",
    ),
    "I4010": Ignored(
        ("sam", "translated"),
        "informational and experimental (off unless experimental rules are asked for): wants a "
        "machine-readable Metadata Context block on the template and its resources; the design is "
        "documented in deployer/template/*.py, and a prose block would only restate it",
    ),
}

Level = Literal["error", "warning", "informational"]


@dataclass(frozen=True, order=True)
class Finding:
    """One cfn-lint match (or the translator's refusal), on the SAM template or its translation."""

    template: Kind
    level: Level
    rule: str
    message: str
    path: str = ""
    line: int = 0

    def __str__(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.template}: {self.level} {self.rule}{where}: {self.message}"


@contextmanager
def _quiet_translator() -> Iterator[None]:
    """Silence samtranslator's 'feature not in Feature Toggle Config' warnings; restore state."""
    from samtranslator.translator.arn_generator import ArnGenerator

    logger = logging.getLogger("samtranslator.feature_toggle.feature_toggle")
    level = logger.level
    region = ArnGenerator.BOTO_SESSION_REGION_NAME
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
        ArnGenerator.BOTO_SESSION_REGION_NAME = region


def translate(
    template: Mapping[str, Any],
    *,
    region: str = DEFAULT_REGION,
    parameters: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The CloudFormation template SAM makes of `template`, offline (no AWS call, no credentials).

    Raises samtranslator's InvalidDocumentException (its message lists every problem) when SAM
    refuses the template: for a generated template that is a bug of the generator.
    """
    try:
        import boto3
        from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
        from samtranslator.parser.parser import Parser
        from samtranslator.translator.translator import Translator
        from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template
    except ImportError as exc:
        raise DependencyError(_MISSING.format(what="aws-sam-translator (and boto3)")) from exc

    session = boto3.session.Session(region_name=region)
    # The translator's own usage metrics go nowhere (the dummy publisher is its offline mode);
    # publishing them explicitly keeps it from warning about unpublished metrics at exit.
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())
    fragment = copy.deepcopy(dict(template))
    values = dict(parameters or {})
    with _quiet_translator():
        try:
            # The same preparation as samtranslator's own `transform` (what CloudFormation runs),
            # so generated logical ids (version, deployment hashes) come out the same.
            to_py27_compatible_template(fragment, values)
            translator = Translator(None, Parser(), boto_session=session, metrics=metrics)
            translated = translator.translate(fragment, parameter_values=values, get_managed_policy_map=lambda: {})
        finally:
            metrics.publish()
    # Plain dicts, lists and strs (SAM returns its own py27-compatibility subclasses).
    return json.loads(json.dumps(undo_mark_unicode_str_in_template(translated)))


def lint(
    template: Mapping[str, Any],
    *,
    regions: Sequence[str] = (DEFAULT_REGION,),
    translated: bool | None = None,
) -> list[Finding]:
    """cfn-lint's findings on `template` (a SAM template or a translation), sorted, minus IGNORED_RULES."""
    kind = translated if translated is not None else "Transform" not in template
    # As YAML, the text `write_template` writes: line numbers point into template.yaml.
    return lint_text(dump_yaml(dict(template)), regions=regions, name="translated" if kind else "sam")


def lint_text(
    text: str,
    *,
    regions: Sequence[str] = (DEFAULT_REGION,),
    name: Kind = "sam",
) -> list[Finding]:
    """cfn-lint's findings on a template's text (YAML or JSON)."""
    try:
        from cfnlint.api import ManualArgs
        from cfnlint.api import lint as cfn_lint
    except ImportError as exc:
        raise DependencyError(_MISSING.format(what="cfn-lint")) from exc

    ignored = sorted(rule for rule, why in IGNORED_RULES.items() if name in why.templates)
    config = ManualArgs(regions=list(regions), include_checks=["I"], ignore_checks=ignored)
    findings = set()
    for match in cfn_lint(text, config=config):
        path = getattr(match, "path", None) or []
        findings.add(
            Finding(
                template=name,
                level=_level(match.rule.severity),
                rule=match.rule.id,
                message=match.message,
                path="/".join(str(part) for part in path),
                line=match.linenumber,
            )
        )
    return sorted(findings, key=lambda f: (f.line, f.rule, f.path, f.message))


def check(template: Mapping[str, Any], *, region: str = DEFAULT_REGION) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Lint the SAM template, translate it, lint the translation: (translation or None, findings).

    SAM's refusal to translate is a finding too (rule "SAM"), not an exception.
    """
    findings = lint(template, regions=[region], translated=False)
    try:
        from samtranslator.model.exceptions import InvalidDocumentException
    except ImportError as exc:
        raise DependencyError(_MISSING.format(what="aws-sam-translator")) from exc

    try:
        translation = translate(template, region=region)
    except InvalidDocumentException as exc:
        causes = "; ".join(str(cause) for cause in exc.causes) or str(exc)
        return None, [*findings, Finding("translated", "error", "SAM", causes)]
    return translation, findings + lint(translation, regions=[region], translated=True)


def _level(severity: str) -> Level:
    severity = severity.lower()
    if severity.startswith("err"):
        return "error"
    if severity.startswith("warn"):
        return "warning"
    return "informational"
