"""Logging: Loki on each stack's on-prem cluster, its storage, credentials, retention and Grafana."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import kubernetes_validate
import pytest

from hybridai import catalog
from hybridai.config import StackConfigError
from hybridai.modules.certificates import TlsArgs
from hybridai.modules.logging import ARCHIVE_KEY_DIR, AUDIT_SELECTOR, ArchiveArgs, CollectorArgs, LoggingArgs, LogStoreArgs, loki_url
from hybridai.program import prepare
from tests.conftest import planned
from hybridai.recorded import TEAM_LABEL, fluent_bit_sections
from tests.helpers import named, of_kind, of_type, prepared, problems_of, stack_values

STACKS = ["healthcare-prod", "healthcare-dev", "finance-prod", "finance-dev", "manufacturing-prod"]
ONPREM = {"healthcare-prod": "dc1", "healthcare-dev": "lab", "finance-prod": "dc1", "finance-dev": "lab", "manufacturing-prod": "plant-dc"}
RELEASE = "kubernetes:helm.sh/v3:Release"


def loki_releases(stack: str) -> list:
    plan, _ = planned(stack)
    return [r for r in of_type(plan.resources, RELEASE) if r.inputs["chart"] == "loki"]




@pytest.mark.parametrize("stack", STACKS)
def test_loki_runs_on_the_onprem_cluster_only(stack: str) -> None:
    # GIVEN an example stack WHEN planned
    releases = loki_releases(stack)
    # THEN exactly one Loki, on the on-prem (plant) cluster: none on EKS, none on an edge site
    assert [(r.target, r.placement) for r in releases] == [(ONPREM[stack], "onprem")]
    values = releases[0].inputs["values"]
    # AND one binary, in the logging namespace, with no scalable targets or gateway
    assert releases[0].inputs["namespace"] == "logging"
    assert values["deploymentMode"] == "Monolithic" and values["singleBinary"]["replicas"] == 1
    assert (values["read"]["replicas"], values["write"]["replicas"], values["backend"]["replicas"]) == (0, 0, 0)
    assert values["gateway"]["enabled"] is False and values["loki"]["commonConfig"]["replication_factor"] == 1


def test_loki_stores_in_the_object_store_with_credentials_from_the_secret() -> None:
    # GIVEN healthcare-prod WHEN planned
    values = loki_releases("healthcare-prod")[0].inputs["values"]
    storage = values["loki"]["storage"]
    # THEN chunks, rules and delete requests go to the stack's bucket at its https endpoint
    assert storage["type"] == "s3" and storage["bucketNames"] == {"chunks": "hc-prod-logs", "ruler": "hc-prod-logs", "admin": "hc-prod-logs"}
    assert storage["s3"]["endpoint"] == "https://s3.hospital.example" and storage["s3"]["insecure"] is False
    assert values["loki"]["compactor"] == {"retention_enabled": True, "delete_request_store": "s3", "working_directory": "/var/loki/compactor"}
    # AND the credentials are environment variables read from the named Secret's keys
    assert values["singleBinary"]["extraEnv"] == [
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "loki-object-store", "key": "access-key-id"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "loki-object-store", "key": "secret-access-key"}}},
    ]
    # AND no credential value is anywhere in the values
    text = json.dumps(values)
    assert "accessKeyId" not in text and "secretAccessKey" not in text and "access_key_id" not in text


@pytest.mark.parametrize(
    ("stack", "app_days", "audit_days"),
    [("healthcare-prod", 90, 2190), ("finance-prod", 90, 2557), ("finance-dev", 30, 365), ("manufacturing-prod", 30, 365)],
)
def test_retention_follows_the_stacks_compliance_profiles(stack: str, app_days: int, audit_days: int) -> None:
    # GIVEN a stack with its profiles (HIPAA: six years of audit; SOX: seven; waived or none: the default)
    values = loki_releases(stack)[0].inputs["values"]
    limits = values["loki"]["structuredConfig"]["limits_config"]
    # THEN application logs and the audit stream are kept that long
    assert limits["retention_period"] == f"{app_days * 24}h"
    assert limits["retention_stream"] == [{"selector": AUDIT_SELECTOR, "priority": 1, "period": f"{audit_days * 24}h"}]


def test_a_stack_may_keep_logs_longer_than_its_profile() -> None:
    # GIVEN healthcare-prod asking for a year of application logs WHEN prepared
    values = stack_values("healthcare-prod")
    values["logging"]["logRetentionDays"] = 365
    spec = prepare("healthcare-prod", values)[0]
    # THEN that applies, and the audit stream keeps the profile's six years
    assert (spec.log_retention().log_days, spec.log_retention().audit_days) == (365, 2190)


@pytest.mark.parametrize("stack", ["healthcare-prod", "finance-prod", "manufacturing-prod"])
def test_grafana_on_the_onprem_cluster_has_the_loki_datasource(stack: str) -> None:
    # GIVEN an example stack WHEN planned
    plan, _ = planned(stack)
    kps = [r for r in of_type(plan.resources, RELEASE) if r.inputs["chart"] == "kube-prometheus-stack"]
    # THEN the on-prem Grafana queries the cluster's Loki; no other cluster's Grafana lists it
    # (with TLS, every Grafana also lists its Prometheus there: modules/monitoring.py), over https,
    # verified with the issuer's CA Grafana reads from its certificate's Secret
    by_target = {r.target: [d for d in r.inputs["values"].get("grafana", {}).get("additionalDataSources", []) if d["type"] == "loki"] for r in kps}
    assert by_target.pop(ONPREM[stack]) == [
        {
            "name": "Loki", "type": "loki", "uid": "loki", "access": "proxy", "url": loki_url("logging", True), "editable": False,
            "jsonData": {"tlsAuthWithCACert": True}, "secureJsonData": {"tlsCACert": "$HYBRIDAI_TLS_CA"},
        }
    ]
    assert all(found == [] for found in by_target.values())


@pytest.mark.parametrize(("stack", "remote"), [("healthcare-prod", False), ("finance-prod", True), ("manufacturing-prod", True)])
def test_loki_is_restricted_the_collector_apart_and_only_lokis_port_is_admitted(stack: str, remote: bool) -> None:
    # GIVEN an example stack WHEN planned
    plan, _ = planned(stack)
    on_prem = [r for r in plan.resources if r.target == ONPREM[stack]]
    namespace = named(on_prem, "Namespace", "logging")
    # THEN Loki's namespace enforces restricted and is protected (Loki's volume)
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace.protect and namespace.retain_on_delete
    # AND the collector runs privileged (its hostPath mounts) in a namespace of its own that admits
    # nothing from outside but Prometheus on the metrics port
    collector = named(on_prem, "Namespace", "log-collector")
    assert collector.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert named(on_prem, "NetworkPolicy", "log-collector-ingress").inputs["spec"]["ingress"] == [
        {"from": [{"podSelector": {}}]},
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"protocol": "TCP", "port": 2020}]},
    ]
    ingress = named(on_prem, "NetworkPolicy", "logging-ingress").inputs["spec"]["ingress"]
    port = [{"protocol": "TCP", "port": 3100}]
    # AND besides its own pods, only Loki's port: from the collector and monitoring (Grafana), or on
    # a hub whose EKS/edge collectors push from outside, from anywhere
    assert ingress[0] == {"from": [{"podSelector": {}}]}
    if remote:
        assert ingress[1:] == [{"ports": port}]
    else:
        # (and the decision sink, which pushes the models' decisions: healthcare-prod runs one)
        assert ingress[1:] == [
            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}}], "ports": port} for ns in ("log-collector", "decisions", "monitoring")
        ]


def test_a_dev_stack_without_logging_has_no_log_store() -> None:
    # GIVEN finance-dev (SOX waived) without `logging` WHEN prepared
    values = stack_values("finance-dev")
    del values["logging"]
    spec = prepare("finance-dev", values)[0]
    # THEN it is valid and keeps no logs (nor reserves the namespace)
    assert spec.logging is None and "logging" not in spec.platform_namespaces()


BAD_INPUT = [
    # (case, mutation, expected (loc, type))
    ("prod without logging", lambda v: v.pop("logging"), (("logging",), "logging_required")),
    ("collector namespace taken", lambda v: v["logging"].update(collectorNamespace="logging"), (("logging", "collectorNamespace"), "namespace_taken")),
    ("http endpoint", lambda v: v["logging"]["objectStore"].update(endpoint="http://s3.hospital.example"), (("logging", "objectStore", "endpoint"), "url")),
    ("plaintext access key", lambda v: v["logging"]["objectStore"].update(accessKeyId="AKIAEXAMPLE"), (("logging", "objectStore", "accessKeyId"), "plaintext_credential")),
    ("plaintext secret key", lambda v: v["logging"]["objectStore"].update(secretAccessKey="s3cr3t"), (("logging", "objectStore", "secretAccessKey"), "plaintext_credential")),
    ("audit kept shorter than HIPAA", lambda v: v["logging"].update(auditRetentionDays=365), (("logging", "auditRetentionDays"), "retention_below_profile")),
    ("app logs shorter than HIPAA", lambda v: v["logging"].update(logRetentionDays=7), (("logging", "logRetentionDays"), "retention_below_profile")),
    ("logging namespace taken", lambda v: v["logging"].update(namespace="monitoring"), (("logging", "namespace"), "namespace_taken")),
    ("HIPAA without the audit archive", lambda v: v["logging"].pop("auditArchive"), (("logging", "auditArchive"), "audit_archive_required")),
    ("an archive without object lock", lambda v: v["logging"]["auditArchive"].pop("objectLock"), (("logging", "auditArchive", "objectLock"), "missing")),
    ("a GOVERNANCE lock", lambda v: v["logging"]["auditArchive"]["objectLock"].update(mode="GOVERNANCE"), (("logging", "auditArchive", "objectLock", "mode"), "lock_not_compliance")),
    ("a lock shorter than HIPAA's six years", lambda v: v["logging"]["auditArchive"]["objectLock"].update(retentionDays=365), (("logging", "auditArchive", "objectLock", "retentionDays"), "retention_below_profile")),
    ("plaintext archive key", lambda v: v["logging"]["auditArchive"].update(secretAccessKey="s3cr3t"), (("logging", "auditArchive", "secretAccessKey"), "plaintext_credential")),
    ("http archive", lambda v: v["logging"]["auditArchive"].update(endpoint="http://s3.hospital.example"), (("logging", "auditArchive", "endpoint"), "url")),
]


@pytest.mark.parametrize(("case", "mutate", "expected"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_logging_settings_are_refused_at_their_key(case: str, mutate, expected: tuple) -> None:
    # GIVEN healthcare-prod (HIPAA) with one bad logging setting
    values = copy.deepcopy(stack_values("healthcare-prod"))
    mutate(values)
    # WHEN prepared THEN it is refused at that key, with that error type
    assert expected in problems_of("healthcare-prod", values)


def test_a_plaintext_credential_is_never_echoed() -> None:
    # GIVEN a secret key written into the stack file
    values = stack_values("healthcare-prod")
    values["logging"]["objectStore"]["secretAccessKey"] = "wJalrXUtnFEMI-do-not-print"
    # WHEN prepared THEN the error doesn't repeat it
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", values)
    assert "do-not-print" not in str(caught.value)


def test_loki_release_is_named_and_written_to_helm_folder() -> None:
    # GIVEN manufacturing-prod WHEN planned THEN the plant's Loki values are written with the others
    _, files = planned("manufacturing-prod")
    assert Path("helm/plant-dc/loki.yaml") in files
    assert not any(p.name == "loki.yaml" for p in files if p.parts[:2] in (("helm", "training"), ("helm", "line-1")))


# Step 2: the collector (Fluent Bit) on every cluster.

APPLICATION = "kubernetes:argoproj.io/v1alpha1:Application"
HUB_HOST = {"finance-prod": "logs.dc1.bank.example", "finance-dev": "logs.lab.bank.example", "manufacturing-prod": "logs.plant-a.example"}


def cluster_targets(plan) -> set[str]:
    """Every cluster the stack runs the platform on (each has a kube-prometheus-stack)."""
    return {target for target, _ in chart_values(plan, "kube-prometheus-stack")}


def chart_values(plan, chart: str) -> list[tuple[str, dict]]:
    """(target, values) of each release of `chart`: Helm releases, and Argo CD Applications on GitOps sites."""
    found = [(r.target, r.inputs["values"]) for r in of_type(plan.resources, RELEASE) if r.inputs["chart"] == chart]
    found += [(r.target, r.inputs["spec"]["source"]["helm"]["valuesObject"]) for r in of_type(plan.resources, APPLICATION) if r.inputs["spec"]["source"].get("chart") == chart]
    return found


def section(config: str, key: str, match: str | None = None) -> list[dict[str, list[str]]]:
    """The sections of a Fluent Bit config text (as policy reads them), those whose `key` is `match` only."""
    return [s for s in fluent_bit_sections(config) if s and (match is None or s.get(key) == [match])]


@pytest.mark.parametrize("stack", STACKS)
def test_fluent_bit_runs_as_a_daemonset_on_every_cluster(stack: str) -> None:
    # GIVEN an example stack WHEN planned
    plan, _ = planned(stack)
    releases = chart_values(plan, "fluent-bit")
    # THEN each of its clusters (on-prem, EKS, every edge site) has exactly one, a DaemonSet in logging
    assert sorted(t for t, _ in releases) == sorted(cluster_targets(plan))
    for _, values in releases:
        assert values["kind"] == "DaemonSet"
        # on every node: every taint tolerated (GPU nodes included)
        assert values["tolerations"] == [{"operator": "Exists"}]
    assert all(r.inputs["namespace"] == "log-collector" for r in of_type(plan.resources, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == "fluent-bit")
    namespaces = {r.target for r in of_kind(plan.resources, "Namespace") if r.inputs["metadata"]["name"] == "log-collector"}
    assert namespaces >= cluster_targets(plan)


@pytest.mark.parametrize("stack", STACKS)
def test_each_collector_pushes_to_the_onprem_loki(stack: str) -> None:
    # GIVEN an example stack WHEN planned
    plan, _ = planned(stack)
    for target, values in chart_values(plan, "fluent-bit"):
        outputs = section(values["config"]["outputs"], "Name", "loki")
        # (the API audit log, and the change stream from it, where the cluster has its own API server)
        audited = [["audit.api"], ["change.api"]] if target != "training" else []
        assert [o["Match"] for o in outputs] == [["kube.*"], ["host.*"], *audited]
        for output in outputs:
            # THEN the on-prem collector reaches Loki's service in the cluster over https, verified
            # with the issuer's CA; the others the hub's https address, verified with public CAs
            if target == ONPREM[stack]:
                assert (output["Host"], output["Port"], output["tls"], output["tls.verify"]) == (["loki.logging.svc"], ["3100"], ["On"], ["On"])
                assert output["tls.ca_file"] == ["/fluent-bit/tls/ca.crt"]
            else:
                assert (output["Host"], output["Port"], output["tls"], output["tls.verify"]) == ([HUB_HOST[stack]], ["443"], ["On"], ["On"])
                assert "tls.ca_file" not in output
            assert output["Uri"] == ["/loki/api/v1/push"]


def test_streams_are_labelled_with_cluster_placement_site_namespace_and_team() -> None:
    # GIVEN manufacturing-prod (on-prem plant, EKS, three edge sites) WHEN planned
    plan, _ = planned("manufacturing-prod")
    labels = {target: section(values["config"]["outputs"], "Match", "kube.*")[0]["Labels"][0] for target, values in chart_values(plan, "fluent-bit")}
    # THEN container logs carry their cluster, placement, the edge site, the namespace and its team
    team = f"team=$kubernetes_namespace['labels']['{TEAM_LABEL}']"
    assert labels["plant-dc"] == f"job=fluent-bit, cluster=plant-dc, placement=onprem, namespace=$kubernetes['namespace_name'], {team}"
    assert labels["training"] == f"job=fluent-bit, cluster=training, placement=cloud, namespace=$kubernetes['namespace_name'], {team}"
    assert labels["line-1"] == f"job=fluent-bit, cluster=line-1, placement=edge:line-1, site=line-1, namespace=$kubernetes['namespace_name'], {team}"
    # AND the team comes from the namespace's labels, which the kubernetes filter fetches
    values = dict(chart_values(plan, "fluent-bit"))["line-1"]
    kubernetes = section(values["config"]["filters"], "Name", "kubernetes")[0]
    assert kubernetes["namespace_labels"] == ["On"] and kubernetes["Match"] == ["kube.*"]


def test_the_collector_reads_the_node_read_only_as_unprivileged_root() -> None:
    # GIVEN healthcare-prod WHEN planned
    plan, _ = planned("healthcare-prod")
    values = dict(chart_values(plan, "fluent-bit"))["dc1"]
    # THEN container logs (CRI) and the kubelet's journal units are read
    tail, journal = section(values["config"]["inputs"], "Name", "tail")[0], section(values["config"]["inputs"], "Name", "systemd")[0]
    assert tail["Path"] == ["/var/log/containers/*.log"] and tail["multiline.parser"] == ["cri"]
    assert journal["Path"] == ["/var/log/journal"] and "_SYSTEMD_UNIT=kubelet.service" in journal["Systemd_Filter"]
    # AND the node's logs (RKE2's API audit log folder too) are mounted read-only, like the CA it
    # verifies Loki with; only the collector's own state directory is writable
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in values["daemonSetVolumeMounts"]}
    host = {"/var/log": True, "/etc/machine-id": True, "/var/lib/fluent-bit": False, "/var/lib/rancher/rke2/server/logs": True}
    assert mounts == {**host, "/fluent-bit/tls": True}
    assert {v["hostPath"]["path"] for v in values["daemonSetVolumes"] if "hostPath" in v} == set(host)
    # AND it is the last workload the kubelet evicts under node pressure
    assert values["priorityClassName"] == "system-node-critical"
    # AND the container is unprivileged, without capabilities, on a read-only root filesystem
    assert values["securityContext"] == {"privileged": False, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}
    assert values["podSecurityContext"]["runAsUser"] == 0


def test_edge_sites_buffer_on_disk_while_the_uplink_is_down() -> None:
    # GIVEN manufacturing-prod WHEN planned
    plan, _ = planned("manufacturing-prod")
    by_target = dict(chart_values(plan, "fluent-bit"))
    for target, values in by_target.items():
        config = values["config"]
        edge = target.startswith("line-")
        # THEN an edge site's inputs and outputs go through the node's disk, up to edgeBufferSize, retried until sent
        # (the API audit log goes through the disk on every cluster that has one: all but EKS)
        assert ("storage.path /var/lib/fluent-bit/buffer" in config["service"]) == (target != "training")
        for i in section(config["inputs"], "Name"):
            assert (i.get("storage.type") == ["filesystem"]) == (edge or i.get("Alias") == ["api_audit"])
        for output in section(config["outputs"], "Name", "loki"):
            audit = output["Alias"][0] in ("loki_audit", "loki_change")
            assert output.get("storage.total_limit_size") == (["5G"] if edge else None)
            assert output["Retry_Limit"] == (["no_limits"] if edge or audit else ["False"])


def test_only_the_gpu_operator_and_log_collector_namespaces_may_run_privileged() -> None:
    # GIVEN an example stack with logging WHEN its platform namespaces are listed
    spec = prepare("manufacturing-prod", stack_values("manufacturing-prod"))[0]
    # THEN the collector's is privileged (hostPath), like the GPU Operator's and Velero's (its node
    # agent's hostPath: docs/backups.md), NVSentinel's (the host journal: docs/design/gpu-health.md)
    # and the GPU burn-in's (DCGM's diagnostic as root with SYS_ADMIN: modules/gpu_burn_in.py), and no
    # other; Loki's is restricted
    namespaces = spec.platform_namespaces()
    assert {ns for ns, level in namespaces.items() if level == "privileged"} == {"gpu-operator", "log-collector", "velero", "nvsentinel", "gpu-burn-in"}
    assert namespaces["logging"] == "restricted"


@pytest.mark.parametrize("stack", ["finance-prod", "manufacturing-prod"])
def test_a_stack_with_remote_clusters_needs_the_hub_url(stack: str) -> None:
    # GIVEN a stack with an EKS pool (and edge sites) but no logging.hubUrl
    values = stack_values(stack)
    del values["logging"]["hubUrl"]
    # WHEN prepared THEN it is refused at that key
    assert (("logging", "hubUrl"), "hub_url_required") in problems_of(stack, values)


@pytest.mark.parametrize(("key", "value", "error"), [("hubUrl", "http://logs.plant-a.example", "url"), ("edgeBufferSize", "5Gi", "string_pattern_mismatch")])
def test_bad_collector_settings_are_refused_at_their_key(key: str, value: str, error: str) -> None:
    # GIVEN manufacturing-prod with a plain-http hub or a Kubernetes quantity as buffer size
    values = stack_values("manufacturing-prod")
    values["logging"][key] = value
    # WHEN prepared THEN it is refused at that key
    assert (("logging", key), error) in problems_of("manufacturing-prod", values)


# Step 3: the audit streams and their write-once archive.

AUDIT_LOG = {"dc1": "/var/lib/rancher/rke2/server/logs/audit.log", "plant-dc": None, "line-1": None}


@pytest.mark.parametrize(("stack", "target", "distribution"), [("healthcare-prod", "dc1", "rke2"), ("manufacturing-prod", "plant-dc", None), ("manufacturing-prod", "line-1", None)])
def test_the_api_audit_log_of_each_own_control_plane_is_read_and_split_into_changes(stack: str, target: str, distribution: str | None) -> None:
    # GIVEN an example stack WHEN planned
    plan, _ = planned(stack)
    spec = prepare(stack, stack_values(stack))[0]
    clusters = dict(__import__("hybridai.audit_policy", fromlist=["clusters"]).clusters(spec))
    from hybridai import catalog

    path = catalog.distribution_audit(distribution or clusters[target]).log_path
    values = dict(chart_values(plan, "fluent-bit"))[target]
    # THEN the collector tails the distribution's API audit log (JSON lines), never skipping a long record
    audit = section(values["config"]["inputs"], "Alias", "api_audit")
    assert len(audit) == 1 and audit[0]["Path"] == [path] and audit[0]["Parser"] == ["json"] and audit[0]["Skip_Long_Lines"] == ["Off"]
    # AND the platform changes among them (the writes the audit policy records in full) are copied to the change stream
    change = section(values["config"]["filters"], "Name", "rewrite_tag")
    assert change[0]["Match"] == ["audit.api"] and change[0]["Rule"] == ["$level ^RequestResponse$ change.api true"]
    # AND both go to Loki labelled by stream
    labels = {o["Alias"][0]: o["Labels"][0] for o in section(values["config"]["outputs"], "Name", "loki")}
    assert labels["loki_audit"].endswith("stream=audit") and labels["loki_change"].endswith("stream=change")


def test_eks_keeps_its_own_audit_log_and_its_collector_reads_none() -> None:
    # GIVEN finance-prod WHEN planned
    plan, _ = planned("finance-prod")
    values = dict(chart_values(plan, "fluent-bit"))["training"]
    # THEN the burst pool's collector has no audit input, archive output or archive credentials
    assert section(values["config"]["inputs"], "Alias", "api_audit") == [] and "audit_archive" not in values["config"]["outputs"]
    assert values["env"] == []


@pytest.mark.parametrize(("stack", "target", "bucket"), [("healthcare-prod", "dc1", "hc-prod-audit"), ("finance-prod", "dc1", "fin-prod-audit")])
def test_audit_and_change_streams_are_archived_write_once_from_the_nodes_disk(stack: str, target: str, bucket: str) -> None:
    # GIVEN a HIPAA or SOX example WHEN planned
    plan, _ = planned(stack)
    values = dict(chart_values(plan, "fluent-bit"))[target]
    archive = section(values["config"]["outputs"], "Alias", "audit_archive")
    # THEN one S3 output takes the audit and change streams to the stack's on-prem archive bucket
    assert len(archive) == 1
    out = archive[0]
    assert (out["Name"], out["Match_Regex"], out["bucket"], out["endpoint"]) == (["s3"], ["^(audit|change)\\.api$"], [bucket], [stack_values(stack)["logging"]["auditArchive"]["endpoint"]])
    # AND with the checksum an object-locked bucket requires, gzipped, keyed by stream, cluster and day
    assert out["send_content_md5"] == ["On"] and out["compression"] == ["gzip"]
    assert out["s3_key_format"] == [f"/$TAG[0]/{target}/%Y/%m/%d/%H%M%S-$UUID.json.gz"]
    # AND records wait on the node's disk (the collector's state directory) until the store takes them
    assert out["store_dir"] == ["/var/lib/fluent-bit/archive"]
    # AND the writer key comes from the Secret the stack names, as environment variables
    assert values["env"] == [
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": "audit-archive", "key": "access-key-id"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": "audit-archive", "key": "secret-access-key"}}},
    ]


def test_edge_sites_archive_into_the_onprem_store_and_the_hub_checks_every_writer(project: Path) -> None:
    # GIVEN manufacturing-prod with an audit archive (no profile of it needs one; it may keep one)
    path = project / "stacks" / "Pulumi.manufacturing-prod.yaml"
    hub = "    hubUrl: https://logs.plant-a.example\n"
    path.write_text(
        path.read_text().replace(hub, hub
        + "    auditArchive:\n      endpoint: https://s3.plant-a.example\n      bucket: mfg-prod-audit\n"
        + "      accessKeyId: {name: audit-archive, key: id}\n      secretAccessKey: {name: audit-archive, key: secret}\n"
        + "      objectLock: {mode: COMPLIANCE, retentionDays: 400}\n")
        # (its writer key from the plant's Vault, like every credential of a prod stack; with the
        # archive the plant's served models' drift is checked, whose two Secrets come from it too)
        .replace(
            "    sources:\n",
            "    sources:\n      - {name: audit-archive, store: vault, remoteKey: mfg-prod/audit-archive}\n"
            "      - {name: decision-archive-reader, store: vault, remoteKey: mfg-prod/decision-archive-reader}\n"
            "      - {name: drift-monitor-mlflow, store: vault, remoteKey: mfg-prod/drift-monitor-mlflow}\n",
        )
    )
    from hybridai.plan.engine import run_plan

    plan = run_plan("manufacturing-prod", project)
    # WHEN planned THEN each edge site's collector writes the plant's archive (residency: never the cloud)
    archives = {r.target: section(r.inputs["values"]["config"]["outputs"], "Alias", "audit_archive") for r in of_type(plan.resources, RELEASE) if r.inputs["chart"] == "fluent-bit"}
    archives.update({r.target: section(r.inputs["spec"]["source"]["helm"]["valuesObject"]["config"]["outputs"], "Alias", "audit_archive") for r in of_type(plan.resources, APPLICATION) if r.inputs["spec"]["source"].get("chart") == "fluent-bit"})
    assert {t for t, a in archives.items() if a} == {"plant-dc", "line-1", "line-2", "line-3"}
    assert all(a[0]["endpoint"] == ["https://s3.plant-a.example"] for a in archives.values() if a)
    # AND the plant's archive check expects records from the plant and every site
    check = next(r for r in of_kind(plan.resources, "CronJob") if r.inputs["metadata"]["name"] == "audit-archive-check")
    env = {e["name"]: e.get("value") for e in check.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WRITERS"] == "plant-dc line-1 line-2 line-3" and (env["LOCK_MODE"], env["LOCK_DAYS"]) == ("COMPLIANCE", "400")


def archive_check_job(stack: str = "healthcare-prod") -> dict:
    plan, _ = planned(stack)
    return named(plan.resources, "CronJob", "audit-archive-check").inputs


def test_the_archive_check_runs_restricted_every_30_minutes_one_at_a_time() -> None:
    # GIVEN healthcare-prod WHEN planned
    job = archive_check_job()
    spec = job["spec"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    # THEN it checks the declared lock and the on-prem cluster's records, in the logging namespace
    assert job["metadata"]["namespace"] == "logging"
    assert (env["BUCKET"], env["LOCK_MODE"], env["LOCK_DAYS"], env["WRITERS"]) == ("hc-prod-audit", "COMPLIANCE", "2190", "dc1")
    # AND runs every 30 minutes, never two at once, with the pinned AWS CLI
    assert (spec["schedule"], spec["concurrencyPolicy"]) == ("*/30 * * * *", "Forbid")
    assert container["image"] == "public.ecr.aws/aws-cli/aws-cli:2.22.0"
    # AND as a non-root user without capabilities, no service account token, a read-only root
    assert container["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]} and pod["automountServiceAccountToken"] is False


def test_the_archive_check_reads_the_archive_key_from_mounted_files_never_its_environment() -> None:
    # GIVEN healthcare-prod WHEN planned
    pod = archive_check_job()["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    # THEN no environment variable of the check comes from a Secret (checkov CKV_K8S_35)
    assert all("valueFrom" not in e for e in container["env"]) and "envFrom" not in container
    # AND the writer key the stack names is one read-only volume of two files
    volume = next(v for v in pod["volumes"] if v["name"] == "archive-key")
    assert volume["projected"]["sources"] == [
        {"secret": {"name": "audit-archive", "items": [{"key": "access-key-id", "path": "access_key_id"}]}},
        {"secret": {"name": "audit-archive", "items": [{"key": "secret-access-key", "path": "secret_access_key"}]}},
    ]
    assert {"name": "archive-key", "mountPath": ARCHIVE_KEY_DIR, "readOnly": True} in container["volumeMounts"]
    # AND the script reads exactly those files
    assert f"$(cat {ARCHIVE_KEY_DIR}/access_key_id)" in container["command"][2] and f"$(cat {ARCHIVE_KEY_DIR}/secret_access_key)" in container["command"][2]


def test_the_archive_checks_queries_read_what_the_s3_api_answers() -> None:
    # GIVEN the AWS CLI's --query expressions of the archive check (JMESPath, as the CLI evaluates them)
    import jmespath

    from hybridai.modules.logging import LOCK_QUERY, NEWEST_QUERY

    # WHEN applied to GetObjectLockConfiguration answers THEN enabled, mode and days, or nulls where there is no default retention
    locked = {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 2190}}}}
    assert jmespath.search(LOCK_QUERY, locked) == ["Enabled", "COMPLIANCE", 2190]
    assert jmespath.search(LOCK_QUERY, {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}) == ["Enabled", None, None]
    # AND to ListObjectsV2 answers: the newest object's time, and null — not an error — for an empty prefix
    listing = {"Contents": [{"Key": "a", "LastModified": "2026-11-30T10:00:00+00:00"}, {"Key": "b", "LastModified": "2026-11-30T12:10:00+00:00"}]}
    assert jmespath.search(NEWEST_QUERY, listing) == "2026-11-30T12:10:00+00:00"
    assert jmespath.search(NEWEST_QUERY, {"KeyCount": 0}) is None


FAKE_AWS = """#!/bin/sh
# A stand-in AWS CLI: answers the two calls the check makes from $LOCK_ANSWER and $NEWEST, and
# refuses (as S3 would) a call without the key pair of the mounted files.
if [ "$AWS_ACCESS_KEY_ID" != AKIDEXAMPLE ] || [ "$AWS_SECRET_ACCESS_KEY" != wJalrEXAMPLEKEY ]; then
  echo "InvalidAccessKeyId" >&2; exit 254
fi
case "$*" in
  *get-object-lock-configuration*) echo "$LOCK_ANSWER" ;;
  *"--prefix audit/dc1/"*) echo "$NEWEST" ;;
  *) echo None ;;
esac
"""


@pytest.mark.parametrize(
    ("case", "lock", "newest_minutes_ago", "ok", "says"),
    [
        ("as declared and fresh", "Enabled\tCOMPLIANCE\t2190", 20, True, None),
        ("a longer lock is fine", "Enabled\tCOMPLIANCE\t2557", 20, True, None),
        ("a GOVERNANCE lock", "Enabled\tGOVERNANCE\t2190", 20, False, "object lock is 'Enabled GOVERNANCE 2190'"),
        ("a shorter lock", "Enabled\tCOMPLIANCE\t30", 20, False, "object lock is 'Enabled COMPLIANCE 30'"),
        ("no default retention", "Enabled\tNone\tNone", 20, False, "the stack declares Enabled COMPLIANCE 2190 days"),
        ("records stopped arriving", "Enabled\tCOMPLIANCE\t2190", 300, False, "cluster dc1: its newest API audit record in hc-prod-audit"),
        ("no records at all", "Enabled\tCOMPLIANCE\t2190", None, False, "is from None"),
    ],
)
def test_the_archive_check_fails_on_a_wrong_lock_or_stale_records(case: str, lock: str, newest_minutes_ago: int | None, ok: bool, says: str | None, tmp_path: Path) -> None:
    # GIVEN the check's script and environment as planned, and an object store answering as in `case`
    import datetime
    import os
    import shutil
    import subprocess

    if shutil.which("bash") is None or subprocess.run(["date", "-u", "-d", "yesterday"], capture_output=True).returncode != 0:
        pytest.skip("needs GNU date, as the AWS CLI image has")
    container = archive_check_job()["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    fake = tmp_path / "aws"
    fake.write_text(FAKE_AWS)
    fake.chmod(0o755)
    newest = "None" if newest_minutes_ago is None else (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=newest_minutes_ago)).isoformat()
    env = {e["name"]: e["value"] for e in container["env"]}
    env.update(PATH=f"{tmp_path}:{os.environ['PATH']}", LOCK_ANSWER=lock.replace("\\t", "\t"), NEWEST=newest)
    # AND the archive's key pair as the two files its volume mounts (here under tmp_path, with the
    # trailing newline a Secret written by hand often has)
    keys = tmp_path / "archive-key"
    keys.mkdir()
    (keys / "access_key_id").write_text("AKIDEXAMPLE\n")
    (keys / "secret_access_key").write_text("wJalrEXAMPLEKEY\n")
    command = container["command"][2].replace(ARCHIVE_KEY_DIR, str(keys))
    # WHEN it runs (under sh, like the container's command)
    result = subprocess.run(["sh", "-c", command], env=env, capture_output=True, text=True, timeout=30)
    # THEN it passes only when the lock is as declared (or longer) and the newest record is recent, saying what is wrong otherwise
    assert (result.returncode == 0) == ok, result.stdout + result.stderr
    if says:
        assert says in result.stdout


# --- TLS: Loki serves its certificate, the hub's collector verifies it --------------------------------


def test_with_an_issuer_loki_serves_https_with_its_certificate() -> None:
    # GIVEN healthcare-prod (an internal CA issuer) WHEN planned
    plan, _ = planned("healthcare-prod")
    loki = loki_releases("healthcare-prod")[0]
    values = loki.inputs["values"]
    single = values["singleBinary"]
    # THEN Loki's HTTP server takes its certificate from the mounted Secret, TLS 1.2 at least
    assert values["loki"]["structuredConfig"]["server"] == {
        "http_tls_config": {"cert_file": "/etc/loki/tls/tls.crt", "key_file": "/etc/loki/tls/tls.key"},
        "tls_min_version": "VersionTLS12",
    }
    assert single["extraVolumes"] == [{"name": "tls", "secret": {"secretName": "loki-tls"}}]
    assert single["extraVolumeMounts"] == [{"name": "tls", "mountPath": "/etc/loki/tls", "readOnly": True}]
    # AND its probes speak https to the same port
    assert values["loki"]["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http-metrics", "scheme": "HTTPS"}
    assert values["loki"]["livenessProbe"]["httpGet"]["scheme"] == "HTTPS"
    # (the chart writes them whole into the pod: they are Kubernetes Probes, strictly)
    container = {"name": "loki", "image": "loki", **{k: values["loki"][k] for k in ("readinessProbe", "livenessProbe")}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "loki-0"}, "spec": {"containers": [container]}}
    kubernetes_validate.validate(pod, catalog.versions().kubernetes.validated_versions[0], strict=True)
    # AND the certificate names Loki's service and is the one mounted, issued before the release starts
    cert = named(of_kind(plan.resources, "Certificate"), "Certificate", "loki-tls")
    assert cert.inputs["metadata"]["namespace"] == "logging"
    assert "loki.logging.svc" in cert.inputs["spec"]["dnsNames"]
    assert cert.urn in loki.dependencies


def test_the_hubs_collector_trusts_the_issuers_ca_from_its_own_certificate() -> None:
    # GIVEN healthcare-prod WHEN planned
    plan, _ = planned("healthcare-prod")
    (values,) = [v for target, v in chart_values(plan, "fluent-bit") if target == "dc1"]
    # THEN the collector's certificate (log-collector namespace, client auth) is from the stack's issuer
    cert = named(of_kind(plan.resources, "Certificate"), "Certificate", "fluent-bit-client-tls")
    assert cert.inputs["metadata"]["namespace"] == "log-collector"
    assert cert.inputs["spec"]["issuerRef"]["name"] == "hybridai-ca"
    assert "client auth" in cert.inputs["spec"]["usages"] and "server auth" not in cert.inputs["spec"]["usages"]
    # AND only its ca.crt is mounted, read-only, where the loki outputs' tls.ca_file points
    volume = next(v for v in values["daemonSetVolumes"] if v["name"] == "loki-ca")
    assert volume["secret"] == {"secretName": "fluent-bit-client-tls", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert {"name": "loki-ca", "mountPath": "/fluent-bit/tls", "readOnly": True} in values["daemonSetVolumeMounts"]


def test_without_an_issuer_loki_and_its_collector_stay_on_plain_http() -> None:
    # GIVEN the on-prem logging of a stack, as it would be without `tls`
    from hybridai.modules.logging import fluent_bit_values, loki_values

    store = LogStoreArgs(
        endpoint="https://s3.dc1.example", bucket="logs", access_key_id={"name": "s", "key": "a"}, secret_access_key={"name": "s", "key": "b"},
        log_retention_days=30, audit_retention_days=365,
    )
    collector = CollectorArgs(loki_url=loki_url("logging", False), labels={"cluster": "dc1", "placement": "onprem"})
    # WHEN their values are built
    loki, fluent = loki_values(store), fluent_bit_values(collector)
    # THEN Loki has no TLS server, volume or probe override, and the collector pushes plain http
    assert "server" not in loki["loki"]["structuredConfig"]
    assert "extraVolumes" not in loki["singleBinary"] and not {"readinessProbe", "livenessProbe"} & set(loki["loki"])
    (output, *_) = section(fluent["config"]["outputs"], "Name", "loki")
    assert (output["tls"], "tls.ca_file" in output) == (["Off"], False)
    assert all(v["name"] != "loki-ca" for v in fluent["daemonSetVolumes"])


def test_the_hubs_loki_keeps_what_the_profiles_require_and_its_collector_verifies_it_with_the_issuer() -> None:
    # GIVEN finance-prod's logging (SOX retention, an audit archive, the EKS pool pushing from outside)
    spec, _ = prepared("finance-prod")
    settings, tls = spec.logging, TlsArgs(issuer="hybridai-ca")
    # WHEN the on-prem cluster's logging args are made with the stack's issuer
    args = LoggingArgs.hub(settings, spec.onprem, spec.log_retention(), ("dc1",), True, tls, "monitoring")
    store, collector = args.store, args.collector
    # THEN Loki keeps logs and audit streams as long as the profiles require, on its own bucket and key
    assert (store.log_retention_days, store.audit_retention_days) == (spec.log_retention().log_days, spec.log_retention().audit_days)
    assert (store.endpoint, store.bucket, store.access_key_id) == (settings.object_store.endpoint, settings.object_store.bucket, settings.object_store.access_key_id)
    assert (store.remote_collectors, store.archive_writers, store.tls) == (True, ("dc1",), tls)
    # AND the archive is the stack's, with the lock its storage team set
    archive = settings.audit_archive
    assert (store.archive.bucket, store.archive.lock_mode, store.archive.lock_days) == (archive.bucket, archive.object_lock.mode, archive.object_lock.retention_days)
    # AND the cluster's collector pushes to it over https, verifying it with the issuer, and reads the API audit log
    assert (collector.loki_url, collector.loki_ca, collector.labels) == (loki_url(settings.namespace, True), tls, {"cluster": "dc1", "placement": "onprem"})
    assert (collector.audit_log_path, collector.archive, collector.buffer_size) == (catalog.distribution_audit("kubeadm").log_path, store.archive, None)


def test_remote_collectors_push_to_the_hub_and_only_sites_buffer_and_archive_their_audit_log() -> None:
    # GIVEN finance-prod (a hub URL and an audit archive)
    spec, _ = prepared("finance-prod")
    # WHEN the EKS cluster's and an edge site's logging args are made
    eks = LoggingArgs.remote(spec.logging, "training", "cloud", "monitoring")
    site = LoggingArgs.remote(spec.logging, "line-1", "edge:line-1", "monitoring", site="line-1", distribution="k3s")
    # THEN both push to the hub's address with no Loki of their own
    assert (eks.store, eks.collector.loki_url, site.collector.loki_url) == (None, spec.logging.hub_url, spec.logging.hub_url)
    # AND EKS reads no API audit log (its control plane is managed) and buffers nothing on disk
    assert (eks.collector.labels, eks.collector.audit_log_path, eks.collector.archive, eks.collector.buffer_size) == ({"cluster": "training", "placement": "cloud"}, None, None, None)
    # AND the site buffers while its uplink is down and writes its API audit log to the archive too
    assert site.collector.labels == {"cluster": "line-1", "placement": "edge:line-1", "site": "line-1"}
    assert (site.collector.buffer_size, site.collector.audit_log_path) == (spec.logging.edge_buffer_size, catalog.distribution_audit("k3s").log_path)
    assert site.collector.archive == ArchiveArgs.of(spec.logging.audit_archive)
    # AND without a hub to push to, no cluster but the hub collects
    assert LoggingArgs.remote(spec.logging.model_copy(update={"hub_url": None}), "training", "cloud", "monitoring") is None
