"""BackupBucket: where the EKS burst pool's Velero keeps its backups — a bucket in the cloud
account, its KMS key, and the role Velero assumes through EKS Pod Identity."""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from hybridai.config.backup import BackupSettings
from hybridai.modules.backup import SERVER_SERVICE_ACCOUNT, BackupStoreArgs
from hybridai.modules.base import Args, Module, options, placed
from hybridai.modules.bucket import SecureBucket, SecureBucketArgs
from hybridai.modules.eks_cluster import EksCluster
from hybridai.modules.iam import document, trust
from hybridai.modules.kms import key_policy, protected_key
from hybridai.modules.target import AwsScope, Target
from hybridai.recorded import component_type


def backup_bucket_name(prefix: str, cluster: str, account_id: str) -> str:
    """The EKS cluster's backup bucket: globally unique through the account id, stable across deploys."""
    return f"{prefix}-{cluster}-backup-{account_id}"


def backup_key_alias(prefix: str, cluster: str) -> str:
    """Alias of the backup bucket's KMS key (Velero's location names it as `kmsKeyId`)."""
    return f"{prefix}-{cluster}-backup"


class BackupBucketArgs(Args):
    scope: AwsScope
    """The stack's account and EKS cluster: the bucket is `<prefix>-<cluster>-backup-<account>`,
    tagged like the stack's other resources."""
    region: str
    """Region of the bucket and its key: the pool's, or another of the jurisdiction so backups
    survive the loss of the pool's region."""
    namespace: str
    """Velero's namespace: with `service_account`, the Pod Identity association's subject."""
    service_account: str = SERVER_SERVICE_ACCOUNT
    """Velero's server service account, the one the Velero module's chart runs under."""
    retention_days: int
    """Backups' TTL: versions Velero deletes are kept as noncurrent versions this long again."""

    @classmethod
    def of(cls, scope: AwsScope, backups: BackupSettings, retention_days: int) -> BackupBucketArgs:
        """The EKS cluster's backup bucket where `backups.cloud` puts it; `retention_days`: the stack's backup policy's."""
        return cls(scope=scope, region=backups.cloud_region(scope.region), namespace=backups.namespace, retention_days=retention_days)

    def location(self) -> BackupStoreArgs:
        """Velero's location in this bucket: the cluster's folder, SSE-KMS with the bucket's key."""
        scope = self.scope
        return BackupStoreArgs(
            bucket=backup_bucket_name(scope.prefix, scope.cluster, scope.account_id),
            prefix=scope.cluster,
            region=self.region,
            kms_key=f"alias/{backup_key_alias(scope.prefix, scope.cluster)}",
        )


class BackupBucket(Module):
    """A SecureBucket (private, SSE-KMS, versioned, TLS-only, protected and retained) with its own
    KMS key; a role only Velero's service account assumes (Pod Identity), allowed the bucket's
    objects and the key through S3, nothing else. Velero snapshots no EBS volume itself (volumes go
    by file system or through the CSI driver), so the role has no EC2 permission."""

    def __init__(self, target: Target, args: BackupBucketArgs, cluster: EksCluster, opts: pulumi.ResourceOptions | None = None):
        scope = args.scope
        name = f"{target.prefix}-{scope.cluster}-backup"
        super().__init__(component_type("backup_bucket", "BackupBucket"), name, None, placed(target, opts))
        provider = target.provider
        if args.region != scope.region:
            # Another region of the jurisdiction than the pool's (the backups survive the loss of
            # the pool's region): a provider of its own, as strict and tagged as the stack's.
            provider = aws.Provider(f"{name}-region", region=args.region, allowed_account_ids=[scope.account_id], default_tags={"tags": scope.tags}, opts=options(self))
        bucket = backup_bucket_name(scope.prefix, scope.cluster, scope.account_id)
        alias = backup_key_alias(scope.prefix, scope.cluster)
        # The account administers the key; Velero's role uses it only through S3 in its region.
        self.key = protected_key(self, f"{name}-key", alias, "Velero backups of the EKS cluster", provider, policy=key_policy(scope.account_id))
        self.bucket = SecureBucket(
            f"{name}-data",
            SecureBucketArgs(
                bucket=bucket,
                kms_key_arn=self.key.arn,
                lifecycle_rules=(
                    # Velero deletes expired backups; their versions stay recoverable a retention longer.
                    {"id": "expire-deleted-backups", "status": "Enabled", "filter": {}, "noncurrent_version_expiration": {"noncurrent_days": args.retention_days}},
                    {"id": "abort-incomplete-uploads", "status": "Enabled", "filter": {}, "abort_incomplete_multipart_upload": {"days_after_initiation": 7}},
                ),
                tags={"hybrid-ai.io/purpose": "backup"},
            ),
            opts=options(self, provider=provider),
        )
        self.role = aws.iam.Role(f"{name}-role", name=f"{scope.cluster_name}-velero", assume_role_policy=trust("pods.eks.amazonaws.com", tag_session=True), opts=options(self, provider=target.provider))
        arn = self.bucket.arn
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=self.key.arn.apply(
                lambda key_arn: document(
                    {"Sid": "ListBackupBucket", "Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation"], "Resource": [arn]},
                    {"Sid": "ReadWriteBackups", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"], "Resource": [f"{arn}/*"]},
                    {"Sid": "UseBackupKeyThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [key_arn], "Condition": {"StringEquals": {"kms:ViaService": f"s3.{args.region}.amazonaws.com"}}},
                )
            ),
            opts=options(self, provider=target.provider),
        )
        self.identity = aws.eks.PodIdentityAssociation(
            f"{name}-identity",
            cluster_name=cluster.cluster.name,
            namespace=args.namespace,
            service_account=args.service_account,
            role_arn=self.role.arn,
            opts=options(self, provider=target.provider, depends_on=[cluster.addons["eks-pod-identity-agent"]]),
        )
        self.register_outputs({"bucket": bucket, "role": self.role.arn})
