"""EksAuditArchive: the EKS control plane's API audit events, written once into the stack's
object-locked cloud archive, with alarms when they stop arriving.

The route (docs/audit.md): a CloudWatch Logs subscription filter on the control plane's log group →
Kinesis Data Firehose (decompressing CloudWatch Logs' gzip envelopes and extracting the events) → a
staging bucket → S3 Replication into the CloudTrail bucket (modules/audit_trail.py), whose default
retention (COMPLIANCE, the stack's `audit.retentionDays`) the replicas get. Firehose isn't written
straight into the locked bucket: whether its PUTs carry the checksum a bucket with Object Lock
requires is not documented, while replication into such a bucket applying its default retention is.
"""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from hybridai.config.operations import AlertingSettings
from hybridai.modules.audit_trail import AuditTrail
from hybridai.modules.base import Args, Module, options, placed
from hybridai.modules.bucket import SecureBucket, SecureBucketArgs
from hybridai.modules.eks_cluster import EksCluster, control_plane_log_group
from hybridai.modules.iam import document, trust
from hybridai.modules.kms import key_policy, logs_encrypt, protected_key
from hybridai.modules.target import AwsScope, Target
from hybridai.recorded import EKS_AUDIT_FILTER, component_type

BUFFER_SECONDS = 300
"""Firehose writes an object at least every five minutes (or every 64 MB): small enough that the
archive trails the cluster by minutes, large enough for few objects."""
STALE_SECONDS = 900
"""The freshness alarm's limit: three buffer intervals. A record older than that in Firehose means
the staging bucket refuses its writes (Firehose retries them for 24 hours, then drops them)."""
ALARM_PERIODS = 3
"""Consecutive five-minute periods over the limit (or without data) before the alarm fires: a
stopped or refused delivery alarms within half an hour, well inside the hour the issue allows."""
ERROR_LOG_DAYS = 90
"""Days Firehose's delivery error log is kept: the reasons behind an alarm, not audit records."""
ERROR_LOG_STREAM = "DestinationDelivery"
REPLICATION_RULE = "eks-audit-to-archive"
"""The replication rule's id: the `RuleId` dimension of its metrics."""


def archive_prefix(cluster: str) -> str:
    """Where a cluster's EKS audit lands, in the staging bucket and (replicated) in the archive:
    `audit/<cluster>/`, the layout of the on-prem archive's API audit stream."""
    return f"audit/{cluster}/"


class EksAuditArgs(Args):
    scope: AwsScope
    """The stack's account and EKS cluster: every name is `<prefix>-<cluster>-audit…`, the staging
    bucket `<prefix>-<cluster>-audit-staging-<account>`, all in the pool's region (residency: the
    archive is the stack's own, in the same region)."""
    staging_days: int = 14
    """Days an object stays in the staging bucket after Firehose wrote it. Default: two weeks, time
    to fix what a replication-failure alarm reports and replicate the failed objects again (S3 Batch
    Replication) before they expire; the archive's copy is the one kept."""
    notify: tuple[str, ...] = ()
    """E-mail addresses subscribed to the alarms' topic: the critical receiver's, when it is an
    e-mail receiver. Default: none (PagerDuty, Slack and webhook receivers are subscribed by the
    operator: docs/audit.md)."""

    @classmethod
    def of(cls, scope: AwsScope, alerting: AlertingSettings) -> EksAuditArgs:
        """The cluster's audit delivery, alarming to the stack's critical receiver (`monitoring.alerting.critical`)."""
        receiver = next((r for r in alerting.receivers if r.name == alerting.critical), None)
        return cls(scope=scope, notify=tuple(receiver.email.to) if receiver and receiver.email else ())


class EksAuditArchive(Module):
    """The EKS audit into the write-once cloud archive, each part allowed only its step:

    - the subscription filter sends the log group's API audit events (`EKS_AUDIT_FILTER`) to Firehose,
      through a role only CloudWatch Logs of this account and region assumes, allowed to put
      records into this stream only;
    - Firehose (encrypted at rest with the delivery key) decompresses and extracts the events and
      writes gzipped JSON lines under `audit/<cluster>/<yyyy>/<mm>/<dd>/` of the staging bucket
      (failed records under `audit/<cluster>/failed/`, replicated too), through a role allowed that
      prefix only;
    - the staging bucket (SecureBucket, the delivery key) keeps objects `staging_days` and replicates
      `audit/<cluster>/` into the archive, encrypted there with the archive's key, through a role
      allowed to replicate into that prefix only, never to delete;
    - two alarms to an encrypted SNS topic: Firehose's `DeliveryToS3.DataFreshness` over
      `STALE_SECONDS` or missing (the stream stopped), and any `OperationsFailedReplication`; S3
      also posts each failed object (`s3:Replication:OperationFailedReplication`) to the topic.

    Everything that holds or writes audit records — key, buckets, stream, filter, replication — is
    protected and left in place on delete."""

    def __init__(self, target: Target, args: EksAuditArgs, cluster: EksCluster, archive: AuditTrail, opts: pulumi.ResourceOptions | None = None):
        scope = args.scope
        name = f"{target.prefix}-{scope.cluster}-audit"
        super().__init__(component_type("eks_audit", "EksAuditArchive"), name, None, placed(target, opts))
        self._name, self._provider = name, target.provider
        physical = self._physical = f"{scope.cluster_name}-audit"
        region, account = scope.region, scope.account_id
        prefix = archive_prefix(scope.cluster)
        stream_name = self.stream_name = physical
        stream_arn = f"arn:aws:firehose:{region}:{account}:deliverystream/{stream_name}"
        error_log = self._error_log = f"/aws/kinesisfirehose/{stream_name}"
        error_log_arn = f"arn:aws:logs:{region}:{account}:log-group:{error_log}"
        topic_name = f"{physical}-alarms"
        topic_arn = self.topic_arn = f"arn:aws:sns:{region}:{account}:{topic_name}"
        """The alarms' topic, where the operator subscribes a receiver SNS can't be given here (docs/audit.md)."""
        alarm_arns = f"arn:aws:cloudwatch:{region}:{account}:alarm:{physical}-*"
        staging_name = f"{physical}-staging-{account}"
        staging_arn = f"arn:aws:s3:::{staging_name}"
        via_s3 = {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}}

        self.key = protected_key(
            self,
            f"{name}-key",
            f"{physical}-delivery",
            "EKS audit delivery: Firehose, its error log, the staging bucket and the alarms' topic",
            self._provider,
            policy=key_policy(
                account,
                logs_encrypt(region, error_log_arn),
                {
                    "Sid": "AlarmsAndReplicationEventsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": ["cloudwatch.amazonaws.com", "s3.amazonaws.com"]},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"ArnLike": {"aws:SourceArn": [alarm_arns, staging_arn]}},
                },
            ),
        )
        self.staging = SecureBucket(
            f"{name}-staging",
            SecureBucketArgs(
                bucket=staging_name,
                kms_key_arn=self.key.arn,
                lifecycle_rules=(
                    {"id": "expire-staged-audit", "status": "Enabled", "filter": {}, "expiration": {"days": args.staging_days}, "noncurrent_version_expiration": {"noncurrent_days": 1}},
                    {"id": "abort-incomplete-uploads", "status": "Enabled", "filter": {}, "abort_incomplete_multipart_upload": {"days_after_initiation": 1}},
                ),
                tags={"hybrid-ai.io/data-classification": "audit"},
            ),
            opts=self._opts(),
        )
        self.stream = self._firehose(scope, stream_name, prefix, error_log)
        self.subscription = self._subscription(scope, cluster, stream_arn)
        self.replication = self._replication(scope, archive, prefix, via_s3)
        self.topic = self._alarms(args, archive, topic_name, topic_arn, alarm_arns)
        self.register_outputs({"stream": self.stream.arn, "staging": staging_name, "topic": self.topic.arn})

    def _opts(self, **opts) -> pulumi.ResourceOptions:
        return options(self, provider=self._provider, **opts)

    def _kept(self, **opts) -> pulumi.ResourceOptions:
        """Options of what holds or writes audit records: protected, left in place on delete."""
        return self._opts(protect=True, retain_on_delete=True, **opts)

    def _firehose(self, scope: AwsScope, stream_name: str, prefix: str, error_log: str) -> aws.kinesis.FirehoseDeliveryStream:
        """The delivery stream into the staging bucket, its role and its error log."""
        name, arn = self._name, self.staging.arn
        log_group = aws.cloudwatch.LogGroup(f"{name}-firehose-errors", name=error_log, retention_in_days=ERROR_LOG_DAYS, kms_key_id=self.key.arn, opts=self._kept())
        log_stream = aws.cloudwatch.LogStream(f"{name}-firehose-errors-stream", name=ERROR_LOG_STREAM, log_group_name=log_group.name, opts=self._opts())
        role = aws.iam.Role(f"{name}-firehose-role", name=f"{stream_name}-firehose", assume_role_policy=trust("firehose.amazonaws.com"), opts=self._opts())
        policy = aws.iam.RolePolicy(
            f"{name}-firehose-policy",
            role=role.id,
            policy=self.key.arn.apply(
                lambda key_arn: document(
                    {"Sid": "StagingBucket", "Effect": "Allow", "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"], "Resource": [arn]},
                    {"Sid": "WriteAuditPrefix", "Effect": "Allow", "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"], "Resource": [f"{arn}/{prefix}*"]},
                    {"Sid": "UseDeliveryKeyThroughS3", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": [key_arn], "Condition": {"StringEquals": {"kms:ViaService": f"s3.{scope.region}.amazonaws.com"}}},
                    {"Sid": "ErrorLog", "Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": [f"arn:aws:logs:{scope.region}:{scope.account_id}:log-group:{error_log}:log-stream:{ERROR_LOG_STREAM}"]},
                )
            ),
            opts=self._opts(),
        )
        dated = "!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/"
        return aws.kinesis.FirehoseDeliveryStream(
            f"{name}-firehose",
            name=stream_name,
            destination="extended_s3",
            # Records wait in Firehose up to 24 hours while the bucket refuses them: encrypted with our key.
            server_side_encryption={"enabled": True, "key_type": "CUSTOMER_MANAGED_CMK", "key_arn": self.key.arn},
            extended_s3_configuration={
                "role_arn": role.arn,
                "bucket_arn": arn,
                "prefix": f"{prefix}{dated}",
                # Records Firehose couldn't process land beside the rest and are replicated too: nothing is dropped unseen.
                "error_output_prefix": f"{prefix}failed/!{{firehose:error-output-type}}/{dated}",
                "buffering_interval": BUFFER_SECONDS,
                "buffering_size": 64,
                # CloudWatch Logs sends gzip envelopes: Firehose unzips and extracts the events, then
                # gzips the JSON lines once.
                "compression_format": "GZIP",
                "file_extension": ".json.gz",
                "kms_key_arn": self.key.arn,
                "processing_configuration": {
                    "enabled": True,
                    "processors": [
                        {"type": "Decompression", "parameters": [{"parameter_name": "CompressionFormat", "parameter_value": "GZIP"}]},
                        {"type": "CloudWatchLogProcessing", "parameters": [{"parameter_name": "DataMessageExtraction", "parameter_value": "true"}]},
                    ],
                },
                "cloudwatch_logging_options": {"enabled": True, "log_group_name": log_group.name, "log_stream_name": log_stream.name},
            },
            opts=self._kept(depends_on=[policy, self.staging]),
        )

    def _subscription(self, scope: AwsScope, cluster: EksCluster, stream_arn: str) -> aws.cloudwatch.LogSubscriptionFilter:
        """The filter sending the control plane's audit events to the stream, and its role."""
        name = self._name
        logs_of_account = f"arn:aws:logs:{scope.region}:{scope.account_id}:*"
        role = aws.iam.Role(f"{name}-subscription-role", name=f"{scope.cluster_name}-audit-subscription", assume_role_policy=trust("logs.amazonaws.com", source_arn=logs_of_account), opts=self._opts())
        policy = aws.iam.RolePolicy(
            f"{name}-subscription-policy",
            role=role.id,
            policy=document({"Sid": "PutIntoAuditStream", "Effect": "Allow", "Action": ["firehose:PutRecord", "firehose:PutRecordBatch"], "Resource": [stream_arn]}),
            opts=self._opts(),
        )
        return aws.cloudwatch.LogSubscriptionFilter(
            f"{name}-subscription",
            name=f"{scope.cluster_name}-audit-archive",
            log_group=control_plane_log_group(scope.cluster_name),
            filter_pattern=EKS_AUDIT_FILTER,
            # The stream's ARN as AWS forms it (it waits for the stream below), like the role's policy.
            destination_arn=stream_arn,
            role_arn=role.arn,
            opts=self._kept(depends_on=[policy, self.stream, cluster.audit_log]),
        )

    def _replication(self, scope: AwsScope, archive: AuditTrail, prefix: str, via_s3: dict) -> aws.s3.BucketReplicationConfig:
        """Replication of the staged audit into the archive's prefix, its metrics on, and its role."""
        name, source, destination = self._name, self.staging.arn, archive.bucket.arn
        role = aws.iam.Role(f"{name}-replication-role", name=f"{scope.cluster_name}-audit-replication", assume_role_policy=trust("s3.amazonaws.com"), opts=self._opts())
        policy = aws.iam.RolePolicy(
            f"{name}-replication-policy",
            role=role.id,
            policy=pulumi.Output.all(self.key.arn, archive.key.arn).apply(
                lambda keys: document(
                    {"Sid": "ReadReplicationConfiguration", "Effect": "Allow", "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"], "Resource": [source]},
                    {"Sid": "ReadStagedAudit", "Effect": "Allow", "Action": ["s3:GetObjectVersionForReplication", "s3:GetObjectVersionAcl"], "Resource": [f"{source}/{prefix}*"]},
                    # Into this prefix only, and no s3:ReplicateDelete: the archive's copies are never removed.
                    {"Sid": "ReplicateIntoArchivePrefix", "Effect": "Allow", "Action": ["s3:ReplicateObject"], "Resource": [f"{destination}/{prefix}*"]},
                    {"Sid": "DecryptStaged", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": [keys[0]], "Condition": via_s3},
                    {"Sid": "EncryptWithArchiveKey", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:GenerateDataKey"], "Resource": [keys[1]], "Condition": via_s3},
                )
            ),
            opts=self._opts(),
        )
        return aws.s3.BucketReplicationConfig(
            f"{name}-replication",
            bucket=self.staging.bucket.id,
            role=role.arn,
            rules=[
                {
                    "id": REPLICATION_RULE,
                    "status": "Enabled",
                    "filter": {"prefix": prefix},
                    "delete_marker_replication": {"status": "Disabled"},
                    "source_selection_criteria": {"sse_kms_encrypted_objects": {"status": "Enabled"}},
                    "destination": {
                        "bucket": destination,
                        "encryption_configuration": {"replica_kms_key_id": archive.key.arn},
                        # The metrics the failure alarm reads (OperationsFailedReplication).
                        "metrics": {"status": "Enabled"},
                    },
                }
            ],
            opts=self._kept(depends_on=[policy, self.staging, archive.bucket]),
        )

    def _alarms(self, args: EksAuditArgs, archive: AuditTrail, topic_name: str, topic_arn: str, alarm_arns: str) -> aws.sns.Topic:
        """The alarms' topic, its subscribers, the two alarms and the failed-object events."""
        name, scope = self._name, args.scope
        topic = aws.sns.Topic(f"{name}-alarms", name=topic_name, kms_master_key_id=self.key.arn, opts=self._opts())
        topic_policy = aws.sns.TopicPolicy(
            f"{name}-alarms-policy",
            arn=topic.arn,
            policy=document(
                {"Sid": "AlarmsPublish", "Effect": "Allow", "Principal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish", "Resource": topic_arn, "Condition": {"ArnLike": {"aws:SourceArn": alarm_arns}}},
                {
                    "Sid": "ReplicationEventsPublish",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": self.staging.arn}, "StringEquals": {"aws:SourceAccount": scope.account_id}},
                },
            ),
            opts=self._opts(),
        )
        for address in args.notify:
            # SNS mails each address a confirmation link; alarms reach it once it is followed.
            aws.sns.TopicSubscription(f"{name}-alarms-{address}", topic=topic.arn, protocol="email", endpoint=address, opts=self._opts())
        # The topic's ARN as AWS forms it, like the policies': these wait for the topic and its policy.
        actions = {"alarm_actions": [topic_arn], "ok_actions": [topic_arn], "opts": self._opts(depends_on=[topic, topic_policy])}
        self.stale = aws.cloudwatch.MetricAlarm(
            f"{name}-delivery-stale",
            name=f"{self._physical}-delivery-stale",
            alarm_description=f"EKS audit of {scope.cluster_name} not delivered: Firehose holds records older than {STALE_SECONDS} s (the staging bucket refuses "
            f"writes: see log group {self._error_log}), or no audit events arrive (the subscription filter or the log group). docs/audit.md",
            namespace="AWS/Firehose",
            metric_name="DeliveryToS3.DataFreshness",
            dimensions={"DeliveryStreamName": self.stream_name},
            statistic="Maximum",
            period=BUFFER_SECONDS,
            evaluation_periods=ALARM_PERIODS,
            datapoints_to_alarm=ALARM_PERIODS,
            threshold=STALE_SECONDS,
            comparison_operator="GreaterThanThreshold",
            # The control plane writes audit events every few seconds (leases, controllers): no
            # data means the stream stopped, which is as bad as a refused write.
            treat_missing_data="breaching",
            **actions,
        )
        self.replication_failed = aws.cloudwatch.MetricAlarm(
            f"{name}-replication-failed",
            name=f"{self._physical}-replication-failed",
            alarm_description=f"EKS audit of {scope.cluster_name} not replicated into the archive: the failed objects are posted to this topic; fix the cause, "
            "then replicate them again with S3 Batch Replication before the staging bucket expires them. docs/audit.md",
            namespace="AWS/S3",
            metric_name="OperationsFailedReplication",
            dimensions={"SourceBucket": self.staging.bucket.bucket, "DestinationBucket": archive.bucket.bucket.bucket, "RuleId": REPLICATION_RULE},
            statistic="Sum",
            period=BUFFER_SECONDS,
            evaluation_periods=1,
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            # S3 reports the metric only while something replicates: no data is no failure.
            treat_missing_data="notBreaching",
            **actions,
        )
        aws.s3.BucketNotification(
            f"{name}-replication-events",
            bucket=self.staging.bucket.id,
            topics=[{"topic_arn": topic_arn, "events": ["s3:Replication:OperationFailedReplication"]}],
            # S3 checks it may publish to the topic, and the event needs the replication's metrics.
            opts=self._opts(depends_on=[topic, topic_policy, self.replication]),
        )
        return topic
