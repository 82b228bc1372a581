"""The hospital's systems holding PHI that teams' workloads reach (healthcare-onprem `interop`):
FHIR APIs of the EHR and DICOMweb endpoints of the imaging archive (PACS), the teams allowed each,
and the container network plugin that enforces the egress (docs/data-paths.md)."""
from __future__ import annotations

import ipaddress
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from hybridai import catalog
from hybridai.config.base import Cidr, DnsLabel, HttpUrl, Model, Problem, choose_from
from hybridai.config.components import Team
from hybridai.config.operations import SecretKeyRef
from hybridai.config.security import SecretsSettings

EndpointKind = Literal["fhir", "dicomweb"]
KINDS: tuple[EndpointKind, ...] = ("fhir", "dicomweb")
"""The blocks of `interop`, in the order they are read."""
HTTPS_PORT = 443


class EndpointSecretKeyRef(SecretKeyRef):
    """A key of the Secret holding a team's credential for a PHI endpoint, created in the namespace of
    each team allowed to reach it; the team's pods mount it as a file."""

    name: DnsLabel = Field(examples=["ehr-fhir-client"], description="Secret in each allowed team's namespace; the key is the file name where a pod mounts it.")


class PhiEndpoint(Model):
    """One system of the hospital holding PHI, reached over HTTPS by the teams it names."""

    name: DnsLabel = Field(
        examples=["ehr-fhir"],
        max_length=40,
        description="Endpoint name, unique across `interop`: the egress policies are named `phi-egress-<name>` (at most 40 characters, "
        "so the derived names stay Kubernetes names).",
    )
    url: HttpUrl = Field(
        examples=["https://fhir.hospital.example/r4"],
        description="Base URL of the API. Always https: PHI never crosses the network in clear text (HIPAA 164.312(e)). "
        "Its port (443 when it names none) is the one port the egress policy opens.",
    )
    cidrs: list[Cidr] = Field(
        min_length=1,
        examples=[["10.20.4.0/28"]],
        description="Networks the endpoint's addresses are in: the egress policy opens only these. When the URL's host is an IP "
        "address, one of them must hold it. Held to the allow-list width rule (hybridai/cidr.py) like every other allow-list.",
    )
    teams: list[DnsLabel] = Field(
        min_length=1,
        examples=[["radiology"]],
        description="Teams of the stack whose namespaces may reach the endpoint; each must handle PHI (`dataClassification: phi`). "
        "No other namespace gets a path to it.",
    )
    credentials: EndpointSecretKeyRef | None = Field(
        default=None,
        description="The Secret (and key) holding each team's credential for the endpoint, created in every allowed team's namespace "
        "from its source in `secrets.sources`. A store source's `remoteKey` must hold `{namespace}`: one credential per team, so the "
        "endpoint's own access log names the team. Omit only for an endpoint that authenticates otherwise (mutual TLS at the proxy).",
    )

    @field_validator("url")
    @classmethod
    def _tls(cls, value: str) -> str:
        if urlsplit(value).scheme != "https":
            raise PydanticCustomError("endpoint_without_tls", "PHI travels only over TLS: use the endpoint's https:// URL")
        return value

    @field_validator("teams")
    @classmethod
    def _unique_teams(cls, value: list[str]) -> list[str]:
        dupes = sorted({t for t in value if value.count(t) > 1})
        if dupes:
            raise PydanticCustomError("duplicate", "team listed twice: {dupes}", {"dupes": ", ".join(dupes)})
        return value

    @field_validator("cidrs")
    @classmethod
    def _address_in_cidrs(cls, value: list[str], info: ValidationInfo) -> list[str]:
        url = info.data.get("url")  # absent: already reported at `url`
        address = _ip(urlsplit(url).hostname or "") if url else None
        if address is not None and not any(address in ipaddress.ip_network(c) for c in value):
            raise PydanticCustomError(
                "cidr_excludes_address",
                "the URL's address {address} is in none of these networks: the policy would open networks the endpoint is not in; "
                "list the network holding it",
                {"address": str(address)},
            )
        return value

    @property
    def host(self) -> str:
        """The URL's host: a name or an IP address."""
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        """The URL's port, 443 when it names none: the one port the egress policy opens."""
        return urlsplit(self.url).port or HTTPS_PORT

    def address(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The URL's host when it is an IP address; None for a name."""
        return _ip(self.host)


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


class InteropSettings(Model):
    """The hospital's PHI systems the on-prem cluster's teams reach, and what enforces the paths."""

    cni: str = Field(
        examples=["canal"],
        description="Container network plugin of the on-prem cluster (one of hybridai/data/cnis.yaml): it must enforce Kubernetes "
        "NetworkPolicy, or the egress policies would be written and ignored. Where it allows host names (Cilium), a name policy "
        "is written beside the CIDR one.",
    )
    fhir: list[PhiEndpoint] = Field(default_factory=list, description="FHIR APIs of the EHR.")
    dicomweb: list[PhiEndpoint] = Field(default_factory=list, description="DICOMweb endpoints (QIDO-RS, WADO-RS, STOW-RS) of the imaging archive (PACS).")

    @field_validator("cni")
    @classmethod
    def _known_cni(cls, value: str) -> str:
        known = catalog.cnis()
        if value not in known:
            raise PydanticCustomError("cni_unknown", "no CNI {cni!r} in hybridai/data/cnis.yaml{hint}", {"cni": value, "hint": choose_from(value, known, "CNIs")})
        if not known[value].network_policy:
            raise PydanticCustomError(
                "cni_without_network_policy",
                "{cni} enforces no Kubernetes NetworkPolicy, so nothing would hold PHI egress to its endpoints: run a CNI that does "
                "(hybridai/data/cnis.yaml `network_policy: true`)",
                {"cni": value},
            )
        return value

    def endpoints(self) -> list[tuple[tuple[str | int, ...], EndpointKind, PhiEndpoint]]:
        """Every endpoint with its key path (`interop`, kind, index) and kind."""
        return [(("interop", kind, i), kind, endpoint) for kind in KINDS for i, endpoint in enumerate(getattr(self, kind))]


def check_interop(interop: InteropSettings | None, teams: list[Team]) -> list[Problem]:
    """Endpoint names are unique; each endpoint's teams are teams of the stack handling PHI."""
    if interop is None:
        return []
    by_name = {team.name: team for team in teams}
    seen: set[str] = set()
    problems = []
    for at, _, endpoint in interop.endpoints():
        if endpoint.name in seen:
            problems.append(Problem((*at, "name"), "duplicate", "another endpoint of `interop` has this name; names must be unique", endpoint.name))
        seen.add(endpoint.name)
        for j, name in enumerate(endpoint.teams):
            team = by_name.get(name)
            if team is None:
                problems.append(Problem((*at, "teams", j), "unknown_team", f"no team {name!r} in `teams`{choose_from(name, by_name, 'teams')}", name))
            elif team.data_classification != "phi":
                problems.append(
                    Problem(
                        (*at, "teams", j),
                        "team_not_phi",
                        f"team {name!r} is `{team.data_classification}`: only PHI teams may reach a PHI system; research teams get "
                        "de-identified data, never a path to the EHR or PACS. Remove it, or classify the team `phi`",
                        name,
                    )
                )
    return problems


def check_credential_per_team(interop: InteropSettings | None, secrets: SecretsSettings) -> list[Problem]:
    """An endpoint's credential read from a store is one remote secret per team (`{namespace}` in its
    `remoteKey`): with one shared credential, the endpoint's access log could not tell teams apart."""
    if interop is None:
        return []
    names = [s.name for s in secrets.sources]
    problems = []
    for _, _, endpoint in interop.endpoints():
        source = secrets.source(endpoint.credentials.name) if endpoint.credentials else None
        if source is not None and source.remote_key and "{namespace}" not in source.remote_key:
            at = ("secrets", "sources", names.index(source.name), "remoteKey")
            why = (
                f"endpoint {endpoint.name!r} reads this credential in {len(endpoint.teams)} team namespace(s): give each team its own, "
                "with `{namespace}` in the remote key (for example `<prefix>/" + source.name + "/{namespace}`), so the endpoint's access log names the team"
            )
            problems.append(Problem(at, "credential_shared_by_teams", why, source.remote_key))
    return problems
