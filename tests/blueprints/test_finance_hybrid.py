"""finance-hybrid over its example stacks: placements, the audit trail, residency."""
from __future__ import annotations

import json

import pytest

from tests.conftest import planned
from tests.helpers import of_type

STACKS = ["finance-prod", "finance-dev"]


@pytest.mark.parametrize("stack", STACKS)
def test_cloud_and_onprem_are_separate_targets_with_their_placements(stack: str) -> None:
    plan, files = planned(stack)
    onprem = {"finance-prod": "dc1", "finance-dev": "lab"}[stack]
    assert {r.placement for r in plan.resources if r.type.startswith("aws:")} == {"cloud"}
    by_target = {(r.target, r.placement) for r in plan.resources if r.type.startswith("kubernetes:")}
    assert by_target == {("training", "cloud"), (onprem, "onprem")}
    assert {p.parts[1] for p in files if p.parts[0] in ("manifests", "helm")} == {"training", onprem}
    # every cluster also collects its logs (Fluent Bit) and is backed up (Velero)
    charts = {"gpu-operator.yaml", "kube-prometheus-stack.yaml", "opencost.yaml", "fluent-bit.yaml", "velero.yaml"}
    # both serve models; finance-prod also trains fraud's feature job on the GPUs inference leaves free
    workloads = {"kserve-crd.yaml", "kserve-resources.yaml"} | ({"kueue.yaml"} if stack == "finance-prod" else set())
    # and the on-prem cluster keeps the stack's logs (Loki)
    assert {p.name for p in files if p.parts[:2] == ("helm", onprem)} == charts | workloads | {"loki.yaml"}
    # the burst pool also queues training with Kueue and grows with Karpenter
    assert {p.name for p in files if p.parts[:2] == ("helm", "training")} == charts | {"kueue.yaml", "karpenter.yaml"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_uses_an_explicit_provider_and_aws_is_pinned_to_its_account(stack: str) -> None:
    plan, _ = planned(stack)
    providers = {r.urn: r for r in plan.resources if r.type.startswith("pulumi:providers:")}
    assert sorted(p.type for p in providers.values()) == ["pulumi:providers:aws", "pulumi:providers:kubernetes", "pulumi:providers:kubernetes"]
    for r in plan.resources:
        if r.custom and not r.type.startswith("pulumi:providers:"):
            assert r.provider in providers, r.urn
    [aws] = [p for p in providers.values() if p.type == "pulumi:providers:aws"]
    account = {"finance-prod": "210987654321", "finance-dev": "210987654322"}[stack]
    assert json.loads(aws.inputs["allowedAccountIds"]) == [account]
    tags = json.loads(aws.inputs["defaultTags"])["tags"]
    assert {"hybrid-ai.io/team", "hybrid-ai.io/environment", "hybrid-ai.io/cost-center", "hybrid-ai.io/stack"} <= set(tags)


def test_prod_audit_trail_is_immutable_validated_and_encrypted() -> None:
    plan, _ = planned("finance-prod")
    [trail] = of_type(plan.resources, "aws:cloudtrail/trail:Trail")
    assert trail.inputs["enableLogFileValidation"] is True and trail.inputs["isMultiRegionTrail"] is True
    assert trail.inputs["kmsKeyId"].startswith("arn:aws:kms:eu-central-1:210987654321:key/")
    assert trail.inputs["s3BucketName"] == "fin-prod-audit-210987654321"
    assert trail.protect
    # Object reads and writes of the training buckets are part of the trail.
    [selector] = trail.inputs["eventSelectors"]
    assert selector["dataResources"][0]["values"] == ["arn:aws:s3:::fin-prod-fraud-train-210987654321/", "arn:aws:s3:::fin-prod-credit-train-210987654321/"]
    [lock] = of_type(plan.resources, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 2557}
    audit_bucket = next(r for r in of_type(plan.resources, "aws:s3/bucket:Bucket") if r.inputs["bucket"] == "fin-prod-audit-210987654321")
    assert audit_bucket.inputs["objectLockEnabled"] is True and audit_bucket.protect and audit_bucket.retain_on_delete
    policy = next(json.loads(r.inputs["policy"]) for r in of_type(plan.resources, "aws:s3/bucketPolicy:BucketPolicy") if "audit" in r.name)
    writes = [s for s in policy["Statement"] if s.get("Sid") == "CloudTrailWrite"]
    assert writes[0]["Condition"]["StringEquals"]["aws:SourceArn"] == "arn:aws:cloudtrail:eu-central-1:210987654321:trail/fin-prod-audit"


def test_every_aws_resource_is_in_the_jurisdictions_region() -> None:
    for stack, region in (("finance-prod", "eu-central-1"), ("finance-dev", "eu-west-1")):
        plan, _ = planned(stack)
        arns = [r.inputs.get("kmsKeyId", "") for r in of_type(plan.resources, "aws:cloudtrail/trail:Trail")]
        assert all(f":{region}:" in arn for arn in arns)
        [aws] = of_type(plan.resources, "pulumi:providers:aws")
        assert aws.inputs["region"] == region
        assert not [r for r in plan.resources if r.type.startswith("aws:") and r.inputs.get("region") not in (None, region)]


def test_dev_uses_two_zones_one_nat_and_a_cidr_restricted_endpoint() -> None:
    plan, _ = planned("finance-dev")
    assert len(of_type(plan.resources, "aws:ec2/natGateway:NatGateway")) == 1
    assert len(of_type(plan.resources, "aws:ec2/subnet:Subnet")) == 4
    [cluster] = of_type(plan.resources, "aws:eks/cluster:Cluster")
    assert cluster.inputs["vpcConfig"]["publicAccessCidrs"] == ["203.0.113.0/24"]
    # dev training waits for spot: its NodePool buys nothing else
    [pool] = [r.inputs["spec"] for r in plan.resources if r.inputs.get("kind") == "NodePool"]
    capacity = {r["key"]: r["values"] for r in pool["template"]["spec"]["requirements"]}["karpenter.sh/capacity-type"]
    assert capacity == ["spot"]


def test_data_resources_are_protected() -> None:
    plan, _ = planned("finance-prod")
    data_types = ("aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:ecr/repository:Repository", "aws:cloudwatch/logGroup:LogGroup", "aws:eks/cluster:Cluster", "aws:cloudtrail/trail:Trail")
    data = [r for r in plan.resources if r.type in data_types]
    # 4 buckets (2 teams, audit, backups); 6 keys (EKS secrets, EKS logs, training data, audit,
    # Karpenter's queue, backups); ECR; the control-plane log group; the cluster; the trail
    assert len(data) == 4 + 6 + 1 + 1 + 1 + 1
    assert all(r.protect and r.retain_on_delete for r in data)
