"""Budget: an AWS monthly budget on a stack's cloud spend, with alerts."""
from __future__ import annotations

import pulumi
import pulumi_aws as aws

from hybridai.config.cloud import Budget as BudgetSettings
from hybridai.recorded import component_type
from hybridai.modules.base import Args, Module, former_training_pool, options, placed
from hybridai.modules.target import AwsScope, Target


class BudgetArgs(Args):
    scope: AwsScope
    """The stack's account and EKS cluster: the budget is `<prefix>-<cluster>-monthly` and counts the
    spend tagged with the stack prefix."""
    monthly_limit_usd: float
    """Monthly budget in US dollars."""
    thresholds_percent: tuple[int, ...]
    """Alert when actual or forecast spend passes each of these shares of the limit."""
    notify: tuple[str, ...]
    """E-mail addresses the alerts go to."""

    @classmethod
    def of(cls, scope: AwsScope, budget: BudgetSettings) -> BudgetArgs:
        """The pool's budget as the stack sets it."""
        return cls(scope=scope, monthly_limit_usd=budget.monthly_limit_usd, thresholds_percent=tuple(budget.alert_thresholds_percent), notify=tuple(budget.notify))


class Budget(Module):
    """Alerts by e-mail when actual or forecast spend of the stack passes each threshold."""

    def __init__(self, target: Target, args: BudgetArgs, opts: pulumi.ResourceOptions | None = None):
        # Its budget keeps the name it had under the TrainingPool component.
        scope = args.scope
        name = f"{target.prefix}-{scope.cluster}"
        super().__init__(component_type("budget", "Budget"), f"{name}-budget-alerts", None, placed(target, opts))
        self.children_were_under = former_training_pool(target, scope.cluster)
        aws.budgets.Budget(
            f"{name}-budget",
            name=f"{scope.cluster_name}-monthly",
            budget_type="COST",
            limit_amount=f"{args.monthly_limit_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            # Spend of this stack only: its resources carry the tag through the provider's default
            # tags (activate `hybrid-ai.io/stack` as a cost allocation tag in the billing console).
            cost_filters=[{"name": "TagKeyValue", "values": [f"user:hybrid-ai.io/stack${scope.prefix}"]}],
            notifications=[
                {
                    "comparison_operator": "GREATER_THAN",
                    "threshold": threshold,
                    "threshold_type": "PERCENTAGE",
                    "notification_type": kind,
                    "subscriber_email_addresses": list(args.notify),
                }
                for threshold in args.thresholds_percent
                for kind in ("ACTUAL", "FORECASTED")
            ],
            opts=options(self, provider=target.provider),
        )
        self.register_outputs({})
