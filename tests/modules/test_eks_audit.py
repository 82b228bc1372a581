"""The EKS control-plane audit into the write-once cloud archive: subscription filter → Firehose →
staging bucket → replication into the CloudTrail bucket's `audit/<cluster>/`, with its alarms."""
from __future__ import annotations

import json

import pytest

from hybridai.config.operations import AlertingSettings
from hybridai.modules.eks_audit import EksAuditArgs
from hybridai.modules.target import AwsScope
from hybridai.recorded import EKS_AUDIT_FILTER
from tests.conftest import planned
from tests.helpers import of_type, prepared

STAGING = "fin-prod-training-audit-staging-210987654321"
ARCHIVE = "fin-prod-audit-210987654321"
STREAM = "fin-prod-training-audit"
TOPIC = "arn:aws:sns:eu-central-1:210987654321:fin-prod-training-audit-alarms"


def _one(resources, type_: str, name: str):
    [found] = [r for r in of_type(resources, type_) if r.name == name]
    return found


def _statements(policy) -> dict[str, dict]:
    return {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}


def test_the_subscription_sends_the_control_planes_audit_events_to_the_stream_through_a_role_of_its_own() -> None:
    # GIVEN finance-prod (SOX: a write-once archive) WHEN planned
    plan, _ = planned("finance-prod")
    subscription = _one(plan.resources, "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter", "fin-prod-aws-training-audit-subscription")
    # THEN the filter on the EKS control plane's log group selects its audit events and sends them to the stream
    assert subscription.inputs["logGroup"] == "/aws/eks/fin-prod-training/cluster"
    assert subscription.inputs["filterPattern"] == EKS_AUDIT_FILTER
    assert subscription.inputs["destinationArn"] == f"arn:aws:firehose:eu-central-1:210987654321:deliverystream/{STREAM}"
    assert subscription.inputs["roleArn"] == "arn:aws:iam::210987654321:role/fin-prod-training-audit-subscription"
    assert subscription.protect and subscription.retain_on_delete
    # AND that role is CloudWatch Logs' of this account and region only, allowed to put records into this stream only
    role = _one(plan.resources, "aws:iam/role:Role", "fin-prod-aws-training-audit-subscription-role")
    [trust] = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert (trust["Principal"], trust["Condition"]) == ({"Service": "logs.amazonaws.com"}, {"StringLike": {"aws:SourceArn": "arn:aws:logs:eu-central-1:210987654321:*"}})
    put = _statements(_one(plan.resources, "aws:iam/rolePolicy:RolePolicy", "fin-prod-aws-training-audit-subscription-policy"))["PutIntoAuditStream"]
    assert (put["Action"], put["Resource"]) == (["firehose:PutRecord", "firehose:PutRecordBatch"], [subscription.inputs["destinationArn"]])
    # AND the filter waits for the cluster's log group (EKS must not create it first, without our retention and key)
    assert any(urn.endswith("::fin-prod-aws-training-logs") for urn in subscription.dependencies)


def test_firehose_unzips_and_extracts_the_events_and_writes_them_dated_under_the_clusters_prefix() -> None:
    plan, _ = planned("finance-prod")
    stream = _one(plan.resources, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "fin-prod-aws-training-audit-firehose")
    s3 = stream.inputs["extendedS3Configuration"]
    # THEN Decompression first, then CloudWatch Logs message extraction (AWS refuses the other order)
    processors = s3["processingConfiguration"]["processors"]
    assert [(p["type"], p["parameters"]) for p in processors] == [
        ("Decompression", [{"parameterName": "CompressionFormat", "parameterValue": "GZIP"}]),
        ("CloudWatchLogProcessing", [{"parameterName": "DataMessageExtraction", "parameterValue": "true"}]),
    ]
    # AND gzipped once, every five minutes or 64 MB, into the staging bucket under audit/<cluster>/<yyyy>/<mm>/<dd>/, failures beside them
    assert (s3["bucketArn"], s3["compressionFormat"], s3["fileExtension"]) == (f"arn:aws:s3:::{STAGING}", "GZIP", ".json.gz")
    assert (s3["bufferingInterval"], s3["bufferingSize"]) == (300, 64)
    assert s3["prefix"] == "audit/training/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/"
    assert s3["errorOutputPrefix"].startswith("audit/training/failed/!{firehose:error-output-type}/")
    # AND encrypted at rest and in the bucket with the delivery key, its errors logged, the stream protected
    key = _one(plan.resources, "aws:kms/key:Key", "fin-prod-aws-training-audit-key")
    assert key.inputs["enableKeyRotation"] is True and key.protect
    assert stream.inputs["serverSideEncryption"]["keyType"] == "CUSTOMER_MANAGED_CMK" and s3["kmsKeyArn"] == stream.inputs["serverSideEncryption"]["keyArn"]
    assert s3["cloudwatchLoggingOptions"] == {"enabled": True, "logGroupName": f"/aws/kinesisfirehose/{STREAM}", "logStreamName": "DestinationDelivery"}
    assert stream.protect and stream.retain_on_delete


def test_the_firehose_role_writes_the_audit_prefix_of_the_staging_bucket_only() -> None:
    plan, _ = planned("finance-prod")
    statements = _statements(_one(plan.resources, "aws:iam/rolePolicy:RolePolicy", "fin-prod-aws-training-audit-firehose-policy"))
    arn = f"arn:aws:s3:::{STAGING}"
    assert statements["StagingBucket"]["Resource"] == [arn]
    assert statements["WriteAuditPrefix"]["Resource"] == [f"{arn}/audit/training/*"]
    assert "s3:DeleteObject" not in statements["WriteAuditPrefix"]["Action"]
    assert statements["UseDeliveryKeyThroughS3"]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"}}
    assert statements["ErrorLog"]["Resource"] == [f"arn:aws:logs:eu-central-1:210987654321:log-group:/aws/kinesisfirehose/{STREAM}:log-stream:DestinationDelivery"]


def test_the_staging_bucket_is_private_encrypted_and_keeps_objects_two_weeks() -> None:
    plan, _ = planned("finance-prod")
    [bucket] = [r for r in of_type(plan.resources, "aws:s3/bucket:Bucket") if r.inputs["bucket"] == STAGING]
    assert bucket.protect and bucket.retain_on_delete and bucket.inputs["objectLockEnabled"] is False
    prefix = "fin-prod-aws-training-audit-staging-"
    [sse] = [r for r in of_type(plan.resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration") if r.name.startswith(prefix)]
    key = _one(plan.resources, "aws:kms/key:Key", "fin-prod-aws-training-audit-key")
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    [lifecycle] = [r for r in of_type(plan.resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration") if r.name.startswith(prefix)]
    rules = {r["id"]: r for r in lifecycle.inputs["rules"]}
    assert rules["expire-staged-audit"]["expiration"] == {"days": 14}
    assert rules["expire-staged-audit"]["noncurrentVersionExpiration"] == {"noncurrentDays": 1}
    assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"] == {"daysAfterInitiation": 1}
    assert key.inputs["description"].startswith("fin-prod-training-audit-delivery:")


def test_replication_copies_the_prefix_into_the_locked_archive_with_its_key_and_metrics() -> None:
    plan, _ = planned("finance-prod")
    replication = _one(plan.resources, "aws:s3/bucketReplicationConfig:BucketReplicationConfig", "fin-prod-aws-training-audit-replication")
    [rule] = replication.inputs["rules"]
    archive_key = _one(plan.resources, "aws:cloudtrail/trail:Trail", "fin-prod-aws-audit-trail").inputs["kmsKeyId"]
    # THEN the cluster's prefix goes into the CloudTrail bucket (Object Lock COMPLIANCE: the replicas get its default retention)
    assert (replication.inputs["bucket"], rule["filter"], rule["status"]) == (STAGING, {"prefix": "audit/training/"}, "Enabled")
    destination = rule["destination"]
    assert destination["bucket"] == f"arn:aws:s3:::{ARCHIVE}"
    [lock] = [r for r in of_type(plan.resources, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") if r.name == "fin-prod-aws-audit-logs-object-lock"]
    assert lock.inputs["rule"]["defaultRetention"] == {"mode": "COMPLIANCE", "days": 2557}
    # AND SSE-KMS objects are replicated, re-encrypted with the archive's key; deletes never follow; metrics on (the failure alarm's)
    assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    assert destination["encryptionConfiguration"] == {"replicaKmsKeyId": archive_key}
    assert rule["deleteMarkerReplication"] == {"status": "Disabled"}
    assert destination["metrics"] == {"status": "Enabled"}
    assert replication.protect
    # AND its role may replicate into that prefix only, and delete nothing
    statements = _statements(_one(plan.resources, "aws:iam/rolePolicy:RolePolicy", "fin-prod-aws-training-audit-replication-policy"))
    assert (statements["ReplicateIntoArchivePrefix"]["Action"], statements["ReplicateIntoArchivePrefix"]["Resource"]) == (["s3:ReplicateObject"], [f"arn:aws:s3:::{ARCHIVE}/audit/training/*"])
    assert statements["ReadStagedAudit"]["Resource"] == [f"arn:aws:s3:::{STAGING}/audit/training/*"]
    assert statements["EncryptWithArchiveKey"]["Resource"] == [archive_key]
    assert not any("Delete" in a for s in statements.values() for a in s["Action"])


def test_the_alarms_watch_freshness_and_failed_replication_and_go_to_the_topic() -> None:
    plan, _ = planned("finance-prod")
    stale = _one(plan.resources, "aws:cloudwatch/metricAlarm:MetricAlarm", "fin-prod-aws-training-audit-delivery-stale")
    failed = _one(plan.resources, "aws:cloudwatch/metricAlarm:MetricAlarm", "fin-prod-aws-training-audit-replication-failed")
    topic = _one(plan.resources, "aws:sns/topic:Topic", "fin-prod-aws-training-audit-alarms")
    assert topic.inputs["name"] == TOPIC.rsplit(":", 1)[1]
    # THEN freshness over 15 minutes, or no data (the stream stopped), for three five-minute periods
    assert (stale.inputs["namespace"], stale.inputs["metricName"], stale.inputs["dimensions"]) == ("AWS/Firehose", "DeliveryToS3.DataFreshness", {"DeliveryStreamName": STREAM})
    assert (stale.inputs["statistic"], stale.inputs["threshold"], stale.inputs["period"], stale.inputs["evaluationPeriods"], stale.inputs["treatMissingData"]) == ("Maximum", 900, 300, 3, "breaching")
    # AND any failed replication of the rule between these buckets
    assert (failed.inputs["namespace"], failed.inputs["metricName"]) == ("AWS/S3", "OperationsFailedReplication")
    assert failed.inputs["dimensions"] == {"SourceBucket": STAGING, "DestinationBucket": ARCHIVE, "RuleId": "eks-audit-to-archive"}
    assert (failed.inputs["statistic"], failed.inputs["threshold"], failed.inputs["comparisonOperator"]) == ("Sum", 0, "GreaterThanThreshold")
    # AND both alarm and recover to the encrypted topic, which S3 also tells of each failed object
    for alarm in (stale, failed):
        assert alarm.inputs["alarmActions"] == alarm.inputs["okActions"] == [TOPIC]
    assert topic.inputs["kmsMasterKeyId"]
    [events] = of_type(plan.resources, "aws:s3/bucketNotification:BucketNotification")
    assert events.inputs["topics"] == [{"topicArn": TOPIC, "events": ["s3:Replication:OperationFailedReplication"]}]
    # AND finance-prod's critical receiver is PagerDuty: no e-mail subscription, the topic is exported for the operator to subscribe
    assert of_type(plan.resources, "aws:sns/topicSubscription:TopicSubscription") == []
    assert plan.outputs["audit"]["eksAudit"] == {"prefix": "audit/training/", "alarmTopicArn": TOPIC}


def test_an_e_mail_critical_receiver_is_subscribed_to_the_alarms() -> None:
    # GIVEN a stack whose critical receiver mails the on-call list
    spec, _ = prepared("finance-prod")
    scope = AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center)
    alerting = AlertingSettings.model_validate(
        {"receivers": [{"name": "oncall", "email": {"to": ["oncall@bank.example", "cto@bank.example"], "sender": "am@bank.example", "smarthost": "smtp.bank.example:587"}}], "critical": "oncall"}
    )
    # WHEN the audit delivery's args are made THEN its addresses get the alarms; a PagerDuty critical receiver gets none
    assert EksAuditArgs.of(scope, alerting).notify == ("oncall@bank.example", "cto@bank.example")
    assert EksAuditArgs.of(scope, spec.monitoring.alerting).notify == ()


@pytest.mark.parametrize("stack", ["finance-dev", "manufacturing-prod"])
def test_stacks_whose_profiles_keep_no_write_once_archive_get_no_eks_audit_delivery(stack: str) -> None:
    # GIVEN finance-dev (SOX waived) and manufacturing-prod (no SOX or HIPAA) WHEN planned
    plan, _ = planned(stack)
    # THEN their EKS audit stays in its CloudWatch log group only
    assert of_type(plan.resources, "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter") == []
    assert of_type(plan.resources, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream") == []
