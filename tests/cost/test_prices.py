"""The price lists an estimate uses: the stack's overrides, and every price missing said so."""
from __future__ import annotations

from hybridai.config.operations import CostSettings
from hybridai.cost.prices import Prices


def settings(**values) -> CostSettings:  # noqa: ANN003 - stack keys
    return CostSettings.model_validate(values)


def test_an_override_replaces_the_listed_price_and_a_missing_item_is_recorded() -> None:
    # GIVEN a stack overriding one us-east-1 price
    prices = Prices(settings(priceOverrides={"aws:us-east-1": {"p5.48xlarge": 50.0}}))
    # THEN that price is the override, an unknown item is None and listed as missing
    assert prices.get("aws:us-east-1", "p5.48xlarge") == 50.0
    assert prices.get("aws:us-east-1", "no-such-instance") is None
    assert prices.missing == {"aws:us-east-1:no-such-instance"}
    assert set(prices.used) == {"aws:us-east-1"}


def test_a_region_without_a_price_list_is_only_its_overrides() -> None:
    # GIVEN no list for ap-south-2, without and with overrides for it
    assert Prices(settings()).list("aws:ap-south-2") is None
    listed = Prices(settings(priceOverrides={"aws:ap-south-2": {"nat_gateway_hour": 0.05}})).list("aws:ap-south-2")
    assert (listed.source, listed.items) == ("stack price overrides", {"nat_gateway_hour": 0.05})


def test_a_commitment_discount_marks_its_list_committed_and_a_missing_one_is_recorded() -> None:
    prices = Prices(settings())
    # THEN us-east-1's 3-year savings plan is 60 % off, and the list's commitments priced something
    assert prices.commitment_discount("aws:us-east-1", "3y") == 0.6
    assert prices.committed == {"aws:us-east-1"}
    # AND a list without commitments has no discount, listed as missing
    assert prices.commitment_discount("onprem", "1y") is None
    assert prices.missing == {"onprem:commitment_1y"}
