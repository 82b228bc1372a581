"""From a workload catalog to GPUs: replicas per model, the MIG profile (or whole GPU) of each
replica, the MIG layout of every GPU, each team's quota, and the burst pool's size.

Packing MIG slices onto GPUs is a small bin-packing problem per GPU model: a GPU has
`compute_slices` compute and `memory_slices` memory slices, and each profile takes some of each.
Because a GPU holds few slices, every way of filling one GPU (a *pattern*) can be enumerated; the
planner then covers the demand with patterns, greedily taking the pattern that places the most
still-needed slices, and keeps the better of that and first-fit-decreasing. `lower_bound` gives a
count no packing can beat, so the packing's quality is measurable (benchmarks/capacity.py).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from typing import Iterable, Literal, NamedTuple

from hybridai import catalog

WHOLE = "gpu"
"""The profile name of a whole GPU (no MIG)."""


@dataclass(frozen=True)
class InferenceDemand:
    """One model of the catalog."""

    name: str
    team: str
    gpu_memory_gb: float
    """Memory a replica needs on its GPU (weights, KV cache, activations)."""
    peak_rps: float
    throughput_rps: float
    """Requests per second one replica sustains within the latency objective."""
    isolation: Literal["mig", "whole-gpu"] = "mig"
    """`mig`: a hardware-isolated slice is enough; `whole-gpu`: the replica needs a GPU of its own."""
    production: bool = True
    """Production models keep at least two replicas, so a node loss doesn't stop serving."""
    headroom: float = 0.7
    """Share of a replica's throughput planned at peak, keeping latency inside its objective."""
    canary_percent: int = 0
    """Traffic share of a canary version running beside the stable one (0: no canary)."""

    @property
    def planned_rps(self) -> float:
        """Requests per second a replica is planned to take at peak: its throughput less the
        headroom. The replicas are sized on it, and the autoscaler holds each replica to it."""
        return self.throughput_rps * self.headroom

    @property
    def replicas(self) -> int:
        needed = math.ceil(self.peak_rps / self.planned_rps) if self.peak_rps > 0 else 1
        return max(2 if self.production else 1, needed)

    @property
    def canary_replicas(self) -> int:
        """Replicas of the canary: its share of the peak replicas, at least one."""
        return max(1, math.ceil(self.replicas * self.canary_percent / 100)) if self.canary_percent else 0

    @property
    def slices(self) -> int:
        """Slices (or GPUs) the model holds at peak: the stable replicas and the canary's."""
        return self.replicas + self.canary_replicas


@dataclass(frozen=True)
class TrainingDemand:
    team: str
    gpu_hours_per_week: float
    deadline_hours: float
    """The weekly run must finish within this many hours of starting."""

    @property
    def gpus(self) -> int:
        """GPUs the run needs at once to finish by its deadline."""
        return math.ceil(self.gpu_hours_per_week / self.deadline_hours)


@dataclass(frozen=True)
class PoolInventory:
    name: str
    gpu_model: str
    nodes: int
    gpus_per_node: int
    layout: tuple[tuple[str, int], ...] | None = None
    """A fixed layout every GPU has (`(("gpu", 1),)` for whole GPUs); None: the planner lays out
    each GPU for the catalog, leaving the GPUs it doesn't need whole."""

    @property
    def gpus(self) -> int:
        return self.nodes * self.gpus_per_node


@dataclass
class PoolPlacement:
    """What the catalog makes of one pool: each model's replicas and profile, and each GPU's layout."""

    pool: PoolInventory
    profiles: dict[str, str] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    """model → replicas at peak (of the stable version)."""
    slices: dict[str, int] = field(default_factory=dict)
    """model → slices (or whole GPUs) it holds: its replicas and its canary's."""
    layouts: list[Counter] = field(default_factory=list)
    """One Counter per used GPU: profile → instances (`{"gpu": 1}` for a whole GPU)."""

    @property
    def gpus_used(self) -> int:
        return len(self.layouts)


class Misfit(NamedTuple):
    model: str
    reason: str
    cause: Literal["memory", "capacity"]
    """`memory`: no GPU or slice of the inventory holds a replica; `capacity`: not enough of them."""


class CapacityError(Exception):
    """The catalog doesn't fit the inventory: which models don't, and by how much."""

    def __init__(self, misfits: list[Misfit]):
        self.misfits = misfits
        super().__init__("; ".join(f"{m.model}: {m.reason}" for m in misfits))


def profile_for(demand: InferenceDemand, gpu_model: str) -> str | None:
    """The smallest profile of `gpu_model` that holds a replica, `gpu` for a whole GPU, or None."""
    model = catalog.gpus().models[gpu_model]
    if demand.gpu_memory_gb > model.memory_gb:
        return None
    if demand.isolation == "whole-gpu" or model.mig is None:
        return WHOLE
    fitting = [(p.compute, p.memory_slices, name) for name, p in model.mig.profiles.items() if p.memory_gb >= demand.gpu_memory_gb]
    return min(fitting)[2] if fitting else WHOLE


@cache
def _patterns(gpu_model: str) -> tuple[tuple[tuple[str, int], ...], ...]:
    """Every maximal way of filling one GPU of `gpu_model` with MIG profiles."""
    geometry = catalog.gpus().models[gpu_model].mig
    names = sorted(geometry.profiles, key=lambda n: (-geometry.profiles[n].compute, n))
    found: list[Counter] = []

    def grow(i: int, pattern: Counter, compute: int, memory: int) -> None:
        if i == len(names):
            if pattern:
                found.append(Counter(pattern))
            return
        p = geometry.profiles[names[i]]
        most = min(p.max, (geometry.compute_slices - compute) // p.compute, (geometry.memory_slices - memory) // p.memory_slices)
        for n in range(most, -1, -1):
            if n:
                pattern[names[i]] = n
            else:
                pattern.pop(names[i], None)
            grow(i + 1, pattern, compute + n * p.compute, memory + n * p.memory_slices)
        pattern.pop(names[i], None)

    grow(0, Counter(), 0, 0)
    # The sums admit some mixes NVIDIA's placement rules don't; only placeable ones are patterns.
    return tuple(tuple(sorted(p.items())) for p in found if catalog.placeable(p, gpu_model))


def _weight(gpu_model: str, profile: str) -> float:
    g = catalog.gpus().models[gpu_model].mig
    p = g.profiles[profile]
    return max(p.compute / g.compute_slices, p.memory_slices / g.memory_slices)


def lower_bound(demand: Counter, gpu_model: str) -> int:
    """GPUs no packing of `demand` can do with: whole GPUs, plus the most of the compute-slice,
    memory-slice and per-profile bounds of the MIG slices."""
    whole = demand.get(WHOLE, 0)
    slices = {p: n for p, n in demand.items() if p != WHOLE and n}
    if not slices:
        return whole
    g = catalog.gpus().models[gpu_model].mig
    compute = sum(g.profiles[p].compute * n for p, n in slices.items())
    memory = sum(g.profiles[p].memory_slices * n for p, n in slices.items())
    per_profile = max(math.ceil(n / g.profiles[p].max) for p, n in slices.items())
    return whole + max(math.ceil(compute / g.compute_slices), math.ceil(memory / g.memory_slices), per_profile)


def _greedy_patterns(slices: Counter, gpu_model: str) -> list[Counter]:
    left = Counter(slices)
    used: list[Counter] = []
    patterns = [Counter(dict(p)) for p in _patterns(gpu_model)]
    while +left:
        best = max(patterns, key=lambda p: (sum(min(n, left[q]) * _weight(gpu_model, q) for q, n in p.items()), -sum(p.values())))
        # Take the best pattern as often as the demand fills it completely, at once.
        copies = min(left[q] // n for q, n in best.items())
        if copies:
            used += [Counter(best) for _ in range(copies)]
            left -= Counter({q: n * copies for q, n in best.items()})
        else:
            take = Counter({q: min(n, left[q]) for q, n in best.items() if left[q]})
            used.append(take)
            left -= take
    return used


def _first_fit_decreasing(slices: Counter, gpu_model: str) -> list[Counter]:
    g = catalog.gpus().models[gpu_model].mig
    items = sorted(slices.elements(), key=lambda p: (-g.profiles[p].compute, -g.profiles[p].memory_slices, p))
    gpus: list[Counter] = []
    used: list[list[int]] = []  # compute and memory slices taken on each GPU
    open_from = 0  # GPUs before this one are full for every item still to come (sorted, decreasing)
    for item in items:
        p = g.profiles[item]
        for i in range(open_from, len(gpus)):
            compute, memory = used[i]
            if (
                compute + p.compute <= g.compute_slices
                and memory + p.memory_slices <= g.memory_slices
                and gpus[i][item] < p.max
                and catalog.placeable({**gpus[i], item: gpus[i][item] + 1}, gpu_model)
            ):
                gpus[i][item] += 1
                used[i][0] += p.compute
                used[i][1] += p.memory_slices
                break
        else:
            gpus.append(Counter({item: 1}))
            used.append([p.compute, p.memory_slices])
        while open_from < len(gpus) and (used[open_from][0] >= g.compute_slices or used[open_from][1] >= g.memory_slices):
            open_from += 1
    return gpus


def pack(demand: Counter, gpu_model: str) -> list[Counter]:
    """GPU layouts holding `demand` (profile → instances): whole GPUs first, then MIG slices."""
    layouts = [Counter({WHOLE: 1}) for _ in range(demand.get(WHOLE, 0))]
    slices = Counter({p: n for p, n in demand.items() if p != WHOLE and n > 0})
    if slices:
        candidates = [_greedy_patterns(slices, gpu_model), _first_fit_decreasing(slices, gpu_model)]
        layouts += min(candidates, key=len)
    return layouts


def resource_name(profile: str) -> str:
    """The extended resource a profile is requested as (`gpu`: a whole GPU)."""
    return "nvidia.com/gpu" if profile == WHOLE else f"nvidia.com/mig-{profile}"


def _fixed_profile(demand: InferenceDemand, pool: PoolInventory) -> str | None:
    """The smallest slice of a fixed layout that holds a replica, `gpu` on a whole-GPU pool, or None."""
    model = catalog.gpus().models[pool.gpu_model]
    layout = dict(pool.layout or ())
    if WHOLE in layout:
        return WHOLE if demand.gpu_memory_gb <= model.memory_gb else None
    if demand.isolation == "whole-gpu":
        return None
    fitting = [(model.mig.profiles[p].compute, p) for p in layout if model.mig.profiles[p].memory_gb >= demand.gpu_memory_gb]
    return min(fitting)[1] if fitting else None


def _fits(pool: PoolInventory, demand: Counter) -> bool:
    if pool.layout is not None:
        offered = Counter({p: n * pool.gpus for p, n in pool.layout})
        return not demand - offered
    # The bound rejects cheaply; only a plausible fit is packed.
    return lower_bound(demand, pool.gpu_model) <= pool.gpus and len(pack(demand, pool.gpu_model)) <= pool.gpus


def _shortfall(pool: PoolInventory, demand: Counter, profile: str) -> str:
    if pool.layout is not None:
        short = demand[profile] - dict(pool.layout)[profile] * pool.gpus
        unit = "GPU" if profile == WHOLE else f"× {profile} slice"
        return f"{short} {unit}{'s' if short != 1 else ''} short"
    short = len(pack(demand, pool.gpu_model)) - pool.gpus
    return f"{short} GPU{'s' if short != 1 else ''} short"


RESERVED = "reserved slices"
"""The misfit name of slices reserved on a planned pool that don't fit it."""


def place_models(pools: list[PoolInventory], models: Iterable[InferenceDemand], reserved: dict[str, Counter] | None = None) -> list[PoolPlacement]:
    """Place every model on the first pool with a slice (or whole GPU) that holds a replica and room
    for its replicas, lay out each pool's GPUs, and report every model that doesn't fit (in catalog
    order: earlier models are placed first). `reserved` (pool → profile → instances) are slices
    a planned pool lays out besides the catalog's, placed first."""
    placements = [PoolPlacement(pool) for pool in pools]
    demand = [Counter((reserved or {}).get(pool.name, {})) for pool in pools]
    misfits: list[Misfit] = []
    for pool, wanted in zip(pools, demand):
        if wanted and not _fits(pool, wanted):
            slices = ", ".join(f"{n} × {p}" for p, n in sorted(wanted.items()))
            misfits.append(Misfit(RESERVED, f"{slices} on pool {pool.name} don't fit: {_shortfall(pool, wanted, '')}", "capacity"))
    for m in models:
        options = [(i, _fixed_profile(m, pool) if pool.layout is not None else profile_for(m, pool.gpu_model)) for i, pool in enumerate(pools)]
        options = [(i, p) for i, p in options if p is not None]
        if not options:
            biggest = max((catalog.gpus().models[p.gpu_model].memory_gb for p in pools), default=0)
            if m.gpu_memory_gb > biggest:
                misfits.append(Misfit(m.name, f"a replica needs {m.gpu_memory_gb:g} GB of GPU memory; the largest GPU in the inventory has {biggest:g} GB", "memory"))
            else:
                kind = "whole GPU" if m.isolation == "whole-gpu" else "MIG slice or whole GPU"
                fix = "give a pool `mig: planned`, a larger profile in its layout, or whole GPUs"
                misfits.append(Misfit(m.name, f"no pool offers a {kind} holding {m.gpu_memory_gb:g} GB; {fix}", "memory"))
            continue
        for i, profile in options:
            trial = demand[i] + Counter({profile: m.slices})
            if _fits(pools[i], trial):
                demand[i] = trial
                placement = placements[i]
                placement.profiles[m.name], placement.replicas[m.name], placement.slices[m.name] = profile, m.replicas, m.slices
                break
        else:
            i, profile = options[0]
            short = _shortfall(pools[i], demand[i] + Counter({profile: m.slices}), profile)
            misfits.append(Misfit(m.name, f"{m.slices} × {profile} on pool {pools[i].name} don't fit: {short}", "capacity"))
    if misfits:
        raise CapacityError(misfits)
    for placement, wanted in zip(placements, demand):
        pool = placement.pool
        placement.layouts = [Counter(dict(pool.layout)) for _ in range(pool.gpus)] if pool.layout is not None else pack(wanted, pool.gpu_model)
    return placements
