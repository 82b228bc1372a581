"""The monthly cost of a planned stack, by placement, team and line item.

It reads the recorded resources (the dicts of `resources.json`) — node groups, NAT gateways, GPU
nodes, quotas, buckets — so it prices what the program would really create, whatever blueprint
built it. Prices come from hybridai/data/prices (overridable per stack) and every assumption is
stated in the output, so a reviewer can redo any figure by hand.
"""
from __future__ import annotations

import re
from collections import defaultdict
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable

from hybridai import catalog
from hybridai.config.operations import CostSettings
from hybridai.cost.economics import of_plan, showback
from hybridai.cost.gpus import advertised, gpu_groups
from hybridai.cost.llm import llm_economics
from hybridai.cost.items import PLATFORM, UNALLOCATED, BurstRate, LineItem
from hybridai.cost.onprem import HOURS_PER_MONTH, basis, gpu_month_usd
from hybridai.cost.prices import Prices
from hybridai.recorded import (
    GPU_RESOURCE,
    HELM_RELEASE,
    ROLE_GPU_TRAINING,
    TEAM_LABEL,
    RecordedNodePool,
    eks_cluster_target,
    gpu_node_pools,
    gpu_quotas,
    mig_strategies,
    value_at,
)

if TYPE_CHECKING:
    from hybridai.capacity import CapacityPlan
    from hybridai.config.spec import StackSpec


def _times(a: float | None, b: float) -> float | None:
    return None if a is None else a * b


def estimate(
    resources: Iterable[dict[str, Any]],
    settings: CostSettings,
    cloud_gpu_hours_per_week: dict[str, float] | None = None,
    *,
    capacity: CapacityPlan | None = None,
    spec: StackSpec | None = None,
) -> dict[str, Any]:
    """The monthly estimate of recorded resources. `cloud_gpu_hours_per_week`: team → GPU-hours the
    training catalog sends to the burst pool each week; without it (no catalog), bursts are assumed
    to run `trainingGpusPerRun` GPUs for `trainingHoursPerWeek`, split by the teams' GPU quotas.

    With the plan's `capacity` and `spec`, the estimate also holds the economics of the plan
    (hybridai/cost/economics.py): `per_model`, `utilization` and `break_even`, and with LLMs in the
    plan `llms` (hybridai/cost/llm.py); `showback` is always there (it needs only the line items)."""
    resources = list(resources)
    prices = Prices(settings)
    region_of = {r["urn"]: r["inputs"].get("region") for r in resources if r["type"] == "pulumi:providers:aws"}
    items: list[LineItem] = []
    burst: list[BurstRate] = []
    items += _cloud(resources, region_of, settings, prices, cloud_gpu_hours_per_week, burst)
    items += _onprem(resources, settings, prices)
    items += _platform_components(resources, prices)
    summary = _summarize(items, settings, prices)
    if capacity is not None and spec is not None:
        summary.update(of_plan(resources, settings, items, burst, capacity, spec))
    summary["showback"] = showback(items, settings)
    if capacity is not None and spec is not None:
        llms = llm_economics(spec, capacity, summary["per_model"], summary["break_even"], summary["showback"]["rate"])
        if llms is not None:
            summary["llms"] = llms
    return summary


def _aws_list(resource: dict, region_of: dict) -> str:
    return f"aws:{region_of.get(resource['provider'], 'unknown')}"


def _cloud(resources: list[dict], region_of: dict, settings: CostSettings, prices: Prices, catalog_hours: dict[str, float] | None, burst: list[BurstRate]) -> list[LineItem]:
    """The cloud's line items: the EKS clusters' always-on part, the training bursts (their rates
    appended to `burst`), and the account's NAT gateways, team buckets and egress."""
    items = _eks_clusters(resources, region_of, prices)
    items += _bursts(resources, region_of, settings, prices, catalog_hours, burst)
    items += _account(resources, region_of, settings, prices)
    return items


def _eks_clusters(resources: list[dict], region_of: dict, prices: Prices) -> list[LineItem]:
    """Each EKS control plane and its managed node groups — the always-on system nodes; GPU
    capacity comes from NodePools (`_bursts`)."""
    items: list[LineItem] = []
    for cluster in (r for r in resources if r["type"] == "aws:eks/cluster:Cluster"):
        price_list, target = _aws_list(cluster, region_of), eks_cluster_target(cluster["inputs"]["name"], resources)
        hourly = prices.get(price_list, "eks_cluster_hour")
        items.append(LineItem("cloud_platform", "cloud", target, PLATFORM, HOURS_PER_MONTH, "control-plane hours", hourly, _times(hourly, HOURS_PER_MONTH), f"EKS control plane {target}, always on"))
    for group in (r for r in resources if r["type"] == "aws:eks/nodeGroup:NodeGroup"):
        inputs, price_list = group["inputs"], _aws_list(group, region_of)
        instance, nodes = inputs["instanceTypes"][0], inputs["scalingConfig"]["desiredSize"]
        hourly = prices.get(price_list, instance)
        items.append(LineItem("cloud_platform", "cloud", eks_cluster_target(inputs["clusterName"], resources), PLATFORM, nodes * HOURS_PER_MONTH, f"{instance} node-hours", hourly, _times(hourly, nodes * HOURS_PER_MONTH), f"{inputs['nodeGroupName']}: {nodes:g} nodes always on"))
    return items


def _bursts(resources: list[dict], region_of: dict, settings: CostSettings, prices: Prices, catalog_hours: dict[str, float] | None, burst: list[BurstRate]) -> list[LineItem]:
    """Training bursts run on the GPU NodePools Karpenter scales from zero: spot-priced where the
    pool buys spot (it falls back to on-demand only when spot is short), each pool's share of the
    burst in proportion to its GPU limit, each team's share by its GPU quota — or, with a training
    catalog, by the catalog's cloud GPU-hours."""
    pools = [p for p in gpu_node_pools(resources) if p.role == ROLE_GPU_TRAINING]
    pool_gpus = sum(p.gpu_limit for p in pools)
    run_gpus = settings.training_gpus_per_run if settings.training_gpus_per_run is not None else pool_gpus
    quotas = _gpu_quotas(resources)
    items: list[LineItem] = []
    for pool in pools:
        rate, pricing = _burst_rate(pool, pool.gpu_limit / pool_gpus if pool_gpus else 0.0, resources, region_of, settings, prices)
        burst.append(rate)
        if catalog_hours is None:
            gpus = run_gpus * pool.gpu_limit / pool_gpus if pool_gpus else 0
            weekly_hours = gpus * settings.training_hours_per_week
            basis = f"NodePool {pool.name}: {gpus:g} GPUs × {settings.training_hours_per_week:g} h/week × {settings.weeks_per_month:g} weeks"
            shares, share_of = _shares(quotas.get(pool.target, {})), "of the pool's GPU quota"
        else:
            total = sum(catalog_hours.values())
            weekly_hours = total * pool.gpu_limit / pool_gpus if pool_gpus else 0
            basis = f"NodePool {pool.name}: {weekly_hours:g} GPU-hours/week of the training catalog × {settings.weeks_per_month:g} weeks"
            shares, share_of = ({team: hours / total for team, hours in sorted(catalog_hours.items())} if total else {}), "of the catalog's cloud GPU-hours"
        for team, share in shares.items():
            hours = weekly_hours * settings.weeks_per_month * share
            items.append(
                LineItem(
                    "training_burst_gpu_hours",
                    "cloud",
                    pool.target,
                    team,
                    hours,
                    "GPU-hours",
                    rate.rate,
                    _times(rate.rate, hours),
                    basis + pricing + (f", {share:.0%} {share_of}" if share < 1 else ""),
                    monthly_at_on_demand=_times(rate.on_demand, hours),
                )
            )
    return items


def _burst_rate(pool: RecordedNodePool, share: float, resources: list[dict], region_of: dict, settings: CostSettings, prices: Prices) -> tuple[BurstRate, str]:
    """What a GPU-hour of the pool costs (its first instance type's price ÷ its GPUs, at spot, or at
    the commitment's discount under one), and how it is priced, in words for the line items' basis."""
    instance = pool.instance_types[0]
    gpu_instance = catalog.aws().gpu_instances[instance]
    cluster = _cluster_of(pool.target, resources)
    price_list = _aws_list(cluster, region_of) if cluster else "aws:unknown"
    gpu_hour = _times(prices.get(price_list, instance), 1 / gpu_instance.gpus)
    spot = "spot" in pool.capacity_types
    discount = prices.list(price_list).spot_discount if spot and prices.list(price_list) else 0.0
    pricing = f", spot at {discount:.0%} off on-demand" if spot else ", on-demand"
    if settings.commitment != "none":
        # A savings plan covers on-demand capacity only: under one, the burst runs on-demand at the
        # committed rate, and the estimate assumes the commitment is used in full.
        discount, pricing = prices.commitment_discount(price_list, settings.commitment), ""
        if discount is not None:
            pricing = f", {settings.commitment} savings plan at {discount:.0%} off on-demand (commitment assumed fully used; it covers no spot)"
    rate = None if discount is None else _times(gpu_hour, 1 - discount)
    label = f"{settings.commitment} commitment" if settings.commitment != "none" else ("spot" if spot else "on-demand")
    return BurstRate(pool.name, pool.target, price_list, instance, gpu_instance.gpu, share, gpu_hour, rate, label), pricing


def _account(resources: list[dict], region_of: dict, settings: CostSettings, prices: Prices) -> list[LineItem]:
    """The AWS account's NAT gateways, the teams' buckets (an assumed size each) and the egress of
    each region the stack uses (an assumed volume)."""
    items: list[LineItem] = []
    for nat in (r for r in resources if r["type"] == "aws:ec2/natGateway:NatGateway"):
        hourly = prices.get(_aws_list(nat, region_of), "nat_gateway_hour")
        items.append(LineItem("cloud_platform", "cloud", "aws", PLATFORM, HOURS_PER_MONTH, "NAT gateway hours", hourly, _times(hourly, HOURS_PER_MONTH), f"NAT gateway {nat['name']}"))
    for bucket in (r for r in resources if r["type"] == "aws:s3/bucket:Bucket"):
        team = (bucket["inputs"].get("tags") or {}).get(TEAM_LABEL)
        if not team:
            continue
        price = prices.get(_aws_list(bucket, region_of), "s3_gb_month")
        gb = settings.storage_gb_per_team
        items.append(LineItem("storage", "cloud", "aws", team, gb, "GB-months", price, _times(price, gb), f"bucket {bucket['inputs']['bucket']}: {gb:g} GB assumed"))
    for price_list in sorted({_aws_list(r, region_of) for r in resources if r["type"].startswith("aws:")}):
        price = prices.get(price_list, "internet_egress_gb")
        gb = settings.egress_gb_per_month
        items.append(LineItem("egress", "cloud", "aws", PLATFORM, gb, "GB", price, _times(price, gb), f"{gb:g} GB/month to the internet assumed"))
    return items


def _cluster_of(target: str, resources: list[dict]) -> dict | None:
    """The EKS cluster behind a cloud Kubernetes target."""
    return next((r for r in resources if r["type"] == "aws:eks/cluster:Cluster" and eks_cluster_target(r["inputs"]["name"], resources) == target), None)


def _quota_units(resources: list[dict]) -> dict[str, dict[tuple[str, str], dict[str, float]]]:
    """Each team's GPU quota by target: (team, tier) → GPU resource → units (those above zero)."""
    quotas: dict[str, dict[tuple[str, str], dict[str, float]]] = defaultdict(dict)
    for quota in gpu_quotas(resources):
        if quota.team is not None:
            quotas[quota.target][(quota.team, quota.tier)] = {resource: units for resource, units in quota.gpus.items() if units > 0}
    return quotas


def _gpu_quotas(resources: list[dict]) -> dict[str, dict[tuple[str, str], float]]:
    """Whole-GPU quota per team by target (the cloud pool runs whole GPUs)."""
    return {target: {team: units.get(GPU_RESOURCE, 0.0) for team, units in teams.items()} for target, teams in _quota_units(resources).items()}


def _shares(quotas: dict[tuple[str, str], float]) -> dict[str, float]:
    """Each team's share of a pool by its whole-GPU quota; all the platform's where no team has one."""
    total = sum(quotas.values())
    if not total:
        return {PLATFORM: 1.0}
    return {team: gpus / total for (team, _tier), gpus in sorted(quotas.items()) if gpus}


def _onprem(resources: list[dict], settings: CostSettings, prices: Prices) -> list[LineItem]:
    """On-prem GPUs cost their amortized purchase, power and operations every month, used or not;
    each team carries the share its quota reserves, and what no quota covers is `unallocated`."""
    offered, placement_of, models = _offered(resources, settings, prices)
    totals = _allocated(offered, _quota_units(resources))
    basis_of = {target: "; ".join(basis(m, settings) for m in sorted(ms)) for target, ms in models.items()}
    items = []
    for (target, team, item), (gpus, cost) in sorted(totals.items()):
        priced = all(gpu_month_usd(m, settings) is not None for m in models[target])
        items.append(LineItem(item, placement_of[target], target, team, gpus, "GPU-months", cost / gpus if gpus and priced else None, cost if priced else None, basis_of[target]))
    return items


def _offered(resources: list[dict], settings: CostSettings, prices: Prices) -> tuple[dict[tuple[str, str], list[float]], dict[str, str], dict[str, set[str]]]:
    """(target, resource) → [GPUs backing it, their monthly cost, units offered]; each target's
    placement; each target's GPU models."""
    strategies = mig_strategies(resources)

    def per_gpu(model: str) -> float | None:
        monthly = gpu_month_usd(model, settings)
        if monthly is None:
            prices.missing.add(f"onprem:{model}")
        else:
            prices.list("onprem")  # listed among the price sources used
        return monthly

    offered: dict[tuple[str, str], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    placement_of: dict[str, str] = {}
    models: dict[str, set[str]] = defaultdict(set)
    for group in gpu_groups(resources):
        placement_of[group.target] = group.placement
        models[group.target].add(group.model)
        monthly = per_gpu(group.model)
        for resource, (units, gpus) in advertised(group, strategies.get(group.target, "none")).items():
            slot = offered[(group.target, resource)]
            slot[0] += gpus
            slot[1] += (monthly or 0.0) * gpus
            slot[2] += units
    return offered, placement_of, models


def _allocated(offered: dict[tuple[str, str], list[float]], quotas: dict[str, dict[tuple[str, str], dict[str, float]]]) -> dict[tuple[str, str, str], list[float]]:
    """(target, team, item) → [GPUs, cost]: each resource's GPUs and cost shared among the teams by
    the units their quotas reserve (scaled down where they reserve more than is offered), the rest
    `unallocated`."""
    totals: dict[tuple[str, str, str], list[float]] = defaultdict(lambda: [0.0, 0.0])
    for (target, resource), (gpus, cost, units) in sorted(offered.items()):
        teams = quotas.get(target, {})
        asked = sum(u.get(resource, 0.0) for u in teams.values())
        scale = min(1.0, units / asked) if asked else 0.0
        left = 1.0
        for (team, tier), team_units in sorted(teams.items()):
            share = team_units.get(resource, 0.0) * scale / units if units else 0.0
            if share:
                item = "inference_gpus_always_on" if tier == "production-inference" else "onprem_gpus_amortized"
                totals[(target, team, item)][0] += gpus * share
                totals[(target, team, item)][1] += cost * share
                left -= share
        if left > 1e-9:
            totals[(target, UNALLOCATED, "onprem_gpus_amortized")][0] += gpus * left
            totals[(target, UNALLOCATED, "onprem_gpus_amortized")][1] += cost * left
    return totals


_UNITS = {"": 1, "m": Decimal("0.001"), "k": 1000, "M": 1000**2, "G": 1000**3, "Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4}


def _quantity(text: str | int | float) -> float:
    """A Kubernetes quantity (`500m`, `2`, `256Mi`, `1Gi`) as a number."""
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(text)).groups()
    return float(Decimal(number) * Decimal(_UNITS[unit]))


PLATFORM_COMPONENTS: dict[str, tuple[tuple[tuple[str, ...], tuple[str, ...] | None, tuple[str, ...] | None], ...]] = {
    # chart → (where its resources are, its replica count (None: 1), what enables it (None: always))
    "mlflow": ((("resources",), ("replicaCount",), None),),
    "argo-workflows": ((("controller", "resources"), ("controller", "replicas"), None), (("server", "resources"), ("server", "replicas"), ("server", "enabled"))),
    "jobset": ((("controller", "resources"), ("controller", "replicas"), None),),
}
"""The MLOps components (modules/mlflow.py, modules/training_runtime.py) whose own requests the
platform line carries: read from their Helm values, as the modules set them."""


def _platform_components(resources: list[dict], prices: Prices) -> list[LineItem]:
    """MLflow's, Argo Workflows' and JobSet's CPU and memory requests, always on. On-prem they are
    priced at the on-prem core- and GB-hour; in the cloud they run on the system node group, whose
    node-hours are already priced, so they are listed at no extra cost."""
    items = []
    for r in (r for r in resources if r["type"] == HELM_RELEASE):
        chart = r["inputs"].get("chart", "").rsplit("/", 1)[-1]
        values = r["inputs"].get("values") or {}
        for resources_at, replicas_at, enabled_at in PLATFORM_COMPONENTS.get(chart, ()):
            if enabled_at is not None and not value_at(values, enabled_at):
                continue
            requests = (value_at(values, resources_at) or {}).get("requests") or {}
            replicas = value_at(values, replicas_at) or 1
            cores, memory_gb = replicas * _quantity(requests.get("cpu", 0)), replicas * _quantity(requests.get("memory", 0)) / 1024**3
            cloud = r["placement"] == "cloud"
            for unit, quantity, key in (("core-hours", cores, "cpu_core_hour"), ("GB-hours", memory_gb, "ram_gb_hour")):
                hours = quantity * HOURS_PER_MONTH
                price = 0.0 if cloud else prices.get("onprem", key)
                basis = f"{chart} {'/'.join(resources_at[:-1]) or 'server'} requests × {replicas:g}" + (", on the priced system nodes" if cloud else "")
                items.append(LineItem("platform_components", r["placement"], r["target"], PLATFORM, round(hours, 4), unit, price, _times(price, hours), basis))
    return items


def _summarize(items: list[LineItem], settings: CostSettings, prices: Prices) -> dict[str, Any]:
    def total(values: Iterable[float | None]) -> float:
        return round(sum(v for v in values if v is not None), 2)

    by_placement: dict[str, float] = defaultdict(float)
    by_team: dict[str, float] = defaultdict(float)
    by_item: dict[str, float] = defaultdict(float)
    for i in items:
        if i.monthly is not None:
            by_placement[i.placement] += i.monthly
            by_team[i.team] += i.monthly
            by_item[i.item] += i.monthly
    estimate = total(i.monthly for i in items)
    at_on_demand = total(i.monthly_at_on_demand if i.monthly_at_on_demand is not None else i.monthly for i in items)
    ceiling = settings.monthly_ceiling_usd
    return {
        "currency": "USD",
        "period": "month",
        "total": {"estimate": estimate, "at_on_demand": at_on_demand},
        "ceiling": None if ceiling is None else {"monthly": ceiling, "within": estimate <= ceiling, "headroom": round(ceiling - estimate, 2)},
        "complete": not prices.missing,
        "unpriced": sorted(prices.missing),
        "by_placement": {k: round(v, 2) for k, v in sorted(by_placement.items())},
        "by_team": {k: round(v, 2) for k, v in sorted(by_team.items())},
        "by_item": {k: round(v, 2) for k, v in sorted(by_item.items())},
        "line_items": [i.record() for i in sorted(items, key=lambda i: (i.placement, i.target, i.item, i.team, i.basis))],
        "assumptions": {
            "hours_per_month": HOURS_PER_MONTH,
            **settings.model_dump(exclude={"monthly_ceiling_usd", "price_overrides"}),
            "spot_discount": {name: p.spot_discount for name, p in sorted(prices.used.items()) if name.startswith("aws:")},
        },
        "prices": {name: _source(name, p, settings, prices) for name, p in sorted(prices.used.items())},
    }


def _source(name: str, listed: catalog.PriceList, settings: CostSettings, prices: Prices) -> dict[str, Any]:
    """Where a price list's figures come from; its commitment rates' source too where they priced something."""
    out: dict[str, Any] = {"source": listed.source, "date": listed.date, "overrides": settings.price_overrides.get(name, {})}
    if name in prices.committed and listed.commitments is not None:
        out["commitments"] = {"term": settings.commitment, "discount": listed.commitments.discount[settings.commitment], "source": listed.commitments.source, "date": listed.commitments.date}
    return out
