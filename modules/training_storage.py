"""TrainingStorage: what a cloud burst pool's teams train from — their buckets, identities and images."""
from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from hybridai.config.cloud import CloudPool, CloudTeam, bucket_name, trainer_role_name
from hybridai.recorded import DATA_CLASSIFICATION_LABEL, TEAM_LABEL, component_type
from hybridai.modules.base import MANAGED_BY, Args, Module, former_training_pool, options, placed
from hybridai.modules.bucket import SecureBucket, SecureBucketArgs
from hybridai.modules.eks_cluster import EksCluster
from hybridai.modules.iam import document, trust
from hybridai.modules.kms import protected_key
from hybridai.modules.target import AwsScope, Target

TRAINER_SERVICE_ACCOUNT = "trainer"


class TrainingTeamArgs(Args):
    name: str
    """Team name: tagged on its role and bucket (cost showback, ownership)."""
    namespace: str
    """The team's namespace on the EKS cluster, where its `trainer` service account is."""
    bucket: str
    """Physical name of its training bucket (datasets and checkpoints): stable, so a deploy never replaces it."""
    role: str
    """Name of the IAM role its training pods assume through EKS Pod Identity."""
    data_classification: str
    """Tagged on its bucket: what the bucket may hold decides which compliance rules apply to it."""

    @classmethod
    def of(cls, team: CloudTeam, scope: AwsScope) -> TrainingTeamArgs:
        """A cloud team with its bucket and trainer role, named from the stack prefix (and, for the
        globally unique bucket, the account)."""
        return cls(
            name=team.name,
            namespace=team.namespace,
            bucket=bucket_name(scope.prefix, team.name, scope.account_id),
            role=trainer_role_name(scope.prefix, team.name),
            data_classification=team.data_classification,
        )


class TrainingStorageArgs(Args):
    scope: AwsScope
    """The stack's account and EKS cluster: the key is `<prefix>-<cluster>-data`, the repository `<prefix>/<cluster>`."""
    checkpoint_retention_days: int
    """Days after which objects under `checkpoints/`, and their old versions, expire: checkpoints
    are for resuming a run, not an archive."""
    teams: tuple[TrainingTeamArgs, ...]
    """The pool's teams, each with its bucket and role."""

    @classmethod
    def of(cls, scope: AwsScope, cloud: CloudPool) -> TrainingStorageArgs:
        """Storage for every team of the pool."""
        return cls(scope=scope, checkpoint_retention_days=cloud.checkpoint_retention_days, teams=tuple(TrainingTeamArgs.of(t, scope) for t in cloud.teams))


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
        scope = args.scope
        name = f"{target.prefix}-{scope.cluster}"
        super().__init__(component_type("training_storage", "TrainingStorage"), f"{name}-storage", None, placed(target, opts))
        self.children_were_under = former_training_pool(target, scope.cluster)
        self._name, self._provider = name, target.provider
        physical = scope.cluster_name

        self.data_key = protected_key(self, f"{name}-data-key", f"{physical}-data", "training datasets, checkpoints and images", self._provider)

        self.repository = aws.ecr.Repository(
            f"{name}-ecr",
            name=f"{scope.prefix}/{scope.cluster}",
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
                    {"Sid": "UseDataKeyThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [key_arn], "Condition": {"StringEquals": {"kms:ViaService": f"s3.{args.scope.region}.amazonaws.com"}}},
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
