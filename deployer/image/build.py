"""`build`: a model folder → a function image in the local Docker store, and what is in it.

Stages (each reports through `progress`; none makes an AWS call):

    model       the manifest validated, every file checked against its sha256 (ModelError)
    base        the base image found locally (or pulled), its architecture checked, its Python read
    pins        the `runtime` extra closed over and pinned to this host's versions (requirements.py)
    wheels      pip download for the target, cached; installed, stripped, byte-compiled (staging.py)
    context     layers/ + Dockerfile + .dockerignore written reproducibly (context.py)
    image       `docker build` (classic builder, no network), then inspect: layer digests and sizes

The tag is `deployer.template.local_image_tag(manifest, config, arch)`: `<repository>:<model
version>-<arch>`, the template's `ImageUri` default, so `sam local` runs what was built and an
arm64 and an x86_64 build of one model do not replace each other. The context goes to
`local_build_context` (build/<name>-<arch>) unless `out_dir` says otherwise: the template's
`Metadata` sends `sam build` there. A rebuild that replaces the tag removes the image it
replaced when nothing else uses it (no pile of dangling images after every model change).

The image records what it was made of, in labels (they make no layer): the model's name,
version and sha256, the architecture, the base image reference, and `onnx-lambda.build.inputs`,
a sha256 over everything that decides the image (the Dockerfile, the base image's id, the
content keys of the dependency and code trees, the model files' digests). A build whose inputs
equal those of the image already at the tag writes the context but skips `docker build`
(that step 0.05-0.07 s instead of 3-8 s; the whole build 1.3-1.5 s, most of it rewriting the
context; iris on the stand-in, 2 shared vCPUs): that is how `push` uses the image `build` made,
and makes a new one only when something it is made of changed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deployer.config import DeployConfig
from deployer.errors import ConfigError, DependencyError, LocalRuntimeError
from deployer.image.context import HANDLER, TASK_ROOT, write_context
from deployer.image.docker import Docker, DockerCLI
from deployer.image.sources import model_layer_files
from deployer.image.requirements import Arch, Pin, Target, pin_requirements, runtime_requirements
from deployer.image.staging import (
    BytecodeError,
    Compiler,
    Pip,
    code_tree,
    default_cache_dir,
    download_wheels,
    install_tree,
)
from deployer.template.generate import docker_metadata, local_build_context, local_image_tag
from functions.manifest import MODEL_DIR as MODEL_PATH, MODEL_PATH_VARIABLE
from deployer.template.report import load_model_manifest
from functions.manifest import Manifest, sha256_file

__all__ = ["IMAGE_ENV", "BASE_LABEL", "ARCH_LABEL", "INPUTS_LABEL", "BuildResult", "Layer", "build", "base_python",
           "built_base", "last_base"]

STANDIN_LABEL = "onnx-lambda.standin.python"
BASE_LABEL = "onnx-lambda.base.image"  # the base image reference the image was built FROM
ARCH_LABEL = "onnx-lambda.architecture"
INPUTS_LABEL = "onnx-lambda.build.inputs"  # sha256 of what the image is made of (module doc)
MODEL_SHA_LABEL = "onnx-lambda.model.sha256"
STANDIN_FIX = (
    "build the stand-in Lambda base image with infra/standin-base/build and pass its tag (the last line it "
    "prints) with --base-image, or `docker load` the base image"
)
# The image's own environment (the template sets the handler's settings on top).
# ORT_DISABLE_TELEMETRY: onnxruntime >= 1.29 on Linux uploads usage events to Microsoft by
# default and keeps a device id under $HOME; a Lambda function should make no outbound call it
# was not written to make, and on Lambda's read-only file system the id cannot be written anyway
# (every cold start logged "Failed to persist telemetry device ID"). The variable is the
# documented full opt-out (no uploader, no id file), checked in onnxruntime 1.32's library.
IMAGE_ENV: dict[str, str] = {MODEL_PATH_VARIABLE: MODEL_PATH, "ORT_DISABLE_TELEMETRY": "1"}
_DOCKER_ARCH: dict[str, str] = {"x86_64": "amd64", "arm64": "arm64"}
_DAEMON_ARCH: dict[str, str] = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
_EMPTY_STEP = re.compile(
    r"^(?:/bin/sh -c )?(?:#\(nop\)\s*)?(ENV|CMD|LABEL|ENTRYPOINT|EXPOSE|USER|WORKDIR|ARG|STOPSIGNAL|"
    r"HEALTHCHECK|SHELL|ONBUILD|VOLUME|MAINTAINER)\b"
)


@dataclass(frozen=True)
class Layer:
    digest: str  # sha256 of the layer's uncompressed tar (RootFS.Layers, "diff id")
    size_bytes: int | None  # the daemon's size of its content; None when it cannot be told
    role: str  # base | dependencies | model | code
    holds: str


@dataclass(frozen=True)
class BuildResult:
    image: str
    image_id: str
    model: str
    version: str
    architecture: str
    python: str
    base_image: str
    base_image_id: str
    layers: tuple[Layer, ...]
    size_bytes: int
    context: Path
    dockerfile: Path
    requirements: tuple[str, ...]
    wheel_platforms: tuple[str, ...]
    byte_compiled: bool
    seconds: dict[str, float] = field(default_factory=dict)
    cached: dict[str, bool] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def digests(self) -> tuple[str, ...]:
        """Every layer digest, base first."""
        return tuple(layer.digest for layer in self.layers)

    def layer(self, role: str) -> Layer:
        """The layer of `role` (dependencies, model or code)."""
        return next(layer for layer in self.layers if layer.role == role)

    def sam_metadata(self, template_dir: Path | None = None) -> dict[str, str]:
        """The function's `Metadata` for `sam build` (write_template's `build_metadata`): this
        context and Dockerfile, and the same repository:tag as this build (template/generate.py)."""
        return docker_metadata(self.image, self.context, template_dir)

    def summary(self) -> dict[str, Any]:
        """A JSON-ready digest for the CLI's table or `--json` (also written to build.json)."""
        return {
            "image": self.image,
            "image_id": self.image_id,
            "model": self.model,
            "version": self.version,
            "architecture": self.architecture,
            "python": self.python,
            "base_image": self.base_image,
            "base_image_id": self.base_image_id,
            "size_bytes": self.size_bytes,
            "layers": list(self.digests),
            "layer_details": [
                {"digest": l.digest, "size_bytes": l.size_bytes, "role": l.role, "holds": l.holds} for l in self.layers
            ],
            "requirements": list(self.requirements),
            "wheel_platforms": list(self.wheel_platforms),
            "byte_compiled": self.byte_compiled,
            "context": str(self.context),
            "dockerfile": str(self.dockerfile),
            "seconds": {key: round(value, 2) for key, value in self.seconds.items()},
            "cached": dict(self.cached),
            "notes": list(self.notes),
        }


def build(
    model_dir: Path,
    *,
    arch: str | None = None,
    base_image: str | None = None,
    config: DeployConfig | None = None,
    out_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    docker: Docker | None = None,
    pip: Pip | None = None,
    cache_dir: Path | None = None,
    no_cache: bool = False,
) -> BuildResult:
    """Build the function image of the model in `model_dir` and return what was built.

    `arch` (x86_64 | arm64) and `base_image` default to the config's `architecture` and
    `image.base` (+ `image.digest` when set). `out_dir` is the build context, by default
    build/<name>-<arch>. `no_cache` builds without Docker's layer cache (the host-side wheel and tree
    cache in `cache_dir`, by default ~/.cache/onnx-lambda-deployer/image, is still used).
    """
    started = time.perf_counter()
    say = progress or (lambda message: None)
    docker = docker or DockerCLI()
    config = config or DeployConfig()
    seconds: dict[str, float] = {}
    notes: list[str] = []
    clock = _Clock(seconds)

    model_dir = Path(model_dir)
    manifest = load_model_manifest(model_dir)
    model_files = model_layer_files(model_dir, manifest)
    resolved = config.for_model(manifest["name"])
    target_arch = _arch(arch or resolved.architecture)
    base_ref = base_image or resolved.image.base + (f"@{resolved.image.digest}" if resolved.image.digest else "")
    tag = local_image_tag(manifest, config, target_arch)
    out = (Path(out_dir) if out_dir is not None else local_build_context(manifest, config, target_arch)).absolute()
    _check_out_dir(out, model_dir)

    say("checking the Docker daemon and the base image")
    info = docker.info()
    base = _base_image(docker, base_ref, say, notes)
    base_arch = str(base.get("Architecture", ""))
    if base_arch != _DOCKER_ARCH[target_arch]:
        raise ConfigError(
            f"base image {base_ref} is linux/{base_arch or '?'}, but the image is built for {target_arch}: pass a base "
            f"image for linux/{_DOCKER_ARCH[target_arch]} with --base-image (e.g. public.ecr.aws/lambda/python:3.12-"
            f"{target_arch}) or --arch {'arm64' if target_arch == 'x86_64' else 'x86_64'}"
        )
    runnable = _DAEMON_ARCH.get(str(info.get("Architecture", "")).lower()) == base_arch
    python = base_python(docker, base_ref, base, runnable=runnable)
    target = Target(python, target_arch)
    clock.lap("base")

    say(f"pinning the runtime requirements for CPython {python} linux {target.machine}")
    pins = pin_requirements(runtime_requirements(), target)
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    pip = pip or Pip()
    compiler = Compiler(docker, base_ref if runnable else None)
    wheels, wheels_cached = download_wheels(pins, target, cache_dir=cache, pip=pip, progress=say)
    clock.lap("wheels")
    try:
        deps_dir, compiled, deps_cached = install_tree(wheels, target, cache_dir=cache, pip=pip, compiler=compiler, progress=say)
        code_dir, modules, _ = code_tree(_functions_dir(), target, cache_dir=cache, compiler=compiler, progress=say)
        why_not = f"the {base_arch} base image cannot run here and this Python is not {python}"
    except BytecodeError as exc:
        compiler = Compiler.disabled()
        deps_dir, compiled, deps_cached = install_tree(wheels, target, cache_dir=cache, pip=pip, compiler=compiler, progress=say)
        code_dir, modules, _ = code_tree(_functions_dir(), target, cache_dir=cache, compiler=compiler, progress=say)
        why_not = str(exc)
    clock.lap("dependencies")
    if not compiled:
        notes.append(
            f"no byte code ({why_not}): every cold start compiles the dependencies from source "
            f"(0.55-0.66 s instead of 0.24-0.29 s to import the handler, measured on x86_64)"
        )
    _note_runtime_version(manifest, pins, notes)

    say(f"writing the build context in {out}")
    bytecode = ", byte-compiled" if compiled else ""
    context = write_context(
        out,
        base_image=base_ref,
        dependencies=(deps_dir, f"runtime dependencies for CPython {python} linux {target.machine}{bytecode}: "
                      + ", ".join(map(str, pins))),
        model_files=model_files,
        model_target=MODEL_PATH,
        model_holds=f"model {manifest['name']} {manifest['version']}: " + ", ".join(sorted(n for _, n in model_files)),
        code=(code_dir, f"handler code: functions/ ({modules} modules{bytecode})"),
        env=IMAGE_ENV,
        labels={
            "onnx-lambda.model.name": manifest["name"],
            "onnx-lambda.model.version": manifest["version"],
            MODEL_SHA_LABEL: manifest["model"]["sha256"],
            "onnx-lambda.runtime.python": python,
            ARCH_LABEL: target_arch,
            BASE_LABEL: base_ref,
        },
        header=(
            "Written by onnx-lambda-deployer (deployer/image); `docker build` and `sam build` use it unchanged.",
            "Layers, least changing first: dependencies, model, code. No RUN step: builds for any architecture",
            f"without emulation. The handler is {HANDLER} in {TASK_ROOT}; the model is in {MODEL_PATH}.",
        ),
    )
    inputs = _inputs_key(context.dockerfile, base, deps_dir, code_dir, manifest, model_files)
    with open(context.dockerfile, "a", encoding="utf-8", newline="\n") as fh:
        fh.write(f'LABEL {INPUTS_LABEL}="{inputs}"\n')
    clock.lap("context")

    existing = docker.inspect_image(tag)
    replaced = (existing or {}).get("Id")
    if existing is not None and not no_cache and _labels(existing).get(INPUTS_LABEL) == inputs:
        say(f"{tag} is current (built from these same inputs): not built again")
        notes.append(f"{tag} was current (built from these same inputs): docker build skipped")
        image_id, replaced = str(existing.get("Id", "")), None
    else:
        say(f"docker build {tag}")
        image_id = docker.build(
            context.path, tag=tag, dockerfile=context.dockerfile, no_cache=no_cache,
            output=lambda line: say(line) if line.startswith("Step ") else None,
        )  # fmt: skip
    clock.lap("docker_build")
    image = docker.inspect_image(tag)
    if image is None:
        raise LocalRuntimeError(f"docker build reported {image_id} but {tag} is not in the local store")
    layers = _layers(docker, tag, image, base, base_ref, [layer.role for layer in context.layers],
                     [layer.holds for layer in context.layers])  # fmt: skip
    if replaced and replaced != image.get("Id"):
        _remove_if_unused(docker, replaced)
    seconds["total"] = time.perf_counter() - started
    result = BuildResult(
        image=tag,
        image_id=str(image.get("Id", image_id)),
        model=manifest["name"],
        version=manifest["version"],
        architecture=target_arch,
        python=python,
        base_image=base_ref,
        base_image_id=str(base.get("Id", "")),
        layers=layers,
        size_bytes=int(image.get("Size") or 0),
        context=context.path,
        dockerfile=context.dockerfile,
        requirements=tuple(map(str, pins)),
        wheel_platforms=target.platforms,
        byte_compiled=compiled,
        seconds=seconds,
        cached={"wheels": wheels_cached, "dependencies": deps_cached},
        notes=tuple(notes),
    )
    (context.path / "build.json").write_text(json.dumps(result.summary(), indent=2) + "\n", encoding="utf-8")
    return result


def base_python(docker: Docker, ref: str, image: Mapping[str, Any], *, runnable: bool) -> str:
    """major.minor of the base image's Python: the stand-in's label, else `python3` run in the
    image (when it runs on this machine), else the official tag's version (python:3.12[-arm64])."""
    labels = (image.get("Config") or {}).get("Labels") or {}
    label = labels.get(STANDIN_LABEL)
    if label:
        return str(label)
    if runnable:
        proc = docker.run(ref, ["-c", "import sys; print('%d.%d' % sys.version_info[:2])"], entrypoint="python3", timeout=120)
        found = re.fullmatch(r"3\.\d+", proc.stdout.strip())
        if proc.returncode == 0 and found:
            return found.group(0)
    for candidate in (ref, *((image.get("RepoTags") or []))):
        found = re.search(r"python:(3\.\d+)(?:\b|-)", str(candidate))
        if found:
            return found.group(1)
    raise ConfigError(
        f"cannot tell the Python version of base image {ref}: it has no {STANDIN_LABEL} label, no python3 that runs "
        f"here, and no python:3.X tag; use a Lambda Python base image (public.ecr.aws/lambda/python:3.12)"
    )


def built_base(docker: Docker, tag: str, manifest: Manifest, arch: str) -> str | None:
    """The base image `build` used for the image at `tag`, when that image was built by `build`
    from this model (its sha256) for `arch`; else None."""
    image = docker.inspect_image(tag)
    labels = _labels(image or {})
    if image is None or labels.get(MODEL_SHA_LABEL) != manifest["model"]["sha256"]:
        return None
    if str(image.get("Architecture", "")) != _DOCKER_ARCH.get(arch, arch) or not labels.get(BASE_LABEL):
        return None
    return str(labels[BASE_LABEL])


def last_base(docker: Docker, repository: str, arch: str) -> tuple[str, str] | None:
    """(image, base) of the newest image `build` made in `repository` for `arch` (another version
    of the model, say), or None: the base a retrained model's push builds on by default."""
    for ref in docker.tagged(repository, f"{ARCH_LABEL}={arch}"):
        base = _labels(docker.inspect_image(ref) or {}).get(BASE_LABEL)
        if base:
            return ref, base
    return None


# --------------------------------------------------------------------------- stages


def _labels(image: Mapping[str, Any]) -> dict[str, str]:
    return dict((image.get("Config") or {}).get("Labels") or {})


def _inputs_key(dockerfile: Path, base: Mapping[str, Any], deps_dir: Path, code_dir: Path, manifest: Manifest,
                model_files: list[tuple[Path, str]]) -> str:  # fmt: skip
    """sha256 of what decides the image: the Dockerfile (base reference, layer descriptions with the
    pins, environment, labels), the base image's id, the dependency and code trees (their cache
    folders are named by content key), and the model layer's files (the model and its external
    data by the manifest's digests, checked by model_layer_files; the small others by their bytes)."""
    import hashlib

    model = manifest["model"]
    pinned = {str(model["file"]): str(model["sha256"])}
    pinned.update({str(item["file"]): str(item["sha256"]) for item in model.get("external_data") or []})
    parts = [dockerfile.read_text(encoding="utf-8"), str(base.get("Id", "")), deps_dir.name, code_dir.name]
    parts += [f"{name}={pinned.get(name) or sha256_file(str(path))}" for path, name in sorted(model_files, key=lambda f: f[1])]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def _arch(value: str) -> Arch:
    if value == "x86_64":
        return "x86_64"
    if value == "arm64":
        return "arm64"
    raise ConfigError(f"--arch {value}: must be x86_64 or arm64")


def _check_out_dir(out: Path, model_dir: Path) -> None:
    layers = (out / "layers").resolve()
    model = model_dir.resolve()
    if model == layers or layers in model.parents:
        raise ConfigError(f"--out {out}: the model folder {model_dir} is inside its layers/, which every build rewrites")


def _base_image(docker: Docker, ref: str, say: Callable[[str], None], notes: list[str]) -> dict[str, Any]:
    found = docker.inspect_image(ref)
    if found is not None:
        return found
    say(f"pulling {ref}")
    reason = docker.pull(ref)
    found = docker.inspect_image(ref) if reason is None else None
    if found is None:
        raise LocalRuntimeError(
            f"base image {ref} is not in the local Docker store and cannot be pulled here ({reason or 'not found'}): "
            f"{STANDIN_FIX}"
        )
    notes.append(f"pulled the base image {ref}")
    return found


def _functions_dir() -> Path:
    spec = importlib.util.find_spec("functions")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations or not (Path(locations[0]) / "app.py").is_file():
        raise DependencyError(
            "the handler package `functions` is not importable from this Python; install the project with: pip install -e ."
        )
    return Path(locations[0])


def _note_runtime_version(manifest: Manifest, pins: list[Pin], notes: list[str]) -> None:
    converted_with = str((manifest.get("runtime") or {}).get("onnxruntime") or "")
    shipped = next((pin.version for pin in pins if pin.name == "onnxruntime"), None)
    if converted_with not in ("", "any") and shipped and converted_with != shipped:
        notes.append(
            f"the model was checked and optimized with onnxruntime {converted_with}; the image ships {shipped}"
        )


def _layers(
    docker: Docker,
    tag: str,
    image: Mapping[str, Any],
    base: Mapping[str, Any],
    base_ref: str,
    roles: list[str],
    holds: list[str],
) -> tuple[Layer, ...]:
    digests = list((image.get("RootFS") or {}).get("Layers") or [])
    base_digests = list((base.get("RootFS") or {}).get("Layers") or [])
    if digests[: len(base_digests)] != base_digests or len(digests) != len(base_digests) + len(roles):
        raise LocalRuntimeError(
            f"{tag}: expected the base image's {len(base_digests)} layers and {len(roles)} more, found {len(digests)}; "
            f"is the Dockerfile in the build context edited?"
        )
    made: list[Mapping[str, Any]] = [step for step in reversed(docker.history(tag)) if _makes_layer(step)]
    steps: list[Mapping[str, Any] | None] = list(made)
    if len(made) != len(digests):  # cannot pair base steps with layers: sizes of ours only
        steps = [None] * (len(digests) - len(roles)) + list(made[-len(roles):])
    layers = []
    for index, digest in enumerate(digests):
        step = steps[index] if index < len(steps) else None
        size = int(step["Size"]) if step is not None else None
        if index < len(base_digests):
            created = _describe_step(str((step or {}).get("CreatedBy", "")))
            layers.append(Layer(digest, size, "base", f"base image {base_ref}" + (f": {created[:100]}" if created else "")))
        else:
            offset = index - len(base_digests)
            layers.append(Layer(digest, size, roles[offset], holds[offset]))
    return tuple(layers)


def _describe_step(created_by: str) -> str:
    """`docker history`'s CreatedBy as the Dockerfile line it came from."""
    text = " ".join(created_by.split())
    if text.startswith("/bin/sh -c #(nop) "):
        return text[len("/bin/sh -c #(nop) "):]
    if text.startswith("/bin/sh -c "):
        return "RUN " + text[len("/bin/sh -c "):]
    return text


def _makes_layer(step: Mapping[str, Any]) -> bool:
    """Whether a `docker history` step made a layer (ENV, CMD, LABEL and the like do not)."""
    if int(step.get("Size") or 0) > 0:
        return True
    return not _EMPTY_STEP.match(str(step.get("CreatedBy", "")).strip())


def _remove_if_unused(docker: Docker, image_id: str) -> None:
    old = docker.inspect_image(image_id)
    if old is not None and not old.get("RepoTags"):
        docker.remove_image(image_id)


class _Clock:
    def __init__(self, into: dict[str, float]) -> None:
        self._into = into
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self._into[name] = now - self._last
        self._last = now
