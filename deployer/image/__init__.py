"""The function image: runtime dependencies → model → code, reproducible layer by layer.

    build(model_dir, arch=, base_image=, config=, out_dir=, progress=, docker=, ...) → BuildResult
    BuildResult.summary()          → image tag, layer digests (base first), sizes, what each holds
    BuildResult.sam_metadata(dir)  → the function's Metadata for `sam build` (same Dockerfile, same tag)

Parts: build.py (the stages, the result), requirements.py (the `runtime` extra pinned for the
target), staging.py (wheels, installed tree, byte code; cached on the host), context.py (the
build context and Dockerfile, and why its layers are reproducible), docker.py (the daemon,
through the docker CLI), blobs.py (the image as a registry sees it: blobs, manifest, digest, the
content-addressed blob store and the one cache folder), sources.py (where a push's blobs come
from: a Docker image, or the model and code files alone). Nothing here talks to AWS; `docker
build` runs with no network.
"""

from __future__ import annotations

from deployer.image.build import BuildResult, Layer, base_python, build
from deployer.image.context import EPOCH, HANDLER, TASK_ROOT, dockerfile_text, normalize_tree, write_context
from deployer.image.docker import Docker, DockerCLI, Mount
from deployer.image.requirements import (
    PROVIDED_BY_BASE,
    HostPackages,
    Pin,
    Target,
    pin_requirements,
    runtime_requirements,
)
from deployer.image.staging import Compiler, Pip, default_cache_dir

__all__ = [
    "EPOCH",
    "HANDLER",
    "PROVIDED_BY_BASE",
    "TASK_ROOT",
    "BuildResult",
    "Compiler",
    "Docker",
    "DockerCLI",
    "HostPackages",
    "Layer",
    "Mount",
    "Pin",
    "Pip",
    "Target",
    "base_python",
    "build",
    "default_cache_dir",
    "dockerfile_text",
    "normalize_tree",
    "pin_requirements",
    "runtime_requirements",
    "write_context",
]
