"""The deployment config: file forms, precedence, frozen values, one-line errors with an example."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from deployer.config import (
    API_GATEWAY_TIMEOUT_S,
    ENV_VARS,
    DeployConfig,
    config_warnings,
    load_config,
)
from deployer.errors import ConfigError


def write(tmp_path: Path, name: str, text: str) -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def config_error(tmp_path: Path, overrides: dict | None = None, environ: dict | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path, overrides, environ=environ or {})
    message = str(info.value)
    assert "\n" not in message, "a config error is one line"
    assert "pydantic" not in message and "errors.pydantic.dev" not in message
    return message


def test_defaults_without_any_file(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={})
    assert config == DeployConfig()
    assert config.memory_mb == 1024
    assert config.timeout_s == API_GATEWAY_TIMEOUT_S
    assert config.architecture == "x86_64"
    assert config.api.auth == "iam"
    assert config.deployment.type == "Canary10Percent5Minutes"
    assert config.image.base == "public.ecr.aws/lambda/python:3.12"
    assert config.name is None and config.stack_name is None


def test_deployer_toml_with_tables_and_dotted_keys(tmp_path: Path) -> None:
    write(
        tmp_path,
        "deployer.toml",
        """
name = "churn"
memory_mb = 2048
architecture = "arm64"
deployment.type = "Linear10PercentEvery1Minute"

[api]
auth = "api_key"
quota = { limit = 1000, period = "DAY" }

[api.throttle]
rate = 10
burst = 20

[image]
digest = "sha256:%s"
"""
        % ("a" * 64),
    )
    config = load_config(tmp_path, environ={})
    assert (config.name, config.memory_mb, config.architecture) == ("churn", 2048, "arm64")
    assert config.deployment.type == "Linear10PercentEvery1Minute"
    assert config.api.auth == "api_key" and config.api.quota is not None and config.api.quota.limit == 1000
    assert (config.api.throttle.rate, config.api.throttle.burst) == (10, 20)
    assert config.image.digest == "sha256:" + "a" * 64


def test_pyproject_tool_deployer_table(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n\n[tool.deployer]\nmemory_mb = 512\n')
    assert load_config(tmp_path, environ={}).memory_mb == 512


def test_pyproject_without_the_table_is_ignored(tmp_path: Path) -> None:
    write(tmp_path, "pyproject.toml", '[project]\nname = "x"\n')
    assert load_config(tmp_path, environ={}) == DeployConfig()


def test_precedence_cli_over_env_over_file_over_default(tmp_path: Path) -> None:
    write(tmp_path, "deployer.toml", "memory_mb = 2048\ntimeout_s = 10\nlog_retention_days = 7\n")
    environ = {"ONNX_LAMBDA_MEMORY": "3008", "ONNX_LAMBDA_TIMEOUT": "20"}
    overrides = {"memory_mb": 4096, "timeout_s": None}  # None: the option was not given
    config = load_config(tmp_path, overrides, environ=environ)
    assert config.memory_mb == 4096  # command line
    assert config.timeout_s == 20  # environment
    assert config.log_retention_days == 7  # file
    assert config.ephemeral_storage_mb == 512  # default


def test_overrides_by_key_path_or_nested_mapping(tmp_path: Path) -> None:
    write(tmp_path, "deployer.toml", '[api]\nauth = "api_key"\n[api.throttle]\nrate = 5\n')
    config = load_config(tmp_path, {"api.throttle.burst": 9, "deployment": {"type": "AllAtOnce"}}, environ={})
    assert (config.api.auth, config.api.throttle.rate, config.api.throttle.burst) == ("api_key", 5, 9)
    assert config.deployment.type == "AllAtOnce"


def test_every_environment_variable_names_a_real_key() -> None:
    for var, path in ENV_VARS.items():
        assert var.startswith("ONNX_LAMBDA_")
        model: type[pydantic.BaseModel] = DeployConfig
        *sections, leaf = path.split(".")
        for section in sections:
            model = model.model_fields[section].annotation  # type: ignore[assignment]
        assert leaf in model.model_fields, var


def test_environment_strings_are_converted(tmp_path: Path) -> None:
    environ = {
        "ONNX_LAMBDA_PROVISIONED_CONCURRENCY": "2",
        "ONNX_LAMBDA_AUTH": "none",
        "ONNX_LAMBDA_ALLOW_UNAUTHENTICATED": "true",
        "ONNX_LAMBDA_ERROR_RATE_PERCENT": "2.5",
        "ONNX_LAMBDA_REGION": "",  # empty: not set
    }
    config = load_config(tmp_path, environ=environ)
    assert config.provisioned_concurrency == 2
    assert config.api.auth == "none" and config.api.allow_unauthenticated is True
    assert config.deployment.alarms.error_rate_percent == 2.5
    assert config.region is None


def test_config_is_frozen() -> None:
    config = DeployConfig()
    with pytest.raises(pydantic.ValidationError):
        config.memory_mb = 2048  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError):
        config.api.auth = "none"  # type: ignore[misc]


def test_for_model_fills_the_names_from_the_manifest() -> None:
    resolved = DeployConfig().for_model("Churn_v2.small")
    assert resolved.name == "Churn_v2.small"
    assert resolved.stack_name == "onnx-Churn-v2-small"
    assert resolved.image.repository == "churn-v2-small"
    explicit = DeployConfig(name="x1", stack_name="mine", image={"repository": "team/x1"}).for_model("iris")  # type: ignore[arg-type]
    assert (explicit.name, explicit.stack_name, explicit.image.repository) == ("x1", "mine", "team/x1")


# ------------------------------------------------------------------------------------------ errors


def test_unknown_key_names_the_file_the_key_and_the_likely_one(tmp_path: Path) -> None:
    write(tmp_path, "deployer.toml", "memroy_mb = 2048\n")
    message = config_error(tmp_path)
    assert message.startswith(f"{tmp_path / 'deployer.toml'}: memroy_mb: unknown key")
    assert "did you mean memory_mb" in message
    assert message.endswith("e.g. memory_mb = 1024")


def test_unknown_nested_key(tmp_path: Path) -> None:
    write(tmp_path, "deployer.toml", "[deployment.alarms]\np99_ms = 300\n")
    message = config_error(tmp_path)
    assert "deployment.alarms.p99_ms: unknown key" in message
    assert "e.g. deployment.alarms.p99_latency_ms = 1000" in message


def test_unknown_override_key(tmp_path: Path) -> None:
    message = config_error(tmp_path, {"colour": "blue"})
    assert message.startswith("command line: colour: unknown key")


@pytest.mark.parametrize("memory", [64, 20000, "big"])
def test_bad_memory(tmp_path: Path, memory: object) -> None:
    write(tmp_path, "deployer.toml", f"memory_mb = {memory!r}\n".replace("'", '"'))
    message = config_error(tmp_path)
    assert message.startswith(f"{tmp_path / 'deployer.toml'}: memory_mb: ")
    assert f"(got {memory!r})" in message
    assert message.endswith("e.g. memory_mb = 1024")


def test_bad_value_from_the_environment_names_the_variable(tmp_path: Path) -> None:
    message = config_error(tmp_path, environ={"ONNX_LAMBDA_MEMORY": "64"})
    assert message.startswith("environment variable ONNX_LAMBDA_MEMORY: memory_mb: must be greater than or equal to 128")
    assert message.endswith("e.g. ONNX_LAMBDA_MEMORY=1024")


def test_auth_none_needs_the_explicit_flag(tmp_path: Path) -> None:
    write(tmp_path, "deployer.toml", '[api]\nauth = "none"\n')
    message = config_error(tmp_path)
    assert message.startswith(f"{tmp_path / 'deployer.toml'}: api.auth: 'none' makes the endpoint public")
    assert "api.allow_unauthenticated = true" in message
    assert message.endswith('e.g. api.auth = "iam"')
    write(tmp_path, "deployer.toml", '[api]\nauth = "none"\nallow_unauthenticated = true\n')
    config = load_config(tmp_path, environ={})
    assert config.api.auth == "none"
    assert any("public" in warning for warning in config_warnings(config))


def test_bad_toml(tmp_path: Path) -> None:
    write(tmp_path, "deployer.toml", "memory_mb = \n")
    message = config_error(tmp_path)
    assert message.startswith(f"{tmp_path / 'deployer.toml'}: not valid TOML: ")
    assert "line 1" in message
    assert message.endswith("e.g. memory_mb = 1024")


@pytest.mark.parametrize(
    ("text", "key", "example"),
    [
        ('architecture = "arm"\n', "architecture", 'architecture = "arm64"'),
        ("log_retention_days = 31\n", "log_retention_days", "log_retention_days = 30"),
        ('[deployment]\ntype = "Canary"\n', "deployment.type", 'deployment.type = "Canary10Percent5Minutes"'),
        ("timeout_s = 901\n", "timeout_s", "timeout_s = 29"),
        ('metrics_namespace = "AWS/Lambda"\n', "metrics_namespace", 'metrics_namespace = "OnnxLambda"'),
        ('region = "mars"\n', "region", 'region = "us-east-1"'),
        ("api = 3\n", "api", 'api.auth = "iam"'),
        ("provisioned_concurrency = 4\nreserved_concurrency = 2\n", "reserved_concurrency", "reserved_concurrency = 4"),
        ('[api.quota]\nlimit = 10\n', "api.quota", 'api.auth = "api_key"'),
        ('[api]\nauth = "api_key"\n[api.quota]\nperiod = "DAY"\n', "api.quota.limit", "api.quota.limit = 100000"),
    ],
)
def test_each_error_has_key_and_example(tmp_path: Path, text: str, key: str, example: str) -> None:
    write(tmp_path, "deployer.toml", text)
    message = config_error(tmp_path)
    assert f"deployer.toml: {key}: " in message
    assert message.endswith(f"e.g. {example}")


def test_both_config_files_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "deployer.toml", "memory_mb = 2048\n")
    write(tmp_path, "pyproject.toml", "[tool.deployer]\nmemory_mb = 512\n")
    assert "keep one of them" in config_error(tmp_path)


def test_warnings_for_valid_but_surprising_values() -> None:
    assert config_warnings(DeployConfig()) == []
    long = DeployConfig(timeout_s=120)
    assert any("29 s" in warning for warning in config_warnings(long))
    slow_alarm = DeployConfig.model_validate({"timeout_s": 1, "deployment": {"alarms": {"p99_latency_ms": 5000}}})
    assert any("latency" in warning for warning in config_warnings(slow_alarm))
    assert DeployConfig(timeout_s=120).gateway_timeout_ms == 29_000
    assert DeployConfig(timeout_s=5).gateway_timeout_ms == 5_000


def test_a_missing_project_folder_is_an_error(tmp_path: Path) -> None:
    assert "no such folder" in config_error(tmp_path / "nope")


def test_all_at_once_warns_that_alarms_cannot_roll_back() -> None:
    config = DeployConfig.model_validate({"deployment": {"type": "AllAtOnce"}})
    assert any("roll a bad version back" in warning for warning in config_warnings(config))


@pytest.mark.parametrize(
    ("text", "key", "expected"),
    [
        ("memory_mb = true", "memory_mb", "expected an integer, got a boolean (true); e.g. memory_mb = 1024"),
        ("timeout_s = false", "timeout_s", "expected an integer, got a boolean (false); e.g. timeout_s = 29"),
        ("provisioned_concurrency = true", "provisioned_concurrency", "expected an integer, got a boolean"),
        ("model_threads = true", "model_threads", "expected an integer, got a boolean"),
        ("log_retention_days = true", "log_retention_days", "expected an integer, got a boolean"),
        ("[api.throttle]\nburst = true", "api.throttle.burst", "expected an integer, got a boolean"),
        ("[api.throttle]\nrate = true", "api.throttle.rate", "expected a number, got a boolean (true); e.g. api.throttle.rate = 100"),
        ('[api]\nauth = "api_key"\nquota = { limit = true }', "api.quota.limit", "expected an integer, got a boolean"),
        ("[deployment.alarms]\np99_latency_ms = true", "deployment.alarms.p99_latency_ms", "expected an integer, got a boolean"),
        ("[deployment.alarms]\nerror_rate_percent = false", "deployment.alarms.error_rate_percent", "expected a number, got a boolean"),
    ],
)
def test_booleans_are_refused_for_numbers_not_range_checked_as_1_or_0(tmp_path: Path, text: str, key: str, expected: str) -> None:
    write(tmp_path, "deployer.toml", text + "\n")
    message = config_error(tmp_path)
    assert message.startswith(f"{tmp_path / 'deployer.toml'}: {key}: {expected}")
    assert "must be" not in message and "(got True)" not in message and "(got False)" not in message


def test_a_boolean_from_the_command_line_is_refused_too(tmp_path: Path) -> None:
    message = config_error(tmp_path, overrides={"memory_mb": True})
    assert message == "command line: memory_mb: expected an integer, got a boolean (true); e.g. memory_mb = 1024"


def test_integers_still_come_as_text_from_the_environment(tmp_path: Path) -> None:
    config = load_config(tmp_path, environ={"ONNX_LAMBDA_MEMORY": "2048", "ONNX_LAMBDA_THROTTLE_RATE": "5"})
    assert config.memory_mb == 2048 and config.api.throttle.rate == 5.0
    message = config_error(tmp_path, environ={"ONNX_LAMBDA_MEMORY": "true"})
    assert message.startswith("environment variable ONNX_LAMBDA_MEMORY: memory_mb:") and "'true'" in message


def test_monitoring_section(tmp_path: Path) -> None:
    """[monitoring]: the drift alarm's threshold and the handler's window, defaults < file < env < CLI."""
    assert DeployConfig().monitoring.psi_threshold == 0.2 and DeployConfig().monitoring.drift is True
    write(tmp_path, "deployer.toml", "[monitoring]\npsi_threshold = 0.3\nevery_n = 500\n")
    config = load_config(tmp_path, environ={"ONNX_LAMBDA_PSI_THRESHOLD": "0.25"})
    assert (config.monitoring.psi_threshold, config.monitoring.every_n) == (0.25, 500)
    config = load_config(tmp_path, {"monitoring.psi_threshold": 0.5}, environ={"ONNX_LAMBDA_DRIFT": "false"})
    assert (config.monitoring.psi_threshold, config.monitoring.drift) == (0.5, False)


@pytest.mark.parametrize(("text", "words"), [
    ("[monitoring]\npsi_treshold = 0.2", "deployer.toml: monitoring.psi_treshold: unknown key (did you mean psi_threshold?); "
                                         "e.g. monitoring.psi_threshold = 0.2"),
    ("[monitoring]\npsi_threshold = 0", "monitoring.psi_threshold: must be greater than 0"),
    ("[monitoring]\npsi_threshold = true", "monitoring.psi_threshold: expected a number, got a boolean (true)"),
    ("[monitoring]\nevery_n = 0", "monitoring.every_n: must be greater than or equal to 1"),
    ("[deployment.alarms]\npsi_threshold = 0.2", "deployment.alarms.psi_threshold: unknown key"),
])
def test_monitoring_errors(tmp_path: Path, text: str, words: str) -> None:
    write(tmp_path, "deployer.toml", text)
    assert words in config_error(tmp_path)
