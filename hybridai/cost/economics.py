"""The economics of a plan, beside its monthly estimate: what each model and training job costs, how
much of the GPUs the plan allocates (and what the same replicas would need without MIG), when buying
each on-prem pool beats renting its GPU-hours in the cloud, and a showback table by team.

Every figure is built from the capacity plan (placements, slices, training placement), the recorded
GPU nodes (each GPU's MIG layout) and the same prices and cost assumptions as the line items, and
says how in its `basis`: a reviewer can redo any of them by hand (docs/cost.md has the formulas).
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from hybridai import catalog
from hybridai.capacity.cluster import fits, training_gpus
from hybridai.capacity.planner import WHOLE, lower_bound, pack, resource_name
from hybridai.config.operations import CostSettings
from hybridai.config.sites import lead, normal_share, peak_share, site_view
from hybridai.cost.gpus import GpuGroup, advertised
from hybridai.cost.items import UNALLOCATED, BurstRate, LineItem
from hybridai.cost.onprem import HOURS_PER_MONTH, gpu_month_usd, onprem_prices
from hybridai.cost.prices import Prices
from hybridai.recorded import gpu_nodes, mig_strategies

if TYPE_CHECKING:
    from hybridai.capacity import CapacityPlan, ClusterCapacity
    from hybridai.config.components import GpuPool
    from hybridai.config.spec import StackSpec

GPU_ITEMS = ("inference_gpus_always_on", "onprem_gpus_amortized", "training_burst_gpu_hours")
"""Line items that are GPU time: what showback counts."""
DEFAULT_REGION = "us-east-1"
"""The region on-prem pools are compared with when the stack has no cloud region of its own."""
RATES = ("on_demand", "spot", "commitment_1y", "commitment_3y")


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


# --- per-model cost ----------------------------------------------------------------------------


def monthly_usd(gpu_hours_per_month: float, usd_per_gpu_hour: float | None) -> float | None:
    """The one per-model formula: GPU-hours a month × USD per GPU-hour. GPUs a workload holds all
    month (served models, on-prem training) count GPUs × 730 h at the on-prem GPU-month ÷ 730; cloud
    training counts its GPU-hours at the burst pool's rate."""
    return None if usd_per_gpu_hour is None else gpu_hours_per_month * usd_per_gpu_hour


def held_all_month(name: str, team: str, kind: str, *, gpus: float, usd_per_gpu_month: float | None, basis: str, **where: Any) -> dict[str, Any]:
    """A per-model row of GPUs held every hour of the month (a served model's slices or whole GPUs,
    an on-prem training job's whole GPUs): GPUs × 730 h × the GPU-month ÷ 730."""
    rate = None if usd_per_gpu_month is None else usd_per_gpu_month / HOURS_PER_MONTH
    hours = gpus * HOURS_PER_MONTH
    return {"name": name, "kind": kind, "team": team, **where, "gpus": _r(gpus, 4), "gpu_hours_per_month": _r(hours), "usd_per_gpu_hour": _r(rate, 4), "monthly": _r(monthly_usd(hours, rate)), "basis": basis}


def burst_hours(name: str, team: str, *, gpus: int, gpu_hours_per_week: float, weeks_per_month: float, rates: list[BurstRate], **where: Any) -> dict[str, Any]:
    """A per-model row of a training job sent to the cloud: its GPU-hours a month at the burst pools'
    rates, each pool taking its share of the hours (its GPU limit ÷ all pools', as the line items do)."""
    hours = gpu_hours_per_week * weeks_per_month
    priced = rates and all(b.rate is not None for b in rates)
    rate = sum(b.share * b.rate for b in rates) if priced else None
    on_demand = sum(b.share * b.on_demand for b in rates) if rates and all(b.on_demand is not None for b in rates) else None
    pools = "; ".join(f"NodePool {b.pool} ({b.instance}, {b.pricing}{'' if b.rate is None else f' at {b.rate:.4g} USD per GPU-hour'}{f', {b.share:.0%} of the hours' if b.share < 1 else ''})" for b in rates)
    return {
        "name": name, "kind": "training", "team": team, **where, "gpus": gpus, "gpu_hours_per_month": _r(hours), "usd_per_gpu_hour": _r(rate, 4),
        "monthly": _r(monthly_usd(hours, rate)), "monthly_at_on_demand": _r(monthly_usd(hours, on_demand)),
        "basis": f"{gpu_hours_per_week:g} GPU-hours/week × {weeks_per_month:g} weeks on {pools or 'no burst pool'}",
    }


# --- GPU pools as recorded ---------------------------------------------------------------------


@dataclass
class _Pool:
    """One GPU pool of a cluster as the plan records it: each GPU's MIG layout and what it offers."""

    cluster: str
    placement: str
    name: str
    gpu_model: str
    strategy: str
    layouts: list[Counter] = field(default_factory=list)
    """One Counter per GPU: profile → instances; empty for a whole GPU."""

    @property
    def installed(self) -> int:
        return len(self.layouts)

    def key(self, profile: str) -> str:
        """The quota key a slice is counted under (strategy `single` advertises slices as GPUs)."""
        return WHOLE if profile == WHOLE or self.strategy == "single" else profile

    def compute_share(self, profile: str) -> float:
        """Share of one GPU's compute a slice of `profile` is (1 for a whole GPU)."""
        if profile == WHOLE:
            return 1.0
        geometry = catalog.gpus().models[self.gpu_model].mig
        return geometry.profiles[profile].compute / geometry.compute_slices

    def offered(self) -> tuple[Counter, dict[str, float]]:
        """Units offered per quota key, and the GPU compute they amount to."""
        units: Counter = Counter()
        compute: dict[str, float] = defaultdict(float)
        for layout in self.layouts:
            for profile, n in (layout.items() if layout else [(WHOLE, 1)]):
                units[self.key(profile)] += n
                compute[self.key(profile)] += n * self.compute_share(profile)
        return units, dict(compute)

    def backing(self) -> dict[str, tuple[float, float]]:
        """Extended resource → (units offered, GPUs carrying their cost), as the line items split a
        GPU's cost among its slices (by their share of the compute laid out on it)."""
        out: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for layout, count in Counter(tuple(sorted(layout.items())) for layout in self.layouts).items():
            for resource, (units, gpus) in advertised(GpuGroup(self.cluster, self.placement, self.gpu_model, count, dict(layout)), self.strategy).items():
                out[resource][0] += units
                out[resource][1] += gpus
        return {k: (v[0], v[1]) for k, v in out.items()}


def _pools(resources: list[dict]) -> dict[tuple[str, str], _Pool]:
    """(cluster, pool) → the pool's GPUs, from the recorded GPU nodes."""
    strategies = mig_strategies(resources)
    pools: dict[tuple[str, str], _Pool] = {}
    for node in gpu_nodes(resources):
        pool = pools.setdefault((node.target, node.pool), _Pool(node.target, node.placement, node.pool, node.model, strategies.get(node.target, "none")))
        pool.layouts += [Counter(dict(layout)) for layout in node.layouts]
    return pools


# --- the plan's workloads ----------------------------------------------------------------------


@dataclass
class _Cluster:
    """One cluster's workloads as the capacity plan placed them."""

    name: str
    placement: str
    pools: list[tuple[_Pool, GpuPool | None]]
    serving: list[tuple[str, str, str, str, int, int, int]] = field(default_factory=list)
    """(model, team, pool, profile, replicas, slices, GPUs per replica): slices include the canary's,
    each an LLM replica's GPUs."""
    training: list[tuple[str, str, str, int, float]] = field(default_factory=list)
    """(job, team, pool, whole GPUs, GPU-hours per week) of the jobs placed here."""
    explicit: Counter = field(default_factory=Counter)
    """Quota key → units the teams' explicit quotas reserve beyond their catalogs."""


def _job_pools(capacity: ClusterCapacity, spec: StackSpec) -> dict[int, str | None]:
    """Training job (catalog index) → the on-prem pool it runs on, None when it goes to the cloud.
    The plan records each team's GPUs per pool; its jobs take them in catalog order, each from the
    first pool (in pool order) whose GPUs it fits and where its team has enough of them."""
    overflow = {o.index for o in capacity.overflow_jobs}
    model = {p.name: p.gpu_model for p in spec.onprem.gpu_pools}
    left = {team: Counter(pools) for team, pools in capacity.training.items()}
    placed: dict[int, str | None] = {}
    for i, job in enumerate(spec.training):
        if i in overflow:
            placed[i] = None
            continue
        have = left.get(job.team, Counter())
        order = [p for p in model if have.get(p, 0) > 0]
        pool = next((p for p in order if have[p] >= training_gpus(job) and fits(job, model[p])), None) or next(iter(order), None)
        if pool is not None:
            have[pool] -= training_gpus(job)
        placed[i] = pool
    return placed


def _onprem_cluster(spec: StackSpec, onprem: ClusterCapacity, pools: dict[tuple[str, str], _Pool]) -> _Cluster:
    """One on-prem cluster's serving, training and explicit quotas, from the stack as it sees it."""
    target = spec.onprem.name
    cluster = _Cluster(target, "onprem", [(pools[(target, p.name)], p) for p in spec.onprem.gpu_pools if (target, p.name) in pools])
    models = {m.name: m for m in spec.models}
    for name, (pool, profile, replicas) in onprem.placements.items():
        per_replica = onprem.llms[name].gpus_per_replica if name in onprem.llms else 1
        cluster.serving.append((name, models[name].team, pool, profile, replicas, onprem.slices[name], per_replica))
    for i, pool in _job_pools(onprem, spec).items():
        job = spec.training[i]
        if pool is not None:
            cluster.training.append((job.name, job.team, pool, training_gpus(job), job.gpu_hours_per_week))
    for team in spec.teams:
        cluster.explicit[onprem.slice_key(WHOLE)] += team.quota.gpus
        for profile, n in team.quota.mig.items():
            cluster.explicit[onprem.slice_key(profile)] += n
    return cluster


def _clusters(spec: StackSpec, capacity: CapacityPlan, pools: dict[tuple[str, str], _Pool]) -> list[_Cluster]:
    # Every on-prem cluster the plan holds, as it sees the stack (a single one's view is the stack
    # itself; a fleet's site stack holds none).
    clusters = [_onprem_cluster(site_view(spec, site.name), capacity.site(site.name, lead(spec)), pools) for site in spec.onprem_sites() if any(key[0] == site.name for key in pools)]
    for site in spec.edge_sites():
        if (site.name, site.name) not in pools:
            continue
        edge = _Cluster(site.name, site.placement, [(pools[(site.name, site.name)], None)])
        for m in site.models:
            if m.gpus:
                edge.serving.append((m.name, site.team, site.name, WHOLE, m.replicas, m.replicas * m.gpus, m.gpus))
        served = sum(s[5] for s in edge.serving)
        edge.explicit[WHOLE] = max(0, site.owner().quota.gpus - served)  # the site's team holds every GPU
        clusters.append(edge)
    return clusters


def _per_model(clusters: list[_Cluster], settings: CostSettings, burst: list[BurstRate], capacity: CapacityPlan) -> list[dict[str, Any]]:
    """A row per served model and training job: on-prem and at the edge what they hold all month,
    in the cloud the GPU-hours they burst."""
    rows: list[dict[str, Any]] = []
    for cluster in clusters:
        by_name = {p.name: p for p, _ in cluster.pools}
        rows += [_serving_row(cluster, by_name[serving[2]], serving, settings) for serving in cluster.serving]
        rows += [_training_row(cluster, by_name[training[2]], training, settings) for training in cluster.training]
    rows += _overflow_rows(capacity, settings, burst)
    return rows


def _serving_row(cluster: _Cluster, pool: _Pool, serving: tuple[str, str, str, str, int, int, int], settings: CostSettings) -> dict[str, Any]:
    """A served model's slices (canaries included), each carrying its share of its GPU's cost."""
    name, team, pool_name, profile, replicas, slices, per_replica = serving
    resource = resource_name(pool.key(profile))
    units, backing = pool.backing().get(resource, (slices, slices * pool.compute_share(profile)))
    per_slice = backing / units if units else 0.0
    month = gpu_month_usd(pool.gpu_model, settings)
    canary = slices // per_replica - replicas
    what = f"{slices} whole GPU{'s' if slices != 1 else ''}" if profile == WHOLE else f"{slices} × {profile}"
    carried = "" if profile == WHOLE and per_slice == 1 else f", each carrying {per_slice:.4g} GPU (its share of the compute laid out on its GPU{'s' if units > 1 else ''})"
    return held_all_month(
        name, team, "serving", gpus=slices * per_slice, usd_per_gpu_month=month,
        placement=cluster.placement, cluster=cluster.name, pool=pool_name, gpu_model=pool.gpu_model, profile=profile,
        replicas=replicas, canary_replicas=canary, slices=slices, compute_gpus=_r(slices * pool.compute_share(profile), 4),
        basis=f"{what} on pool {pool_name} ({replicas} replica{'s' if replicas != 1 else ''}{f' + {canary} canary' if canary else ''}){carried}, all month, "
        f"at {_money(month)} USD per {pool.gpu_model} GPU-month",
    )


def _training_row(cluster: _Cluster, pool: _Pool, training: tuple[str, str, str, int, float], settings: CostSettings) -> dict[str, Any]:
    """An on-prem training job: the whole GPUs its team's quota holds for it all month."""
    name, team, pool_name, gpus, weekly = training
    month = gpu_month_usd(pool.gpu_model, settings)
    used = weekly * settings.weeks_per_month
    return held_all_month(
        name, team, "training", gpus=gpus, usd_per_gpu_month=month,
        placement=cluster.placement, cluster=cluster.name, pool=pool_name, gpu_model=pool.gpu_model, profile=WHOLE,
        gpu_hours_used=_r(used),
        basis=f"{gpus} whole {pool.gpu_model} of pool {pool_name} held in {team}'s quota all month "
        f"({used:,.0f} of their {gpus * HOURS_PER_MONTH:,.0f} GPU-hours used), at {_money(month)} USD per GPU-month",
    )


def _overflow_rows(capacity: CapacityPlan, settings: CostSettings, burst: list[BurstRate]) -> list[dict[str, Any]]:
    """Each training job sent to the cloud: its GPU-hours at the burst pools' rates."""
    cloud_pools = [p.pool for p in capacity.cloud.pools] if capacity.cloud else []
    rows = []
    for o in capacity.onprem.overflow_jobs:
        job = o.job
        where = {b.target for b in burst}
        rows.append(
            burst_hours(
                job.name, job.team, gpus=training_gpus(job), gpu_hours_per_week=job.gpu_hours_per_week, weeks_per_month=settings.weeks_per_month, rates=burst,
                placement="cloud", cluster=", ".join(sorted(where)), pool=", ".join(b.pool for b in burst),
                gpu_model=", ".join(sorted({p.gpu_model for p in cloud_pools if fits(job, p.gpu_model)} or {b.gpu_model for b in burst})), profile=WHOLE,
            )
        )
    return rows


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


# --- utilization -------------------------------------------------------------------------------


def gpus_needed(demand: Counter, gpu_model: str, layout: tuple[tuple[str, int], ...] | None) -> int:
    """GPUs `demand` (profile → instances, `gpu` for whole GPUs) takes on a pool: packed by the
    planner where the pool is laid out for its catalog (`layout` None), on the fixed layout
    otherwise (each GPU holds the layout's instances of a profile)."""
    if layout is None:
        return len(pack(demand, gpu_model)) if +demand else 0
    fixed = dict(layout)
    if WHOLE in fixed:
        return sum(demand.values())
    return demand.get(WHOLE, 0) + max((math.ceil(n / fixed[p]) for p, n in demand.items() if p != WHOLE and n and p in fixed), default=0)


def _utilization(clusters: list[_Cluster], settings: CostSettings) -> tuple[dict[str, Any], dict[tuple[str, str], float]]:
    """Allocated ÷ installed per pool and cluster, with the catalog's dedicated-GPU baseline; and each
    pool's planned GPU-hours a month (for the break-even)."""
    out_clusters = []
    hours: dict[tuple[str, str], float] = {}
    for cluster in clusters:
        # The teams' explicit quotas fill the pools' free units in pool order: what one pool takes, the next can't.
        explicit = Counter(cluster.explicit)
        rows = []
        for pool, spec_pool in cluster.pools:
            row, hours[(cluster.name, pool.name)] = _pool_use(cluster, pool, spec_pool, explicit, settings)
            rows.append(row)
        out_clusters.append(_cluster_use(cluster, rows))
    return {
        "clusters": out_clusters,
        "basis": "allocated = what the plan reserves, in GPUs: served models' slices at their compute share of a GPU (3g of 7 = 3/7; whole GPUs 1), "
        "on-prem training jobs' whole GPUs, and the teams' explicit quotas (filling each pool's free units in pool order); percent = allocated ÷ installed. "
        "Baseline: the served replicas (canaries included) one whole GPU each, as without MIG, against the GPUs the same replicas take with MIG "
        "(packed by the planner on planned pools, on the fixed layout otherwise); mig_gain = dedicated ÷ with MIG.",
    }, hours


def _pool_use(cluster: _Cluster, pool: _Pool, spec_pool: GpuPool | None, explicit: Counter, settings: CostSettings) -> tuple[dict[str, Any], float]:
    """One pool's utilization row, and its planned GPU-hours a month; takes from `explicit` the
    explicit quotas' units it holds."""
    units, compute = pool.offered()
    per_unit = {k: compute[k] / units[k] for k in units if units[k]}
    taken: Counter = Counter()
    serving = training = 0.0
    demand: Counter = Counter()
    replicas = 0
    for _, _, on, profile, _, slices, _ in cluster.serving:
        if on == pool.name:
            taken[pool.key(profile)] += slices
            serving += slices * pool.compute_share(profile)
            demand[profile] += slices
            replicas += slices
    train_hours = 0.0
    for _, _, on, gpus, weekly in cluster.training:
        if on == pool.name:
            taken[WHOLE] += gpus
            training += gpus
            train_hours += weekly * settings.weeks_per_month
    reserved = 0.0
    for key in sorted(explicit):
        take = min(explicit[key], max(0, units.get(key, 0) - taken[key]))
        if take:
            explicit[key] -= take
            reserved += take * per_unit[key]
    allocated = serving + training + reserved
    layout = spec_pool.fixed_layout() if spec_pool is not None else ((WHOLE, 1),)  # an edge site's GPUs are whole
    with_mig = gpus_needed(demand, pool.gpu_model, layout)
    # Without MIG each replica (canaries too) takes a whole GPU: benchmarks/capacity.py's "1/GPU" baseline.
    dedicated = replicas
    partitioned = sum(1 for gpu in pool.layouts if gpu)
    mig = catalog.gpus().models[pool.gpu_model].mig is not None
    bound = lower_bound(demand, pool.gpu_model) if demand and (mig or set(demand) == {WHOLE}) else None
    row = {
        "pool": pool.name, "gpu_model": pool.gpu_model, "installed": pool.installed, "mig_partitioned": partitioned, "whole": pool.installed - partitioned,
        "allocated": {"serving": _r(serving, 4), "training": _r(training, 4), "explicit_quotas": _r(reserved, 4), "total": _r(allocated, 4)},
        "percent": _r(100 * allocated / pool.installed if pool.installed else 0.0, 1),
        "idle": _r(pool.installed - allocated, 4),
        "baseline": {"replicas": replicas, "dedicated_gpus": dedicated, "gpus_with_mig": with_mig, "packing_lower_bound": bound, "mig_gain": _r(dedicated / with_mig, 2) if with_mig else None},
    }
    return row, (serving + reserved) * HOURS_PER_MONTH + train_hours


def _cluster_use(cluster: _Cluster, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A cluster's utilization: its pools' rows and their sums."""
    installed = sum(r["installed"] for r in rows)
    allocated = sum(r["allocated"]["total"] for r in rows)
    dedicated = sum(r["baseline"]["dedicated_gpus"] for r in rows)
    with_mig = sum(r["baseline"]["gpus_with_mig"] for r in rows)
    return {
        "cluster": cluster.name, "placement": cluster.placement, "installed": installed, "allocated": _r(allocated, 4),
        "percent": _r(100 * allocated / installed if installed else 0.0, 1), "idle": _r(installed - allocated, 4),
        "baseline": {"replicas": sum(r["baseline"]["replicas"] for r in rows), "dedicated_gpus": dedicated, "gpus_with_mig": with_mig, "mig_gain": _r(dedicated / with_mig, 2) if with_mig else None},
        "pools": rows,
    }


# --- break-even --------------------------------------------------------------------------------


def comparison_region(settings: CostSettings, spec: StackSpec) -> tuple[str, str]:
    """The cloud region on-prem pools are compared with, and why that one."""
    if settings.cloud_comparison_region:
        return settings.cloud_comparison_region, "cost.cloudComparisonRegion"
    pool = spec.burst_pool()
    if pool is not None:
        return pool.region, "the stack's cloud region"
    listed = set(catalog.price_lists())
    for region in spec.allowed_regions():
        if f"aws-{region}" in listed:
            return region, f"the first region of jurisdiction {getattr(spec, 'jurisdiction', '')} with a price list"
    return DEFAULT_REGION, f"the stack has no cloud region: {DEFAULT_REGION}, the default of cost.cloudComparisonRegion"


def cloud_instance(gpu_model: str, price_list: catalog.PriceList | None) -> str | None:
    """The AWS instance type a GPU of `gpu_model` is rented as: the one with the most GPUs (a whole
    server, as the on-prem prices are a server's share per GPU), the lowest price per GPU among those."""
    candidates = [(name, i.gpus) for name, i in catalog.aws().gpu_instances.items() if i.gpu == gpu_model]
    if not candidates:
        return None
    most = max(g for _, g in candidates)
    largest = [name for name, g in candidates if g == most]
    priced = [name for name in largest if price_list is not None and name in price_list.items]
    return min(priced, key=lambda n: (price_list.items[n], n)) if priced else min(largest)


def break_even_months(purchase: float, running_monthly: float, renting_monthly: float) -> float | None:
    """Months until buying beats renting: the purchase ÷ what renting costs a month beyond owning's
    running costs (power and operations); None when renting costs no more than running them."""
    saved = renting_monthly - running_monthly
    return purchase / saved if saved > 0 else None


def _break_even(spec: StackSpec, settings: CostSettings, clusters: list[_Cluster], hours: dict[tuple[str, str], float]) -> dict[str, Any]:
    """Per on-prem pool, the months until buying it beats renting its planned GPU-hours in the
    comparison region, at each rate that region's price list has."""
    region, why = comparison_region(settings, spec)
    prices = Prices(settings)
    listed = prices.list(f"aws:{region}")
    onprem_list = onprem_prices(settings)
    rows = [_pool_break_even(pool, hours, region, listed, onprem_list, settings) for pool, _ in clusters[0].pools]
    sources = {name: {"source": p.source, "date": p.date, **({"commitments": {"source": p.commitments.source, "date": p.commitments.date}} if p.commitments else {})} for name, p in sorted(prices.used.items())}
    sources["onprem"] = {"source": onprem_list.source, "date": onprem_list.date}
    return {
        "region": region,
        "region_basis": why,
        "amortization_months": settings.onprem.amortization_years * 12,
        "pools": rows,
        "sources": sources,
        "unpriced": sorted(prices.missing),
        "basis": "planned GPU-hours = the pool's allocated GPUs for serving and explicit quotas × 730 h + its training jobs' GPU-hours/week × weeksPerMonth; "
        "spot at the price list's spot discount; commitments at its savings-plan discount, assumed fully used",
    }


def _pool_break_even(pool: _Pool, hours: dict[tuple[str, str], float], region: str, listed: catalog.PriceList | None, onprem_list: catalog.PriceList, settings: CostSettings) -> dict[str, Any]:
    """One pool's purchase and running cost against renting its planned GPU-hours, at each rate;
    `rates` None (and the basis says why) where either side has no price."""
    a = settings.onprem
    n = pool.installed
    price = onprem_list.items.get(pool.gpu_model)
    month = gpu_month_usd(pool.gpu_model, settings)
    row: dict[str, Any] = {"cluster": pool.cluster, "pool": pool.name, "gpu_model": pool.gpu_model, "gpus": n, "gpu_hours_per_month": _r(hours.get((pool.cluster, pool.name), 0.0))}
    instance = cloud_instance(pool.gpu_model, listed)
    if price is None or month is None:
        return {**row, "rates": None, "basis": f"no on-prem price for {pool.gpu_model}"}
    running = month - price / (a.amortization_years * 12)
    row.update({"purchase_usd": _r(price * n), "owning_monthly_usd": _r(month * n), "running_monthly_usd": _r(running * n), "instance": instance})
    if instance is None or listed is None or instance not in listed.items:
        reason = f"no AWS instance type has {pool.gpu_model} GPUs" if instance is None else f"no price of {instance} in aws:{region}"
        return {**row, "rates": None, "basis": reason}
    on_demand = listed.items[instance] / catalog.aws().gpu_instances[instance].gpus
    discounts = {"on_demand": 0.0, "spot": listed.spot_discount or None}
    for term in ("1y", "3y"):
        discounts[f"commitment_{term}"] = listed.commitments.discount.get(term) if listed.commitments else None
    rates = {}
    for name in RATES:
        d = discounts[name]
        if d is None:
            rates[name] = None
            continue
        rate = on_demand * (1 - d)
        renting = hours[(pool.cluster, pool.name)] * rate
        months = break_even_months(price * n, running * n, renting)
        rates[name] = {
            "usd_per_gpu_hour": _r(rate, 4), "renting_monthly_usd": _r(renting), "months": _r(months, 1),
            "within_amortization": months is not None and months <= a.amortization_years * 12,
        }
    row["rates"] = rates
    row["basis"] = (
        f"buy {n} × {pool.gpu_model} for {price * n:,.0f} USD, then {running * n:,.2f} USD a month of power and operations, against renting the pool's "
        f"{hours[(pool.cluster, pool.name)]:,.0f} planned GPU-hours a month as {instance} in {region} ({listed.items[instance]:g} USD/h for "
        f"{catalog.aws().gpu_instances[instance].gpus} GPUs on-demand); months = purchase ÷ (renting − power and operations), "
        f"none where renting costs less than running the GPUs"
    )
    return row


def of_plan(resources: list[dict], settings: CostSettings, items: list[LineItem], burst: list[BurstRate], capacity: CapacityPlan, spec: StackSpec) -> dict[str, Any]:
    """`per_model`, `utilization` and `break_even` of a plan."""
    pools = _pools(resources)
    clusters = _clusters(spec, capacity, pools)
    utilization, hours = _utilization(clusters, settings)
    per_model = _per_model(clusters, settings, burst, capacity)
    out = {
        "per_model": per_model,
        "utilization": utilization,
        "break_even": _break_even(spec, settings, clusters, hours),
    }
    if spec.multi_site():
        out["redundancy"] = redundancy(spec, per_model)
    return out


def redundancy(spec: StackSpec, per_model: list[dict[str, Any]]) -> dict[str, Any]:
    """What surviving the loss of a site costs each month: of each on-prem serving row, the part of
    its slices held beyond the load the site carries while every site is up — a site sized for
    share s of a model's peak that carries n of it holds (1 − n/s) of its cost in reserve (an
    active pair: half of each site; a warm or cold standby: all of it). Proportional to the slices,
    so replica rounding is not taken out."""
    models = {m.name: m for m in spec.models}
    rows = []
    for row in per_model:
        model = models.get(row["name"])
        if row["kind"] != "serving" or row["placement"] != "onprem" or model is None or row["monthly"] is None:
            continue
        sized, carried = peak_share(spec, model, row["cluster"]), normal_share(spec, model, row["cluster"])
        reserve = 1 - carried / sized if sized else 0.0
        rows.append(
            {
                "model": row["name"], "cluster": row["cluster"], "sized_share": _r(sized, 4), "normal_share": _r(carried, 4),
                "monthly": row["monthly"], "reserve_monthly": _r(row["monthly"] * reserve),
                "basis": f"sized for {sized:.0%} of the peak, carries {carried:.0%} while every site is up: {reserve:.0%} of {_money(row['monthly'])} USD held for failover",
            }
        )
    return {"monthly": _r(sum(r["reserve_monthly"] for r in rows)), "rows": rows}


# --- showback ----------------------------------------------------------------------------------


def showback_table(gpu_hours: dict[str, float], usd_per_gpu_hour: float | None) -> list[dict[str, Any]]:
    """team → GPU-hours at one rate: each team's amount = its GPU-hours × the rate."""
    return [{"team": team, "gpu_hours": _r(hours), "rate": usd_per_gpu_hour, "amount": _r(monthly_usd(hours, usd_per_gpu_hour))} for team, hours in gpu_hours.items()]


def showback(items: Iterable[LineItem], settings: CostSettings) -> dict[str, Any]:
    """Each team's GPU-hours a month — the GPUs its quotas hold on-prem and at the edge (GPU-months ×
    730 h), and its cloud burst GPU-hours — at one internal rate: `cost.showbackRateUsdPerGpuHour`,
    or the amortized cost of an on-prem GPU-hour (the on-prem GPUs' monthly cost ÷ their hours)."""
    hours: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    onprem_cost = onprem_gpu_months = 0.0
    priced = True
    for i in items:
        if i.item not in GPU_ITEMS:
            continue
        hours[i.team][i.placement] += i.quantity if i.unit == "GPU-hours" else i.quantity * HOURS_PER_MONTH
        if i.placement == "onprem" and i.unit == "GPU-months":
            onprem_gpu_months += i.quantity
            priced = priced and i.monthly is not None
            onprem_cost += i.monthly or 0.0
    if settings.showback_rate_usd_per_gpu_hour is not None:
        rate, source = settings.showback_rate_usd_per_gpu_hour, "cost.showbackRateUsdPerGpuHour"
    elif onprem_gpu_months and priced:
        rate = onprem_cost / (onprem_gpu_months * HOURS_PER_MONTH)
        source = f"the amortized on-prem GPU-hour: {onprem_cost:,.2f} USD a month for {onprem_gpu_months:g} on-prem GPUs ÷ ({onprem_gpu_months:g} × {HOURS_PER_MONTH} h)"
    else:
        rate, source = None, "no priced on-prem GPU to derive a rate from; set cost.showbackRateUsdPerGpuHour"
    rate = _r(rate, 6)
    teams = sorted(hours, key=lambda t: (t == UNALLOCATED, t))
    rows = showback_table({t: sum(hours[t].values()) for t in teams}, rate)
    for row in rows:
        row["by_placement"] = {p: _r(h) for p, h in sorted(hours[row["team"]].items())}
    total_hours = sum(sum(h.values()) for h in hours.values())
    return {
        "rate": {"usd_per_gpu_hour": rate, "source": source},
        "teams": rows,
        "total": {"gpu_hours": _r(total_hours), "amount": _r(monthly_usd(total_hours, rate))},
        "basis": "GPU-hours a month: the GPUs each team's quotas hold on-prem and at the edge × 730 h (MIG slices at their share of a GPU, as in the line items; "
        "`unallocated`: GPUs no quota holds), plus its cloud burst GPU-hours; amount = GPU-hours × rate",
    }
