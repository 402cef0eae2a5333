"""`write_template`: model folder + config → template.yaml, translated and linted, and a report.

What `python -m deployer template DIR --out template.yaml` calls. The file is written first
(atomically: a reader never sees half a template), then checked; a template with findings is
kept so it can be read, and the report says what is wrong (`ok` is False). The CLI prints
`summary()` and exits non-zero when not `ok`.

`sam build` → `sam local invoke` / `start-api` with the written file. The function's `Metadata`
points `sam build` at the build context `python -m deployer build` writes (build/<name>-<arch>
by default; generate.py), so `sam build` rebuilds exactly that image, offline: the context
carries the wheels and files, the Dockerfile only COPYs them. `template` does not write the
context (that takes the base image, pip and Docker: it is `build`'s job); when the context is
missing or was built for another model version, the report warns with the command that makes it.
"""

from __future__ import annotations

import json
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
from deployer.template.generate import build_metadata as default_build_metadata
from deployer.template.generate import generate, local_build_context
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
    """The template's YAML text: what `write_template` writes for a template in the working folder
    (`build_metadata` default: generate.build_metadata, the context `build` writes)."""
    metadata = build_metadata if build_metadata is not None else default_build_metadata(manifest, config)
    return dump_yaml(generate(manifest, config, build_metadata=metadata))


def write_template(
    model_dir: Path,
    out: Path,
    config: DeployConfig,
    *,
    check: bool = True,
    build_metadata: Mapping[str, Any] | None = None,
) -> TemplateReport:
    """Generate the SAM template of the model in `model_dir`, write it to `out`, check it offline.

    `check=False` skips translation and lint (seconds); `build_metadata` is passed to `generate`
    (default: the build context `build` writes, relative to the template's folder).
    """
    manifest = load_model_manifest(Path(model_dir))
    metadata = dict(build_metadata) if build_metadata is not None else default_build_metadata(
        manifest, config, template_dir=Path(out).parent)  # fmt: skip
    template = generate(manifest, config, build_metadata=metadata)
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
        warnings=tuple(config_warnings(resolved)) + _context_warnings(Path(model_dir), Path(out), manifest, resolved, metadata),
        checked=check,
    )


def _context_warnings(model_dir: Path, out: Path, manifest: Manifest, config: DeployConfig,
                      metadata: Mapping[str, Any]) -> tuple[str, ...]:  # fmt: skip
    """What `sam build` would miss: the build context the Metadata names, made for this model and architecture."""
    context = Path(os.path.normpath(out.parent / str(metadata.get("DockerContext", "."))))
    out_option = "" if context.absolute() == local_build_context(manifest, config).absolute() else f" --out {context}"
    fix = (f"run `python -m deployer build {model_dir} --arch {config.architecture}{out_option} --base-image TAG` "
           f"before `sam build` (TAG: a base image in your Docker; without the option, the config's image.base)")  # fmt: skip
    if not (context / str(metadata.get("Dockerfile", "Dockerfile"))).is_file():
        return (f"no build context in {context} yet: `sam build` builds the image from it; {fix}",)
    try:
        built = json.loads((context / "build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ()
    made = (str(built.get("version")), str(built.get("architecture")))
    if made != (manifest["version"], config.architecture):
        return (f"the build context in {context} holds model version {made[0]} for {made[1]}, not {manifest['version']} "
                f"for {config.architecture}: `sam build` would build that; {fix}",)  # fmt: skip
    return ()


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
