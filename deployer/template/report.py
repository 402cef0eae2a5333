"""`write_template`: model folder + config → template.yaml, translated and linted, and a report.

What `python -m deployer template DIR --out template.yaml` calls. The file is written first
(atomically: a reader never sees half a template), then checked; a template with findings is
kept so it can be read, and the report says what is wrong (`ok` is False). The CLI prints
`summary()` and exits non-zero when not `ok`.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.config import DeployConfig, config_warnings
from deployer.errors import ModelError
from deployer.template.checks import DEFAULT_REGION, IGNORED_RULES, Finding
from deployer.template.checks import check as check_template
from deployer.template.generate import generate
from deployer.template.yaml_io import dump_yaml
from functions.manifest import MANIFEST_FILE, MODEL_FILE, Manifest, ManifestError, load_manifest

__all__ = ["TemplateReport", "load_model_manifest", "render", "write_template"]


@dataclass(frozen=True)
class TemplateReport:
    path: Path
    model: str
    version: str
    stack_name: str
    region: str
    resources: dict[str, str]  # SAM template: logical id → type
    translated: dict[str, int]  # translation: type → count (empty when not checked)
    findings: tuple[Finding, ...] = ()
    warnings: tuple[str, ...] = ()
    checked: bool = True
    ignored: dict[str, str] = field(default_factory=lambda: {k: v.reason for k, v in IGNORED_RULES.items()})

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level == "error")

    @property
    def ok(self) -> bool:
        """Written, and (when checked) translated and linted with no error."""
        return not self.errors

    def summary(self) -> dict[str, Any]:
        """A JSON-ready digest for the CLI's table or `--json`."""
        return {
            "template": str(self.path),
            "model": self.model,
            "version": self.version,
            "stack_name": self.stack_name,
            "region": self.region,
            "resources": len(self.resources),
            "translated_resources": sum(self.translated.values()),
            "translated_types": dict(sorted(self.translated.items())),
            "checked": self.checked,
            "ok": self.ok,
            "errors": len(self.errors),
            "findings": [str(f) for f in self.findings],
            "warnings": list(self.warnings),
            "ignored_rules": sorted(self.ignored),
        }


def load_model_manifest(model_dir: Path) -> Manifest:
    """The manifest of a model folder (model.onnx + manifest.json), or a ModelError saying what is missing."""
    if not model_dir.is_dir():
        raise ModelError(f"{model_dir}: not a folder; pass the model folder that holds {MODEL_FILE} and {MANIFEST_FILE}")
    if not (model_dir / MODEL_FILE).is_file():
        raise ModelError(f"{model_dir}: no {MODEL_FILE}; build the model first (python -m deployer build)")
    try:
        manifest = load_manifest(str(model_dir))
    except ManifestError as exc:
        raise ModelError(str(exc)) from exc
    if manifest is None:
        raise ModelError(f"{model_dir}: no {MANIFEST_FILE}; build the model first (python -m deployer build)")
    return manifest


def render(manifest: Manifest, config: DeployConfig, *, build_metadata: Mapping[str, Any] | None = None) -> str:
    """The template's YAML text: what `write_template` writes."""
    return dump_yaml(generate(manifest, config, build_metadata=build_metadata))


def write_template(
    model_dir: Path,
    out: Path,
    config: DeployConfig,
    *,
    check: bool = True,
    build_metadata: Mapping[str, Any] | None = None,
) -> TemplateReport:
    """Generate the SAM template of the model in `model_dir`, write it to `out`, check it offline.

    `check=False` skips translation and lint (seconds); `build_metadata` is passed to `generate`.
    """
    manifest = load_model_manifest(Path(model_dir))
    template = generate(manifest, config, build_metadata=build_metadata)
    _write_atomic(Path(out), dump_yaml(template))
    resolved = config.for_model(manifest["name"])
    region = resolved.region or DEFAULT_REGION
    findings: list[Finding] = []
    counts: dict[str, int] = {}
    if check:
        translation, findings = check_template(template, region=region)
        if translation is not None:
            counts = dict(Counter(r["Type"] for r in translation["Resources"].values()))
    return TemplateReport(
        path=Path(out),
        model=manifest["name"],
        version=manifest["version"],
        stack_name=str(resolved.stack_name),
        region=region,
        resources={key: value["Type"] for key, value in template["Resources"].items()},
        translated=counts,
        findings=tuple(findings),
        warnings=tuple(config_warnings(resolved)),
        checked=check,
    )


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # open(): the umask's usual mode
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
