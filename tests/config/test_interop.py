"""healthcare `interop`: the hospital's PHI endpoints, refused at their key when the path they ask for
would be unsafe or unenforced."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from hybridai.program import prepare
from tests.helpers import problems_of, stack_values

FHIR = ["interop", "fhir", 0]
PACS = ["interop", "dicomweb", 0]


def _set(path: list, value: Any) -> Callable[[dict], None]:
    def mutate(values: dict) -> None:
        node = values
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _source(name: str, remote_key: str) -> Callable[[dict], None]:
    def mutate(values: dict) -> None:
        for source in values["secrets"]["sources"]:
            if source["name"] == name:
                source["remoteKey"] = remote_key

    return mutate


def _drop_source(name: str) -> Callable[[dict], None]:
    def mutate(values: dict) -> None:
        values["secrets"]["sources"] = [s for s in values["secrets"]["sources"] if s["name"] != name]

    return mutate


def _index_of_source(name: str) -> int:
    return [s["name"] for s in stack_values("healthcare-prod")["secrets"]["sources"]].index(name)


BAD_INPUT = [
    # (case, mutation, expected (loc, type))
    ("endpoint over http", _set([*FHIR, "url"], "http://fhir.hospital.example/r4"), ((*FHIR, "url"), "endpoint_without_tls")),
    ("endpoint URL with credentials", _set([*FHIR, "url"], "https://svc:pw@fhir.hospital.example/r4"), ((*FHIR, "url"), "url_credentials")),
    ("IP URL outside its CIDRs", _set([*PACS, "cidrs"], ["10.20.9.0/28"]), ((*PACS, "cidrs"), "cidr_excludes_address")),
    ("CIDR with host bits", _set([*PACS, "cidrs"], ["10.20.8.10/28"]), ((*PACS, "cidrs", 0), "cidr")),
    ("CIDR open to the world", _set([*FHIR, "cidrs"], ["0.0.0.0/0"]), ((*FHIR, "cidrs", 0), "cidr_open_to_world")),
    ("no CIDR", _set([*FHIR, "cidrs"], []), ((*FHIR, "cidrs"), "too_short")),
    ("CIDRs covering half the internet", _set([*FHIR, "cidrs"], ["0.0.0.0/2", "64.0.0.0/2"]), ((*FHIR, "cidrs"), "allow_list_too_wide")),
    ("unknown team", _set([*FHIR, "teams"], ["clinical-notes", "oncology"]), ((*FHIR, "teams", 1), "unknown_team")),
    ("team not PHI (a research team)", _set([*PACS, "teams"], ["radiology", "ml-platform"]), ((*PACS, "teams", 1), "team_not_phi")),
    ("team listed twice", _set([*PACS, "teams"], ["radiology", "radiology"]), ((*PACS, "teams"), "duplicate")),
    ("no team", _set([*PACS, "teams"], []), ((*PACS, "teams"), "too_short")),
    ("two endpoints of one name", _set([*PACS, "name"], "ehr-fhir"), ((*PACS, "name"), "duplicate")),
    ("endpoint name too long", _set([*PACS, "name"], "p" * 41), ((*PACS, "name"), "string_too_long")),
    ("unknown CNI", _set(["interop", "cni"], "weave"), (("interop", "cni"), "cni_unknown")),
    ("CNI without NetworkPolicy", _set(["interop", "cni"], "flannel"), (("interop", "cni"), "cni_without_network_policy")),
    ("credential shared by the teams", _source("ehr-fhir-client", "hc-prod/ehr-fhir-client"), (("secrets", "sources", _index_of_source("ehr-fhir-client"), "remoteKey"), "credential_shared_by_teams")),
    ("credential without a source in prod", _drop_source("ehr-fhir-client"), (("secrets", "sources"), "credential_source_required")),
    ("credential Secret another block reads there", _set([*FHIR, "credentials", "name"], "checkpoint-store"), ((*FHIR, "credentials", "name"), "secret_shared")),
]


@pytest.mark.parametrize("case,mutate,expected", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_refused_at_its_key(case: str, mutate: Callable, expected: tuple) -> None:
    # GIVEN the production example stack with one interop value broken
    values = copy.deepcopy(stack_values("healthcare-prod"))
    mutate(values)
    # WHEN validated THEN the problem is reported at that key, with that type
    assert expected in problems_of("healthcare-prod", values)


def test_the_example_endpoints_are_read_with_their_ports_and_hosts() -> None:
    # GIVEN healthcare-prod WHEN prepared THEN the URL's port (443 when it names none) and host are the endpoint's
    spec = prepare("healthcare-prod", stack_values("healthcare-prod"))[0]
    fhir, pacs = spec.interop.fhir[0], spec.interop.dicomweb[0]
    assert (fhir.host, fhir.port, fhir.address()) == ("fhir.hospital.example", 443, None)
    assert (pacs.host, pacs.port, str(pacs.address())) == ("10.20.8.10", 8443, "10.20.8.10")


def test_a_bad_endpoint_exits_2_naming_the_file_and_key(project: Path, tmp_path: Path) -> None:
    # GIVEN the stack file with the EHR over http
    from tests.test_cli import invoke

    path = project / "stacks" / "Pulumi.healthcare-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:interop"]["fhir"][0]["url"] = "http://fhir.hospital.example/r4"
    path.write_text(yaml.safe_dump(document))
    # WHEN planned
    result = invoke("plan", "healthcare-prod", "--out", str(tmp_path / "out"), "--project-dir", str(project))
    # THEN exit 2, the file and key named, nothing written
    assert result.exit_code == 2
    assert "stacks/Pulumi.healthcare-prod.yaml: hybrid-ai:interop.fhir[0].url: PHI travels only over TLS" in result.stderr
    assert not (tmp_path / "out").exists()
