"""The dashboard and the alarms read what the handler writes, and the dashboard shows all of it.

"What the handler writes" comes from functions/ itself: functions/series.py declares every metric
with its dimensions (functions/metrics.py refuses to write anything undeclared) and says which
series a manifest leads to (`emitted`, checked against the handler's real output in
tests/unit/functions/test_drift.py). Here: every handler metric the template names is declared,
with the same dimensions, for this model and service; every series the handler can emit for the
manifest is on the dashboard; the drift alarm follows the config and never rolls back.
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

import pytest

from deployer.config import DeployConfig
from deployer.template import generate
from functions.series import BASE_DIMENSIONS, SERIES, emitted
from tests.unit.template.conftest import Case, iris_manifest

_SEARCH = re.compile(r"SEARCH\('\{(\"[^\"]*\"),([^}]*)\} MetricName=\"([^\"]+)\"((?: [a-z]+=\"[^\"]*\")*)', "
                     r"'([A-Za-z0-9.]+)', (\d+)\)")


class Ref(NamedTuple):
    """A handler metric the template names: its dimensions and the values it pins."""

    where: str
    metric: str
    dimensions: frozenset[str]
    values: dict[str, Any]  # pinned dimension values (a SEARCH leaves the others open)


def _body(template: dict[str, Any]) -> dict[str, Any]:
    text = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    return json.loads(text.replace("${!", "${"))


def dashboard_refs(template: dict[str, Any], namespace: str) -> list[Ref]:
    refs = []
    for widget in _body(template)["widgets"]:
        title = widget["properties"].get("title", "")
        for line in widget["properties"].get("metrics", []):
            if isinstance(line[0], dict):
                expression = line[0]["expression"]
                match = _SEARCH.fullmatch(expression)
                assert match, f"{title}: not a SEARCH this test can read: {expression}"
                if json.loads(match[1]) != namespace:
                    continue
                pins = dict(re.findall(r'([a-z]+)="([^"]*)"', match[4]))
                assert match[6] == "60"
                refs.append(Ref(f"dashboard: {title}", match[3], frozenset(match[2].split(",")), pins))
            elif line[0] == namespace:
                name, *pairs = line[1:-1]
                values = dict(zip(pairs[::2], pairs[1::2]))
                refs.append(Ref(f"dashboard: {title}", name, frozenset(values), values))
    return refs


def alarm_refs(template: dict[str, Any], namespace: str) -> list[Ref]:
    refs = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::CloudWatch::Alarm":
            continue
        props = resource["Properties"]
        metrics = [q["MetricStat"]["Metric"] for q in props.get("Metrics", []) if "MetricStat" in q]
        if "MetricName" in props:
            metrics.append(props)
        for metric in metrics:
            if metric["Namespace"] == namespace:
                values = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
                refs.append(Ref(f"alarm {logical_id}", metric["MetricName"], frozenset(values), values))
    return refs


def check_contract(manifest: dict[str, Any], config: DeployConfig) -> dict[str, Any]:
    template = generate(manifest, config)
    resolved = config.for_model(manifest["name"])
    namespace = resolved.metrics_namespace
    pins = {"model": manifest["name"], "version": manifest["version"], "service": str(resolved.name)}
    dashboard = dashboard_refs(template, namespace)
    refs = dashboard + alarm_refs(template, namespace)
    # 1. everything named is declared, with exactly the handler's dimensions, for this model and service
    for ref in refs:
        assert ref.metric in SERIES, f"{ref.where}: {ref.metric} is not a metric the handler emits"
        declared = {frozenset((*BASE_DIMENSIONS, *extra)) for extra in SERIES[ref.metric][1]}
        assert ref.dimensions in declared, f"{ref.where}: {ref.metric} with {sorted(ref.dimensions)}; " \
                                           f"the handler writes {[sorted(d) for d in declared]}"
        for key, value in ref.values.items():
            if key in pins:
                assert value == pins[key], f"{ref.where}: {ref.metric} {key}={value!r}, the handler writes {pins[key]!r}"
    # 2. everything the handler can emit for this manifest and config is on the dashboard
    monitoring = resolved.monitoring
    for metric, extra in emitted(manifest, monitoring.max_features, drift=monitoring.drift):
        dims = frozenset((*BASE_DIMENSIONS, *extra))
        shown = [r for r in dashboard if r.metric == metric and r.dimensions == dims
                 and all(r.values.get(k, v) == v for k, v in extra.items() if v != "*")]
        assert shown, f"{metric} {extra or ''} is emitted but not on the dashboard"
    return template


def no_baseline(manifest: dict[str, Any]) -> dict[str, Any]:
    stripped = json.loads(json.dumps(manifest))
    stripped["predictions"] = None
    for stats in stripped["baseline"].values():
        for key in ("features", "edges", "shares"):
            stats.pop(key, None)
    return stripped


def test_the_bundled_example_has_a_drift_baseline() -> None:
    manifest = iris_manifest()
    assert manifest["baseline"]["X"]["features"] == ["X[0]", "X[1]", "X[2]", "X[3]"]
    assert manifest["predictions"]["label"]["names"] == ["setosa", "versicolor", "virginica"]


def test_the_generated_templates_keep_the_contract(case: Case) -> None:
    template = check_contract(case.manifest, case.config)
    drift = template["Resources"]["DriftAlarm"]["Properties"]
    assert (drift["MetricName"], drift["Statistic"], drift["Threshold"]) == (
        "DriftPSIMax", "Maximum", case.config.monitoring.psi_threshold)
    # not a deployment alarm: CodeDeploy neither watches it nor may read it
    function = template["Resources"]["ModelFunction"]["Properties"]
    assert {"Ref": "DriftAlarm"} not in function["DeploymentPreference"]["Alarms"]
    assert "drift" not in json.dumps(template["Resources"]["DeploymentRole"])
    # and found by the cfn-lint / translation run of the case
    assert case.translated("AWS::CloudWatch::Alarm") and not [f for f in case.findings if f.level == "error"]


@pytest.mark.parametrize("monitoring", [{}, {"psi_threshold": 0.35, "max_features": 2}, {"drift": False}])
def test_monitoring_settings(monitoring: dict[str, Any]) -> None:
    config = DeployConfig.model_validate({"monitoring": monitoring})
    template = check_contract(iris_manifest(), config)
    env = template["Resources"]["ModelFunction"]["Properties"]["Environment"]["Variables"]
    alarm = template["Resources"].get("DriftAlarm")
    if monitoring.get("drift") is False:
        assert env["DRIFT_EVERY_N"] == "0" and alarm is None
        assert not [w for w in _body(template)["widgets"] if "drift" in w["properties"].get("title", "").lower()]
    else:
        assert alarm["Properties"]["Threshold"] == config.monitoring.psi_threshold
        assert env["DRIFT_MAX_FEATURES"] == str(config.monitoring.max_features)
    hook = template["Resources"]["GoldenSetHook"]["Properties"]["Environment"]["Variables"]
    assert hook["DRIFT_EVERY_N"] == "0"  # the golden set is not traffic


def test_a_model_without_a_drift_baseline() -> None:
    template = check_contract(no_baseline(iris_manifest()), DeployConfig())
    assert "DriftAlarm" not in template["Resources"]
    titles = [w["properties"].get("title", "") for w in _body(template)["widgets"]]
    assert not [t for t in titles if "drift" in t.lower() or "Prediction" in t]


def test_predictions_only_and_numeric_outputs() -> None:
    manifest = no_baseline(iris_manifest())
    manifest["predictions"] = {"score": {"kind": "values", "rows": 10, "source": "sample", "shares": [0.5, 0.5],
                                         "edges": [1.0], "mean": 1.0, "p50": 1.0, "p90": 2.0}}
    template = check_contract(manifest, DeployConfig())
    assert "DriftAlarm" not in template["Resources"]  # no input feature: DriftPSIMax is never written
    text = json.dumps(_body(template))
    assert "baseline p90 2" in text and "PredictionP90" in text
