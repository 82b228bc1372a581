"""Alertmanager's configuration: who gets which alert.

Routes, in order: the always-firing Watchdog to the external dead man's switch (or nowhere);
kube-prometheus-stack's InfoInhibitor nowhere; every `severity: critical` alert to the critical
receiver, continuing so the team sees it too; each team namespace's alerts to its team's receiver;
the rest to the default receiver (or nowhere: Alertmanager's UI still lists them).

Credentials are files: each receiver reads its webhook URL, routing key or password from a key of
an existing Secret that Alertmanager mounts (`alertmanagerSpec.secrets`), so none is in the
configuration, the chart values or Pulumi's state.
"""
from __future__ import annotations

from typing import Any

from hybridai.config.operations import AlertingSettings, AlertReceiver, SecretKeyRef

SECRETS_DIR = "/etc/alertmanager/secrets"
"""Where the Prometheus Operator mounts each Secret listed in `alertmanagerSpec.secrets`."""
NOWHERE = "null"
DEAD_MANS_SWITCH = "dead-mans-switch"

NODE_DOWN = 'alertname =~ "KubeNodeNotReady|KubeNodeUnreachable"'
"""kube-prometheus-stack's node alerts (label `node`): a node that is down explains its GPUs vanishing."""
GPU_ALERTS_OF_A_NODE = 'alertname = "GpuNodeLostGpus"'


def _file(ref: SecretKeyRef) -> str:
    return f"{SECRETS_DIR}/{ref.name}/{ref.key}"


def _receiver(receiver: AlertReceiver) -> dict[str, Any]:
    out: dict[str, Any] = {"name": receiver.name}
    if receiver.slack:
        out["slack_configs"] = [
            {
                "api_url_file": _file(receiver.slack.webhook_url),
                "channel": receiver.slack.channel,
                "send_resolved": True,
                "title": '{{ .Status | toUpper }}: {{ .CommonLabels.alertname }} ({{ .CommonLabels.cluster }})',
                "text": "{{ range .Alerts }}{{ .Annotations.summary }}\n{{ .Annotations.description }}\n{{ end }}",
            }
        ]
    if receiver.pagerduty:
        out["pagerduty_configs"] = [{"routing_key_file": _file(receiver.pagerduty.routing_key), "send_resolved": True}]
    if receiver.email:
        email = receiver.email
        config: dict[str, Any] = {"to": ", ".join(email.to), "from": email.sender, "smarthost": email.smarthost, "send_resolved": True}
        if email.username:
            config["auth_username"] = email.username
        if email.password:
            config["auth_password_file"] = _file(email.password)
        out["email_configs"] = [config]
    if receiver.webhook:
        out["webhook_configs"] = [{"url_file": _file(receiver.webhook.url), "send_resolved": True}]
    return out


def alertmanager_config(alerting: AlertingSettings, team_namespaces: dict[str, str]) -> dict[str, Any]:
    """The `alertmanager.config` chart value. `team_namespaces`: team name → its namespace on this cluster."""
    routes: list[dict[str, Any]] = [
        # The heartbeat: every minute to the dead man's switch, which pages when it stops arriving.
        {"matchers": ['alertname = "Watchdog"'], "receiver": DEAD_MANS_SWITCH, "group_wait": "0s", "group_interval": "1m", "repeat_interval": "1m"}
        if alerting.dead_mans_switch
        else {"matchers": ['alertname = "Watchdog"'], "receiver": NOWHERE},
        {"matchers": ['alertname = "InfoInhibitor"'], "receiver": NOWHERE},
    ]
    if alerting.critical:
        routes.append({"matchers": ['severity = "critical"'], "receiver": alerting.critical, "continue": True})
    for team, receiver in sorted(alerting.teams.items()):
        if team in team_namespaces:
            routes.append({"matchers": [f'namespace = "{team_namespaces[team]}"'], "receiver": receiver})
    receivers = [{"name": NOWHERE}, *(_receiver(r) for r in alerting.receivers)]
    if alerting.dead_mans_switch:
        receivers.append({"name": DEAD_MANS_SWITCH, "webhook_configs": [{"url_file": _file(alerting.dead_mans_switch), "send_resolved": False}]})
    return {
        "route": {
            "receiver": alerting.default or NOWHERE,
            "group_by": ["alertname", "cluster", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": routes,
        },
        "inhibit_rules": [
            # A critical alert silences the warning of the same alert and place.
            {"source_matchers": ['severity = "critical"'], "target_matchers": ['severity =~ "warning|info"'], "equal": ["alertname", "cluster", "namespace"]},
            # A node that is down silences its lost-GPU alert: one page, the cause.
            {"source_matchers": [NODE_DOWN], "target_matchers": [GPU_ALERTS_OF_A_NODE], "equal": ["cluster", "node"]},
            # kube-prometheus-stack's own: InfoInhibitor silences info alerts of its namespace.
            {"source_matchers": ['alertname = "InfoInhibitor"'], "target_matchers": ['severity = "info"'], "equal": ["namespace"]},
        ],
        "receivers": receivers,
    }


def mounted_secrets(alerting: AlertingSettings) -> list[str]:
    """Secrets Alertmanager mounts: every one a receiver or the dead man's switch names."""
    refs: list[SecretKeyRef | None] = [alerting.dead_mans_switch]
    for r in alerting.receivers:
        refs += [r.slack and r.slack.webhook_url, r.pagerduty and r.pagerduty.routing_key, r.email and r.email.password, r.webhook and r.webhook.url]
    return sorted({ref.name for ref in refs if ref})
