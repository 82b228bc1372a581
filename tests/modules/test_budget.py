"""Budget's args: the pool's monthly budget and alerts as the stack sets them."""
from __future__ import annotations

from hybridai.modules.budget import BudgetArgs
from hybridai.modules.target import AwsScope
from tests.helpers import prepared


def test_the_budget_alerts_the_stacks_addresses_at_each_threshold() -> None:
    # GIVEN finance-prod (120 000 USD a month, alerts at 50, 80 and 100 %) WHEN its budget's args are made
    spec, _ = prepared("finance-prod")
    args = BudgetArgs.of(AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center), spec.cloud.budget)
    # THEN those, for the stack's notify list, named after the pool
    assert (args.monthly_limit_usd, args.thresholds_percent) == (120000, (50, 80, 100))
    assert args.notify == ("ml-platform@bank.example", "finops@bank.example")
    assert args.scope.cluster_name == "fin-prod-training"
