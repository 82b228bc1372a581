"""The `backups` block: objectives from the compliance profiles, and every bad input refused at its key."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hybridai import catalog
from hybridai.cli import app
from hybridai.program import prepare
from tests.helpers import problems_of, stack_values

STORE = {
    "endpoint": "https://s3.dc1.example",
    "bucket": "dc1-backups",
    "accessKeyId": {"name": "velero-object-store", "key": "access-key-id"},
    "secretAccessKey": {"name": "velero-object-store", "key": "secret-access-key"},
}


def values(stack: str, **backups: Any) -> dict[str, Any]:
    config = stack_values(stack)
    if backups:
        config["backups"] = {**copy.deepcopy(config["backups"]), **backups}
    return config




def test_profiles_set_the_objectives_the_stack_gets_by_default() -> None:
    # GIVEN the data: HIPAA and SOX back up at least daily, keep 35 and 90 days; no profile: 14 days
    assert catalog.backup_policy(("hipaa",)) == catalog.BackupPolicy(rpo_hours=24, retention_days=35)
    assert catalog.backup_policy(("sox", "residency")) == catalog.BackupPolicy(rpo_hours=24, retention_days=90)
    assert catalog.backup_policy(("hipaa", "sox")).retention_days == 90
    assert catalog.backup_policy(()) == catalog.BackupPolicy(rpo_hours=24, retention_days=14)
    # WHEN the example stacks leave them unset, THEN their profiles' objectives apply
    assert prepare("healthcare-prod", values("healthcare-prod"))[0].backup_policy() == catalog.BackupPolicy(rpo_hours=24, retention_days=35)
    assert prepare("finance-prod", values("finance-prod"))[0].backup_policy() == catalog.BackupPolicy(rpo_hours=24, retention_days=90)
    # AND a stack may back up more often and keep longer
    spec = prepare("finance-prod", values("finance-prod", everyHours=6, retentionDays=400))[0]
    assert spec.backup_policy() == catalog.BackupPolicy(rpo_hours=6, retention_days=400)


@pytest.mark.parametrize(
    "stack,backups,loc,kind",
    [
        # a schedule beyond the profile's recovery point objective (HIPAA: 24 h)
        ("healthcare-prod", {"everyHours": 48}, ("backups", "everyHours"), "schedule_beyond_rpo"),
        # retention below the profile's (SOX: 90 days)
        ("finance-prod", {"retentionDays": 30}, ("backups", "retentionDays"), "retention_below_profile"),
        # on-prem backups sent to AWS S3: outside the premises
        ("healthcare-prod", {"objectStore": {**STORE, "endpoint": "https://s3.eu-central-1.amazonaws.com"}}, ("backups", "objectStore", "endpoint"), "backup_location_outside_jurisdiction"),
        # the cloud bucket in a region outside the stack's jurisdiction (EU)
        ("finance-prod", {"cloud": {"region": "us-east-1"}}, ("backups", "cloud", "region"), "backup_location_outside_jurisdiction"),
        # a cloud region in a stack without a cloud pool
        ("healthcare-prod", {"cloud": {"region": "eu-west-1"}}, ("backups", "cloud", "region"), "no_cloud_pool"),
        # a site or cluster the stack doesn't have
        ("manufacturing-prod", {"sites": ["line-1", "line-7"]}, ("backups", "sites", 1), "unknown_site"),
        ("healthcare-prod", {"volumes": {"dc2": "csi-snapshot"}}, ("backups", "volumes", "dc2"), "unknown_cluster"),
        # values the models refuse
        ("healthcare-prod", {"volumes": {"dc1": "rsync"}}, ("backups", "volumes", "dc1"), "literal_error"),
        ("healthcare-prod", {"everyHours": 0}, ("backups", "everyHours"), "greater_than_equal"),
        ("healthcare-prod", {"objectStore": {**STORE, "endpoint": "http://s3.dc1.example"}}, ("backups", "objectStore", "endpoint"), "url"),
        ("healthcare-prod", {"objectStore": {**STORE, "secretAccessKey": "plaintext-key"}}, ("backups", "objectStore", "secretAccessKey"), "plaintext_credential"),
    ],
)
def test_bad_backups_are_refused_at_their_key(stack: str, backups: dict[str, Any], loc: tuple, kind: str) -> None:
    # GIVEN an example stack with one bad backup setting, WHEN validated, THEN the problem is at its key
    assert (loc, kind) in problems_of(stack, values(stack, **backups))


def test_a_prod_stack_must_back_up_a_dev_stack_need_not() -> None:
    # GIVEN the prod example without its backups block, THEN it is refused at `backups`
    config = values("healthcare-prod")
    del config["backups"]
    assert problems_of("healthcare-prod", config) == {(("backups",), "backups_required")}
    # AND a dev stack without one validates, with Velero's namespace no platform namespace
    config = values("healthcare-dev")
    del config["backups"]
    spec = prepare("healthcare-dev", config)[0]
    assert spec.backed_up_clusters() == [] and "velero" not in spec.platform_namespaces()


def test_velero_namespace_is_privileged_only_where_a_cluster_backs_up_by_file_system() -> None:
    # GIVEN the healthcare example (file-system backup, the default): the node agent needs the hostPath
    spec = prepare("healthcare-prod", values("healthcare-prod"))[0]
    assert spec.platform_namespaces()["velero"] == "privileged"
    # WHEN every backed-up cluster takes CSI snapshots, THEN Velero's namespace is restricted
    spec = prepare("healthcare-prod", values("healthcare-prod", volumes={"dc1": "csi-snapshot"}))[0]
    assert spec.platform_namespaces()["velero"] == "restricted"
    # AND the namespace can't be another platform component's
    assert (("backups", "namespace"), "namespace_taken") in problems_of("healthcare-prod", values("healthcare-prod", namespace="monitoring"))


def test_a_schedule_beyond_the_rpo_exits_2_with_the_key_and_the_fix(project: Path, tmp_path: Path) -> None:
    # GIVEN healthcare-prod asking for a backup every two days
    path = project / "stacks" / "Pulumi.healthcare-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:backups"]["everyHours"] = 48
    path.write_text(yaml.safe_dump(document))
    out = tmp_path / "out"
    # WHEN planned, THEN exit 2 naming the key, the profile's bound and the value, nothing written
    result = CliRunner().invoke(app, ["plan", "healthcare-prod", "--out", str(out), "--project-dir", str(project)])
    assert result.exit_code == 2
    assert "hybrid-ai:backups.everyHours: the stack's compliance profiles (hipaa) allow losing at most 24 hours of data" in result.stderr
    assert "(got 48)" in result.stderr and "Traceback" not in result.output
    assert not out.exists()
