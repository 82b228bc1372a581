"""What an estimate is made of: its line items, the rate of each burst pool's GPU-hour, and the
teams that aren't teams (the platform's own share, and GPUs no quota holds)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PLATFORM = "platform"
"""The team of what the platform itself runs (control planes, system nodes, NAT, egress)."""
UNALLOCATED = "unallocated"
"""The team of on-prem GPUs no quota holds."""


@dataclass
class LineItem:
    """One priced quantity of the estimate: what, where, whose, how much and how it was priced."""

    item: str
    placement: str
    target: str
    team: str
    quantity: float
    unit: str
    unit_price: float | None
    """None where the price lists have no price for it (the estimate says it is incomplete)."""
    monthly: float | None
    basis: str
    """How the figure was made, for a reviewer to redo it by hand."""
    monthly_at_on_demand: float | None = None
    """What it would cost at on-demand prices, where it is priced otherwise (spot, a commitment)."""

    def record(self) -> dict[str, Any]:
        """The line item as cost.json writes it (floats to four places)."""
        out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}
        if out["monthly_at_on_demand"] is None:
            del out["monthly_at_on_demand"]
        return out


@dataclass(frozen=True)
class BurstRate:
    """What a GPU-hour of one cloud burst NodePool costs in the estimate."""

    pool: str
    target: str
    price_list: str
    instance: str
    gpu_model: str
    share: float
    """The pool's share of the burst's GPU-hours: its GPU limit ÷ all burst pools' limits."""
    on_demand: float | None
    """USD per GPU-hour on-demand (the instance price ÷ its GPUs)."""
    rate: float | None
    """USD per GPU-hour as the estimate prices it: spot, on-demand or the commitment rate."""
    pricing: str
    """`spot`, `on-demand`, `1y commitment` or `3y commitment`."""
