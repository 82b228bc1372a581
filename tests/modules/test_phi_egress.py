"""PhiEgress: egress to the hospital's PHI systems only from the teams allowed each, by CIDR and
port; a host-name policy beside it where the CNI has one; each team's credential from its source."""
from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s
import pytest

from hybridai.config.components import Team
from hybridai.config.interop import InteropSettings
from hybridai.config.security import SecretSource
from hybridai.modules.phi_egress import PhiEgress, PhiEgressArgs
from hybridai.recorded import PHI_ENDPOINT_LABEL
from hybridai.modules.secret_store import CredentialSecretArgs
from hybridai.modules.target import Target, TargetArgs
from tests.helpers import of_kind, run_module
from tests.network_paths import Network

TEAMS = [
    Team.model_validate({"name": "radiology", "group": "oidc:radiology", "dataClassification": "phi"}),
    Team.model_validate({"name": "notes", "namespace": "clinical-notes", "group": "oidc:notes", "dataClassification": "phi"}),
    Team.model_validate({"name": "research", "group": "oidc:research", "dataClassification": "internal"}),
]


def interop(cni: str = "canal") -> InteropSettings:
    return InteropSettings.model_validate(
        {
            "cni": cni,
            "fhir": [{"name": "ehr-fhir", "url": "https://fhir.hospital.example/r4", "cidrs": ["10.20.4.0/28"], "teams": ["notes"], "credentials": {"name": "ehr-fhir-client", "key": "client-secret"}}],
            "dicomweb": [{"name": "pacs", "url": "https://10.20.8.10:8443/dicom-web", "cidrs": ["10.20.8.0/28", "10.20.9.0/28"], "teams": ["radiology", "notes"]}],
        }
    )


def build(args: PhiEgressArgs) -> list:
    def program() -> None:
        target = Target("hc", "dc1", TargetArgs(placement="onprem", context="dc1"))
        opts = pulumi.ResourceOptions(parent=target, provider=target.provider)
        namespaces = {}
        for team in TEAMS:
            namespaces[team.namespace] = k8s.core.v1.Namespace(f"ns-{team.name}", metadata={"name": team.namespace, "labels": {"hybrid-ai.io/data-classification": team.data_classification}}, opts=opts)
            # Tenancy's default deny, as every team namespace has it.
            k8s.networking.v1.NetworkPolicy(f"deny-{team.name}", metadata={"name": "default-deny", "namespace": team.namespace}, spec={"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}, opts=opts)
        PhiEgress(target, args, namespaces)

    return run_module(program)


@pytest.fixture(scope="module")
def canal() -> list:
    source = SecretSource.model_validate({"name": "ehr-fhir-client", "store": "vault", "remoteKey": "hc/ehr-fhir-client/{namespace}"})
    return build(PhiEgressArgs.of(interop(), TEAMS, (CredentialSecretArgs.of(source, "clinical-notes", ("client-secret",)),)))


def test_each_allowed_team_gets_one_policy_per_endpoint_and_no_one_else(canal: list) -> None:
    # GIVEN the EHR for the notes team and the PACS for radiology and notes WHEN built
    policies = [r.inputs for r in of_kind(canal, "NetworkPolicy") if PHI_ENDPOINT_LABEL in r.inputs["metadata"].get("labels", {})]
    # THEN one egress policy per (endpoint, allowed team), none in the research namespace
    assert sorted((p["metadata"]["namespace"], p["metadata"]["name"]) for p in policies) == [
        ("clinical-notes", "phi-egress-ehr-fhir"),
        ("clinical-notes", "phi-egress-pacs"),
        ("radiology", "phi-egress-pacs"),
    ]
    pacs = next(p for p in policies if p["metadata"]["namespace"] == "radiology")
    # AND it opens the endpoint's networks on its URL's port only, for egress only
    assert pacs["spec"] == {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": "10.20.8.0/28"}}, {"ipBlock": {"cidr": "10.20.9.0/28"}}], "ports": [{"protocol": "TCP", "port": 8443}]}],
    }
    # AND a URL without a port opens 443
    ehr = next(p for p in policies if p["metadata"]["name"] == "phi-egress-ehr-fhir")
    assert ehr["spec"]["egress"][0]["ports"] == [{"protocol": "TCP", "port": 443}]


def test_paths_computed_from_the_policies_are_exactly_the_allowed_pairs(canal: list) -> None:
    # GIVEN the built policies WHEN each namespace's path to each endpoint is computed
    network = Network(canal)
    reach = {(ns, name) for ns in ("radiology", "clinical-notes", "research") for name, (ip, port) in {"ehr": ("10.20.4.5", 443), "pacs": ("10.20.8.10", 8443)}.items() if network.egress_to_address(ns, ip, port)}
    # THEN only the allowed (team, endpoint) pairs have one
    assert reach == {("clinical-notes", "ehr"), ("clinical-notes", "pacs"), ("radiology", "pacs")}
    # AND no other port of the endpoint, nor another address, is open
    assert not network.egress_to_address("radiology", "10.20.8.10", 104)
    assert not network.egress_to_address("radiology", "10.20.4.5", 443)
    assert not network.egress_to_address("radiology", "10.20.10.1", 8443)


def test_canal_gets_no_name_policy(canal: list) -> None:
    # GIVEN canal (no host-name policy it enforces) THEN only Kubernetes NetworkPolicies are written
    assert of_kind(canal, "CiliumNetworkPolicy") == []


def test_credentials_come_from_the_store_one_per_team(canal: list) -> None:
    # GIVEN the EHR credential's source with `{namespace}` WHEN built
    [secret] = of_kind(canal, "ExternalSecret")
    # THEN the team's namespace gets its own remote secret, only the key it reads
    assert secret.inputs["metadata"]["namespace"] == "clinical-notes"
    assert secret.inputs["spec"]["data"] == [{"secretKey": "client-secret", "remoteRef": {"key": "hc/ehr-fhir-client/clinical-notes", "property": "client-secret"}}]
    assert secret.inputs["spec"]["secretStoreRef"] == {"name": "vault", "kind": "ClusterSecretStore"}


def test_cilium_gets_a_name_policy_beside_the_cidr_one_for_named_hosts_only() -> None:
    # GIVEN Cilium, which allows host names (cnis.yaml), WHEN built
    resources = build(PhiEgressArgs.of(interop("cilium"), TEAMS))
    named = [r.inputs for r in of_kind(resources, "CiliumNetworkPolicy")]
    # THEN the EHR (named by host) gets a name policy in its team's namespace; the PACS (an IP) none
    assert [(p["metadata"]["namespace"], p["metadata"]["name"], p["apiVersion"]) for p in named] == [("clinical-notes", "phi-egress-ehr-fhir-fqdn", "cilium.io/v2")]
    egress = named[0]["spec"]["egress"]
    # AND it allows that name on its port, with the DNS lookups through Cilium's proxy that resolve it
    assert egress[1] == {"toFQDNs": [{"matchName": "fhir.hospital.example"}], "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}]}
    assert egress[0]["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}
    # AND the CIDR policies are still written (CNI policies add up: the name policy never replaces them)
    assert len([r for r in of_kind(resources, "NetworkPolicy") if PHI_ENDPOINT_LABEL in r.inputs["metadata"].get("labels", {})]) == 3
