"""PHI egress: the only paths from team namespaces to the hospital's systems holding PHI (EHR FHIR
APIs, PACS DICOMweb), and each team's credential for them (docs/data-paths.md).

Tenancy denies every team namespace all egress but DNS and its own pods. For each endpoint of the
stack's `interop`, each allowed team's namespace gets one NetworkPolicy opening the endpoint's
networks on its one HTTPS port, and nothing else; namespaces the endpoint doesn't name get nothing,
so the default deny holds for them. Where the cluster's CNI allows host names (cnis.yaml
`fqdn_policy`: Cilium), a name policy is written beside it for an endpoint named by host name: CNI
policies add up, so it lets the pods follow the name's addresses as the hospital's DNS gives them,
it never narrows the CIDR policy.
"""
from __future__ import annotations

from typing import Literal, Mapping

import pulumi
import pulumi_kubernetes as k8s

from hybridai import catalog
from hybridai.config.components import Team
from hybridai.config.interop import InteropSettings
from hybridai.modules.base import MANAGED_BY, Args, Module, child, placed
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target
from hybridai.recorded import PHI_ENDPOINT_LABEL, component_type

DNS_PEER = {"k8s:io.kubernetes.pod.namespace": "kube-system", "k8s:k8s-app": "kube-dns"}
"""kube-dns as a Cilium endpoint selector: the DNS proxy must see the lookups a name policy follows."""


class PhiEndpointArgs(Args):
    name: str
    """Endpoint name: the policies are `phi-egress-<name>`."""
    kind: Literal["fhir", "dicomweb"]
    """What the endpoint is: an EHR FHIR API or a PACS DICOMweb endpoint (labelled on its policies)."""
    host: str
    """The URL's host: a name (a name policy follows it where the CNI allows) or an IP address."""
    port: int
    """The one TCP port opened: the URL's, 443 when it names none."""
    cidrs: tuple[str, ...]
    """Networks opened: the endpoint's addresses are in these and nowhere else the policy opens."""
    namespaces: tuple[str, ...]
    """Namespaces of the teams allowed to reach it: only these get a path."""
    by_name: bool
    """The host is a name (not an IP address)."""


class PhiEgressArgs(Args):
    endpoints: tuple[PhiEndpointArgs, ...]
    """The stack's PHI endpoints."""
    fqdn_policy: catalog.FqdnPolicy | None = None
    """The CNI's host-name policy object (cnis.yaml); default None: CIDR NetworkPolicies only, which
    every NetworkPolicy-enforcing CNI applies."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Each allowed team's credential Secret for each endpoint, created in its namespace from its source."""

    @classmethod
    def of(cls, interop: InteropSettings, teams: list[Team], credentials: tuple[CredentialSecretArgs, ...] = ()) -> PhiEgressArgs:
        """The `interop` endpoints with their teams' namespaces, the CNI's name policy, and the
        credential Secrets `credentials` (the stack's sources for the endpoints' Secrets there)."""
        namespaces = {team.name: team.namespace for team in teams}
        return cls(
            endpoints=tuple(
                PhiEndpointArgs(
                    name=endpoint.name,
                    kind=kind,
                    host=endpoint.host,
                    port=endpoint.port,
                    cidrs=tuple(endpoint.cidrs),
                    namespaces=tuple(namespaces[team] for team in endpoint.teams),
                    by_name=endpoint.address() is None,
                )
                for _, kind, endpoint in interop.endpoints()
            ),
            fqdn_policy=catalog.cnis()[interop.cni].fqdn_policy,
            credentials=credentials,
        )


def egress_policy(endpoint: PhiEndpointArgs) -> dict:
    """The NetworkPolicy spec opening `endpoint`'s networks on its port to every pod of a namespace."""
    return {
        "podSelector": {},
        "policyTypes": ["Egress"],
        "egress": [{"to": [{"ipBlock": {"cidr": cidr}} for cidr in endpoint.cidrs], "ports": [{"protocol": "TCP", "port": endpoint.port}]}],
    }


def name_policy(endpoint: PhiEndpointArgs) -> dict:
    """The CiliumNetworkPolicy spec allowing `endpoint`'s host name on its port, and the DNS lookups
    through Cilium's DNS proxy that let it learn the name's addresses (every name visible, `*`: a
    narrower DNS rule would refuse the pods' other lookups)."""
    return {
        "endpointSelector": {},
        "egress": [
            {"toEndpoints": [{"matchLabels": DNS_PEER}], "toPorts": [{"ports": [{"port": "53", "protocol": "ANY"}], "rules": {"dns": [{"matchPattern": "*"}]}}]},
            {"toFQDNs": [{"matchName": endpoint.host}], "toPorts": [{"ports": [{"port": str(endpoint.port), "protocol": "TCP"}]}]},
        ],
    }


class PhiEgress(Module):
    """Egress to the hospital's PHI systems from the namespaces of the teams allowed each: a
    NetworkPolicy by CIDR and port per (endpoint, team), a host-name policy beside it where the CNI
    has one, and each team's credential Secret."""

    def __init__(self, target: Target, args: PhiEgressArgs, namespaces: Mapping[str, pulumi.Resource], opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-phi-egress"
        super().__init__(component_type("phi_egress", "PhiEgress"), name, None, placed(target, opts))
        provider = target.provider
        self.policies: list[pulumi.Resource] = []
        for endpoint in args.endpoints:
            for namespace in endpoint.namespaces:
                depends_on = [namespaces[namespace]] if namespace in namespaces else []
                metadata = {
                    "name": f"phi-egress-{endpoint.name}",
                    "namespace": namespace,
                    "labels": {**MANAGED_BY, PHI_ENDPOINT_LABEL: endpoint.name, "hybrid-ai.io/phi-endpoint-kind": endpoint.kind},
                }
                self.policies.append(
                    k8s.networking.v1.NetworkPolicy(f"{name}-{namespace}-{endpoint.name}", metadata=metadata, spec=egress_policy(endpoint), opts=child(self, provider, depends_on=depends_on))
                )
                if args.fqdn_policy is not None and endpoint.by_name:
                    self.policies.append(
                        k8s.apiextensions.CustomResource(
                            f"{name}-{namespace}-{endpoint.name}-fqdn",
                            api_version=args.fqdn_policy.api_version,
                            kind=args.fqdn_policy.kind,
                            metadata={**metadata, "name": f"phi-egress-{endpoint.name}-fqdn"},
                            spec=name_policy(endpoint),
                            opts=child(self, provider, depends_on=depends_on),
                        )
                    )
        # The Secrets wait for the team namespaces and whatever this module waits for (the cluster's stores).
        self.credentials = credential_secrets(name, args.credentials, self, provider, list(namespaces.values()))
        self.register_outputs({"policies": len(self.policies)})
