"""A fleet's member stacks (hybridai/config/fleet.py): a site stack names its hub and holds its one site."""
from __future__ import annotations

import copy

import pytest

from hybridai.config import StackConfigError
from hybridai.program import prepare
from tests.helpers import stack_values

STACK = "manufacturing-prod"


def site_stack(values: dict, site: str = "line-1") -> dict:
    member = copy.deepcopy(values)
    member["sites"] = [s for s in member["sites"] if s["name"] == site]
    member["backups"]["sites"] = [site]
    member["fleet"] = {"site": site, "hubStack": STACK}
    return member


def problems(values: dict) -> list[tuple[tuple, str]]:
    with pytest.raises(StackConfigError) as error:
        prepare(STACK, values)
    return [(p.loc, p.type) for p in error.value.problems]


def test_a_hub_and_a_site_stack_are_valid() -> None:
    # GIVEN manufacturing-prod as a fleet's hub and as one of its site stacks WHEN validated THEN both are
    values = stack_values(STACK)
    hub, _ = prepare(STACK, {**copy.deepcopy(values), "fleet": {}})
    assert hub.fleet is not None and hub.fleet.is_hub
    site, _ = prepare(STACK, site_stack(values))
    assert (site.fleet.site, site.fleet.hub_stack, [s.name for s in site.sites]) == ("line-1", STACK, ["line-1"])


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        # a site stack without its hub
        (lambda v: v["fleet"].pop("hubStack"), [(("fleet", "hubStack"), "fleet_hub_required")]),
        # a site stack holding another site too
        (lambda v: v["sites"].append(copy.deepcopy(stack_values(STACK)["sites"][1])), [(("sites",), "fleet_site_stack")]),
        # a site stack backing up another site
        (lambda v: v["backups"].update(sites=["line-1", "line-2"]), [(("backups", "sites"), "fleet_site_stack")]),
        # a site stack whose hub name isn't a stack name
        (lambda v: v["fleet"].update(hubStack="plant/prod"), [(("fleet", "hubStack"), "string_pattern_mismatch")]),
    ],
)
def test_bad_site_stacks_are_refused_at_their_keys(change, expected) -> None:  # noqa: ANN001
    # GIVEN a site stack with one thing wrong WHEN validated THEN the problem is at its key (beside
    # what the stack's other rules say of the same change: an unlisted site isn't backed up in prod)
    values = site_stack(stack_values(STACK))
    change(values)
    assert set(expected) <= set(problems(values))


def test_a_hub_naming_a_hub_is_refused() -> None:
    # GIVEN a hub (no `fleet.site`) that names a hub stack WHEN validated THEN it is told only site stacks do
    values = {**copy.deepcopy(stack_values(STACK)), "fleet": {"hubStack": STACK}}
    assert problems(values) == [(("fleet", "hubStack"), "fleet_hub_stack")]
