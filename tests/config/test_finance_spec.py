"""finance-hybrid stack spec: bad input rejected at its key path, derived defaults, residency."""
from __future__ import annotations

import copy
from typing import Any

import pytest

from hybridai.config import StackConfigError
from hybridai.program import prepare
from hybridai.config.finance import FinanceHybridSpec
from tests.helpers import at, stack_values
from tests.helpers import problems_of as refused


def base_values(stack: str = "finance-prod") -> dict[str, Any]:
    return stack_values(stack)


def problems_of(values: dict[str, Any]) -> set[tuple[tuple, str]]:
    return refused("finance-prod", values)


BAD_INPUT = [
    ("unknown instance type", ["cloud", "gpuNodePools", 0, "instanceTypes"], ["p9.huge"], ("cloud", "gpuNodePools", 0, "instanceTypes"), "instance_type_not_gpu"),
    ("non-GPU instance type", ["cloud", "gpuNodePools", 0, "instanceTypes"], ["m7i.large"], ("cloud", "gpuNodePools", 0, "instanceTypes"), "instance_type_not_gpu"),
    ("GPU models mixed in a pool", ["cloud", "gpuNodePools", 0, "instanceTypes"], ["p4de.24xlarge", "p5.48xlarge"], ("cloud", "gpuNodePools", 0, "instanceTypes"), "instance_types_mixed"),
    ("a GPU limit below the planned overflow", ["cloud", "gpuNodePools", 0, "gpuLimit"], 40, ("cloud", "gpuNodePools", 0, "gpuLimit"), "limit_below_plan"),
    ("consolidate-after that isn't a duration", ["cloud", "gpuNodePools", 0, "consolidateAfter"], "ten minutes", ("cloud", "gpuNodePools", 0, "consolidateAfter"), "duration"),
    ("a capacity type Karpenter doesn't know", ["cloud", "gpuNodePools", 0, "capacityTypes"], ["spot", "reserved-ish"], ("cloud", "gpuNodePools", 0, "capacityTypes", 1), "literal_error"),
    ("an unpinned node AMI in prod", ["cloud", "cluster", "amiAlias"], "al2023@latest", ("cloud", "cluster", "amiAlias"), "ami_unpinned"),
    ("an AMI family Karpenter's alias doesn't name", ["cloud", "cluster", "amiAlias"], "ubuntu@v20251110", ("cloud", "cluster", "amiAlias"), "string_pattern_mismatch"),
    ("region outside the jurisdiction", ["cloud", "region"], "us-east-1", ("cloud", "region"), "region_outside_jurisdiction"),
    ("unknown jurisdiction", ["jurisdiction"], "mars", ("jurisdiction",), "jurisdiction_unknown"),
    ("public endpoint open to the world", ["cloud", "cluster", "publicAccessCidrs"], ["0.0.0.0/0"], ("cloud", "cluster", "publicAccessCidrs", 0), "cidr_open_to_world"),
    ("endpoint CIDR not a network", ["cloud", "cluster", "publicAccessCidrs"], ["10.0.0.1/8"], ("cloud", "cluster", "publicAccessCidrs", 0), "cidr"),
    ("account id malformed", ["cloud", "accountId"], "2109-8765", ("cloud", "accountId"), "string_pattern_mismatch"),
    ("admin is not a role ARN", ["cloud", "cluster", "adminRoleArns"], ["arn:aws:iam::210987654321:user/alice"], ("cloud", "cluster", "adminRoleArns"), "role_arn"),
    ("no admins", ["cloud", "cluster", "adminRoleArns"], [], ("cloud", "cluster", "adminRoleArns"), "too_short"),
    ("VPC too small", ["cloud", "network", "vpcCidr"], "10.64.0.0/24", ("cloud", "network", "vpcCidr"), "cidr_too_small"),
    ("existing VPC without subnets", ["cloud", "network", "existingVpcId"], "vpc-0123456789abcdef0", ("cloud", "network"), "subnets_required"),
    ("budget not positive", ["cloud", "budget", "monthlyLimitUsd"], 0, ("cloud", "budget", "monthlyLimitUsd"), "greater_than"),
    ("budget recipient not an address", ["cloud", "budget", "notify"], ["finops"], ("cloud", "budget", "notify"), "email"),
    ("duplicate thresholds", ["cloud", "budget", "alertThresholdsPercent"], [80, 80], ("cloud", "budget", "alertThresholdsPercent"), "thresholds"),
    # finance-prod leaves gpuLimit to the planner: without a training catalog nothing sizes the pool
    ("node pool neither limited nor planned", ["training"], [], ("cloud", "gpuNodePools", 0, "gpuLimit"), "missing"),
    # fraud-retrain overflows (no on-prem L40S has 80 GB) but no cloud node group has 141 GB either
    ("overflowing job needing GPUs the cloud lacks", ["training", 0, "gpuMemoryGb"], 141, ("training", 0, "gpuMemoryGb"), "catalog_does_not_fit"),
    ("cloud quota above the pool", ["cloud", "teams", 0, "quota", "gpus"], 100, ("cloud", "teams", 0, "quota", "gpus"), "quota_exceeds_capacity"),
    ("MIG quota on the cloud pool", ["cloud", "teams", 0, "quota", "mig"], {"1g.10gb": 2}, ("cloud", "teams", 0, "quota", "mig"), "mig_profile_unavailable"),
    ("cloud team in the operator namespace", ["cloud", "teams", 1, "namespace"], "gpu-operator", ("cloud", "teams", 1, "namespace"), "namespace_reserved"),
    ("cloud team name too long for AWS names", ["cloud", "teams", 1, "name"], "credit-risk-model-validation-team-xyz123", ("cloud", "teams", 1, "name"), "name_too_long"),
    ("unknown key under cloud", ["cloud", "regoin"], "eu-west-1", ("cloud", "regoin"), "extra_forbidden"),
    ("audit lock mode", ["audit", "lockMode"], "NONE", ("audit", "lockMode"), "literal_error"),
    ("audit shorter than a year", ["audit", "retentionDays"], 30, ("audit", "retentionDays"), "greater_than_equal"),
    ("on-prem quota above capacity", ["teams", 0, "quota", "gpus"], 13, ("teams", 0, "quota", "gpus"), "quota_exceeds_capacity"),
    # the control plane's log group holds the EKS audit log: SOX keeps audit records 2557 days
    ("EKS audit log kept shorter than SOX", ["cloud", "cluster", "logRetentionDays"], 365, ("cloud", "cluster", "logRetentionDays"), "retention_below_profile"),
    ("a retention CloudWatch doesn't offer", ["cloud", "cluster", "logRetentionDays"], 2600, ("cloud", "cluster", "logRetentionDays"), "retention_period"),
]


@pytest.mark.parametrize("case,path,value,loc,kind", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_is_rejected_at_its_key(case: str, path: list, value: Any, loc: tuple, kind: str) -> None:
    values = copy.deepcopy(base_values())
    node, key = at(values, path)
    node[key] = value
    assert (loc, kind) in problems_of(values)


def test_region_error_names_the_allowed_regions() -> None:
    values = base_values()
    values["cloud"]["region"] = "us-east-1"
    with pytest.raises(StackConfigError) as caught:
        prepare("finance-prod", values)[0]
    text = caught.value.render()
    assert "hybrid-ai:cloud.region: region is outside jurisdiction `eu`, where data must stay; use one of eu-central-1" in text
    assert "(got 'us-east-1')" in text


def test_derived_defaults() -> None:
    spec, capacity = prepare("finance-prod", base_values())
    assert isinstance(spec, FinanceHybridSpec)
    # The training catalog's overflow sizes the pool: fraud-retrain 1536/48 = 32 GPUs (fraud-features,
    # 96/24 = 4, fits on-prem), credit-retrain 384/24 = 16.
    assert capacity.onprem.overflow == {"fraud": 32, "credit": 16}
    assert capacity.onprem.training == {"fraud": {"l40s": 4}}
    [pool] = capacity.cloud.pools
    # gpuLimit omitted: the 48 GPUs the overflow needs at once; spot first, on-demand when short.
    assert (pool.gpu_limit, pool.planned_gpus, pool.pool.capacity_types) == (48, 48, ["spot", "on-demand"])
    assert pool.pool.gpu_model == "A100-80GB" and pool.pool.gpus_per_node == 8
    assert capacity.cloud.team_gpus == {"fraud": 32, "credit": 16}
    assert spec.cloud.cluster.public_access_cidrs == []
    assert spec.cloud.teams[0].tier == "training"
    assert spec.audit.lock_mode == "COMPLIANCE"
    # The EKS audit log is kept as long as SOX keeps audit records (the smallest CloudWatch period covering 2557 days)
    assert spec.cloud.cluster.log_retention_days is None and spec.eks_log_retention_days() == 2557


def test_an_explicit_gpu_limit_overrides_the_plan_but_never_undercuts_it() -> None:
    # GIVEN a limit above the planned 48 GPUs, THEN it is the pool's limit
    values = base_values()
    values["cloud"]["gpuNodePools"][0]["gpuLimit"] = 64
    assert prepare("finance-prod", values)[1].cloud.pools[0].gpu_limit == 64
    # AND a dev stack that waits for spot buys nothing else
    assert prepare("finance-dev", base_values("finance-dev"))[1].cloud.pools[0].pool.capacity_types == ["spot"]
