"""Stack values chosen to open doors or drop controls while looking harmless: each is refused at its
key (exit 2 through the CLI), or — where a stack may legitimately loosen policy — only with a
written reason that summary.md shows. A table: add a row for every new evasion found.

GIVEN an example stack with one value changed, WHEN the program prepares it, THEN the listed
problem (key path, type) is reported and nothing is registered.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest

from hybridai.config import StackConfigError
from hybridai.program import prepare
from tests.helpers import stack_values


def values_of(stack: str) -> dict[str, Any]:
    return stack_values(stack)


def setter(*path: Any, value: Any) -> Callable[[dict], None]:
    def mutate(values: dict) -> None:
        node = values
        for part in path[:-1]:
            node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
        node[path[-1]] = value

    return mutate


CASES = [
    # Doors left open
    ("two /1s open the EKS API to the whole internet", "finance-prod", setter("cloud", "cluster", "publicAccessCidrs", value=["0.0.0.0/1", "128.0.0.0/1"]), ("cloud", "cluster", "publicAccessCidrs"), "allow_list_too_wide"),
    ("a public /7 for the EKS API", "finance-prod", setter("cloud", "cluster", "publicAccessCidrs", value=["16.0.0.0/7"]), ("cloud", "cluster", "publicAccessCidrs"), "allow_list_too_wide"),
    ("host bits set in an allow-list", "finance-prod", setter("cloud", "cluster", "publicAccessCidrs", value=["203.0.113.7/24"]), ("cloud", "cluster", "publicAccessCidrs", 0), "cidr"),
    ("an edge site open to the world", "manufacturing-prod", setter("sites", 0, "clientCidrs", value=["0.0.0.0/0"]), ("sites", 0, "clientCidrs", 0), "cidr_open_to_world"),
    ("an edge site open to half the world", "manufacturing-prod", setter("sites", 0, "clientCidrs", value=["0.0.0.0/1"]), ("sites", 0, "clientCidrs"), "allow_list_too_wide"),
    ("junk in an edge allow-list", "manufacturing-prod", setter("sites", 1, "clientCidrs", value=["line equipment"]), ("sites", 1, "clientCidrs", 0), "cidr"),
    ("monitoring in kube-system", "healthcare-prod", setter("monitoring", "namespace", value="kube-system"), ("monitoring", "namespace"), "namespace_reserved"),
    ("the GPU Operator in default", "healthcare-prod", setter("gpuOperator", "namespace", value="default"), ("gpuOperator", "namespace"), "namespace_reserved"),
    ("monitoring sharing the GPU Operator's namespace", "healthcare-prod", setter("monitoring", "namespace", value="gpu-operator"), ("monitoring", "namespace"), "namespace_taken"),
    ("monitoring in Kueue's namespace", "finance-prod", setter("monitoring", "namespace", value="kueue-system"), ("monitoring", "namespace"), "namespace_taken"),
    ("monitoring in KEDA's namespace", "finance-prod", setter("monitoring", "namespace", value="keda"), ("monitoring", "namespace"), "namespace_taken"),
    # (finance-prod serves an LLM through llm-d: the inference gateway's namespaces are the platform's)
    ("Loki in Envoy Gateway's namespace", "finance-prod", setter("logging", "namespace", value="envoy-gateway-system"), ("logging", "namespace"), "namespace_taken"),
    ("monitoring in the inference gateway's namespace", "finance-prod", setter("monitoring", "namespace", value="inference-gateway"), ("monitoring", "namespace"), "namespace_taken"),
    ("a team in kube-public", "healthcare-prod", setter("teams", 0, "namespace", value="kube-public"), ("teams", 0, "namespace"), "namespace_reserved"),
    ("a team in a distribution's kube-* namespace", "healthcare-prod", setter("teams", 0, "namespace", value="kube-flannel"), ("teams", 0, "namespace"), "namespace_reserved"),
    ("a VPC of /1, which AWS refuses", "finance-prod", setter("cloud", "network", "vpcCidr", value="0.0.0.0/1"), ("cloud", "network", "vpcCidr"), "vpc_cidr_size"),
    ("a VPC of /15, larger than AWS allows", "finance-prod", setter("cloud", "network", "vpcCidr", value="10.0.0.0/15"), ("cloud", "network", "vpcCidr"), "vpc_cidr_size"),
    ("a group name with a newline, binding a group no one is in", "healthcare-prod", setter("teams", 0, "group", value="oidc:radiology\nsystem:masters"), ("teams", 0, "group"), "idp_group"),
    ("a group name with a tab", "manufacturing-prod", setter("sites", 0, "group", value="oidc:\tops"), ("sites", 0, "group"), "idp_group"),
    ("a group name padded with a space", "finance-prod", setter("cloud", "teams", 0, "group", value=" oidc:fraud"), ("cloud", "teams", 0, "group"), "idp_group"),
    ("a group name longer than providers issue", "healthcare-prod", setter("teams", 0, "group", value="g" * 257), ("teams", 0, "group"), "idp_group"),
    # Controls dropped
    ("a mandatory rule disabled without a reason", "healthcare-prod", setter("policy", "enforcement", value={"k8s-probes": "disabled"}), ("policy", "enforcement", "k8s-probes"), "reason_required"),
    ("a mandatory rule made advisory with a one-word reason", "healthcare-prod", setter("policy", "enforcement", value={"k8s-probes": {"level": "advisory", "reason": "because"}}), ("policy", "enforcement", "k8s-probes", "reason"), "string_too_short"),
    ("a profile waived without a reason", "healthcare-prod", setter("policy", "waive", value={"hipaa": ""}), ("policy", "waive", "hipaa"), "string_too_short"),
    ("a waiver for a profile the stack doesn't imply", "healthcare-prod", setter("policy", "waive", value={"sox": "nothing financial runs in the hospital"}), ("policy", "waive", "sox"), "waiver_not_needed"),
]


@pytest.mark.parametrize("stack, mutate, loc, kind", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_evasion_is_refused_at_its_key(stack: str, mutate: Callable[[dict], None], loc: tuple, kind: str) -> None:
    values = values_of(stack)
    mutate(values)
    with pytest.raises(StackConfigError) as caught:
        prepare(stack, values)
    found = {(p.loc, p.type) for p in caught.value.problems}
    assert (loc, kind) in found or any(p[1] == kind and p[0][: len(loc)] == loc for p in found), found


def test_two_platform_components_in_one_namespace_are_an_error_not_a_crash() -> None:
    # GIVEN monitoring and the GPU Operator set to the same namespace (this used to end in StopIteration)
    values = values_of("healthcare-prod")
    values["monitoring"] = {**values.get("monitoring", {}), "namespace": "platform"}
    values["gpuOperator"] = {**values.get("gpuOperator", {}), "namespace": "platform"}
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", values)
    assert {p.loc for p in caught.value.problems if p.type == "namespace_taken"} == {("monitoring", "namespace"), ("gpuOperator", "namespace")}


def test_an_empty_profile_list_keeps_the_implied_profiles() -> None:
    # GIVEN healthcare-prod with `policy: {profiles: []}` (it used to drop HIPAA silently)
    values = values_of("healthcare-prod")
    values["policy"] = {"profiles": []}
    spec, _ = prepare("healthcare-prod", values)
    # THEN HIPAA still applies
    assert "hipaa" in spec.compliance_profiles()


@pytest.mark.parametrize("stack, where", [("finance-prod", "teams"), ("finance-prod", "cloud.teams"), ("manufacturing-prod", "teams")])
def test_a_phi_team_brings_hipaa_to_any_blueprint(stack: str, where: str) -> None:
    # GIVEN a team marked `dataClassification: phi` in a blueprint whose default isn't HIPAA
    values = values_of(stack)
    teams = values["cloud"]["teams"] if where == "cloud.teams" else values["teams"]
    assert "hipaa" not in prepare(stack, copy.deepcopy(values))[0].compliance_profiles()
    teams[0]["dataClassification"] = "phi"
    if "auditArchive" not in values["logging"]:
        # THEN HIPAA applies: a stack without a write-once audit archive is refused at its key
        with pytest.raises(StackConfigError) as caught:
            prepare(stack, copy.deepcopy(values))
        assert [(p.loc, p.type) for p in caught.value.problems] == [(("logging", "auditArchive"), "audit_archive_required")]
        values["logging"]["auditArchive"] = {
            "endpoint": "https://s3.example", "bucket": "audit", "accessKeyId": {"name": "a", "key": "k"}, "secretAccessKey": {"name": "a", "key": "s"},
            "objectLock": {"mode": "COMPLIANCE", "retentionDays": 2190},
        }
        prefix = values["secrets"]["sources"][0]["remoteKey"].split("/")[0]
        values["secrets"]["sources"].append({"name": "a", "store": "vault", "remoteKey": f"{prefix}/audit-archive"})
        # (with the archive its served registry models' drift is checked: the checks' two Secrets too)
        values["secrets"]["sources"] += [{"name": n, "store": "vault", "remoteKey": f"{prefix}/{n}"} for n in ("decision-archive-reader", "drift-monitor-mlflow")]
    # AND the stack gets the HIPAA rules
    assert "hipaa" in prepare(stack, values)[0].compliance_profiles()


def test_phi_in_the_cloud_is_a_mandatory_violation_in_finance() -> None:
    # GIVEN a cloud team of finance-prod marked phi, WHEN planned, THEN HIPAA's no-PHI-in-the-cloud
    # rule fails the plan (it used to pass: finance never ran the HIPAA rules)
    from hybridai.plan.artifacts import render
    from hybridai.plan.engine import Plan, execute
    from hybridai.program import run
    from hybridai.config.codec import encode_config as wire

    values = values_of("finance-prod")
    values["cloud"]["teams"][0]["dataClassification"] = "phi"
    spec, capacity = prepare("finance-prod", values)
    config = {f"hybrid-ai:{k}": v for k, v in wire(values).items()}
    resources = execute(run, project="hybrid-ai", stack="finance-prod", config=config)
    files = render(Plan(stack="finance-prod", blueprint=spec.blueprint, resources=resources, spec=spec, capacity=capacity))
    import json

    report = json.loads(files[Path("policy.json")])
    assert "hipaa-no-phi-in-cloud" in {f["rule"] for f in report["findings"] if f["enforcement"] == "mandatory"}


def test_every_loosening_is_listed_with_its_reason_in_summary_md() -> None:
    # GIVEN finance-dev (SOX waived with a reason) with a rule made advisory and wide networks allowed
    from tests.conftest import planned

    _, files = planned("finance-dev")
    summary = files[Path("summary.md")]
    # THEN summary.md names the waived profile and its reason
    assert "profiles not applied: sox" in summary
    assert "| profile waived | `sox` | development holds no production financial records" in summary
