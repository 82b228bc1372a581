"""The EKS cluster's backup bucket: protected, encrypted with its own key, reached by Velero alone,
in the pool's region or another of the stack's jurisdiction."""
from __future__ import annotations

import json
from pathlib import Path

import yaml

from hybridai.config.backup import CloudBackup
from hybridai.modules.backup_bucket import BackupBucketArgs
from hybridai.modules.target import AwsScope
from hybridai.plan import run_plan
from tests.conftest import planned
from tests.helpers import of_type, prepared

BUCKET = "fin-prod-training-backup-210987654321"


def test_backup_bucket_and_key_are_protected_encrypted_versioned_in_the_pools_region() -> None:
    # GIVEN finance-prod (no `backups.cloud.region`: the pool's, eu-central-1)
    plan, _ = planned("finance-prod")
    [bucket] = [r for r in of_type(plan.resources, "aws:s3/bucket:Bucket") if r.inputs["bucket"] == BUCKET]
    # THEN the bucket and its key are protected and retained, the key rotates
    assert bucket.protect and bucket.retain_on_delete and bucket.inputs["forceDestroy"] is False
    [key] = [r for r in of_type(plan.resources, "aws:kms/key:Key") if r.name == "fin-prod-aws-training-backup-key"]
    assert key.protect and key.retain_on_delete and key.inputs["enableKeyRotation"] is True
    assert [r.inputs["name"] for r in of_type(plan.resources, "aws:kms/alias:Alias") if r.name == "fin-prod-aws-training-backup-key-alias"] == ["alias/fin-prod-training-backup"]
    # AND versioned, SSE-KMS with that key, a lifecycle keeping deleted backups' versions 90 days (SOX)
    prefix = "fin-prod-aws-training-backup-data-"
    assert [v.inputs["versioningConfiguration"] for v in of_type(plan.resources, "aws:s3/bucketVersioning:BucketVersioning") if v.name.startswith(prefix)] == [{"status": "Enabled"}]
    [lifecycle] = [r for r in of_type(plan.resources, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration") if r.name.startswith(prefix)]
    assert lifecycle.inputs["rules"][0]["noncurrentVersionExpiration"] == {"noncurrentDays": 90}
    # AND one AWS provider: the stack's
    [provider] = of_type(plan.resources, "pulumi:providers:aws")
    assert bucket.provider == provider.urn


def test_velero_role_reaches_only_the_backup_bucket_and_key_through_pod_identity() -> None:
    plan, _ = planned("finance-prod")
    [policy] = [r for r in of_type(plan.resources, "aws:iam/rolePolicy:RolePolicy") if r.name == "fin-prod-aws-training-backup-policy"]
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    arn = f"arn:aws:s3:::{BUCKET}"
    # THEN list the bucket, read and write its objects, use the key only through S3 in the bucket's region
    assert statements["ListBackupBucket"]["Resource"] == [arn]
    assert statements["ReadWriteBackups"]["Resource"] == [f"{arn}/*"]
    assert "s3:DeleteBucket" not in statements["ReadWriteBackups"]["Action"]
    assert statements["UseBackupKeyThroughS3"]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.eu-central-1.amazonaws.com"}}
    # AND no EC2 permission at all (Velero snapshots no EBS volume itself)
    assert not any(a.startswith("ec2:") for s in statements.values() for a in s["Action"])
    # AND only Velero's service account in Velero's namespace assumes the role
    [identity] = [r for r in of_type(plan.resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation") if r.name == "fin-prod-aws-training-backup-identity"]
    assert (identity.inputs["namespace"], identity.inputs["serviceAccount"]) == ("velero", "velero-server")
    # AND the platform's Velero waits for the association (its pods get the role when created)
    [release] = [r for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.target == "training" and r.inputs["name"] == "velero"]
    assert identity.urn in release.dependencies


def test_backups_in_another_region_of_the_jurisdiction_get_a_provider_of_their_own(project: Path) -> None:
    # GIVEN finance-prod keeping its cloud backups in Ireland (the pool is in Frankfurt; both EU)
    path = project / "stacks" / "Pulumi.finance-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:backups"]["cloud"] = {"region": "eu-west-1"}
    path.write_text(yaml.safe_dump(document))
    plan = run_plan("finance-prod", project)
    # THEN bucket, key and alias go through a provider of that region, tied to the same account and tagged alike
    providers = {p.inputs["region"]: p for p in of_type(plan.resources, "pulumi:providers:aws")}
    assert set(providers) == {"eu-central-1", "eu-west-1"}
    ireland, frankfurt = providers["eu-west-1"], providers["eu-central-1"]
    assert ireland.inputs["allowedAccountIds"] == frankfurt.inputs["allowedAccountIds"]
    assert json.loads(ireland.inputs["defaultTags"]) == json.loads(frankfurt.inputs["defaultTags"])
    [bucket] = [r for r in of_type(plan.resources, "aws:s3/bucket:Bucket") if r.inputs["bucket"] == BUCKET]
    [key] = [r for r in of_type(plan.resources, "aws:kms/key:Key") if r.name == "fin-prod-aws-training-backup-key"]
    assert bucket.provider == key.provider == ireland.urn
    # AND the IAM role and the Pod Identity association stay with the stack's provider (IAM is global, EKS is in Frankfurt)
    [identity] = [r for r in of_type(plan.resources, "aws:eks/podIdentityAssociation:PodIdentityAssociation") if r.name == "fin-prod-aws-training-backup-identity"]
    assert identity.provider == frankfurt.urn
    # AND Velero's location names the region and the key through S3 there
    [location] = [r for r in plan.resources if r.type == "kubernetes:velero.io/v1:BackupStorageLocation" and r.target == "training"]
    assert location.inputs["spec"]["config"] == {"region": "eu-west-1", "kmsKeyId": "alias/fin-prod-training-backup"}
    [policy] = [r for r in of_type(plan.resources, "aws:iam/rolePolicy:RolePolicy") if r.name == "fin-prod-aws-training-backup-policy"]
    assert "s3.eu-west-1.amazonaws.com" in policy.inputs["policy"]


def test_the_bucket_is_in_the_pools_region_unless_the_stack_names_another_and_veleros_location_follows() -> None:
    # GIVEN finance-prod's backups (no `backups.cloud.region`) WHEN the bucket's args are made
    spec, _ = prepared("finance-prod")
    scope = AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center)
    args = BackupBucketArgs.of(scope, spec.backups, spec.backup_policy().retention_days)
    # THEN in the pool's region, for Velero's server account, deleted backups kept a retention longer (SOX: 90 days)
    assert (args.region, args.namespace, args.service_account, args.retention_days) == ("eu-central-1", "velero", "velero-server", 90)
    # AND Velero's location is that bucket, under the cluster's folder, SSE-KMS with the bucket's key
    location = args.location()
    assert (location.bucket, location.prefix, location.region, location.kms_key, location.endpoint) == (BUCKET, "training", "eu-central-1", "alias/fin-prod-training-backup", None)
    # AND with another region of the jurisdiction, the bucket and the location are there
    elsewhere = BackupBucketArgs.of(scope, spec.backups.model_copy(update={"cloud": CloudBackup(region="eu-west-1")}), 90)
    assert (elsewhere.region, elsewhere.location().region) == ("eu-west-1", "eu-west-1")
