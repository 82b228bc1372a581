"""audit/<cluster>/: the API audit policy and how to enable it, per on-prem cluster and edge site."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
import yaml

from hybridai import audit_policy, catalog
from hybridai.config.components import OnpremCluster
from hybridai.config.edge import EdgeSite
from hybridai.recorded import TARGET_TYPE
from tests.conftest import EXAMPLE_STACKS, planned

SCHEMA = json.loads((Path(__file__).parents[1] / "harness" / "schemas" / "audit-policy.schema.json").read_text())


def own_clusters(spec: Any) -> dict[str, str]:
    return {spec.onprem.name: spec.onprem.distribution, **{site.name: site.distribution for site in spec.edge_sites()}}


def audit_files(files: dict[Path, str]) -> set[Path]:
    return {p for p in files if p.parts[0] == "audit"}


def load_policy(files: dict[Path, str], cluster: str) -> dict[str, Any]:
    return yaml.safe_load(files[Path("audit", cluster, "audit-policy.yaml")])


def level(policy: dict[str, Any], verb: str, user: str = "alice", groups: tuple[str, ...] = ("system:authenticated",),
          group: str = "", resource: str = "", namespace: str = "", url: str = "") -> str:
    """The level the API server gives a request: the first matching rule's (Kubernetes' policy
    checker: users, userGroups, verbs; then resources and namespaces, or nonResourceURLs)."""
    for rule in policy["rules"]:
        if rule.get("users") and user not in rule["users"]:
            continue
        if rule.get("userGroups") and not set(groups) & set(rule["userGroups"]):
            continue
        if rule.get("verbs") and verb not in rule["verbs"]:
            continue
        if url:  # a non-resource request
            if rule.get("resources") or rule.get("namespaces"):
                continue
            if rule.get("nonResourceURLs") and not any(u == url or (u.endswith("*") and url.startswith(u[:-1])) for u in rule["nonResourceURLs"]):
                continue
            return rule["level"]
        if rule.get("nonResourceURLs"):
            continue
        if rule.get("namespaces") and namespace not in rule["namespaces"]:
            continue
        if rule.get("resources") and not any(_matches(gr, group, resource) for gr in rule["resources"]):
            continue
        return rule["level"]
    return "None"  # no rule matched: not logged


def _matches(gr: dict[str, Any], group: str, resource: str) -> bool:
    if gr.get("group", "") != group:
        return False
    if not gr.get("resources"):
        return True
    name, _, sub = resource.partition("/")
    for pattern in gr["resources"]:
        if pattern in (resource, "*") or (pattern.startswith("*/") and sub == pattern[2:]) or (pattern.endswith("/*") and sub and name == pattern[:-2]):
            return True
    return False


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_own_cluster_gets_a_policy_and_enable_page_and_the_cloud_none(stack: str) -> None:
    # GIVEN an example stack's plan
    plan, files = planned(stack)
    clusters = own_clusters(plan.spec)
    # WHEN its audit artifacts are listed
    written = audit_files(files)
    # THEN exactly the on-prem cluster and each edge site have audit-policy.yaml and enable.md
    assert written == {Path("audit", c, f) for c in clusters for f in ("audit-policy.yaml", "enable.md")}
    # AND no cloud target (EKS, its training cluster) has an audit folder
    cloud = {r.inputs["target"] for r in plan.resources if r.type == TARGET_TYPE and r.placement == "cloud"}
    assert not cloud & {p.parts[1] for p in written}


def test_manufacturing_edge_sites_each_get_their_own_distribution() -> None:
    # GIVEN manufacturing-prod: an RKE2 plant cluster and k3s, RKE2 and Jetson sites
    _, files = planned("manufacturing-prod")
    # WHEN each site's enable.md is read
    # THEN it follows the site's own distribution, not the plant cluster's
    assert "/etc/rancher/k3s/config.yaml" in files[Path("audit/line-1/enable.md")]
    assert "/etc/rancher/rke2/config.yaml" in files[Path("audit/line-2/enable.md")]
    assert "/etc/kubernetes/manifests/kube-apiserver.yaml" in files[Path("audit/line-3/enable.md")]


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_policy_validates_against_the_audit_v1_schema(stack: str) -> None:
    # GIVEN every audit policy of an example stack
    plan, files = planned(stack)
    for cluster in own_clusters(plan.spec):
        policy = load_policy(files, cluster)
        # WHEN it is validated against audit.k8s.io/v1 Policy (unknown fields are errors)
        jsonschema.validate(policy, SCHEMA)
        # THEN it skips the RequestReceived stage and ends with a Metadata catch-all
        assert policy["omitStages"] == ["RequestReceived"]
        assert policy["rules"][-1] == {"level": "Metadata"}


def test_schema_rejects_an_unknown_level_and_field() -> None:
    # GIVEN a valid policy, WHEN a rule gets an unknown level or field, THEN the schema rejects it
    base = {"apiVersion": "audit.k8s.io/v1", "kind": "Policy", "rules": [{"level": "Metadata"}]}
    jsonschema.validate(base, SCHEMA)
    for rule in ({"level": "Everything"}, {"level": "Metadata", "resource": ["pods"]}, {"level": "None", "resources": [{"group": ""}], "nonResourceURLs": ["/x"]}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**base, "rules": [rule]}, SCHEMA)


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_levels_of_requests_that_matter(stack: str) -> None:
    # GIVEN each policy of an example stack, evaluated like the API server (first matching rule wins)
    plan, files = planned(stack)
    for cluster in own_clusters(plan.spec):
        policy = load_policy(files, cluster)
        # THEN secrets and tokens are never logged with their bodies, whatever the verb or user
        for verb in ("get", "list", "watch", "create", "update", "patch", "delete"):
            assert level(policy, verb, resource="secrets", namespace="team-a") == "Metadata"
            assert level(policy, verb, user="system:serviceaccount:kube-system:x", resource="secrets", namespace="kube-system") == "Metadata"
        assert level(policy, "create", resource="serviceaccounts/token", namespace="team-a") == "Metadata"
        assert level(policy, "create", group="authentication.k8s.io", resource="tokenreviews") == "Metadata"
        # AND access, quota and platform changes are logged with request and response
        assert level(policy, "create", group="rbac.authorization.k8s.io", resource="rolebindings", namespace="team-a") == "RequestResponse"
        assert level(policy, "update", resource="resourcequotas", namespace="team-a") == "RequestResponse"
        assert level(policy, "patch", group="kueue.x-k8s.io", resource="clusterqueues") == "RequestResponse"
        assert level(policy, "delete", group="serving.kserve.io", resource="inferenceservices", namespace="team-a") == "RequestResponse"
        # AND controllers' status writes and reads of those resources stay at Metadata
        assert level(policy, "update", user="system:serviceaccount:kueue-system:kueue", group="kueue.x-k8s.io", resource="workloads/status", namespace="team-a") == "Metadata"
        assert level(policy, "get", group="rbac.authorization.k8s.io", resource="roles", namespace="team-a") == "Metadata"
        # AND noisy system traffic is dropped
        assert level(policy, "watch", user="system:kube-proxy", groups=("system:authenticated",), resource="endpoints") == "None"
        assert level(policy, "watch", user="system:kube-proxy", group="discovery.k8s.io", resource="endpointslices") == "None"
        assert level(policy, "get", user="system:node:gpu-01", groups=("system:nodes",), resource="nodes") == "None"
        assert level(policy, "get", url="/readyz/etcd") == "None"
        # AND a user's watch of endpoints is not mistaken for kube-proxy's noise
        assert level(policy, "watch", resource="endpoints", namespace="team-a") == "Metadata"


def test_gateway_routes_are_audited_only_where_the_stack_uses_a_gateway() -> None:
    # GIVEN healthcare-prod (names a Gateway) and healthcare-dev (none)
    with_gateway, without = planned("healthcare-prod")[0].spec, planned("healthcare-dev")[0].spec
    # WHEN their policies are built, THEN only the first logs HTTPRoute writes in full
    assert level(audit_policy.policy(with_gateway), "patch", group="gateway.networking.k8s.io", resource="httproutes", namespace="a") == "RequestResponse"
    assert level(audit_policy.policy(without), "patch", group="gateway.networking.k8s.io", resource="httproutes", namespace="a") == "Metadata"


def enable_page(distribution: str) -> str:
    for stack in EXAMPLE_STACKS:
        plan, files = planned(stack)
        for cluster, dist in own_clusters(plan.spec).items():
            if dist == distribution:
                return files[Path("audit", cluster, "enable.md")]
    pytest.fail(f"no example stack runs {distribution}")


def test_rke2_enable_page_uses_its_config_file_and_option() -> None:
    # GIVEN an RKE2 cluster's enable.md
    page = enable_page("rke2")
    # THEN it edits /etc/rancher/rke2/config.yaml: its own audit-policy-file option, the rest kube-apiserver-arg
    assert "/etc/rancher/rke2/config.yaml" in page
    assert "audit-policy-file: /etc/rancher/rke2/audit-policy.yaml" in page
    assert '- "audit-log-path=/var/lib/rancher/rke2/server/logs/audit.log"' in page
    assert '- "audit-log-maxage=30"' in page


def test_kubeadm_enable_page_sets_static_pod_flags_and_host_mounts() -> None:
    # GIVEN a kubeadm cluster's enable.md
    page = enable_page("kubeadm")
    audit = catalog.distribution_audit("kubeadm")
    # THEN it names the static pod, the flags, and hostPath mounts of the policy and the log folder
    assert "/etc/kubernetes/manifests/kube-apiserver.yaml" in page
    assert f"--audit-policy-file={audit.policy_path}" in page
    assert f"--audit-log-path={audit.log_path}" in page
    assert "--audit-log-maxage=30" in page and "--audit-log-maxbackup=10" in page and "--audit-log-maxsize=100" in page
    mounts = [yaml.safe_load(block.split("```", 1)[0]) for block in page.split("```yaml\n")[1:]]
    volumes = next(m["spec"]["volumes"] for m in mounts if "volumes" in m.get("spec", {}))
    assert {"name": "audit-policy", "hostPath": {"path": audit.policy_path, "type": "File"}} in volumes
    assert {"name": "audit-log", "hostPath": {"path": "/var/log/kubernetes/audit", "type": "DirectoryOrCreate"}} in volumes


def test_k3s_enable_page_passes_every_flag_as_kube_apiserver_arg() -> None:
    # GIVEN a k3s cluster's enable.md, THEN the policy file too is a kube-apiserver-arg of /etc/rancher/k3s/config.yaml
    page = enable_page("k3s")
    assert "/etc/rancher/k3s/config.yaml" in page
    assert f'- "audit-policy-file={catalog.distribution_audit("k3s").policy_path}"' in page


def test_enable_page_says_the_node_files_are_a_buffer_and_names_the_profiles() -> None:
    # GIVEN healthcare-prod (HIPAA), WHEN its enable.md is read
    plan, files = planned("healthcare-prod")
    page = files[Path("audit", plan.spec.onprem.name, "enable.md")]
    # THEN it says the on-node files are a buffer, the archive is separate, and which profiles apply
    assert "buffer, not the archive" in page
    assert "`hipaa`" in page


def test_distribution_data_has_an_audit_block_for_every_configurable_distribution() -> None:
    # GIVEN the distributions the config models accept (on-prem clusters and edge sites)
    names = set(get_args(OnpremCluster.model_fields["distribution"].annotation)) | set(get_args(EdgeSite.model_fields["distribution"].annotation))
    assert names == {"kubeadm", "rke2", "k3s", "jetson"}
    for name in sorted(names):
        # WHEN its audit data is loaded (the data file parses into the typed model)
        audit = catalog.distribution_audit(name)
        # THEN it has absolute paths, the log path is exposed for a log shipper, and retention is short
        assert audit.policy_path.startswith("/") and audit.log_path.startswith("/") and audit.config_file.startswith("/")
        assert audit.audit_log_path == audit.log_path
        assert 0 < audit.retention.max_age_days <= 90
    assert catalog.distribution_audit("rke2").log_path == "/var/lib/rancher/rke2/server/logs/audit.log"
    assert catalog.distribution_audit("kubeadm").log_path == "/var/log/kubernetes/audit/audit.log"
    # AND the container-toolkit environments beside the audit blocks are unchanged
    assert "audit" not in catalog.toolkit_env("rke2")
    assert catalog.toolkit_env("k3s")["CONTAINERD_SOCKET"] == "/run/k3s/containerd/containerd.sock"


def test_rendering_is_deterministic() -> None:
    # GIVEN a spec, WHEN rendered twice, THEN byte-identical
    spec = planned("manufacturing-prod")[0].spec
    assert audit_policy.render(spec) == audit_policy.render(spec)

