"""TrainingStorage's args: per cloud team, a bucket and a trainer role named from the stack, tagged
with what the bucket may hold."""
from __future__ import annotations

from hybridai.modules.target import AwsScope
from hybridai.modules.training_storage import TrainingStorageArgs
from tests.helpers import prepared


def test_each_cloud_team_gets_its_own_bucket_and_trainer_role() -> None:
    # GIVEN finance-prod's cloud teams WHEN the pool's training storage args are made
    spec, _ = prepared("finance-prod")
    args = TrainingStorageArgs.of(AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center), spec.cloud)
    # THEN one per team, its bucket globally unique through the account id, in the team's namespace
    teams = {t.name: t for t in args.teams}
    assert set(teams) == {t.name for t in spec.cloud.teams}
    fraud = teams["fraud"]
    assert (fraud.bucket, fraud.role, fraud.namespace) == ("fin-prod-fraud-train-210987654321", "fin-prod-fraud-trainer", "fraud")
    assert fraud.data_classification == next(t for t in spec.cloud.teams if t.name == "fraud").data_classification
    # AND checkpoints expire as the stack says
    assert args.checkpoint_retention_days == 30
