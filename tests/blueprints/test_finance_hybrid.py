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
    # cert-manager and external-secrets on both: each serves platform endpoints and reads the stack's Vault.
    charts = {"gpu-operator.yaml", "kube-prometheus-stack.yaml", "opencost.yaml", "fluent-bit.yaml", "cert-manager.yaml", "external-secrets.yaml", "velero.yaml"}
    # both serve models; finance-prod also trains fraud's feature job on the GPUs inference leaves free
    # (and, in finance-prod, runs it as a JobSet through Argo Workflows, tracked by MLflow on dc1)
    runtime = {"jobset.yaml", "argo-workflows.yaml"}
    # (KEDA scales the served models)
    workloads = {"kserve-crd.yaml", "kserve-resources.yaml", "keda.yaml"} | ({"kueue.yaml", "mlflow.yaml", *runtime} if stack == "finance-prod" else set())
    # and the on-prem cluster keeps the stack's logs (Loki) and runs NVSentinel (GPU faults: quarantine, drain)
    # and, in finance-prod, the decision sink beside it (Vector): finance-dev logs to an external one
    sink = {"vector.yaml"} if stack == "finance-prod" else set()
    # and, in finance-prod, the document-review LLM: llm-d's charts and the inference gateway's
    llms = {"kserve-llmisvc-crd.yaml", "kserve-llmisvc-resources.yaml", "kserve-runtime-configs.yaml", "gateway-crds-helm.yaml", "gateway-helm.yaml", "ai-gateway-crds-helm.yaml", "ai-gateway-helm.yaml"}
    assert {p.name for p in files if p.parts[:2] == ("helm", onprem)} == charts | workloads | {"loki.yaml", "nvsentinel.yaml"} | sink | (llms if stack == "finance-prod" else set())
    # the burst pool also queues training with Kueue and grows with Karpenter
    assert {p.name for p in files if p.parts[:2] == ("helm", "training")} == charts | {"kueue.yaml", "karpenter.yaml"} | (runtime if stack == "finance-prod" else set())


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
    audit_delivery = ("aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter", "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "aws:s3/bucketReplicationConfig:BucketReplicationConfig")
    data = [r for r in plan.resources if r.type in data_types + audit_delivery]
    # 5 buckets (2 teams, audit, backups, EKS audit staging); 7 keys (EKS secrets, EKS logs, training
    # data, audit, Karpenter's queue, backups, EKS audit delivery); ECR; 2 log groups (the control
    # plane's, Firehose's errors); the cluster; the trail; the EKS audit's subscription, stream and replication
    assert len(data) == 5 + 7 + 1 + 2 + 1 + 1 + 3
    assert all(r.protect and r.retain_on_delete for r in data)


def test_an_aws_store_read_on_prem_uses_an_access_key_made_of_pulumi_secrets() -> None:
    # GIVEN finance-prod with Grafana's login in AWS Secrets Manager, read on-prem with an access key
    # given as Pulumi secrets (the stand-ins the offline plan holds for `secure:` values)
    from hybridai.blueprints.finance_hybrid import build
    from hybridai.plan import Plan
    from hybridai.plan.artifacts import SECRET, records
    from hybridai.program import prepare
    from tests.helpers import run_module, stack_values

    values = stack_values("finance-prod")
    values["secrets"]["stores"].append({"name": "aws", "awsSecretsManager": {"region": "eu-central-1", "credentials": "aws-store"}})
    next(s for s in values["secrets"]["sources"] if s["name"] == "grafana-admin").update(store="aws", remoteKey="fin-prod/grafana-admin")
    values["secrets"]["sources"].append({"name": "aws-store", "values": [{"key": "access-key-id", "value": "[secret]"}, {"key": "secret-access-key", "value": "[secret]"}]})
    spec, capacity = prepare("finance-prod", values)
    # WHEN the stack is built
    recorded = records(Plan("finance-prod", "finance-hybrid", run_module(lambda: build(spec, capacity))))
    # THEN on-prem, the access key is a Secret of external-secrets' namespace whose values are secrets
    [key] = [r for r in recorded if r["inputs"].get("kind") == "Secret"]
    assert (key["target"], key["inputs"]["metadata"]["namespace"], key["inputs"]["metadata"]["name"]) == ("dc1", "external-secrets", "aws-store")
    assert key["inputs"]["stringData"] == SECRET
    # AND the on-prem store reads with it, the EKS store through Pod Identity
    stores = {r["target"]: r["inputs"]["spec"]["provider"]["aws"] for r in recorded if r["inputs"].get("kind") == "ClusterSecretStore" and r["inputs"]["metadata"]["name"] == "aws"}
    assert stores["dc1"]["auth"]["secretRef"]["accessKeyIDSecretRef"] == {"name": "aws-store", "key": "access-key-id", "namespace": "external-secrets"}
    assert "auth" not in stores["training"]
    # AND Grafana's login is an ExternalSecret of that store on both clusters
    grafana = {r["target"]: r["inputs"]["spec"]["secretStoreRef"]["name"] for r in recorded if r["inputs"].get("kind") == "ExternalSecret" and r["inputs"]["metadata"]["name"] == "grafana-admin"}
    assert grafana == {"dc1": "aws", "training": "aws"}
