"""AuditTrail: an immutable record of every AWS API call — the SOX audit trail."""
from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_aws as aws

from hybridai.config.finance import Audit
from hybridai.recorded import component_type
from hybridai.modules.base import Args, Module, options, placed
from hybridai.modules.bucket import ObjectLockArgs, SecureBucket, SecureBucketArgs
from hybridai.modules.kms import key_policy, protected_key
from hybridai.modules.target import AwsScope, Target


class AuditTrailArgs(Args):
    scope: AwsScope
    """The stack's account: the trail is `<prefix>-audit`, its bucket `<prefix>-audit-<account>`."""
    retention_days: int
    """Days every log object is locked against deletion and change (SOX keeps seven years)."""
    lock_mode: Literal["COMPLIANCE", "GOVERNANCE"] = "COMPLIANCE"
    """Object Lock mode. `COMPLIANCE` (default): nobody, not even the account root, can shorten the
    lock — what an immutable trail needs; `GOVERNANCE` can be bypassed by a privileged user."""
    data_buckets: tuple[str, ...] = ()
    """Buckets whose object reads and writes are recorded too (who touched training data); default: none, management events only."""

    @classmethod
    def of(cls, scope: AwsScope, audit: Audit, data_buckets: tuple[str, ...]) -> AuditTrailArgs:
        """The account's trail as the stack's `audit` keeps it, recording every object read and write of `data_buckets` too."""
        return cls(scope=scope, retention_days=audit.retention_days, lock_mode=audit.lock_mode, data_buckets=data_buckets)


class AuditTrail(Module):
    """A multi-region CloudTrail trail with log file validation (tampering is detectable), encrypted
    with its own rotating KMS key, delivering to a bucket whose objects are locked for the retention
    period in Object Lock compliance mode: nobody, not even the account root, can delete or change a
    log before then. Key, bucket and trail are protected against `pulumi destroy`.
    """

    def __init__(self, target: Target, args: AuditTrailArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-audit"
        super().__init__(component_type("audit_trail", "AuditTrail"), name, None, placed(target, opts))
        provider = target.provider
        trail_name = f"{args.scope.prefix}-audit"
        trail_arn = f"arn:aws:cloudtrail:{args.scope.region}:{args.scope.account_id}:trail/{trail_name}"
        bucket_name = f"{args.scope.prefix}-audit-{args.scope.account_id}"
        self.key = protected_key(self, f"{name}-key", trail_name, "CloudTrail log encryption", provider, policy=_key_policy(args, trail_arn))
        self.bucket = SecureBucket(f"{name}-logs", _bucket(args, bucket_name, trail_arn, self.key.arn), opts=options(self, provider=provider))
        selectors = [{"read_write_type": "All", "include_management_events": True}]
        if args.data_buckets:
            selectors[0]["data_resources"] = [{"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{b}/" for b in args.data_buckets]}]
        self.trail = aws.cloudtrail.Trail(
            f"{name}-trail",
            name=trail_name,
            s3_bucket_name=bucket_name,
            kms_key_id=self.key.arn,
            enable_log_file_validation=True,
            is_multi_region_trail=True,
            include_global_service_events=True,
            enable_logging=True,
            event_selectors=selectors,
            # The trail is the audit record's writer: kept like the records (protected, left in place on delete).
            opts=options(self, provider=provider, protect=True, retain_on_delete=True, depends_on=[self.bucket]),
        )
        self.register_outputs({"trailArn": self.trail.arn, "bucket": bucket_name})


def _key_policy(args: AuditTrailArgs, trail_arn: str) -> str:
    """The trail key's policy: CloudTrail encrypts with it for this trail only."""
    return key_policy(
        args.scope.account_id,
        {
            "Sid": "CloudTrailEncryptsThisTrail",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}, "StringLike": {"kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{args.scope.account_id}:trail/*"}},
        },
        {"Sid": "CloudTrailDescribesKey", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "kms:DescribeKey", "Resource": "*"},
    )


def _bucket(args: AuditTrailArgs, bucket_name: str, trail_arn: str, key_arn: pulumi.Output[str]) -> SecureBucketArgs:
    """The log bucket: locked for the retention period, cheaper storage for old logs, written by this trail only."""
    bucket_arn = f"arn:aws:s3:::{bucket_name}"
    condition = {"StringEquals": {"aws:SourceArn": trail_arn}}
    return SecureBucketArgs(
        bucket=bucket_name,
        kms_key_arn=key_arn,
        object_lock=ObjectLockArgs(mode=args.lock_mode, days=args.retention_days),
        lifecycle_rules=(
            # Old logs are read rarely: cheaper storage after 90 days, still locked.
            {"id": "archive-old-logs", "status": "Enabled", "filter": {}, "transitions": [{"days": 90, "storage_class": "GLACIER_IR"}]},
        ),
        policy_statements=(
            {"Sid": "CloudTrailAclCheck", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:GetBucketAcl", "Resource": bucket_arn, "Condition": condition},
            {
                "Sid": "CloudTrailWrite",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/AWSLogs/{args.scope.account_id}/*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn, "s3:x-amz-acl": "bucket-owner-full-control"}},
            },
        ),
        tags={"hybrid-ai.io/data-classification": "audit"},
    )
