"""What goes into the dependencies layer: the `runtime` extra, closed over and pinned.

The handler's run-time needs are declared once, as the `runtime` extra of the installed
distribution `onnx-lambda-deployer` (pyproject.toml). This module reads them from its metadata,
walks their declared dependencies with the markers evaluated for the *target* (the base
image's CPython on Linux, x86_64 or aarch64, no extras), and pins every package of that closure
to the version installed here: the image runs what the deployer was tested with on this host.
Packages the Lambda base image already provides (boto3 and its own closure) never go in.

    Target(python="3.13", arch="x86_64")   → platform tags, ABI, marker environment
    runtime_requirements()                 → [Requirement("onnxruntime>=1.20"), ...]
    pin_requirements(reqs, target)         → [Pin("aws-lambda-powertools", "3.37.0", ...), ...]

Nothing here runs pip: the pins are resolved from installed metadata only, so the result does
not depend on an index, and `pip download --no-deps` of exactly these pins gives the layer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Literal

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from deployer.errors import ConfigError, DependencyError

__all__ = [
    "DISTRIBUTION",
    "PROVIDED_BY_BASE",
    "RUNTIME_EXTRA",
    "Arch",
    "Pin",
    "Target",
    "HostPackages",
    "pin_requirements",
    "runtime_requirements",
]

DISTRIBUTION = "onnx-lambda-deployer"
RUNTIME_EXTRA = "runtime"
Arch = Literal["x86_64", "arm64"]

# The AWS SDK is part of every Lambda Python base image: never ship it (it is ~80 MB).
PROVIDED_BY_BASE = frozenset({"boto3", "botocore", "s3transfer"})

_MACHINES: dict[str, str] = {"x86_64": "x86_64", "arm64": "aarch64"}
_PYTHON = re.compile(r"^3\.(\d{1,2})$")


@dataclass(frozen=True)
class Target:
    """Where the layer runs: CPython `python` ("3.13") on Linux `arch`."""

    python: str
    arch: Arch

    def __post_init__(self) -> None:
        if not _PYTHON.match(self.python):
            raise ConfigError(f"python version {self.python!r}: expected major.minor, e.g. 3.13")
        if self.arch not in _MACHINES:
            raise ConfigError(f"architecture {self.arch!r}: must be x86_64 or arm64")

    @property
    def machine(self) -> str:
        """`uname -m` of the target: x86_64 or aarch64."""
        return _MACHINES[self.arch]

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def platforms(self) -> tuple[str, ...]:
        """pip's --platform values. Both are needed: pip matches them literally, and a package
        may publish only one of them (onnxruntime: manylinux_2_28 only; orjson: 2014 only)."""
        return (f"manylinux_2_28_{self.machine}", f"manylinux2014_{self.machine}")

    def pip_args(self) -> list[str]:
        """The arguments that make pip pick wheels for this target instead of for this host."""
        args = ["--only-binary=:all:", "--python-version", self.python, "--implementation", "cp", "--abi", self.abi]
        for platform in self.platforms:
            args += ["--platform", platform]
        return args

    def marker_environment(self, extra: str = "") -> dict[str, str]:
        """PEP 508 marker variables of the target (the patch version is not known: .0)."""
        return {
            "implementation_name": "cpython",
            "implementation_version": f"{self.python}.0",
            "os_name": "posix",
            "platform_machine": self.machine,
            "platform_python_implementation": "CPython",
            "platform_release": "",
            "platform_system": "Linux",
            "platform_version": "",
            "python_full_version": f"{self.python}.0",
            "python_version": self.python,
            "sys_platform": "linux",
            "extra": extra,
        }


@dataclass(frozen=True, order=True)
class Pin:
    """One package of the layer at the version installed on this host."""

    name: str  # canonical (PEP 503) name
    version: str
    required_by: tuple[str, ...] = ()  # who pulled it in: the extra, or the packages that require it

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


class HostPackages:
    """Installed distributions' versions and requirements (importlib.metadata; injectable)."""

    def __init__(
        self,
        version: Callable[[str], str] = metadata.version,
        requires: Callable[[str], list[str] | None] = metadata.requires,
    ) -> None:
        self._version = version
        self._requires = requires

    def version(self, name: str) -> str | None:
        try:
            return self._version(name)
        except metadata.PackageNotFoundError:
            return None

    def requires(self, name: str) -> list[str]:
        try:
            return list(self._requires(name) or [])
        except metadata.PackageNotFoundError:
            return []


def runtime_requirements(
    packages: HostPackages | None = None, *, distribution: str = DISTRIBUTION, extra: str = RUNTIME_EXTRA
) -> list[Requirement]:
    """The requirements of `distribution`'s `extra` (`extra == "runtime"` in its metadata)."""
    packages = packages or HostPackages()
    if packages.version(distribution) is None:
        raise DependencyError(
            f"{distribution} is not installed in this Python, so its runtime requirements cannot be read; "
            f"install it with: pip install -e '.[runtime]'"
        )
    found: list[Requirement] = []
    for line in packages.requires(distribution):
        requirement = _parse(line, distribution)
        if requirement.marker is not None and _mentions_extra(requirement.marker, extra):
            requirement.marker = None
            found.append(requirement)
    if not found:
        raise DependencyError(f"{distribution} declares no '{extra}' extra: its metadata is out of date; reinstall it")
    return found


def pin_requirements(
    requirements: Iterable[Requirement],
    target: Target,
    packages: HostPackages | None = None,
    *,
    exclude: frozenset[str] = PROVIDED_BY_BASE,
    origin: str = f"{DISTRIBUTION}[{RUNTIME_EXTRA}]",
) -> list[Pin]:
    """The closure of `requirements` for `target`, each pinned to the host's installed version.

    A requirement the host does not satisfy (missing, or a version outside the specifier) is a
    DependencyError with the pip command that fixes it: the image must hold what was tested here.
    """
    packages = packages or HostPackages()
    required_by: dict[str, set[str]] = {}
    versions: dict[str, str] = {}
    queue: list[tuple[Requirement, str]] = [(requirement, origin) for requirement in requirements]
    while queue:
        requirement, parent = queue.pop(0)
        name = canonicalize_name(requirement.name)
        if name in exclude:
            continue
        required_by.setdefault(name, set()).add(parent)
        version = versions.get(name) or _host_version(packages, requirement, parent)
        if not requirement.specifier.contains(version, prereleases=True):
            raise DependencyError(
                f"{parent} needs {requirement}, but {requirement.name} {version} is installed here; "
                f"install a matching version with: pip install '{requirement}'"
            )
        if name in versions:
            continue
        versions[name] = version
        queue.extend((child, name) for child in _target_requires(packages, requirement, target))
    return sorted(Pin(name, versions[name], tuple(sorted(required_by[name]))) for name in versions)


def _host_version(packages: HostPackages, requirement: Requirement, parent: str) -> str:
    version = packages.version(requirement.name)
    if version is None:
        raise DependencyError(
            f"{requirement.name} (needed by {parent} in the image) is not installed here, so there is no tested "
            f"version to pin; install it with: pip install '{requirement}'"
        )
    try:
        Version(version)
    except InvalidVersion as exc:
        raise DependencyError(f"{requirement.name} {version!r}: not a PEP 440 version, cannot pin it") from exc
    return version


def _target_requires(packages: HostPackages, requirement: Requirement, target: Target) -> list[Requirement]:
    """`requirement`'s own requirements that apply on the target (with its extras, if any)."""
    extras = sorted(requirement.extras) or [""]
    children: list[Requirement] = []
    seen: set[str] = set()
    for line in packages.requires(requirement.name):
        child = _parse(line, requirement.name)
        if child.marker is not None and not any(_applies(child.marker, target, extra) for extra in extras):
            continue
        key = str(child)
        if key not in seen:
            seen.add(key)
            children.append(child)
    return children


def _applies(marker: Marker, target: Target, extra: str) -> bool:
    return bool(marker.evaluate(dict(target.marker_environment(extra))))


def _mentions_extra(marker: Marker, extra: str) -> bool:
    """True when `marker` is satisfied with `extra` requested and not satisfied without it."""
    env: Mapping[str, str] = {"extra": extra}
    with_extra = marker.evaluate(dict(env))
    without = marker.evaluate({"extra": ""})
    return bool(with_extra and not without)


def _parse(line: str, where: str) -> Requirement:
    try:
        return Requirement(line)
    except InvalidRequirement as exc:
        raise DependencyError(f"{where}: cannot parse its requirement {line!r} ({exc})") from exc
