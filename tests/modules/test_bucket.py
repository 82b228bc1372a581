"""SecureBucket: every data bucket private, encrypted with its key, versioned, TLS-only, protected;
write-once when asked."""
from __future__ import annotations

import json


from hybridai.modules.base import options
from hybridai.modules.bucket import ObjectLockArgs, SecureBucket, SecureBucketArgs
from hybridai.modules.target import AwsScope, Target
from tests.helpers import of_type, run_module

KEY = "arn:aws:kms:eu-central-1:210987654321:key/1234"


def _bucket(**args) -> list:
    def program() -> None:
        target = Target("t", "aws", AwsScope(prefix="t", cluster="training", region="eu-central-1", account_id="210987654321"))
        SecureBucket("t-data", SecureBucketArgs(bucket="t-data-210987654321", kms_key_arn=KEY, **args), opts=options(target, provider=target.provider))

    return run_module(program)


def _one(resources: list, type_: str):
    [found] = of_type(resources, type_)
    return found


def test_a_bucket_is_private_kms_encrypted_versioned_tls_only_and_protected() -> None:
    # GIVEN a bucket with nothing beyond its name and key WHEN the program runs
    resources = _bucket()
    bucket = _one(resources, "aws:s3/bucket:Bucket")
    # THEN it is protected, kept on delete, never emptied by a deploy, and not lockable (none asked)
    assert bucket.protect and bucket.retain_on_delete and bucket.inputs["forceDestroy"] is False
    assert bucket.inputs["objectLockEnabled"] is False
    # AND all four public-access switches are on, ACLs are off
    block = _one(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock").inputs
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    assert _one(resources, "aws:s3/bucketOwnershipControls:BucketOwnershipControls").inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}
    # AND SSE-KMS with its key and bucket keys; versioning on
    [rule] = _one(resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration").inputs["rules"]
    assert rule == {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": KEY}, "bucketKeyEnabled": True}
    assert _one(resources, "aws:s3/bucketVersioning:BucketVersioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    # AND its policy refuses every request not over TLS, and holds nothing else
    [deny] = json.loads(_one(resources, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    assert (deny["Effect"], deny["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    # AND no lock or lifecycle configuration it wasn't asked for
    assert of_type(resources, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration") == []
    assert of_type(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration") == []


def test_a_locked_bucket_keeps_every_object_write_once_for_its_days_after_versioning() -> None:
    # GIVEN a bucket asked for a seven-year COMPLIANCE lock, a lifecycle rule and a statement of its own
    write = {"Sid": "TrailWrites", "Effect": "Allow", "Principal": {"Service": "cloudtrail.amazonaws.com"}, "Action": "s3:PutObject", "Resource": "arn:aws:s3:::t-data-210987654321/*"}
    rule = {"id": "archive", "status": "Enabled", "filter": {}, "transitions": [{"days": 90, "storage_class": "GLACIER_IR"}]}
    resources = _bucket(object_lock=ObjectLockArgs(mode="COMPLIANCE", days=2557), lifecycle_rules=(rule,), policy_statements=(write,))
    # THEN Object Lock is enabled at creation (it can't be added later), with that default retention
    assert _one(resources, "aws:s3/bucket:Bucket").inputs["objectLockEnabled"] is True
    lock = _one(resources, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")
    assert lock.inputs["rule"] == {"defaultRetention": {"mode": "COMPLIANCE", "days": 2557}}
    # AND the lock and lifecycle wait for versioning (S3 refuses them on an unversioned bucket)
    versioning = _one(resources, "aws:s3/bucketVersioning:BucketVersioning")
    lifecycle = _one(resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    assert versioning.urn in lock.dependencies and versioning.urn in lifecycle.dependencies
    assert lifecycle.inputs["rules"][0]["id"] == "archive"
    # AND the policy is the TLS-only deny first, then the caller's statement
    statements = json.loads(_one(resources, "aws:s3/bucketPolicy:BucketPolicy").inputs["policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["DenyInsecureTransport", "TrailWrites"]
