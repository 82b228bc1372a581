"""AuditTrail's args: the account's CloudTrail kept as the stack's `audit` says, recording the
training buckets' object reads and writes."""
from __future__ import annotations

from hybridai.modules.audit_trail import AuditTrailArgs
from hybridai.modules.target import AwsScope
from tests.helpers import prepared


def test_the_trail_is_locked_as_long_as_the_stack_keeps_audit_records_and_covers_the_data_buckets() -> None:
    # GIVEN finance-prod (seven years, COMPLIANCE mode) WHEN the trail's args are made with the training buckets
    spec, _ = prepared("finance-prod")
    scope = AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center)
    args = AuditTrailArgs.of(scope, spec.audit, ("fin-prod-fraud-train-210987654321",))
    # THEN the stack's retention and lock mode, in the pool's account, with those buckets' data events
    assert (args.retention_days, args.lock_mode) == (2557, "COMPLIANCE")
    assert (args.scope.account_id, args.data_buckets) == ("210987654321", ("fin-prod-fraud-train-210987654321",))
