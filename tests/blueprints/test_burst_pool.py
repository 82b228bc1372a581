"""The cloud burst pool (network, EKS, GPU node groups, training storage, budget and the platform on
the cluster): each security-relevant field of the AWS resources it registers. Karpenter and the GPU
node pools have their own tests (tests/modules/test_karpenter.py, test_gpu_node_pools.py); here,
how the blueprint wires them."""
from __future__ import annotations

import json
from typing import Any

import pytest

from hybridai.blueprints.burst import aws_account, burst_pool
from hybridai.plan.mocks import stable_id
from hybridai.program import prepare
from tests.helpers import of_type, release, run_module, stack_values


def prod_values() -> dict[str, Any]:
    return stack_values("finance-prod")


def pool(values: dict[str, Any]):
    spec, capacity = prepare("finance-prod", values)

    def program():
        burst_pool(spec, capacity.cloud, aws_account(spec))

    return run_module(program)


@pytest.fixture(scope="module")
def resources():
    return pool(prod_values())


def one(resources, type_: str):
    [resource] = of_type(resources, type_)
    return resource.inputs


def test_endpoint_is_private_by_default(resources) -> None:
    vpc = one(resources, "aws:eks/cluster:Cluster")["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True
    assert vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc


def test_public_endpoint_only_for_listed_networks() -> None:
    values = prod_values()
    values["cloud"]["cluster"]["publicAccessCidrs"] = ["203.0.113.0/24"]
    vpc = one(pool(values), "aws:eks/cluster:Cluster")["vpcConfig"]
    assert vpc["endpointPublicAccess"] is True
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"]


def test_secrets_encrypted_with_a_rotating_protected_key_and_logs_on(resources) -> None:
    cluster = one(resources, "aws:eks/cluster:Cluster")
    assert cluster["encryptionConfig"]["resources"] == ["secrets"]
    keys = {r.name: r for r in of_type(resources, "aws:kms/key:Key")}
    # The cluster encrypts with the EKS key (the plan's mock ARN ends with that key's id).
    assert cluster["encryptionConfig"]["provider"]["keyArn"] == f"arn:aws:kms:eu-central-1:210987654321:key/{stable_id('aws:kms/key:Key', 'fin-prod-aws-training-eks-key')}"
    assert all(k.inputs["enableKeyRotation"] is True and k.protect and k.retain_on_delete for k in keys.values())
    assert cluster["enabledClusterLogTypes"] == ["api", "audit", "authenticator"]
    assert cluster["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": False}
    # the control-plane logs, the EKS audit log among them, kept as long as SOX keeps audit records
    assert one(resources, "aws:cloudwatch/logGroup:LogGroup")["retentionInDays"] == 2557


def test_admins_get_access_entries(resources) -> None:
    associations = [r.inputs for r in of_type(resources, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")]
    assert {a["principalArn"] for a in associations} == {"arn:aws:iam::210987654321:role/platform-admin", "arn:aws:iam::210987654321:role/ci-deployer"}
    assert all(a["accessScope"] == {"type": "cluster"} for a in associations)


def test_gpu_capacity_is_a_karpenter_node_pool_limited_by_the_planned_overflow(resources) -> None:
    # GIVEN finance-prod, whose training catalog sends 48 GPUs to the cloud at once
    groups = {r.inputs["nodeGroupName"] for r in of_type(resources, "aws:eks/nodeGroup:NodeGroup")}
    # THEN the only managed node group is the on-demand system group Karpenter runs on
    assert groups == {"fin-prod-training-system"}
    # AND GPU capacity is the stack's one a100 NodePool, holding at most those 48 GPUs
    # (each field of the NodePool and its EC2NodeClass: tests/modules/test_gpu_node_pools.py)
    [pool] = [r.inputs for r in resources if r.inputs.get("kind") == "NodePool"]
    assert (pool["metadata"]["name"], pool["spec"]["limits"]) == ("a100", {"nvidia.com/gpu": "48"})


def test_gpu_nodes_launch_in_the_private_subnets_and_cluster_security_group_with_karpenters_node_role(resources) -> None:
    [node_class] = [r.inputs["spec"] for r in resources if r.inputs.get("kind") == "EC2NodeClass"]
    private = [r for r in of_type(resources, "aws:ec2/subnet:Subnet") if "private" in r.name]
    assert len(node_class["subnetSelectorTerms"]) == len(private) == 3
    assert node_class["securityGroupSelectorTerms"][0]["id"].startswith("sg-")
    assert node_class["role"] == "fin-prod-training-karpenter-node"
    # AND the stack's pinned AMI and tags
    assert node_class["amiSelectorTerms"] == [{"alias": "al2023@v20251110"}]
    assert node_class["tags"]["hybrid-ai.io/stack"] == "fin-prod"


def test_system_nodes_launch_template_requires_imdsv2_with_one_hop_and_encrypted_disks(resources) -> None:
    [template] = of_type(resources, "aws:ec2/launchTemplate:LaunchTemplate")
    assert template.inputs["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
    assert template.inputs["blockDeviceMappings"][0]["ebs"]["encrypted"] is True
    assert "networkInterfaces" not in template.inputs


def test_kueue_flavors_select_the_node_pools(resources) -> None:
    [flavor] = [r.inputs for r in resources if r.inputs.get("kind") == "ResourceFlavor"]
    assert flavor["metadata"]["name"] == "a100" and flavor["spec"]["nodeLabels"] == {"karpenter.sh/nodepool": "a100"}


def test_private_subnets_across_zones_no_public_ips_nat_per_zone_in_prod(resources) -> None:
    subnets = [r.inputs for r in of_type(resources, "aws:ec2/subnet:Subnet")]
    assert len(subnets) == 6
    assert all(s["mapPublicIpOnLaunch"] is False for s in subnets)
    private = [s for s in subnets if "kubernetes.io/role/internal-elb" in s["tags"]]
    assert len({s["availabilityZone"] for s in private}) == 3
    assert len(of_type(resources, "aws:ec2/natGateway:NatGateway")) == 3
    cluster_subnets = one(resources, "aws:eks/cluster:Cluster")["vpcConfig"]["subnetIds"]
    assert len(cluster_subnets) == 3


def test_existing_vpc_creates_no_network() -> None:
    values = prod_values()
    values["cloud"]["network"] = {"existingVpcId": "vpc-0123456789abcdef0", "existingPrivateSubnetIds": ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]}
    resources = pool(values)
    assert not [r for r in resources if r.type.startswith("aws:ec2/") and "launchTemplate" not in r.type]
    assert one(resources, "aws:eks/cluster:Cluster")["vpcConfig"]["subnetIds"] == ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]


def test_team_buckets_private_encrypted_versioned_expiring_and_protected(resources) -> None:
    buckets = {r.inputs["bucket"]: r for r in of_type(resources, "aws:s3/bucket:Bucket")}
    # (and the EKS cluster's backup bucket, made the same way: tests/modules/test_backup_bucket.py)
    assert set(buckets) == {"fin-prod-fraud-train-210987654321", "fin-prod-credit-train-210987654321", "fin-prod-training-backup-210987654321"}
    assert all(b.protect and b.retain_on_delete and b.inputs["forceDestroy"] is False for b in buckets.values())
    for block in of_type(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"):
        assert all(block.inputs[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    for sse in of_type(resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"):
        assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert all(v.inputs["versioningConfiguration"] == {"status": "Enabled"} for v in of_type(resources, "aws:s3/bucketVersioning:BucketVersioning"))
    for lifecycle in (r for r in of_type(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration") if "-backup-" not in r.name):
        checkpoints = lifecycle.inputs["rules"][0]
        assert checkpoints["filter"] == {"prefix": "checkpoints/"} and checkpoints["expiration"] == {"days": 30}
    for policy in of_type(resources, "aws:s3/bucketPolicy:BucketPolicy"):
        [deny] = json.loads(policy.inputs["policy"])["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_trainer_roles_reach_only_their_own_bucket_without_wildcards(resources) -> None:
    policies = {r.name: json.loads(r.inputs["policy"]) for r in of_type(resources, "aws:iam/rolePolicy:RolePolicy")}
    fraud = policies["fin-prod-aws-training-fraud-trainer-policy"]
    resources_named = [res for s in fraud["Statement"] for res in s["Resource"]]
    assert "arn:aws:s3:::fin-prod-fraud-train-210987654321/*" in resources_named
    assert not any("credit" in res for res in resources_named)
    for name, document in policies.items():
        if "trainer" not in name:
            continue  # Karpenter's policy: tests/modules/test_karpenter.py
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow"
            assert all("*" not in action for action in statement["Action"])
            assert all(res != "*" and not res.endswith(":*") for res in statement["Resource"])
    trust = {r.inputs["name"]: json.loads(r.inputs["assumeRolePolicy"]) for r in of_type(resources, "aws:iam/role:Role")}
    assert trust["fin-prod-fraud-trainer"]["Statement"][0]["Principal"] == {"Service": "pods.eks.amazonaws.com"}
    identities = {r.inputs["namespace"]: r.inputs for r in of_type(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation")}
    assert identities["fraud"]["serviceAccount"] == "trainer"


def test_ecr_immutable_scanned_encrypted_protected(resources) -> None:
    [repo] = of_type(resources, "aws:ecr/repository:Repository")
    assert repo.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repo.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repo.inputs["encryptionConfigurations"][0]["encryptionType"] == "KMS"
    assert repo.protect and repo.retain_on_delete


def test_budget_alerts_on_actual_and_forecast_at_each_threshold(resources) -> None:
    budget = one(resources, "aws:budgets/budget:Budget")
    assert (budget["limitAmount"], budget["timeUnit"]) == ("120000.00", "MONTHLY")
    alerts = {(n["threshold"], n["notificationType"]) for n in budget["notifications"]}
    assert alerts == {(t, kind) for t in (50, 80, 100) for kind in ("ACTUAL", "FORECASTED")}
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": ["user:hybrid-ai.io/stack$fin-prod"]}]


def test_eks_objects_go_to_the_cluster_target_and_the_operator_skips_driver_and_toolkit(resources) -> None:
    eks_objects = [r for r in resources if r.type.startswith("kubernetes:")]
    assert eks_objects and {(r.placement, r.target) for r in eks_objects} == {("cloud", "training")}
    operator = release(resources, "gpu-operator")
    assert operator.inputs["values"]["driver"] == {"enabled": False} and operator.inputs["values"]["toolkit"] == {"enabled": False}
    accounts = {r.inputs["metadata"]["namespace"]: r.inputs for r in of_type(resources, "kubernetes:core/v1:ServiceAccount")}
    # (the teams' accounts mount no token; the burn-in controller's needs its own to patch taints)
    assert set(accounts) == {"fraud", "credit", "gpu-burn-in"} and accounts["fraud"]["automountServiceAccountToken"] is False


def test_secrets_manager_on_eks_reads_through_pod_identity_scoped_to_the_stacks_secrets() -> None:
    # GIVEN finance-prod with Grafana's login in AWS Secrets Manager (on-prem reading it with an
    # access key given as Pulumi secrets)
    values = prod_values()
    values["secrets"]["stores"].append({"name": "aws", "awsSecretsManager": {"region": "eu-central-1", "credentials": "aws-store"}})
    next(s for s in values["secrets"]["sources"] if s["name"] == "grafana-admin").update(store="aws", remoteKey="fin-prod/grafana-admin")
    values["secrets"]["sources"].append({"name": "aws-store", "values": [{"key": "access-key-id", "value": "[secret]"}, {"key": "secret-access-key", "value": "[secret]"}]})
    # WHEN the burst pool is built
    resources = pool(values)
    # THEN external-secrets' service account gets a Pod Identity role that may only read `fin-prod/*`
    [identity] = [r.inputs for r in of_type(resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation") if r.inputs["namespace"] == "external-secrets"]
    assert identity["serviceAccount"] == "external-secrets"
    [policy] = [json.loads(r.inputs["policy"]) for r in of_type(resources, "aws:iam/rolePolicy:RolePolicy") if "secrets-identity" in r.name]
    assert policy["Statement"] == [
        {"Sid": "ReadStackSecrets", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], "Resource": "arn:aws:secretsmanager:eu-central-1:210987654321:secret:fin-prod/*"}
    ]
    # AND on EKS its ClusterSecretStore has no access key (the Pod Identity credentials are used)
    [store] = [r.inputs for r in resources if r.inputs.get("kind") == "ClusterSecretStore" and r.inputs["metadata"]["name"] == "aws"]
    assert store["spec"] == {"provider": {"aws": {"service": "SecretsManager", "region": "eu-central-1"}}}
    # AND no Secret of plain values is created on EKS: the access key is only for on-prem
    assert [r for r in resources if r.inputs.get("kind") == "Secret"] == []
