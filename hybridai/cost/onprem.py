"""What an on-prem GPU costs per month: amortized purchase, power and operations."""
from __future__ import annotations

from hybridai import catalog
from hybridai.config.operations import CostSettings

HOURS_PER_MONTH = 730  # 24 × 365 / 12


def onprem_prices(settings: CostSettings) -> catalog.PriceList:
    return catalog.prices("onprem").with_overrides(settings.price_overrides.get("onprem", {}))


def electricity(settings: CostSettings) -> float:
    explicit = settings.onprem.electricity_usd_per_kwh
    return explicit if explicit is not None else onprem_prices(settings).items.get("electricity_usd_per_kwh", 0.0)


def gpu_month_usd(model: str, settings: CostSettings) -> float | None:
    """Monthly cost of one GPU of `model`, or None when no price is known for it."""
    price = onprem_prices(settings).items.get(model)
    if price is None:
        return None
    a = settings.onprem
    power_kwh = catalog.gpus().models[model].tdp_watts / 1000 * a.average_power_fraction * a.pue * HOURS_PER_MONTH
    return price / (a.amortization_years * 12) + power_kwh * electricity(settings) + price * a.operations_percent_per_year / 100 / 12


def basis(model: str, settings: CostSettings) -> str:
    a = settings.onprem
    return (
        f"{model}: {onprem_prices(settings).items.get(model, 0):,.0f} USD over {a.amortization_years:g} years + power "
        f"({catalog.gpus().models[model].tdp_watts} W × {a.average_power_fraction:g} × PUE {a.pue:g} × {electricity(settings):g} USD/kWh) "
        f"+ {a.operations_percent_per_year:g} %/year operations = {gpu_month_usd(model, settings) or 0:,.2f} USD per GPU-month"
    )
