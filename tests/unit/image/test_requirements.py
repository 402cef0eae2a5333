"""Which packages go into the dependencies layer, at which versions (no pip, no network)."""

from __future__ import annotations

import pytest
from packaging.requirements import Requirement

from deployer.errors import ConfigError, DependencyError
from deployer.image import PROVIDED_BY_BASE, HostPackages, Target, pin_requirements, runtime_requirements

X86 = Target("3.13", "x86_64")
ARM = Target("3.13", "arm64")


def host(packages: dict[str, tuple[str, list[str]]]) -> HostPackages:
    """Installed distributions as {name: (version, requires)}."""
    from importlib.metadata import PackageNotFoundError

    def entry(name: str) -> tuple[str, list[str]]:
        for key, value in packages.items():
            if key.lower().replace("_", "-") == name.lower().replace("_", "-"):
                return value
        raise PackageNotFoundError(name)

    return HostPackages(version=lambda name: entry(name)[0], requires=lambda name: entry(name)[1])


DEPLOYER = ("0.1.0", ['typer>=0.12', 'onnxruntime>=1.20; extra == "runtime"', 'numpy>=1.26; extra == "runtime"',
                      'boto3>=1.34; extra == "aws"'])  # fmt: skip


def pins(packages: dict[str, tuple[str, list[str]]], target: Target = X86) -> dict[str, str]:
    table = host(packages)
    return {pin.name: pin.version for pin in pin_requirements(runtime_requirements(table), target, table)}


def test_the_runtime_extra_only() -> None:
    names = [r.name for r in runtime_requirements(host({"onnx-lambda-deployer": DEPLOYER}))]
    assert names == ["onnxruntime", "numpy"]  # not typer (the CLI's), not boto3 (the aws extra)


def test_the_closure_is_pinned_to_the_host_versions_with_target_markers() -> None:
    packages = {
        "onnx-lambda-deployer": DEPLOYER,
        "onnxruntime": ("1.32.0", ["numpy>=1.21.6", "packaging", 'sympy; extra == "symbolic"',
                                   'arm-only>=1; platform_machine == "aarch64"',
                                   'old-backport; python_version < "3.12"']),  # fmt: skip
        "numpy": ("2.4.6", []),
        "packaging": ("26.4", []),
        "arm-only": ("1.5", []),
        "sympy": ("1.14.0", []),
    }
    assert pins(packages) == {"numpy": "2.4.6", "onnxruntime": "1.32.0", "packaging": "26.4"}
    assert pins(packages, ARM) == {"arm-only": "1.5", "numpy": "2.4.6", "onnxruntime": "1.32.0", "packaging": "26.4"}


def test_requested_extras_of_a_dependency_are_followed() -> None:
    packages = {
        "onnx-lambda-deployer": ("0.1.0", ['lib[fast]>=1; extra == "runtime"']),
        "lib": ("1.2", ['speedup; extra == "fast"', 'slow; extra == "slow"']),
        "speedup": ("3.0", []),
    }
    assert pins(packages) == {"lib": "1.2", "speedup": "3.0"}


def test_the_lambda_base_images_sdk_is_never_shipped() -> None:
    packages = {
        "onnx-lambda-deployer": ("0.1.0", ['tool>=1; extra == "runtime"']),
        "tool": ("1.0", ["boto3>=1.30", "botocore"]),
    }
    assert pins(packages) == {"tool": "1.0"}
    assert {"boto3", "botocore", "s3transfer"} <= PROVIDED_BY_BASE


def test_names_are_canonical_and_pins_sorted() -> None:
    table = host({"onnx-lambda-deployer": ("0.1.0", ['Typing_Extensions>=4; extra == "runtime"', 'aws-lambda-powertools; extra == "runtime"']),
                  "typing-extensions": ("4.16.0", []), "aws_lambda_powertools": ("3.37.0", ["typing-extensions>=4.11"])})  # fmt: skip
    result = pin_requirements(runtime_requirements(table), X86, table)
    assert [str(pin) for pin in result] == ["aws-lambda-powertools==3.37.0", "typing-extensions==4.16.0"]
    assert result[1].required_by == ("aws-lambda-powertools", "onnx-lambda-deployer[runtime]")


def test_a_missing_host_package_names_the_pip_command() -> None:
    with pytest.raises(DependencyError, match=r"orjson .*not installed here.*pip install 'orjson>=3.10'"):
        pins({"onnx-lambda-deployer": ("0.1.0", ['orjson>=3.10; extra == "runtime"'])})


def test_a_host_version_outside_the_range_is_refused() -> None:
    with pytest.raises(DependencyError, match=r"needs numpy>=2.*1\.26\.4 is installed"):
        pins({"onnx-lambda-deployer": ("0.1.0", ['numpy>=2; extra == "runtime"']), "numpy": ("1.26.4", [])})


def test_no_runtime_extra_is_an_error() -> None:
    with pytest.raises(DependencyError, match="no 'runtime' extra"):
        runtime_requirements(host({"onnx-lambda-deployer": ("0.1.0", ["typer"])}))
    with pytest.raises(DependencyError, match="not installed"):
        runtime_requirements(host({}))


def test_target_platform_tags_and_pip_arguments() -> None:
    assert X86.platforms == ("manylinux_2_28_x86_64", "manylinux2014_x86_64")
    assert ARM.platforms == ("manylinux_2_28_aarch64", "manylinux2014_aarch64")
    assert ARM.pip_args() == [
        "--only-binary=:all:", "--python-version", "3.13", "--implementation", "cp", "--abi", "cp313",
        "--platform", "manylinux_2_28_aarch64", "--platform", "manylinux2014_aarch64",
    ]  # fmt: skip
    assert Target("3.12", "x86_64").abi == "cp312"
    with pytest.raises(ConfigError):
        Target("3", "x86_64")
    with pytest.raises(ConfigError):
        Target("3.13", "riscv64")  # type: ignore[arg-type]


def test_the_installed_project_declares_what_functions_imports() -> None:
    """Against this environment's real metadata: the runtime extra and its closure."""
    declared = {Requirement(str(r)).name for r in runtime_requirements()}
    assert declared == {"onnxruntime", "numpy", "orjson", "aws-lambda-powertools"}
    names = {pin.name for pin in pin_requirements(runtime_requirements(), X86)}
    assert declared <= names
    assert not names & {"boto3", "botocore", "pydantic", "typer", "onnx", "pip", "setuptools"}
