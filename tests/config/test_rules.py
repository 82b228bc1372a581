"""The cross-field rules: every blueprint's spec runs the stack's rules, then its own, and lists
their problems in that order. (Each rule's bad input: the tables of test_<block>_spec.py,
test_security.py, test_mlops.py, test_adversarial_values.py.)"""
from __future__ import annotations

import copy

import pytest

from hybridai.blueprints import SPECS
from hybridai.config.healthcare import check_no_time_slicing, check_phi_endpoints
from hybridai.config.manufacturing import check_fleet_member
from hybridai.config.rules import STACK_RULES, check_cloud_pool, check_edge_sites
from hybridai.program import prepare
from tests.helpers import stack_values


@pytest.mark.parametrize("blueprint", sorted(SPECS))
def test_every_blueprint_runs_the_stack_rules_first(blueprint: str) -> None:
    # GIVEN a registered blueprint WHEN its spec's rules are read THEN they begin with every stack rule, in order
    rules = SPECS[blueprint].rules
    assert rules[: len(STACK_RULES)] == STACK_RULES


def test_each_blueprint_adds_only_its_own_rules() -> None:
    # GIVEN the registered blueprints WHEN the rules past the stack's are read THEN each adds what is its own
    own = {name: spec.rules[len(STACK_RULES):] for name, spec in SPECS.items()}
    assert own == {
        "healthcare-onprem": (check_no_time_slicing, check_phi_endpoints),
        "finance-hybrid": (check_cloud_pool,),
        "manufacturing-edge": (check_cloud_pool, check_edge_sites, check_fleet_member),
    }


def test_problems_are_listed_in_the_order_of_the_rules() -> None:
    # GIVEN finance-dev with a needless waiver (check_waivers) and a route for a team it doesn't have
    # (check_alerting)
    spec, _ = prepare("finance-dev", stack_values("finance-dev"))
    values = copy.deepcopy(stack_values("finance-dev"))
    values["policy"]["waive"]["hipaa"] = "the bank holds no health records"
    values["monitoring"] = {"alerting": {"teams": {"treasury": "oncall"}}}
    changed = type(spec).model_validate(values, context={"stack": "finance-dev"})
    # WHEN checked THEN each rule's problems come in the order the rules are registered
    kinds = [(p.loc, p.type) for p in changed.check()]
    assert kinds == [
        (("policy", "waive", "hipaa"), "waiver_not_needed"),
        (("monitoring", "alerting", "teams", "treasury"), "team_unknown"),
    ]
    # AND the example itself has none
    assert spec.check() == []
