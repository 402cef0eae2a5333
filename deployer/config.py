"""The deployment config: one validated, frozen object per model project.

Where values come from, lowest to highest precedence (decided in `load_config`, nowhere else):

    default (this module)  <  file  <  environment (ONNX_LAMBDA_*)  <  command line (`overrides`)

The file is `deployer.toml` in the project folder, or the `[tool.deployer]` table of its
`pyproject.toml` (both at once is an error: which one wins would be a guess). Keys are the
field names below; sections are TOML tables (`[api]`, `[deployment.alarms]`, `[monitoring]`, `[image]`), and
dotted keys (`api.auth = "iam"`) work too. Unknown keys are rejected, in the file, in the
overrides and in the environment table `ENV_VARS`.

Every problem is one `ConfigError` line: where the value came from (file, environment variable
or command line), the key path, what is wrong, and an example of a right value:

    deployer.toml: memory_mb: must be less than or equal to 10240 (got 20000); e.g. memory_mb = 1024

Integer and number settings refuse booleans by name (TOML `true` is not 1, whatever pydantic's lax
mode thinks): `deployer.toml: memory_mb: expected an integer, got a boolean (true); e.g. ...`.

Values that depend on the model (the name, and the stack and repository names made from it)
stay None here and are filled in by `DeployConfig.for_model` from the manifest's name.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from deployer.errors import ConfigError
from functions.series import DRIFT_EVERY_N, DRIFT_EVERY_S, DRIFT_MAX_FEATURES, DRIFT_MIN_ROWS, DRIFT_SAMPLE_ROWS

__all__ = [
    "ApiConfig",
    "AlarmsConfig",
    "DeployConfig",
    "DeploymentConfig",
    "DEPLOYMENT_TYPES",
    "ENV_VARS",
    "ImageConfig",
    "LOG_RETENTION_DAYS",
    "MonitoringConfig",
    "QuotaConfig",
    "ThrottleConfig",
    "API_GATEWAY_TIMEOUT_S",
    "config_warnings",
    "load_config",
]

CONFIG_FILE = "deployer.toml"
PYPROJECT_FILE = "pyproject.toml"

# API Gateway REST APIs stop waiting for the integration after 29 s (the default quota).
API_GATEWAY_TIMEOUT_S = 29

# The values CloudWatch Logs accepts for a log group's retention (PutRetentionPolicy).
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
    3288, 3653,
)  # fmt: skip

# SAM's predefined traffic-shifting configurations (CodeDeployDefault.Lambda<Type>).
DEPLOYMENT_TYPES = (
    "Canary10Percent5Minutes", "Canary10Percent10Minutes", "Canary10Percent15Minutes",
    "Canary10Percent30Minutes", "Linear10PercentEvery1Minute", "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes", "Linear10PercentEvery10Minutes", "AllAtOnce",
)  # fmt: skip
DeploymentType = Literal[
    "Canary10Percent5Minutes", "Canary10Percent10Minutes", "Canary10Percent15Minutes",
    "Canary10Percent30Minutes", "Linear10PercentEvery1Minute", "Linear10PercentEvery2Minutes",
    "Linear10PercentEvery3Minutes", "Linear10PercentEvery10Minutes", "AllAtOnce",
]  # fmt: skip

# Environment variable → key path. An explicit table, so the names are documented and stable.
ENV_VARS: dict[str, str] = {
    "ONNX_LAMBDA_NAME": "name",
    "ONNX_LAMBDA_STACK_NAME": "stack_name",
    "ONNX_LAMBDA_REGION": "region",
    "ONNX_LAMBDA_MEMORY": "memory_mb",
    "ONNX_LAMBDA_TIMEOUT": "timeout_s",
    "ONNX_LAMBDA_ARCHITECTURE": "architecture",
    "ONNX_LAMBDA_EPHEMERAL_STORAGE": "ephemeral_storage_mb",
    "ONNX_LAMBDA_PROVISIONED_CONCURRENCY": "provisioned_concurrency",
    "ONNX_LAMBDA_RESERVED_CONCURRENCY": "reserved_concurrency",
    "ONNX_LAMBDA_LOG_RETENTION_DAYS": "log_retention_days",
    "ONNX_LAMBDA_LOG_LEVEL": "log_level",
    "ONNX_LAMBDA_METRICS_NAMESPACE": "metrics_namespace",
    "ONNX_LAMBDA_MODEL_THREADS": "model_threads",
    "ONNX_LAMBDA_MAX_BATCH_SIZE": "max_batch_size",
    "ONNX_LAMBDA_AUTH": "api.auth",
    "ONNX_LAMBDA_ALLOW_UNAUTHENTICATED": "api.allow_unauthenticated",
    "ONNX_LAMBDA_THROTTLE_RATE": "api.throttle.rate",
    "ONNX_LAMBDA_THROTTLE_BURST": "api.throttle.burst",
    "ONNX_LAMBDA_DEPLOYMENT_TYPE": "deployment.type",
    "ONNX_LAMBDA_ERROR_RATE_PERCENT": "deployment.alarms.error_rate_percent",
    "ONNX_LAMBDA_P99_LATENCY_MS": "deployment.alarms.p99_latency_ms",
    "ONNX_LAMBDA_DRIFT": "monitoring.drift",
    "ONNX_LAMBDA_PSI_THRESHOLD": "monitoring.psi_threshold",
    "ONNX_LAMBDA_IMAGE_REPOSITORY": "image.repository",
    "ONNX_LAMBDA_BASE_IMAGE": "image.base",
    "ONNX_LAMBDA_BASE_IMAGE_DIGEST": "image.digest",
}

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
# Also the Lambda function's name (`${AWS::StackName}`), hence 64 characters, not 128.
_STACK = r"^[A-Za-z][A-Za-z0-9-]{0,63}$"
_REGION = r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$"
_ECR_REPO = r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"
_IMAGE_REF = r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$"
_NAMESPACE = r"^[A-Za-z0-9._/#:-][A-Za-z0-9._/#: -]{0,254}$"


def _refuse_bool_int(value: Any) -> Any:
    if isinstance(value, bool):  # bool is an int subclass: pydantic would take true as 1
        raise PydanticCustomError("int_from_bool", "expected an integer, got a boolean")
    return value


def _refuse_bool_number(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError("number_from_bool", "expected a number, got a boolean")
    return value


# Integer and number settings: `memory_mb = true` is a mistake to name, not 1 to range-check.
# Strings still parse ("1024" from an environment variable).
Int = Annotated[int, BeforeValidator(_refuse_bool_int)]
Number = Annotated[float, BeforeValidator(_refuse_bool_number)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ThrottleConfig(_Section):
    """Stage-wide API Gateway throttling, in every auth mode (and the usage plan's with api_key)."""

    rate: Number = Field(100.0, gt=0, le=10000, examples=[100])
    burst: Int = Field(200, ge=0, le=5000, examples=[200])


class QuotaConfig(_Section):
    """The usage plan quota per API key (auth = "api_key" only)."""

    limit: Int = Field(ge=1, examples=[100000])
    period: Literal["DAY", "WEEK", "MONTH"] = Field("MONTH", examples=["MONTH"])


class ApiConfig(_Section):
    auth: Literal["iam", "api_key", "none"] = Field("iam", examples=["iam"])
    # "none" is refused unless this is true: a public model endpoint must be a decision.
    allow_unauthenticated: bool = Field(False, examples=[True])
    stage: str = Field("live", pattern=r"^[A-Za-z0-9_-]{1,128}$", examples=["live"])
    throttle: ThrottleConfig = ThrottleConfig()
    quota: QuotaConfig | None = None


class AlarmsConfig(_Section):
    """Thresholds of the alarms that roll a deployment back."""

    error_rate_percent: Number = Field(5.0, gt=0, le=100, examples=[5])
    p99_latency_ms: Int = Field(1000, ge=1, le=900_000, examples=[1000])


class DeploymentConfig(_Section):
    type: DeploymentType = Field("Canary10Percent5Minutes", examples=["Canary10Percent5Minutes"])
    alarms: AlarmsConfig = AlarmsConfig()


class MonitoringConfig(_Section):
    """Input drift and prediction shift (functions/drift.py) and the drift alarm.

    The alarm is not one of the deployment's: drift is about the inputs, not the new version's
    fault, so it never rolls a deployment back. The other keys become the function's DRIFT_*
    environment variables."""

    drift: bool = Field(True, examples=[True])
    psi_threshold: Number = Field(0.2, gt=0, le=10, examples=[0.2])
    every_n: Int = Field(DRIFT_EVERY_N, ge=1, le=1_000_000, examples=[DRIFT_EVERY_N])
    every_s: Int = Field(DRIFT_EVERY_S, ge=1, le=86_400, examples=[DRIFT_EVERY_S])
    min_rows: Int = Field(DRIFT_MIN_ROWS, ge=1, le=1_000_000, examples=[DRIFT_MIN_ROWS])
    sample_rows: Int = Field(DRIFT_SAMPLE_ROWS, ge=1, le=1_000_000, examples=[DRIFT_SAMPLE_ROWS])
    max_features: Int = Field(DRIFT_MAX_FEATURES, ge=1, le=1000, examples=[DRIFT_MAX_FEATURES])


class ImageConfig(_Section):
    repository: str | None = Field(None, min_length=2, max_length=256, pattern=_ECR_REPO, examples=["iris"])
    base: str = Field("public.ecr.aws/lambda/python:3.12", pattern=_IMAGE_REF,
                      examples=["public.ecr.aws/lambda/python:3.12"])  # fmt: skip
    digest: str | None = Field(None, pattern=r"^sha256:[0-9a-f]{64}$", examples=["sha256:" + "0" * 64])


class DeployConfig(_Section):
    """Everything `template`, `build` and `push` need to know about one deployment."""

    name: str | None = Field(None, pattern=_NAME, examples=["iris"])
    stack_name: str | None = Field(None, pattern=_STACK, examples=["onnx-iris"])
    region: str | None = Field(None, pattern=_REGION, examples=["us-east-1"])
    memory_mb: Int = Field(1024, ge=128, le=10240, examples=[1024])
    timeout_s: Int = Field(API_GATEWAY_TIMEOUT_S, ge=1, le=900, examples=[29])
    architecture: Literal["x86_64", "arm64"] = Field("x86_64", examples=["arm64"])
    ephemeral_storage_mb: Int = Field(512, ge=512, le=10240, examples=[512])
    provisioned_concurrency: Int | None = Field(None, ge=1, le=10000, examples=[2])
    reserved_concurrency: Int | None = Field(None, ge=1, le=10000, examples=[10])
    log_retention_days: Int = Field(30, examples=[30])
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field("INFO", examples=["INFO"])
    metrics_namespace: str = Field("OnnxLambda", pattern=_NAMESPACE, examples=["OnnxLambda"])
    # None: the handler uses every CPU the function has (MODEL_THREADS=0).
    model_threads: Int | None = Field(None, ge=1, le=64, examples=[2])
    max_batch_size: Int = Field(1024, ge=1, le=1_000_000, examples=[64])
    api: ApiConfig = ApiConfig()
    deployment: DeploymentConfig = DeploymentConfig()
    monitoring: MonitoringConfig = MonitoringConfig()
    image: ImageConfig = ImageConfig()

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"must be one of the values CloudWatch Logs accepts: {', '.join(map(str, LOG_RETENTION_DAYS))}")
        return value

    @field_validator("metrics_namespace")
    @classmethod
    def _own_namespace(cls, value: str) -> str:
        if value.startswith("AWS/"):
            raise ValueError("the AWS/ prefix is reserved for AWS services' own metrics")
        return value

    @model_validator(mode="after")
    def _combinations(self) -> DeployConfig:
        if self.api.auth == "none" and not self.api.allow_unauthenticated:
            raise _Invalid(
                "api.auth",
                "'none' makes the endpoint public; set api.allow_unauthenticated = true to mean it",
                '"iam"',
            )
        if self.api.quota is not None and self.api.auth != "api_key":
            raise _Invalid("api.quota", f"a usage plan quota needs api.auth = \"api_key\" (auth is {self.api.auth!r})", '"api_key"', "api.auth")
        if (
            self.reserved_concurrency is not None
            and self.provisioned_concurrency is not None
            and self.reserved_concurrency < self.provisioned_concurrency
        ):
            raise _Invalid(
                "reserved_concurrency",
                f"{self.reserved_concurrency} is below provisioned_concurrency = {self.provisioned_concurrency}",
                str(self.provisioned_concurrency),
            )
        return self

    def for_model(self, model_name: str) -> DeployConfig:
        """This config with the model-dependent defaults filled in from the manifest's name."""
        name = self.name or model_name
        image = self.image
        if image.repository is None:
            image = image.model_copy(update={"repository": _ecr_name(name)})
        return self.model_copy(update={"name": name, "stack_name": self.stack_name or _stack_name(name), "image": image})

    @property
    def gateway_timeout_ms(self) -> int:
        """The API integration timeout: the function's, capped at API Gateway's 29 s."""
        return min(self.timeout_s, API_GATEWAY_TIMEOUT_S) * 1000


class _Invalid(ValueError):
    """A cross-field problem, with the key it belongs to and an example of a right value."""

    def __init__(self, key: str, message: str, example: str, example_key: str | None = None) -> None:
        super().__init__(message)
        self.key = tuple(key.split("."))
        self.example = f"{example_key or key} = {example}"


def config_warnings(config: DeployConfig) -> list[str]:
    """Valid but worth saying: what this config does that a user may not expect."""
    warnings = []
    if config.timeout_s > API_GATEWAY_TIMEOUT_S:
        warnings.append(
            f"timeout_s = {config.timeout_s}: API Gateway stops waiting after {API_GATEWAY_TIMEOUT_S} s, so requests "
            f"through the API answer 504 past that; direct invokes get the full {config.timeout_s} s"
        )
    if config.api.auth == "none":
        warnings.append("api.auth = \"none\": the endpoint is public, anyone with the URL can invoke the model")
    if config.deployment.type == "AllAtOnce":
        warnings.append(
            "deployment.type = \"AllAtOnce\": traffic moves in one step and the deployment ends, which leaves the "
            "alarms no window to roll a bad version back; a canary or linear type does not"
        )
    if config.deployment.alarms.p99_latency_ms >= config.timeout_s * 1000:
        warnings.append(
            f"deployment.alarms.p99_latency_ms = {config.deployment.alarms.p99_latency_ms} is not below the "
            f"timeout ({config.timeout_s} s): only timeouts can trip the latency alarm"
        )
    return warnings


# --------------------------------------------------------------------------- loading


def load_config(
    project_dir: Path,
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> DeployConfig:
    """The config of the project in `project_dir`: defaults < file < environment < `overrides`.

    `overrides` holds command-line values by key path (`"memory_mb"`, `"api.auth"`) or as nested
    mappings; None values mean "not given" and are skipped. `environ` defaults to os.environ.
    """
    if environ is None:
        import os

        environ = os.environ
    project_dir = Path(project_dir)
    if not project_dir.is_dir():
        raise ConfigError(f"{project_dir}: no such folder; pass the model project's folder (where deployer.toml goes)")
    merged: dict[str, Any] = {}
    sources: dict[tuple[str, ...], _Source] = {}
    file_source = _read_file(project_dir)
    if file_source is not None:
        data, source = file_source
        _merge(merged, data, (), source, sources)
    for var in sorted(ENV_VARS):
        value = environ.get(var)
        if value is not None and value.strip() != "":
            _merge(merged, _nest({ENV_VARS[var]: value.strip()}), (), _Source("env", f"environment variable {var}", var), sources)
    if overrides:
        given = {key: value for key, value in overrides.items() if value is not None}
        _merge(merged, _nest(given), (), _Source("cli", "command line"), sources)
    try:
        return DeployConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, sources)) from exc


class _Source:
    """Where a value came from: a file, an environment variable or the command line."""

    __slots__ = ("kind", "label", "var")

    def __init__(self, kind: Literal["file", "env", "cli"], label: str, var: str | None = None) -> None:
        self.kind = kind
        self.label = label
        self.var = var

    def example(self, path: str, value: str) -> str:
        """`value` (TOML) for `path`, written the way this source writes values."""
        if self.kind == "env" and ENV_VARS.get(self.var or "") == path:
            return f"{self.var}={value.strip(chr(34))}"
        return f"{path} = {value}"


_DEFAULT_SOURCE = _Source("file", "config")


def _read_file(project_dir: Path) -> tuple[dict[str, Any], _Source] | None:
    own = project_dir / CONFIG_FILE
    pyproject = project_dir / PYPROJECT_FILE
    found: list[tuple[dict[str, Any], _Source]] = []
    if own.is_file():
        found.append((_parse_toml(own), _Source("file", str(own))))
    if pyproject.is_file():
        tool = _parse_toml(pyproject).get("tool", {})
        if isinstance(tool, dict) and "deployer" in tool:
            table = tool["deployer"]
            if not isinstance(table, dict):
                raise ConfigError(f"{pyproject}: tool.deployer: must be a table; e.g. [tool.deployer]")
            found.append((table, _Source("file", f"{pyproject} [tool.deployer]")))
    if len(found) > 1:
        raise ConfigError(
            f"{project_dir}: both {CONFIG_FILE} and {PYPROJECT_FILE} [tool.deployer] configure the deployer; "
            f"keep one of them"
        )
    return found[0] if found else None


def _parse_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}; e.g. memory_mb = 1024") from exc


def _nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    """{"api.auth": x} → {"api": {"auth": x}}; nested mappings pass through."""
    out: dict[str, Any] = {}
    for key, value in flat.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = dict(value) if isinstance(value, Mapping) else value
    return out


def _merge(
    into: dict[str, Any],
    layer: Mapping[str, Any],
    path: tuple[str, ...],
    source: _Source,
    sources: dict[tuple[str, ...], _Source],
) -> None:
    for key, value in layer.items():
        here = (*path, key)
        if isinstance(value, Mapping):
            if not isinstance(into.get(key), dict):
                into[key] = {}
            sources.setdefault(here, source)
            _merge(into[key], value, here, source, sources)
        else:
            into[key] = value
            sources[here] = source


# --------------------------------------------------------------------------- error messages


def _describe(exc: ValidationError, sources: Mapping[tuple[str, ...], _Source]) -> str:
    errors = exc.errors()
    first = errors[0]
    loc = tuple(str(part) for part in first["loc"])
    what, example = _what_and_example(first, loc)
    if isinstance((first.get("ctx") or {}).get("error"), _Invalid):
        loc = first["ctx"]["error"].key
    source = _source_of(loc, sources)
    key = ".".join(loc) or "(top level)"
    more = f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
    hint = f"; e.g. {source.example(*example)}" if example else ""
    return f"{source.label}: {key}: {what}{hint}{more}"


def _source_of(loc: tuple[str, ...], sources: Mapping[tuple[str, ...], _Source]) -> _Source:
    """The source of the value at `loc`, or of the nearest section above it that was given."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in sources:
            return sources[loc[:end]]
    return next(iter(sources.values()), _DEFAULT_SOURCE)


def _what_and_example(error: Any, loc: tuple[str, ...]) -> tuple[str, tuple[str, str] | None]:
    kind = error["type"]
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, _Invalid):
        path, _, value = cause.example.partition(" = ")
        return str(cause), (path, value)
    example = _example_for(loc)
    if kind == "extra_forbidden":
        known = _known_keys(loc[:-1])
        close = difflib.get_close_matches(loc[-1], known, n=1)
        if close:
            better = (*loc[:-1], close[0])
            return f"unknown key (did you mean {close[0]}?)", _example_for(better)
        return f"unknown key; known keys here: {', '.join(known)}", None
    if kind == "missing":
        return "required key is missing", example
    if kind in ("int_from_bool", "number_from_bool"):  # no "(got True)": the boolean is the point
        return f"{error['msg']} ({_toml(error.get('input'))})", example
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        section = _model_at(loc)
        first = (*loc, next(iter(section.model_fields))) if section else loc
        return f"must be a table of keys, not {_show(error.get('input'))}", _example_for(first)
    if kind == "value_error" and cause is not None:
        what = str(cause)
    elif kind == "literal_error":
        what = f"must be one of {ctx.get('expected')}"
    elif kind == "string_pattern_mismatch":
        what = "has characters or a form this key does not allow"
    else:
        msg = str(error["msg"])
        what = msg.replace("Input should be", "must be").replace("String should", "must")
        what = what[:1].lower() + what[1:]
    return f"{what} (got {_show(error.get('input'))})", example


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _model_at(path: tuple[str, ...]) -> type[BaseModel] | None:
    model: type[BaseModel] = DeployConfig
    for part in path:
        field = model.model_fields.get(part)
        if field is None:
            return None
        nested = _section_type(field.annotation)
        if nested is None:
            return None
        model = nested
    return model


def _section_type(annotation: Any) -> type[BaseModel] | None:
    candidates = getattr(annotation, "__args__", None) or (annotation,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _known_keys(path: tuple[str, ...]) -> list[str]:
    model = _model_at(path)
    return list(model.model_fields) if model else []


def _example_for(loc: tuple[str, ...]) -> tuple[str, str] | None:
    if not loc:
        return None
    model = _model_at(loc[:-1])
    field = model.model_fields.get(loc[-1]) if model else None
    if field is None:
        return None
    if _section_type(field.annotation) is not None:
        return None
    if field.examples:
        return ".".join(loc), _toml(field.examples[0])
    return None


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))


def _stack_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9-]+", "-", name).strip("-")
    return f"onnx-{cleaned}"[:64].rstrip("-")


def _ecr_name(name: str) -> str:
    cleaned = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"
    return cleaned if len(cleaned) >= 2 else f"model-{cleaned}"
