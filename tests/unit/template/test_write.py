"""write_template, its report, deterministic YAML, and `sam validate --lint` on the written file."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deployer.config import DeployConfig
from deployer.errors import ModelError
from deployer.template import TemplateReport, build_metadata, dump_yaml, generate, load_yaml, render, write_template
from tests.unit.template.conftest import CHURN_CONFIG, EXAMPLE, ROOT, Case, churn_manifest, iris_manifest

SAM = Path(sys.executable).with_name("sam")


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory, offline: None) -> dict[str, tuple[Path, TemplateReport]]:
    """The bundled example (unchecked: the `iris` fixture lints it) and a new model, checked."""
    root = tmp_path_factory.mktemp("write")
    model = root / "build" / "churn"
    model.mkdir(parents=True)
    shutil.copy(EXAMPLE / "model.onnx", model / "model.onnx")
    (model / "manifest.json").write_text(json.dumps(churn_manifest()))
    iris_out = root / "iris" / "template.yaml"
    churn_out = root / "churn" / "template.yaml"
    return {
        "iris": (iris_out, write_template(EXAMPLE, iris_out, DeployConfig(), check=False)),
        "churn": (churn_out, write_template(model, churn_out, DeployConfig.model_validate(CHURN_CONFIG))),
    }


def test_write_template_for_a_new_model(outputs: dict[str, tuple[Path, TemplateReport]]) -> None:
    out, report = outputs["churn"]
    config = DeployConfig.model_validate(CHURN_CONFIG)
    metadata = build_metadata(churn_manifest(), config, template_dir=out.parent)
    assert metadata["DockerContext"] == str(Path.cwd() / "build" / "churn_v2.small-arm64")  # out is outside the cwd
    assert out.read_text() == render(churn_manifest(), config, build_metadata=metadata)
    assert report.ok and report.checked and report.findings == ()
    summary = report.summary()
    json.dumps(summary)  # JSON-ready
    assert (summary["model"], summary["version"]) == ("churn_v2.small", "0123456789ab")
    assert (summary["stack_name"], summary["region"]) == ("onnx-churn-v2-small", "eu-west-1")
    assert summary["errors"] == 0 and summary["findings"] == []
    assert any("29 s" in warning for warning in summary["warnings"])  # timeout_s = 60
    assert any("no build context in" in warning and "python -m deployer build" in warning and "--arch arm64" in warning
               for warning in summary["warnings"])  # fmt: skip
    assert summary["resources"] == len(report.resources) == 11  # with the golden-set hook, its role, the drift alarm
    types = summary["translated_types"]
    for kind in ("AWS::Lambda::Function", "AWS::Lambda::Alias", "AWS::CodeDeploy::DeploymentGroup",
                 "AWS::CloudWatch::Alarm", "AWS::CloudWatch::Dashboard", "AWS::ApiGateway::RestApi",
                 "AWS::ApiGateway::UsagePlan", "AWS::IAM::Role"):
        assert types.get(kind), kind
    assert set(summary["ignored_rules"]) == set(report.ignored)


def test_write_template_of_the_bundled_example(outputs: dict[str, tuple[Path, TemplateReport]]) -> None:
    out, report = outputs["iris"]
    metadata = build_metadata(iris_manifest(), DeployConfig(), template_dir=out.parent)
    assert out.read_text() == render(iris_manifest(), DeployConfig(), build_metadata=metadata)
    assert not report.checked and report.translated == {} and report.ok
    assert (report.model, report.version, report.stack_name) == ("iris", iris_manifest()["version"], "onnx-iris")
    assert [w.split(":")[0] for w in report.warnings] == [f"no build context in {Path.cwd() / 'build' / 'iris-x86_64'} yet"]


def test_the_metadata_names_the_context_build_writes_and_says_when_it_is_missing_or_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A template in the project folder sends `sam build` to build/<name>-<arch>, relative; the
    report warns when no build made it yet, or when it holds another model version."""
    monkeypatch.chdir(tmp_path)
    write = lambda: write_template(EXAMPLE, Path("template.yaml"), DeployConfig(), check=False)  # noqa: E731
    report = write()
    metadata = load_yaml(Path("template.yaml").read_text())["Resources"]["ModelFunction"]["Metadata"]
    version = iris_manifest()["version"]
    assert metadata == {"DockerContext": "build/iris-x86_64", "Dockerfile": "Dockerfile",
                        "DockerTag": f"{version}-x86_64", "DockerImage": "iris"}  # fmt: skip
    assert Path("template.yaml").read_text() == render(iris_manifest(), DeployConfig())
    assert len(report.warnings) == 1 and "no build context in build/iris-x86_64 yet" in report.warnings[0]
    context = tmp_path / "build" / "iris-x86_64"
    context.mkdir(parents=True)
    (context / "Dockerfile").write_text("FROM x\n")
    (context / "build.json").write_text(json.dumps({"version": "000000000000", "architecture": "x86_64"}))
    assert "holds model version 000000000000 for x86_64" in write().warnings[0]
    (context / "build.json").write_text(json.dumps({"version": version, "architecture": "x86_64"}))
    assert write().warnings == ()


def test_model_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not a folder"):
        write_template(tmp_path / "missing", tmp_path / "t.yaml", DeployConfig())
    with pytest.raises(ModelError, match="no model.onnx"):
        write_template(tmp_path, tmp_path / "t.yaml", DeployConfig())
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    with pytest.raises(ModelError, match="no manifest.json"):
        write_template(tmp_path, tmp_path / "t.yaml", DeployConfig())
    (tmp_path / "manifest.json").write_text("{")
    with pytest.raises(ModelError, match="not valid JSON"):
        write_template(tmp_path, tmp_path / "t.yaml", DeployConfig())
    assert not (tmp_path / "t.yaml").exists()


def test_generate_twice_gives_the_same_bytes(case: Case) -> None:
    first = dump_yaml(generate(case.manifest, case.config))
    second = dump_yaml(generate(json.loads(json.dumps(case.manifest)), case.config))
    assert first == second
    assert first == dump_yaml(case.template)


def test_same_bytes_in_another_process() -> None:
    """No set or hash order leaks into the text: a process with another hash seed agrees."""
    code = (
        "import json, sys; from pathlib import Path; from deployer.config import DeployConfig; "
        "from deployer.template import render; "
        "sys.stdout.write(render(json.loads(Path(sys.argv[1]).read_text()), DeployConfig()))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", code, str(EXAMPLE / "manifest.json")],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True,
    )
    assert result.stdout == render(iris_manifest(), DeployConfig())


def test_yaml_round_trips(case: Case) -> None:
    text = dump_yaml(case.template)
    assert load_yaml(text) == case.template
    assert not re.search(r"(:|^\s*-)\s+!", text, re.MULTILINE), "long-form intrinsics, no YAML tags"


@pytest.mark.skipif(not SAM.exists(), reason="the sam CLI (aws-sam-cli, the `local` extra) is not installed")
def test_sam_validate_lint_passes(outputs: dict[str, tuple[Path, TemplateReport]], tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        HOME=str(tmp_path),  # sam keeps its metadata under ~/.aws-sam
    )
    for which, (out, _) in outputs.items():
        result = subprocess.run(
            [str(SAM), "validate", "--lint", "--template", str(out)],
            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
        )
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{which}: {output}"
        assert "is a valid SAM Template" in output, which


def test_the_repositorys_template_yaml_is_current() -> None:
    """template.yaml at the root is the bundled example's template with the default config."""
    committed = ROOT / "template.yaml"
    if not committed.exists():
        pytest.skip("no template.yaml yet: python -m deployer template examples/iris/model --out template.yaml")
    assert committed.read_text() == render(iris_manifest(), DeployConfig()), (
        "template.yaml is stale; regenerate it: python -m deployer template examples/iris/model --out template.yaml"
    )
