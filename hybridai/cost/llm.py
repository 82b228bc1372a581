"""The economics of each LLM: what an hour of its replicas' GPUs costs, the tokens they deliver, the
cost of a million of them, and each team's token showback.

Every figure reads what the rest of cost.json already computed — the model's per-model row (its GPUs
and their cost), the break-even's cloud rate of its pool, the showback's GPU-hour rate — and the
catalog's demand; the formulas are in docs/cost.md ("LLMs: cost per million tokens").

Volume: the catalog states a peak (`peakRps` × `llm.outputTokensPerRequest` output tokens a second),
not an average, so the month's tokens are that peak over `llm.peakHoursPerDay` hours a day (idle the
rest). Cost per million output tokens = the month's cost of the model's GPUs ÷ its month's output
tokens (in millions). The floor beside it is the same cost at the load the planner sizes replicas for
(`HEADROOM` of their throughput, around the clock): no busier without leaving the latency objectives.
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from hybridai.capacity.planner import HEADROOM
from hybridai.cost.onprem import HOURS_PER_MONTH

if TYPE_CHECKING:
    from hybridai.capacity import CapacityPlan, LlmSizing
    from hybridai.config.workloads import ServedModel
    from hybridai.config.spec import StackSpec

MILLION = 1_000_000
SECONDS_PER_HOUR = 3600


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def per_million(usd: float | None, tokens: float) -> float | None:
    """USD per million tokens: `usd` ÷ (`tokens` ÷ 10⁶); None when unpriced or no tokens."""
    return None if usd is None or not tokens else usd / (tokens / MILLION)


def monthly_tokens(tokens_per_second: float, hours_per_day: float) -> float:
    """Tokens a month at `tokens_per_second` for `hours_per_day` hours of each of the month's
    730 / 24 days."""
    return tokens_per_second * SECONDS_PER_HOUR * hours_per_day * HOURS_PER_MONTH / 24


def llm_economics(
    spec: StackSpec, capacity: CapacityPlan, per_model: list[dict[str, Any]], break_even: dict[str, Any], showback_rate: dict[str, Any]
) -> dict[str, Any] | None:
    """cost.json's `llms`: a row per LLM the capacity plan sized, and the token showback by team;
    None for a stack without LLMs (its cost.json has no `llms`)."""
    sized = capacity.onprem.llms
    models = [m for m in spec.models if m.llm is not None and m.name in sized]
    if not models:
        return None
    serving = {r["name"]: r for r in per_model if r["kind"] == "serving"}
    cloud = {(p["cluster"], p["pool"]): p for p in break_even["pools"]}
    rate = showback_rate["usd_per_gpu_hour"]
    rows = [_row(m, sized[m.name], serving[m.name], cloud.get((serving[m.name]["cluster"], serving[m.name]["pool"])), rate, break_even["region"]) for m in models]
    return {
        "models": rows,
        "teams": _teams(rows),
        "assumptions": {
            "planned_load": HEADROOM,
            "showback_usd_per_gpu_hour": rate,
            "showback_rate_source": showback_rate["source"],
        },
        "basis": (
            "output tokens a month = peakRps × outputTokensPerRequest × 3,600 s × llm.peakHoursPerDay × 730 / 24 days; "
            "usd_per_hour = the model's per-model row (its GPUs, canaries included, × USD per GPU-hour); cost per million output tokens = "
            "usd_per_hour × 730 ÷ (output tokens a month ÷ 10⁶); per million tokens the same over prompt and output tokens; "
            f"the floor at the planned load: replicas × outputTokensPerSecond × {HEADROOM:g} around the clock; "
            "showback = the model's GPU-hours a month × the showback's USD per GPU-hour, charged per million output tokens"
        ),
    }


def _row(model: ServedModel, sizing: LlmSizing, row: dict[str, Any], pool: dict[str, Any] | None, rate: float | None, region: str) -> dict[str, Any]:
    """One LLM's GPU-hour, throughput, tokens, cost per million tokens and showback rate."""
    llm = model.llm
    hours = llm.peak_hours_per_day
    replicas = row["replicas"]
    capacity = replicas * llm.output_tokens_per_second
    peak = model.peak_rps * llm.output_tokens_per_request
    mean = peak * hours / 24
    output = monthly_tokens(peak, hours)
    prompt = None if llm.prompt_tokens_per_request is None else monthly_tokens(model.peak_rps * llm.prompt_tokens_per_request, hours)
    monthly = row["monthly"]
    usd_per_hour = None if monthly is None else monthly / HOURS_PER_MONTH
    floor_tokens = monthly_tokens(capacity * HEADROOM, 24)
    showback_monthly = None if rate is None else row["gpu_hours_per_month"] * rate
    out: dict[str, Any] = {
        "name": model.name,
        "team": model.team,
        "cluster": row["cluster"],
        "pool": row["pool"],
        "gpu_model": row["gpu_model"],
        "profile": row["profile"],
        "replicas": replicas,
        "canary_replicas": row["canary_replicas"],
        "gpus_per_replica": sizing.gpus_per_replica,
        "gpus": row["gpus"],
        "usd_per_gpu_hour": row["usd_per_gpu_hour"],
        "usd_per_hour": _r(usd_per_hour, 4),
        "monthly": monthly,
        "peak_hours_per_day": hours,
        "throughput": {
            "output_tokens_per_second_per_replica": llm.output_tokens_per_second,
            "capacity_output_tokens_per_second": _r(capacity),
            "peak_output_tokens_per_second": _r(peak),
            "peak_utilization": _r(peak / capacity, 4),
            "mean_output_tokens_per_second": _r(mean),
            "utilization": _r(mean / capacity, 4),
        },
        "monthly_output_tokens": round(output),
        "monthly_prompt_tokens": None if prompt is None else round(prompt),
        "usd_per_million_output_tokens": _r(per_million(monthly, output), 4),
        "usd_per_million_tokens": None if prompt is None else _r(per_million(monthly, output + prompt), 4),
        "usd_per_million_output_tokens_at_planned_load": _r(per_million(monthly, floor_tokens), 4),
        "showback_usd_per_million_output_tokens": _r(per_million(showback_monthly, output), 4),
        "cloud": _cloud(row, pool, output, region),
    }
    gpus = f"{row['gpus']:g} GPU{'s' if row['gpus'] != 1 else ''} of {row['gpu_model']}"
    canary = f", + {row['canary_replicas']} canary" if row["canary_replicas"] else ""
    out["basis"] = (
        f"{gpus} ({replicas} replica{'s' if replicas != 1 else ''} × {sizing.gpus_per_replica} on pool {row['pool']}{canary}) "
        f"at {_money(row['usd_per_gpu_hour'])} USD per GPU-hour = {_money(usd_per_hour)} USD an hour; "
        f"peak {model.peak_rps:g} requests/s × {llm.output_tokens_per_request} output tokens = {peak:,.0f} tokens/s of the replicas' {capacity:,.0f} "
        f"({peak / capacity:.0%}), {hours:g} h a day: {output / MILLION:,.1f} M output tokens a month"
    )
    return out


def _cloud(row: dict[str, Any], pool: dict[str, Any] | None, output: float, region: str) -> dict[str, Any] | None:
    """The same GPU-hours rented on-demand in the comparison region (the break-even's rate for the
    pool's GPU), per million output tokens; None where the break-even has no rate for it."""
    rates = (pool or {}).get("rates") or {}
    on_demand = rates.get("on_demand")
    if on_demand is None:
        return None
    monthly = row["gpu_hours_per_month"] * on_demand["usd_per_gpu_hour"]
    return {
        "region": region,
        "instance": pool["instance"],
        "usd_per_gpu_hour": on_demand["usd_per_gpu_hour"],
        "monthly": _r(monthly),
        "usd_per_million_output_tokens": _r(per_million(monthly, output), 4),
    }


def _teams(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each team's LLM tokens a month and what the showback charges for them: each model's output
    tokens × its showback rate per million."""
    teams: dict[str, dict[str, Any]] = defaultdict(lambda: {"models": [], "monthly_output_tokens": 0, "amount": 0.0})
    for row in rows:
        team = teams[row["team"]]
        team["models"].append(row["name"])
        team["monthly_output_tokens"] += row["monthly_output_tokens"]
        charge = row["showback_usd_per_million_output_tokens"]
        team["amount"] = None if charge is None or team["amount"] is None else team["amount"] + charge * row["monthly_output_tokens"] / MILLION
    return [{"team": name, **t, "amount": _r(t["amount"])} for name, t in sorted(teams.items())]


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"
