"""SecureBucket: an S3 bucket that holds data — private, encrypted, versioned, TLS-only, protected."""
from __future__ import annotations

from typing import Any, Literal

import pulumi
import pulumi_aws as aws

from hybridai.recorded import component_type
from hybridai.modules.base import Args, Module, options
from hybridai.modules.iam import deny_insecure_transport, document


class ObjectLockArgs(Args):
    mode: Literal["COMPLIANCE", "GOVERNANCE"]
    """`COMPLIANCE`: nobody, not even the account root, can shorten a lock; `GOVERNANCE`: privileged users can."""
    days: int
    """Days every object is locked against deletion and change."""


class SecureBucketArgs(Args):
    bucket: str
    """Physical name: stable, so a deploy never replaces the bucket."""
    kms_key_arn: Any
    """KMS key (ARN, or an Output of one) for server-side encryption."""
    lifecycle_rules: tuple[dict, ...] = ()
    """S3 lifecycle rules (expiry, storage class transitions); default: none, objects are kept."""
    object_lock: ObjectLockArgs | None = None
    """Write-once retention for every object; set at creation, it can't be added later. Default: None, no lock."""
    policy_statements: tuple[dict, ...] = ()
    """Statements added to the bucket policy after the TLS-only deny."""
    tags: dict[str, str] = {}
    """Tags of the bucket besides the provider's default tags (what it holds)."""

    model_config = {"arbitrary_types_allowed": True}


class SecureBucket(Module):
    """The bucket and the settings that make it safe to hold data:

    - public access blocked on all four switches, object ownership enforced (no ACLs);
    - SSE-KMS with the given key and S3 bucket keys (fewer KMS calls, same protection);
    - versioning, so an overwrite or delete keeps the previous version;
    - a policy that refuses non-TLS requests;
    - `protect` and `retainOnDelete` on the bucket: neither `pulumi destroy` nor a rename deletes it.
    """

    def __init__(self, name: str, args: SecureBucketArgs, opts: pulumi.ResourceOptions):
        super().__init__(component_type("bucket", "SecureBucket"), name, None, opts)
        provider = opts.provider
        self.arn = f"arn:aws:s3:::{args.bucket}"
        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket,
            object_lock_enabled=args.object_lock is not None,
            # Emptying a data bucket is never a side effect of a deploy.
            force_destroy=False,
            tags=args.tags,
            opts=options(self, provider=provider, protect=True, retain_on_delete=True),
        )
        in_bucket = options(self, provider=provider, depends_on=[self.bucket])
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=in_bucket,
        )
        aws.s3.BucketOwnershipControls(f"{name}-ownership", bucket=self.bucket.id, rule={"object_ownership": "BucketOwnerEnforced"}, opts=in_bucket)
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=self.bucket.id,
            rules=[{"apply_server_side_encryption_by_default": {"sse_algorithm": "aws:kms", "kms_master_key_id": args.kms_key_arn}, "bucket_key_enabled": True}],
            opts=in_bucket,
        )
        versioning = aws.s3.BucketVersioning(f"{name}-versioning", bucket=self.bucket.id, versioning_configuration={"status": "Enabled"}, opts=in_bucket)
        if args.object_lock:
            aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=self.bucket.id,
                object_lock_enabled="Enabled",
                rule={"default_retention": {"mode": args.object_lock.mode, "days": args.object_lock.days}},
                opts=options(self, provider=provider, depends_on=[versioning]),
            )
        if args.lifecycle_rules:
            aws.s3.BucketLifecycleConfiguration(
                f"{name}-lifecycle", bucket=self.bucket.id, rules=list(args.lifecycle_rules), opts=options(self, provider=provider, depends_on=[versioning])
            )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=self.bucket.id,
            policy=document(deny_insecure_transport(self.arn), *args.policy_statements),
            opts=in_bucket,
        )
        self.register_outputs({"bucket": self.bucket.bucket, "arn": self.arn})
