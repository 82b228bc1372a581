"""Alertmanager routing: every configuration the plan writes passes amtool, critical alerts reach the
critical receiver, team alerts their team, credentials are only files, and bad input is refused at
its key."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from hybridai.config import StackConfigError
from hybridai.program import prepare
from tests.conftest import EXAMPLE_STACKS, ROOT, planned
from tests.helpers import stack_values, unavailable

AMTOOL = Path(os.environ.get("HYBRIDAI_AMTOOL", ROOT / "build" / "tools" / "alertmanager" / "usr" / "bin" / "amtool"))


def amtool() -> Path:
    if not AMTOOL.is_file():
        unavailable(f"amtool >= 0.28 not at {AMTOOL}; .ci/run installs it")
    return AMTOOL


def alertmanager_configs(stack: str) -> dict[str, dict]:
    """Per cluster target, the Alertmanager configuration its kube-prometheus-stack release gets."""
    plan, _ = planned(stack)
    return {
        r.target: r.inputs["values"]["alertmanager"]["config"]
        for r in plan.resources
        if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "kube-prometheus-stack" and r.inputs["values"]["alertmanager"].get("enabled", True)
    }


def routes_to(config_file: Path, *labels: str) -> set[str]:
    """The receivers Alertmanager sends an alert with these labels to (`amtool config routes test`)."""
    out = subprocess.run([str(amtool()), "config", "routes", "test", f"--config.file={config_file}", *labels], capture_output=True, text=True, check=True).stdout
    return set(out.strip().split(","))


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_alertmanager_configuration_passes_amtool(stack: str, tmp_path: Path) -> None:
    # GIVEN each server-mode cluster of the stack (edge agents run no Alertmanager)
    configs = alertmanager_configs(stack)
    assert configs
    for target, config in configs.items():
        path = tmp_path / f"{target}.yaml"
        path.write_text(yaml.safe_dump(config))
        # WHEN amtool checks it THEN it is valid
        result = subprocess.run([str(amtool()), "check-config", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{stack}/{target}: {result.stdout}{result.stderr}"


def test_finance_prod_pages_critical_alerts_and_tells_the_team(tmp_path: Path) -> None:
    # GIVEN finance-prod's on-prem Alertmanager
    config = alertmanager_configs("finance-prod")["dc1"]
    path = tmp_path / "am.yaml"
    path.write_text(yaml.safe_dump(config))
    # THEN a critical alert in the fraud namespace pages on-call and reaches the fraud channel
    assert routes_to(path, "severity=critical", "namespace=fraud", "alertname=InferenceLatencyAboveObjective") == {"oncall", "fraud"}
    # AND a warning there reaches the fraud team only
    assert routes_to(path, "severity=warning", "namespace=fraud", "alertname=GpuAllocatedButIdle") == {"fraud"}
    # AND another namespace's warning goes to the default mailbox; a critical one pages
    assert routes_to(path, "severity=warning", "namespace=credit-serving") == {"platform"}
    assert routes_to(path, "severity=critical", "namespace=credit-serving") == {"oncall"}
    # AND the Watchdog heartbeat goes to the dead man's switch every minute
    assert routes_to(path, "alertname=Watchdog", "severity=none") == {"dead-mans-switch"}
    [watchdog] = [r for r in config["route"]["routes"] if r["matchers"] == ['alertname = "Watchdog"']]
    assert watchdog["repeat_interval"] == "1m"


def test_credentials_are_files_of_mounted_secrets_never_values() -> None:
    # GIVEN finance-prod's kube-prometheus-stack values on dc1
    plan, _ = planned("finance-prod")
    [kps] = [r for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"] == "kube-prometheus-stack" and r.target == "dc1"]
    alertmanager = kps.inputs["values"]["alertmanager"]
    receivers = {r["name"]: r for r in alertmanager["config"]["receivers"]}
    # THEN each credential is a path under the mounted Secret, and that Secret is mounted
    assert receivers["oncall"]["pagerduty_configs"][0] == {"routing_key_file": "/etc/alertmanager/secrets/alertmanager-receivers/pagerduty-routing-key", "send_resolved": True}
    assert receivers["fraud"]["slack_configs"][0]["api_url_file"] == "/etc/alertmanager/secrets/alertmanager-receivers/slack-fraud-webhook"
    assert receivers["dead-mans-switch"]["webhook_configs"][0]["url_file"] == "/etc/alertmanager/secrets/alertmanager-receivers/heartbeat-url"
    assert alertmanager["alertmanagerSpec"]["secrets"] == ["alertmanager-receivers"]
    # AND no receiver carries an inline credential field
    inline = {"api_url", "routing_key", "service_key", "url", "auth_password"}
    assert not [k for r in receivers.values() for cs in r.values() if isinstance(cs, list) for c in cs for k in c if k in inline]


def test_a_node_that_is_down_silences_its_lost_gpu_alert(tmp_path: Path) -> None:
    # GIVEN healthcare-prod's Alertmanager
    config = alertmanager_configs("healthcare-prod")["dc1"]
    # THEN the node-down alerts inhibit GpuNodeLostGpus of the same node and cluster
    [rule] = [r for r in config["inhibit_rules"] if r["target_matchers"] == ['alertname = "GpuNodeLostGpus"']]
    assert rule["source_matchers"] == ['alertname =~ "KubeNodeNotReady|KubeNodeUnreachable"'] and rule["equal"] == ["cluster", "node"]


def test_the_burst_cluster_routes_its_teams_by_their_cloud_namespaces(tmp_path: Path) -> None:
    # GIVEN finance-prod's EKS Alertmanager: the fraud team's namespace there has the same route
    config = alertmanager_configs("finance-prod")["training"]
    routes = {tuple(r["matchers"]): r["receiver"] for r in config["route"]["routes"]}
    assert routes[('namespace = "fraud"',)] == "fraud"


def _problems(stack: str, change) -> list[tuple[str, str]]:
    values = stack_values(stack)
    change(values)
    with pytest.raises(StackConfigError) as err:
        prepare(stack, values)
    return [(".".join(map(str, p.loc)), p.type) for p in err.value.problems]


def test_a_prod_stack_without_a_critical_receiver_is_refused_at_its_key() -> None:
    def drop(values: dict) -> None:
        del values["monitoring"]["alerting"]["critical"]

    assert ("monitoring.alerting.critical", "critical_receiver_required") in _problems("healthcare-prod", drop)


def test_a_plaintext_credential_is_refused_and_never_echoed() -> None:
    def plaintext(values: dict) -> None:
        values["monitoring"]["alerting"]["receivers"][0]["pagerduty"]["routingKey"] = "R0UT1NGK3Y-very-secret"

    values = stack_values("healthcare-prod")
    plaintext(values)
    with pytest.raises(StackConfigError) as err:
        prepare("healthcare-prod", values)
    [problem] = err.value.problems
    assert (".".join(map(str, problem.loc)), problem.type) == ("monitoring.alerting.receivers.0.pagerduty.routingKey", "plaintext_credential")
    assert "R0UT1NGK3Y" not in err.value.render()


def test_routes_name_receivers_and_teams_that_exist() -> None:
    def wrong(values: dict) -> None:
        alerting = values["monitoring"]["alerting"]
        alerting["default"] = "nobody"
        alerting["teams"] = {"fraud": "fraud", "treasury": "fraud", "credit-serving": "missing"}
        alerting["receivers"].append(dict(alerting["receivers"][0]))

    assert set(_problems("finance-prod", wrong)) == {
        ("monitoring.alerting.default", "unknown_receiver"),
        ("monitoring.alerting.teams.treasury", "team_unknown"),
        ("monitoring.alerting.teams.credit-serving", "unknown_receiver"),
        ("monitoring.alerting.receivers.3.name", "duplicate_receiver"),
    }


def test_a_receiver_sends_somewhere() -> None:
    def empty(values: dict) -> None:
        values["monitoring"]["alerting"]["receivers"].append({"name": "void"})

    assert ("monitoring.alerting.receivers.3", "receiver_empty") in _problems("finance-prod", empty)
