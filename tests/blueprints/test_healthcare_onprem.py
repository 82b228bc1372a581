"""healthcare-onprem over its example stacks: on-prem only, MIG isolation, quotas from config."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import planned
from tests.helpers import named, of_kind, of_type, release

STACKS = ["healthcare-prod", "healthcare-dev"]


@pytest.mark.parametrize("stack", STACKS)
def test_everything_is_on_prem_and_no_cloud_provider_exists(stack: str) -> None:
    plan, _ = planned(stack)
    assert {r.placement for r in plan.resources} == {"onprem"}
    providers = [r.type for r in plan.resources if r.type.startswith("pulumi:providers:")]
    assert providers == ["pulumi:providers:kubernetes"]
    assert not [r for r in plan.resources if r.type.startswith("aws:")]


@pytest.mark.parametrize("stack", STACKS)
def test_every_custom_resource_uses_the_targets_explicit_provider(stack: str) -> None:
    plan, _ = planned(stack)
    [provider] = of_type(plan.resources, "pulumi:providers:kubernetes")
    for r in plan.resources:
        if r.custom and r is not provider:
            assert r.provider == provider.urn, f"{r.urn} uses {r.provider}"


@pytest.mark.parametrize("stack", STACKS)
def test_names_come_from_the_stack_prefix(stack: str) -> None:
    plan, _ = planned(stack)
    prefix = {"healthcare-prod": "hc-prod", "healthcare-dev": "hc-dev"}[stack]
    assert all(r.name.startswith(f"{prefix}-") for r in plan.resources)
    assert all("name" in r.inputs["metadata"] for r in plan.resources if r.custom and "metadata" in r.inputs)


def test_prod_tenants_get_mig_quotas_and_zero_for_everything_else() -> None:
    plan, _ = planned("healthcare-prod")
    quotas = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"] for r in of_kind(plan.resources, "ResourceQuota")}
    # From the catalog: chest-xray 4 × 3g.40gb (100 rps ÷ (40 × 0.7)) + 1 for its 10 % canary,
    # fracture-detect 4 × 1g.10gb.
    assert quotas["radiology"]["requests.nvidia.com/mig-3g.40gb"] == "5"
    assert quotas["radiology"]["requests.nvidia.com/mig-1g.10gb"] == "4"
    # A ResourceQuota leaves unlisted resources unlimited: every advertised GPU resource is listed.
    assert quotas["radiology"]["requests.nvidia.com/mig-2g.20gb"] == "0"
    assert quotas["radiology"]["requests.nvidia.com/gpu"] == "0"
    # Training catalog: 384/48 + 240/48 + 24/24 = 8 + 5 + 1 whole GPUs.
    assert quotas["clinical-research"]["requests.nvidia.com/gpu"] == "14"
    # Explicit quota beyond the catalog: reserved slices and whole GPUs for ad-hoc work.
    assert quotas["ml-platform"]["requests.nvidia.com/mig-2g.20gb"] == "4"
    assert quotas["ml-platform"]["requests.nvidia.com/gpu"] == "2"
    gpu_keys = {k for hard in quotas.values() for k in hard if "nvidia.com" in k}
    assert all(gpu_keys <= set(hard) for hard in quotas.values())


def test_prod_mig_layout_matches_the_pools() -> None:
    plan, files = planned("healthcare-prod")
    values = yaml.safe_load(files[Path("helm/dc1/gpu-operator.yaml")])["values"]
    assert values["mig"] == {"strategy": "mixed"}
    config = yaml.safe_load(named(plan.resources, "ConfigMap", "hybridai-mig-config").inputs["data"]["config.yaml"])
    # The planner packs the catalog onto 8 A100s (the memory-slice bound: 58 slices ÷ 8), spread
    # 4 and 4 over the two nodes; each node's other 4 GPUs stay whole for training.
    for name in ("hybridai-a100-mig-1", "hybridai-a100-mig-2"):
        entries = config["mig-configs"][name]
        assert sum(len(e["devices"]) for e in entries if e["mig-enabled"]) == 4
        assert [e for e in entries if not e["mig-enabled"]] == [{"devices": [4, 5, 6, 7], "mig-enabled": False}]
    nodes = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]["nvidia.com/mig.config"] for r in of_kind(plan.resources, "Node")}
    assert nodes == {"dc1-gpu-a100-01": "hybridai-a100-mig-1", "dc1-gpu-a100-02": "hybridai-a100-mig-2", "dc1-gpu-h100-01": "all-disabled"}


def test_no_time_slicing_anywhere() -> None:
    for stack in STACKS:
        plan, _ = planned(stack)
        operator = release(plan.resources, "gpu-operator")
        assert "devicePlugin" not in operator.inputs["values"]
        assert not [r for r in of_kind(plan.resources, "ConfigMap") if "timeSlicing" in str(r.inputs.get("data"))]


def test_dev_cluster_is_k3s_with_preinstalled_driver_and_single_strategy() -> None:
    plan, _ = planned("healthcare-dev")
    values = release(plan.resources, "gpu-operator").inputs["values"]
    assert values["driver"] == {"enabled": False}
    assert values["mig"] == {"strategy": "single"}
    assert {e["name"]: e["value"] for e in values["toolkit"]["env"]}["CONTAINERD_CONFIG"].startswith("/var/lib/rancher/k3s/")
    quotas = {r.inputs["metadata"]["namespace"]: r.inputs["spec"]["hard"] for r in of_kind(plan.resources, "ResourceQuota")}
    # With the single strategy, MIG slices are advertised as nvidia.com/gpu and no mig-* resource exists.
    # (7 explicit, chest-xray-next's slice and the report summarizer's)
    assert quotas["radiology-dev"]["requests.nvidia.com/gpu"] == "9"
    assert not [k for hard in quotas.values() for k in hard if "mig-" in k]


@pytest.mark.parametrize("stack", STACKS)
def test_only_the_operator_namespace_is_privileged(stack: str) -> None:
    plan, _ = planned(stack)
    enforce = {r.inputs["metadata"]["name"]: r.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] for r in of_kind(plan.resources, "Namespace")}
    # Both serve models; only prod trains on-prem (dev's GPUs are all sliced).
    # The log collector's namespace is privileged too (hostPath mounts of the node's logs); Loki's is restricted.
    # So is Velero's: its node agent copies the volumes by file system (hostPath of the kubelet's pod volumes).
    # In prod, Envoy Gateway's namespace too (baseline: it writes the inference gateway's proxy pods itself).
    # The GPU burn-in's in prod (DCGM's diagnostic: root with SYS_ADMIN); dev has no pool of whole GPUs to burn in.
    burn_in = {"gpu-burn-in"} if stack == "healthcare-prod" else set()
    platform = {"gpu-operator", "monitoring", "kserve", "log-collector", "velero", "nvsentinel"} | ({"kueue-system", "envoy-gateway-system"} if stack == "healthcare-prod" else set()) | burn_in
    assert {ns for ns, level in enforce.items() if level != "restricted"} == platform
    assert {ns for ns, level in enforce.items() if level == "privileged"} == {"gpu-operator", "log-collector", "velero", "nvsentinel"} | burn_in
    assert enforce["logging"] == "restricted"
    assert enforce["monitoring"] == "baseline"


# --- Data paths: the hospital's PHI systems (interop) -------------------------------------------

EHR = ("10.20.4.5", 443)
"""An address of healthcare-prod's EHR FHIR network, on the port its URL uses."""
PACS = ("10.20.8.10", 8443)
"""healthcare-prod's PACS DICOMweb endpoint (its URL names the address and port)."""


def _team_network():
    from tests.network_paths import Network

    plan, _ = planned("healthcare-prod")
    return Network(plan.resources), {r.inputs["metadata"]["name"] for r in of_kind(plan.resources, "Namespace") if "hybrid-ai.io/team" in r.inputs["metadata"].get("labels", {})}


def test_phi_endpoints_are_reachable_from_their_teams_namespaces_only() -> None:
    # GIVEN healthcare-prod's plan WHEN each team namespace's path to the EHR and the PACS is computed from every NetworkPolicy
    network, teams = _team_network()
    reach = {(ns, name) for ns in teams for name, (ip, port) in {"ehr": EHR, "pacs": PACS}.items() if network.egress_to_address(ns, ip, port)}
    # THEN exactly the teams the stack names reach each endpoint; ml-platform (confidential) reaches neither
    assert reach == {("clinical-notes", "ehr"), ("clinical-research", "ehr"), ("radiology", "pacs"), ("pathology", "pacs")}
    # AND no other port of the endpoints is open to their teams
    assert not network.egress_to_address("radiology", PACS[0], 104)
    assert not network.egress_to_address("clinical-notes", EHR[0], 80)


def test_no_team_namespace_has_a_path_to_another() -> None:
    # GIVEN healthcare-prod's plan WHEN every pair of team namespaces is computed from the NetworkPolicies
    network, teams = _team_network()
    # THEN no pod of one team reaches a pod of another: PHI data reaches the research (non-PHI) namespace by no network path
    assert [(a, b) for a in sorted(teams) for b in sorted(teams) if a != b and network.pod_path(a, b)] == []
    # AND within a namespace pods do reach each other (the computation sees allowed paths, not only denials)
    assert network.pod_path("radiology", "radiology")


def test_each_phi_team_gets_its_own_endpoint_credential_from_vault() -> None:
    # GIVEN healthcare-prod WHEN planned THEN each team an endpoint names reads its own remote secret
    plan, _ = planned("healthcare-prod")
    secrets = {(r.inputs["metadata"]["namespace"], r.inputs["metadata"]["name"]): r.inputs["spec"]["data"][0]["remoteRef"]["key"] for r in of_kind(plan.resources, "ExternalSecret") if r.inputs["metadata"]["name"].endswith("-client")}
    assert secrets == {
        ("clinical-notes", "ehr-fhir-client"): "hc-prod/ehr-fhir-client/clinical-notes",
        ("clinical-research", "ehr-fhir-client"): "hc-prod/ehr-fhir-client/clinical-research",
        ("radiology", "pacs-dicomweb-client"): "hc-prod/pacs-dicomweb-client/radiology",
        ("pathology", "pacs-dicomweb-client"): "hc-prod/pacs-dicomweb-client/pathology",
    }


def test_a_phi_endpoint_on_the_port_the_platform_opens_everywhere_is_caught(project: Path, tmp_path: Path) -> None:
    # GIVEN healthcare-prod with the PACS on 443, the port the LLM and training pods may open to any address
    from tests.test_cli import invoke

    path = project / "stacks" / "Pulumi.healthcare-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:interop"]["dicomweb"][0]["url"] = "https://10.20.8.10/dicom-web"
    path.write_text(yaml.safe_dump(document))
    # WHEN planned
    result = invoke("plan", "healthcare-prod", "--out", str(tmp_path / "out"), "--project-dir", str(project))
    # THEN the PHI egress rule names both open policies of the teams the PACS doesn't name, and the plan fails (exit 1)
    assert result.exit_code == 1
    found = [line for line in result.output.splitlines() if "hipaa-phi-egress-only-from-phi-namespaces" in line]
    assert [line.split(": ")[3].split(" opens")[0] for line in found] == ["NetworkPolicy clinical-notes/llm-egress", "NetworkPolicy clinical-research/clinical-research-training-egress"]
