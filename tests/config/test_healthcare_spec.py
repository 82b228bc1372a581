"""healthcare-onprem stack spec: every bad input is rejected at its key path, with its error type."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from hybridai.config import StackConfigError
from hybridai.program import prepare
from hybridai.config.healthcare import HealthcareOnpremSpec
from hybridai.config.codec import decode_config, encode_config
from tests.conftest import ROOT
from tests.helpers import problems_of as refused, stack_values


def base_values() -> dict[str, Any]:
    return stack_values("healthcare-prod")


def problems_of(values: dict[str, Any]) -> set[tuple[tuple, str]]:
    return refused("healthcare-prod", values)


def _set(path: list, value: Any) -> Callable[[dict], None]:
    def mutate(values: dict) -> None:
        node = values
        for part in path[:-1]:
            node = node[part]
        node[path[-1]] = value

    return mutate


def _delete(path: list) -> Callable[[dict], None]:
    def mutate(values: dict) -> None:
        node = values
        for part in path[:-1]:
            node = node[part]
        del node[path[-1]]

    return mutate


BAD_INPUT = [
    # (case, mutation, expected (loc, type))
    ("environment not allowed", _set(["environment"], "production"), (("environment",), "literal_error")),
    ("cost center missing", _delete(["costCenter"]), (("costCenter",), "missing")),
    ("prefix not a DNS label", _set(["prefix"], "HC_Prod"), (("prefix",), "dns_label")),
    ("prefix too long", _set(["prefix"], "a" * 25), (("prefix",), "prefix_too_long")),
    ("unknown top-level key", _set(["gpuOperatr"], {}), (("gpuOperatr",), "extra_forbidden")),
    ("context missing", _delete(["onprem", "context"]), (("onprem", "context"), "missing")),
    ("unknown distribution", _set(["onprem", "distribution"], "microk8s"), (("onprem", "distribution"), "literal_error")),
    ("no GPU pools", _set(["onprem", "gpuPools"], []), (("onprem", "gpuPools"), "too_short")),
    ("unknown GPU model", _set(["onprem", "gpuPools", 1, "gpuModel"], "B300"), (("onprem", "gpuPools", 1, "gpuModel"), "gpu_model_unknown")),
    ("zero GPUs per node", _set(["onprem", "gpuPools", 0, "gpusPerNode"], 0), (("onprem", "gpuPools", 0, "gpusPerNode"), "greater_than_equal")),
    ("node in two pools", _set(["onprem", "gpuPools", 1, "nodes"], ["dc1-gpu-a100-01"]), (("onprem", "gpuPools"), "duplicate")),
    ("MIG profile of another GPU", _set(["onprem", "gpuPools", 0, "mig"], {"1g.5gb": 7}), (("onprem", "gpuPools", 0), "mig_profile_unknown")),
    ("MIG layout over capacity", _set(["onprem", "gpuPools", 0, "mig"], {"3g.40gb": 2, "1g.10gb": 2}), (("onprem", "gpuPools", 0), "mig_layout_too_large")),
    ("unknown key in a team", _set(["teams", 0, "qouta"], {}), (("teams", 0, "qouta"), "extra_forbidden")),
    ("team name not a DNS label", _set(["teams", 0, "name"], "Radiology"), (("teams", 0, "name"), "dns_label")),
    ("team in a system namespace", _set(["teams", 0, "namespace"], "kube-system"), (("teams", 0, "namespace"), "namespace_reserved")),
    ("team in the operator namespace", _set(["teams", 0, "namespace"], "gpu-operator"), (("teams", 0, "namespace"), "namespace_reserved")),
    ("duplicate team", _set(["teams", 1, "name"], "radiology"), (("teams", 1, "name"), "duplicate")),
    ("bad CPU quantity", _set(["teams", 0, "quota", "cpu"], "lots"), (("teams", 0, "quota", "cpu"), "quantity")),
    ("negative GPU quota", _set(["teams", 2, "quota", "gpus"], -1), (("teams", 2, "quota", "gpus"), "greater_than_equal")),
    ("MIG neither planned nor a layout", _set(["onprem", "gpuPools", 0, "mig"], "auto"), (("onprem", "gpuPools", 0, "mig"), "mig_setting")),
    ("MIG layout with a non-count", _set(["onprem", "gpuPools", 0, "mig"], {"3g.40gb": "two"}), (("onprem", "gpuPools", 0, "mig"), "mig_setting")),
    ("planned MIG on a GPU without MIG", _set(["onprem", "gpuPools", 1], {"name": "l40s", "gpuModel": "L40S-48GB", "nodes": ["dc1-gpu-h100-01"], "gpusPerNode": 8, "mig": "planned"}), (("onprem", "gpuPools", 1), "mig_unsupported")),
    ("training job bigger than any pool", _set(["training", 0, "gpuHoursPerWeek"], 48 * 20), (("training", 0, "gpuHoursPerWeek"), "catalog_does_not_fit")),
    ("training job needing GPUs no pool has", _set(["training", 0, "gpuMemoryGb"], 141), (("training", 0, "gpuMemoryGb"), "catalog_does_not_fit")),
    ("training job of an unknown team", _set(["training", 0, "team"], "oncology"), (("training", 0, "team"), "team_unknown")),
    ("training deadline beyond a week", _set(["training", 0, "deadlineHours"], 200), (("training", 0, "deadlineHours"), "less_than_equal")),
    ("model name twice", _set(["models", 1, "name"], "chest-xray"), (("models", 1, "name"), "duplicate")),
    ("single strategy beside whole GPUs", _set(["gpuOperator"], {"migStrategy": "single"}), (("gpuOperator", "migStrategy"), "mig_strategy_mismatch")),
    ("GPU quotas over capacity", _set(["teams", 2, "quota", "gpus"], 20), (("teams", 2, "quota", "gpus"), "quota_exceeds_capacity")),
    # 40 × 3g.40gb reserved beyond the catalog need 20 A100s; the planned pool has 16.
    ("MIG quotas over capacity", _set(["teams", 0, "quota", "mig"], {"3g.40gb": 40}), (("teams", 0, "quota", "mig", "3g.40gb"), "quota_exceeds_capacity")),
    ("MIG quota for a profile no pool has", _set(["teams", 0, "quota", "mig"], {"1g.6gb": 1}), (("teams", 0, "quota", "mig", "1g.6gb"), "mig_profile_unavailable")),
    ("time-slicing under HIPAA", _set(["gpuOperator"], {"timeSlicing": {"replicas": 4}}), (("gpuOperator", "timeSlicing"), "time_slicing_forbidden")),
    ("strategy none with MIG pools", _set(["gpuOperator"], {"migStrategy": "none"}), (("gpuOperator", "migStrategy"), "mig_strategy_mismatch")),
    ("strategy single with several profiles", _set(["gpuOperator"], {"migStrategy": "single"}), (("gpuOperator", "migStrategy"), "mig_strategy_mismatch")),
]


@pytest.mark.parametrize("case,mutate,expected", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_rejected_at_its_key(case: str, mutate: Callable, expected: tuple) -> None:
    # GIVEN the production example stack with one value broken
    values = copy.deepcopy(base_values())
    mutate(values)
    # WHEN it is validated THEN the problem is reported at that key, with that type
    assert expected in problems_of(values)


def test_mig_layout_on_a_gpu_without_mig_is_rejected() -> None:
    values = base_values()
    values["onprem"]["gpuPools"][0]["gpuModel"] = "L40S-48GB"
    assert (("onprem", "gpuPools", 0), "mig_unsupported") in problems_of(values)


def test_every_problem_is_reported_at_once() -> None:
    # GIVEN three independent mistakes
    values = base_values()
    values["environment"] = "qa"
    values["teams"][0]["name"] = "Bad Name"
    values["onprem"]["gpuPools"][1]["gpusPerNode"] = 99
    # THEN all three come back in one error
    assert problems_of(values) >= {
        (("environment",), "literal_error"),
        (("teams", 0, "name"), "dns_label"),
        (("onprem", "gpuPools", 1, "gpusPerNode"), "gpus_per_node_too_many"),
    }


def test_example_stacks_are_valid_with_derived_defaults() -> None:
    spec = prepare("healthcare-prod", base_values())[0]
    assert isinstance(spec, HealthcareOnpremSpec)
    # Derived defaults: namespace from the team name; PHI unless declared otherwise.
    assert spec.teams[0].namespace == "radiology"
    assert spec.teams[0].data_classification == "phi"
    assert spec.teams[3].data_classification == "confidential"


def test_prefix_defaults_to_the_stack_name() -> None:
    values = base_values()
    del values["prefix"]
    assert prepare("hc-staging", values)[0].prefix == "hc-staging"


def test_a_stack_name_that_is_no_valid_prefix_asks_for_one() -> None:
    values = base_values()
    del values["prefix"]
    with pytest.raises(StackConfigError) as caught:
        prepare("Hospital_Prod", values)[0]
    assert [(p.loc, p.type, p.value) for p in caught.value.problems] == [(("prefix",), "dns_label", "Hospital_Prod")]


def test_unknown_and_missing_blueprint() -> None:
    values = base_values()
    values["blueprint"] = "healthcare"
    with pytest.raises(StackConfigError) as caught:
        prepare("x", values)[0]
    assert [(p.loc, p.type) for p in caught.value.problems] == [(("blueprint",), "blueprint_unknown")]
    del values["blueprint"]
    with pytest.raises(StackConfigError):
        prepare("x", values)[0]


def test_a_training_job_that_doesnt_fit_says_by_how_much() -> None:
    # GIVEN the fine-tune grows to 20 GPUs at once (960 GPU-hours in 48 h); pools keep 8 + 8 whole GPUs
    values = base_values()
    values["training"][0]["gpuHoursPerWeek"] = 960
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", values)[0]
    [problem] = [p for p in caught.value.problems if p.loc == ("training", 0, "gpuHoursPerWeek")]
    assert problem.message == (
        "job imaging-finetune: needs 20 whole GPUs with 80 GB at once to finish 960 GPU-hours within 48 h, but no pool of the on-prem cluster "
        "has more than 8 left after the models, the teams' reserved MIG slices and earlier jobs: 12 GPUs short; add whole-GPU nodes or extend the deadline"
    )


def test_dev_stack_uses_single_strategy_with_slices_as_gpus(tmp_path: Path) -> None:
    config = yaml.safe_load((ROOT / "stacks" / "Pulumi.healthcare-dev.yaml").read_text())["config"]
    spec, capacity = prepare("healthcare-dev", decode_config(encode_config(config)))
    assert capacity.onprem.strategy == "single"
    # 1 node × 4 A30 × 4 slices = 16 schedulable nvidia.com/gpu, exactly what the two teams share
    assert capacity.onprem.schedulable == {"gpu": 16}
    # the catalog's model and radiology's report summarizer take one each; the teams' explicit quotas share the other 14
    assert capacity.onprem.placements == {"chest-xray-next": ("a30", "1g.6gb", 1), "report-summarizer-dev": ("a30", "1g.6gb", 1)}
    assert sum(t.quota.gpus for t in spec.teams) == 14


def test_policy_settings_name_known_rules_and_profiles() -> None:
    values = base_values()
    values["policy"] = {"profiles": ["hipaa", "gdpr"], "enforcement": {"k8s-probes": "advisory", "k8s-probez": "disabled"}}
    assert problems_of(values) >= {(("policy", "profiles"), "profile_unknown")}
    # Rule ids are the policy pack's: checked once the values are valid, each at its own key.
    values["policy"]["profiles"] = ["hipaa"]
    assert (("policy", "enforcement", "k8s-probez"), "rule_unknown") in problems_of(values)
    values["policy"] = {"enforcement": {"k8s-probes": "sometimes"}}
    assert (("policy", "enforcement", "k8s-probes", "level"), "literal_error") in problems_of(values)
    # An empty list adds nothing and removes nothing: HIPAA is implied by the blueprint.
    values["policy"] = {"profiles": []}
    assert prepare("healthcare-prod", values)[0].compliance_profiles() == ("hipaa",)
    # Only a waiver with a reason removes it.
    values["policy"] = {"waive": {"hipaa": "research sandbox on synthetic data, no patient records"}}
    assert prepare("healthcare-prod", values)[0].compliance_profiles() == ()
    del values["policy"]
    assert prepare("healthcare-prod", values)[0].compliance_profiles() == ("hipaa",)


@pytest.mark.parametrize("namespace", ["kserve", "keda", "kueue-system", "argocd", "monitoring"])
def test_teams_cannot_take_a_platform_namespace(namespace: str) -> None:
    values = base_values()
    values["teams"][0]["namespace"] = namespace
    assert (("teams", 0, "namespace"), "namespace_reserved") in problems_of(values)
