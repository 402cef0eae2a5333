"""The objects a push is made of, built in one place: services, builder, progress, options.

`Services` holds the typed AWS wrappers bound to one account, region and endpoint (made from an
`Aws` session by `Services.connect`, or from fakes in tests). `choose_builder` decides where the
image comes from (see `sources.py`). `Progress` is how the engine talks to the CLI: the engine
never prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from deployer.aws.cloudformation import CloudFormation, StackEvent
from deployer.aws.ecr import Ecr
from deployer.aws.lambda_ import Lambda
from deployer.aws.session import Aws
from deployer.config import DeployConfig
from deployer.image.blobs import BlobStore, ImageArtifact
from deployer.deploy.compat import EndpointKind, probe_endpoint
from deployer.deploy.errors import BuildError

__all__ = ["Progress", "NullProgress", "Services", "Builder", "choose_builder", "PushOptions", "registry_host"]

Builder = Callable[[Path, DeployConfig, "Progress"], ImageArtifact]


class Progress(Protocol):
    def step(self, index: int, total: int, title: str) -> None: ...
    def info(self, text: str) -> None: ...
    def warn(self, text: str) -> None: ...
    def event(self, event: StackEvent) -> None: ...


class NullProgress:
    def step(self, index: int, total: int, title: str) -> None:
        pass

    def info(self, text: str) -> None:
        pass

    def warn(self, text: str) -> None:
        pass

    def event(self, event: StackEvent) -> None:
        pass


@dataclass(frozen=True)
class PushOptions:
    """What the user asked `push` / `plan` for (the CLI's options, typed)."""

    model: Path
    project: Path = Path(".")
    target: str = "auto"  # "auto" | "aws" | "local"
    profile: str | None = None
    region: str | None = None
    stack_name: str | None = None
    image: str | None = None  # a local Docker image to push instead of building one
    builder: str = "auto"  # "auto" | "image" | "files" (context.choose_builder)
    arch: str | None = None  # build's --arch: the function's architecture too (config `architecture`)
    base_image: str | None = None  # build's --base-image (default: the base of the image `build` made, else the config's)
    no_cache: bool = False  # build's --no-cache
    serve: bool = True
    trust_pickle: bool = False
    overrides: Mapping[str, Any] = field(default_factory=dict)
    golden: Path | None = None  # a golden set checked before traffic reaches the new version (golden.py)

    def config_overrides(self) -> dict[str, Any]:
        return {**dict(self.overrides), "stack_name": self.stack_name, "region": self.region,
                "architecture": self.arch, "image.base": self.base_image}


@dataclass(frozen=True)
class Services:
    ecr: Ecr
    cfn: CloudFormation
    lam: Lambda
    sts: Any  # a boto3 STS client (whoami)
    region: str
    endpoint: EndpointKind
    aws: Aws | None = None
    apigateway: Any = None  # boto3 client, for the API key of api_key auth (smoke test on AWS)

    @classmethod
    def connect(
        cls,
        aws: Aws,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        poll_s: float = 2.0,
        endpoint: EndpointKind | None = None,
    ) -> Services:
        kind = endpoint or probe_endpoint(aws.endpoint_url)
        if kind.kind != "aws":
            poll_s = min(poll_s, 0.2)  # emulators answer at once; do not idle
        return cls(
            ecr=Ecr(aws.client("ecr")),
            cfn=CloudFormation(aws.client("cloudformation"), sleep=sleep, clock=clock, poll_s=poll_s),
            lam=Lambda(aws.client("lambda")),
            sts=aws.client("sts"),
            region=aws.region,
            endpoint=kind,
            aws=aws,
            apigateway=aws.client("apigateway"),
        )


def registry_host(account: str, region: str) -> str:
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


BUILDERS = ("auto", "image", "files")


def choose_builder(
    *,
    image: str | None,
    store: BlobStore,
    allow_files: bool,
    code_root: Callable[[], Path],
    build_root: Path,
    mode: str = "auto",
    docker_client: Callable[[], Any] | None = None,
    base_image: str | None = None,
    no_cache: bool = False,
) -> tuple[Builder, str]:
    """The image source for this push, and a word on it for the report.

    `--image TAG` → that Docker image. Else, by `mode`:
      image  `deployer.image.build` (the function image: deps → model → code on the Lambda base),
             on `base_image` (build's --base-image); without it, on the base of the image `build`
             made for this model and architecture when there is one (deployer.image.build's
             `built_base`), else the config's. `build` skips `docker build` when the image at the
             tag was made from the same inputs: an image `build` just made is pushed as it is
      files  the model and code layers only (sources.py): local target and emulator endpoints only
      auto   image; where files are allowed and the image cannot be built here (no Docker, no base
             image), files, with a warning saying why
    """
    connect_docker = docker_client or _docker_from_env
    if mode not in BUILDERS:
        raise BuildError(f"--builder {mode!r}: use one of {', '.join(BUILDERS)}")
    if image:
        from deployer.image.sources import docker_image

        return (lambda model_dir, config, progress: docker_image(image, connect_docker(), store)), f"docker image {image}"

    def files(model_dir: Path, config: DeployConfig, progress: Progress) -> ImageArtifact:
        from deployer.image.sources import files_image

        return files_image(model_dir, code_root(), store, architecture=config.architecture)

    files_word = "files (the model and code layers, no base layer)"
    if mode == "files":
        if not allow_files:
            raise BuildError(
                "--builder files makes an image without a base layer, which AWS cannot run: use it with the local "
                "target or an emulator endpoint, or build the function image (--builder image)"
            )
        return files, files_word
    build = _image_builder()
    if build is None:
        if mode == "auto" and allow_files:
            return files, files_word + "; deployer.image is not installed"
        raise BuildError(
            "the image builder (deployer.image) is not installed: install the project with its extras, or pass "
            "--image TAG of an image built with docker"
        )

    def built(model_dir: Path, config: DeployConfig, progress: Progress) -> ImageArtifact:
        from deployer.image.sources import docker_image
        from deployer.errors import DeployerError

        try:
            base = base_image or _built_base(model_dir, config, progress)
            result = build(model_dir, config=config, base_image=base, no_cache=no_cache, progress=progress.info,
                           out_dir=build_root / f"image-{model_dir.name}-{config.architecture}")  # fmt: skip
        except DeployerError as exc:
            if mode != "auto" or not allow_files:
                raise
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            progress.warn(f"the function image cannot be built here ({reason}); pushing the files image instead")
            artifact = files(model_dir, config, progress)
            return replace(artifact, source=f"{artifact.source} (the function image could not be built here)")
        summary = result.summary()
        roles = {str(d["digest"]): str(d["role"]) for d in summary.get("layer_details", []) if d.get("digest")}
        return docker_image(str(summary["image"]), connect_docker(), store, roles=roles)

    return built, "deployer.image build"


def _built_base(model_dir: Path, config: DeployConfig, progress: Progress, docker: Any = None) -> str | None:
    """The base image of the image `build` made for this model and architecture, else of the newest
    image it made in this model's repository for this architecture (a retrained model keeps its
    base), else None (`docker`: deployer.image's Docker, default its CLI)."""
    from deployer.image import DockerCLI
    from deployer.image.build import built_base, last_base
    from deployer.template import load_model_manifest, local_image_tag

    manifest = load_model_manifest(model_dir)
    tag = local_image_tag(manifest, config)
    docker = docker or DockerCLI()
    base = built_base(docker, tag, manifest, config.architecture)
    if base is not None:
        progress.info(f"found {tag}, built by `build` for this model on {base}: building on the same base "
                      "(nothing is rebuilt when its inputs did not change)")  # fmt: skip
        return base
    other = "arm64" if config.architecture == "x86_64" else "x86_64"
    if built_base(docker, local_image_tag(manifest, config, other), manifest, other) is not None:
        progress.warn(f"`build` made an {other} image of this model ({local_image_tag(manifest, config, other)}), "
                      f"not an {config.architecture} one: pass --arch {other} to push that one")  # fmt: skip
        return None
    found = last_base(docker, str(config.for_model(manifest["name"]).image.repository), config.architecture)
    if found is None:
        return None
    progress.info(f"building on {found[1]}, the base of {found[0]} (the newest image `build` made for "
                  f"{config.architecture} in this repository); --base-image chooses another")  # fmt: skip
    return found[1]


def _image_builder() -> Callable[..., Any] | None:
    try:
        from deployer import image as image_module  # type: ignore[attr-defined]
    except ImportError:
        return None
    build = getattr(image_module, "build", None)
    return build if callable(build) else None


def _docker_from_env() -> Any:
    try:
        import docker

        client = docker.from_env(timeout=30)
        client.ping()
        return client
    except Exception as exc:  # the SDK raises several kinds; all mean "no daemon here"
        raise BuildError(f"no Docker daemon answers ({exc}); start one (infra/dockerd/start) or push to the local target") from exc
