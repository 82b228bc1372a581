"""The price lists an estimate uses, each with the stack's overrides, and the items none of them had."""
from __future__ import annotations

from dataclasses import dataclass, field

from hybridai import catalog
from hybridai.config.operations import CostSettings


@dataclass
class Prices:
    """Price lists in use, each with its overrides, and the items no list had."""

    settings: CostSettings
    used: dict[str, catalog.PriceList] = field(default_factory=dict)
    """Price list name (`aws:<region>`, `onprem`) → the list as priced, overrides applied."""
    missing: set[str] = field(default_factory=set)
    """`<list>:<item>` of every price asked for and not found: the estimate is incomplete."""
    committed: set[str] = field(default_factory=set)
    """Price lists whose commitment (savings-plan) rates priced something."""

    def list(self, name: str) -> catalog.PriceList | None:
        """The price list `name` with the stack's overrides; None when there is neither."""
        if name not in self.used:
            key = name.replace(":", "-", 1)
            overrides = self.settings.price_overrides.get(name, {})
            try:
                self.used[name] = catalog.prices(key).with_overrides(overrides)
            except KeyError:
                if not overrides:
                    return None
                self.used[name] = catalog.PriceList(source="stack price overrides", date="", items=overrides)
        return self.used[name]

    def get(self, name: str, item: str) -> float | None:
        """The price of `item` in list `name`; None (and listed as missing) when it has none."""
        prices = self.list(name)
        if prices is None or item not in prices.items:
            self.missing.add(f"{name}:{item}")
            return None
        return prices.items[item]

    def commitment_discount(self, name: str, term: str) -> float | None:
        """The share off on-demand of a `term` commitment in list `name`; None (and listed as
        missing) when the list has none."""
        listed = self.list(name)
        discount = listed.commitments.discount.get(term) if listed is not None and listed.commitments is not None else None
        if discount is None:
            self.missing.add(f"{name}:commitment_{term}")
        else:
            self.committed.add(name)
        return discount
