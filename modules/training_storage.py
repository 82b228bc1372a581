"""TrainingStorage: what a cloud burst pool's teams train from — their buckets, identities and images."""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from hybridai.recorded import DATA_CLASSIFICATION_LABEL, TEAM_LABEL, component_type
from hybridai.modules.base import MANAGED_BY, Args, Module, former_training_pool, options, placed
from hybridai.modules.bucket import SecureBucket, SecureBucketArgs
from hybridai.modules.eks_cluster import EksCluster
from hybridai.modules.iam import document, trust
from hybridai.modules.kms import protected_key
from hybridai.modules.target import Target

TRAINER_SERVICE_ACCOUNT = "trainer"


class TrainingTeamArgs(Args):
    name: str
    namespace: str
    bucket: str
    role: str
    """Name of the IAM role its training pods assume through EKS Pod Identity."""
    data_classification: str
    """Tagged on its bucket: what the bucket may hold decides which compliance rules apply to it."""


class TrainingStorageArgs(Args):
    prefix: str
    cluster: str
    """Target name of the EKS cluster."""
    region: str
    checkpoint_retention_days: int
    teams: tuple[TrainingTeamArgs, ...]


class TrainingStorage(Module):
    """A KMS key for training data; per team, a bucket for datasets and checkpoints and an IAM role,
    assumed through EKS Pod Identity by the team's `trainer` service account, that reaches that
    bucket only; an ECR repository for training images (immutable tags, scan on push, KMS)."""

    def __init__(
        self,
        target: Target,
        args: TrainingStorageArgs,
        cluster: EksCluster,
        namespaces: dict[str, pulumi.Resource],
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`namespaces`: each team's namespace on the cluster (its service account goes there)."""
        # Children keep the names they had under the TrainingPool component.
        name = f"{target.prefix}-{args.cluster}"
        super().__init__(component_type("training_storage", "TrainingStorage"), f"{name}-storage", None, placed(target, opts))
        self.children_were_under = former_training_pool(target, args.cluster)
        self._name, self._provider = name, target.provider
        physical = f"{args.prefix}-{args.cluster}"

        self.data_key = protected_key(self, f"{name}-data-key", f"{physical}-data", "training datasets, checkpoints and images", self._provider)

        self.repository = aws.ecr.Repository(
            f"{name}-ecr",
            name=f"{args.prefix}/{args.cluster}",
            image_tag_mutability="IMMUTABLE",
            image_scanning_configuration={"scan_on_push": True},
            encryption_configurations=[{"encryption_type": "KMS", "kms_key": self.data_key.arn}],
            force_delete=False,
            opts=self._opts(protect=True, retain_on_delete=True),
        )
        aws.ecr.LifecyclePolicy(
            f"{name}-ecr-lifecycle",
            repository=self.repository.name,
            policy=json.dumps(
                {"rules": [{"rulePriority": 1, "description": "expire untagged images after 14 days", "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}, "action": {"type": "expire"}}]}
            ),
            opts=self._opts(),
        )

        self.buckets = {team.name: self._team(team, args, cluster, namespaces[team.name]) for team in args.teams}
        self.register_outputs({"repositoryUrl": self.repository.repository_url, "buckets": {team: bucket.arn for team, bucket in self.buckets.items()}})

    def _opts(self, **opts) -> pulumi.ResourceOptions:
        return options(self, provider=self._provider, **opts)

    def _team(self, team: TrainingTeamArgs, args: TrainingStorageArgs, cluster: EksCluster, namespace: pulumi.Resource) -> SecureBucket:
        name = f"{self._name}-{team.name}"
        bucket = SecureBucket(
            f"{name}-data",
            SecureBucketArgs(
                bucket=team.bucket,
                kms_key_arn=self.data_key.arn,
                lifecycle_rules=(
                    {
                        "id": "expire-old-checkpoints",
                        "status": "Enabled",
                        "filter": {"prefix": "checkpoints/"},
                        "expiration": {"days": args.checkpoint_retention_days},
                        "noncurrent_version_expiration": {"noncurrent_days": args.checkpoint_retention_days},
                    },
                    {"id": "abort-incomplete-uploads", "status": "Enabled", "filter": {}, "abort_incomplete_multipart_upload": {"days_after_initiation": 7}},
                ),
                tags={TEAM_LABEL: team.name, DATA_CLASSIFICATION_LABEL: team.data_classification},
            ),
            opts=options(self, provider=self._provider),
        )
        role = aws.iam.Role(f"{name}-trainer-role", name=team.role, assume_role_policy=trust("pods.eks.amazonaws.com", tag_session=True), tags={TEAM_LABEL: team.name}, opts=self._opts())
        # Read and write the team's own bucket and nothing else; use the data key only through S3.
        aws.iam.RolePolicy(
            f"{name}-trainer-policy",
            role=role.id,
            policy=self.data_key.arn.apply(
                lambda key_arn: document(
                    {"Sid": "ListOwnBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": [bucket.arn]},
                    {"Sid": "ReadWriteOwnObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"], "Resource": [f"{bucket.arn}/*"]},
                    {"Sid": "UseDataKeyThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [key_arn], "Condition": {"StringEquals": {"kms:ViaService": f"s3.{args.region}.amazonaws.com"}}},
                )
            ),
            opts=self._opts(),
        )
        aws.eks.PodIdentityAssociation(
            f"{name}-trainer-identity",
            cluster_name=cluster.cluster.name,
            namespace=team.namespace,
            service_account=TRAINER_SERVICE_ACCOUNT,
            role_arn=role.arn,
            opts=self._opts(depends_on=[cluster.addons["eks-pod-identity-agent"]]),
        )
        k8s.core.v1.ServiceAccount(
            f"{name}-trainer-sa",
            metadata={"name": TRAINER_SERVICE_ACCOUNT, "namespace": team.namespace, "labels": MANAGED_BY},
            # Pod Identity projects its own token; the API token is mounted only where asked for.
            automount_service_account_token=False,
            opts=options(self, provider=cluster.target.provider, depends_on=[namespace]),
        )
        return bucket
