"""From a workload catalog to GPUs: replicas per model, the MIG profile (or whole GPU) of each
replica, the MIG layout of every GPU, each team's quota, and the burst pool's size.

Packing MIG slices onto GPUs is a small bin-packing problem per GPU model: a GPU has
`compute_slices` compute and `memory_slices` memory slices, and each profile takes some of each.
Because a GPU holds few slices, every way of filling one GPU (a *pattern*) can be enumerated; the
planner then covers the demand with patterns, greedily taking the pattern that places the most
still-needed slices, and keeps the better of that and first-fit-decreasing. `lower_bound` gives a
count no packing can beat, so the packing's quality is measurable (benchmarks/capacity.py).

An LLM's replica is sized for each pool's GPUs by hybridai/capacity/llm.py; one that spans several
GPUs takes them whole, each of its pods on one node (`pod_nodes`).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Iterable, Literal, NamedTuple

from hybridai import catalog
from hybridai.capacity.llm import LlmShape, LlmSizing, size_replica

WHOLE = "gpu"
"""The profile name of a whole GPU (no MIG)."""


HEADROOM = 0.7
"""Share of a replica's throughput the planner loads it with at peak: the rest keeps latency inside
its objective as load fluctuates (the cost of an LLM's tokens at this load is its floor)."""


@dataclass(frozen=True)
class InferenceDemand:
    """One model of the catalog."""

    name: str
    team: str
    gpu_memory_gb: float
    """Memory a replica needs on each of its GPUs (weights, KV cache, activations). An LLM's is
    sized on each pool the planner considers (`llm`)."""
    peak_rps: float
    """Peak load: requests per second (an LLM's: output tokens per second)."""
    throughput_rps: float
    """Load one replica sustains within the latency objective, in the unit of `peak_rps`."""
    isolation: Literal["mig", "whole-gpu"] = "mig"
    """`mig`: a hardware-isolated slice is enough; `whole-gpu`: the replica needs a GPU of its own."""
    production: bool = True
    """Production models keep at least two replicas, so a node loss doesn't stop serving."""
    headroom: float = HEADROOM
    """Share of a replica's throughput planned at peak, keeping latency inside its objective."""
    canary_percent: int = 0
    """Traffic share of a canary version running beside the stable one (0: no canary)."""
    gpus_per_replica: int = 1
    """GPUs one replica spans: an LLM's tensor × pipeline parallel size. More than one: whole GPUs,
    `tensor_parallel` of them on each node (MIG slices have no GPU-to-GPU path between them)."""
    tensor_parallel: int = 1
    """GPUs of one node each pod of a replica takes (its pods: `gpus_per_replica` ÷ this)."""
    llm: LlmShape | None = None
    """An LLM: its GPUs are sized from this on each pool (`llm.size_replica`), None otherwise."""

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
        """Slices (or GPUs) the model holds at peak: the stable replicas and the canary's, each its
        GPUs."""
        return (self.replicas + self.canary_replicas) * self.gpus_per_replica

    @property
    def pods(self) -> list[int]:
        """GPUs of each pod of a multi-GPU replica at peak (each pod on one node); none for one-GPU replicas."""
        if self.gpus_per_replica == 1:
            return []
        return [self.tensor_parallel] * ((self.replicas + self.canary_replicas) * (self.gpus_per_replica // self.tensor_parallel))


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
    llms: dict[str, LlmSizing] = field(default_factory=dict)
    """LLM → how a replica is sized on this pool."""
    layouts: list[Counter] = field(default_factory=list)
    """One Counter per used GPU: profile → instances (`{"gpu": 1}` for a whole GPU)."""
    pods: list[int] = field(default_factory=list)
    """Whole GPUs of each pod of the multi-GPU replicas, which must be on one node: what
    `pod_nodes` lays out before the other GPUs."""

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
    if demand.isolation == "whole-gpu" or model.mig is None or demand.gpus_per_replica > 1:
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
    if demand.isolation == "whole-gpu" or demand.gpus_per_replica > 1:
        return None
    fitting = [(model.mig.profiles[p].compute, p) for p in layout if model.mig.profiles[p].memory_gb >= demand.gpu_memory_gb]
    return min(fitting)[1] if fitting else None


def pod_nodes(pods: list[int], nodes: int, gpus_per_node: int) -> list[int] | None:
    """Whole GPUs the multi-GPU pods take on each node, or None when they don't fit the nodes. Pods,
    largest first, go to the node with the most GPUs left (so a model's replicas spread over the
    nodes). For tensor-parallel sizes, powers of two, on nodes whose GPUs are a multiple of the
    largest, this never fails where a placement exists: a node's GPUs left stay a multiple of each
    pod still to come."""
    taken = [0] * nodes
    for size in sorted(pods, reverse=True):
        node = min(range(nodes), key=lambda n: (taken[n], n))
        if taken[node] + size > gpus_per_node:
            return None
        taken[node] += size
    return taken


def _fits(pool: PoolInventory, demand: Counter, pods: list[int] = ()) -> bool:
    if pods and pod_nodes(list(pods), pool.nodes, pool.gpus_per_node) is None:
        return False
    if pool.layout is not None:
        offered = Counter({p: n * pool.gpus for p, n in pool.layout})
        return not demand - offered
    # The bound rejects cheaply; only a plausible fit is packed.
    return lower_bound(demand, pool.gpu_model) <= pool.gpus and len(pack(demand, pool.gpu_model)) <= pool.gpus


def _shortfall(pool: PoolInventory, demand: Counter, profile: str, pods: list[int] = ()) -> str:
    if pods and pod_nodes(list(pods), pool.nodes, pool.gpus_per_node) is None:
        sizes = Counter(pods)
        shape = ", ".join(f"{n} pods of {size} GPUs" for size, n in sorted(sizes.items(), reverse=True))
        return f"{shape}, each on one node, don't fit {pool.nodes} node{'s' if pool.nodes != 1 else ''} of {pool.gpus_per_node} GPUs"
    if pool.layout is not None:
        short = demand[profile] - dict(pool.layout)[profile] * pool.gpus
        unit = "GPU" if profile == WHOLE else f"× {profile} slice"
        return f"{short} {unit}{'s' if short != 1 else ''} short"
    short = len(pack(demand, pool.gpu_model)) - pool.gpus
    return f"{short} GPU{'s' if short != 1 else ''} short"


RESERVED = "reserved slices"
"""The misfit name of slices reserved on a planned pool that don't fit it."""


def _on(m: InferenceDemand, pool: PoolInventory) -> tuple[InferenceDemand | None, LlmSizing | str | None]:
    """The model as it would run on `pool`: an LLM sized for the pool's GPUs (None, and why, where
    it doesn't fit them); any other model as it is."""
    if m.llm is None:
        return m, None
    size = size_replica(m.llm, pool.name, pool.gpu_model, pool.gpus_per_node, pool.nodes)
    if isinstance(size, str):
        return None, size
    return replace(m, gpu_memory_gb=size.required_gb, gpus_per_replica=size.gpus_per_replica, tensor_parallel=size.tensor_parallel), size


def place_models(pools: list[PoolInventory], models: Iterable[InferenceDemand], reserved: dict[str, Counter] | None = None) -> list[PoolPlacement]:
    """Place every model on the first pool with a slice (or whole GPU) that holds a replica and room
    for its replicas, lay out each pool's GPUs, and report every model that doesn't fit (in catalog
    order: earlier models are placed first). An LLM is sized for each pool's GPUs in turn, its
    multi-GPU replicas' pods each on one node. `reserved` (pool → profile → instances) are slices a
    planned pool lays out besides the catalog's, placed first."""
    placements = [PoolPlacement(pool) for pool in pools]
    demand = [Counter((reserved or {}).get(pool.name, {})) for pool in pools]
    pods: list[list[int]] = [[] for _ in pools]
    misfits: list[Misfit] = []
    for pool, wanted in zip(pools, demand):
        if wanted and not _fits(pool, wanted):
            slices = ", ".join(f"{n} × {p}" for p, n in sorted(wanted.items()))
            misfits.append(Misfit(RESERVED, f"{slices} on pool {pool.name} don't fit: {_shortfall(pool, wanted, '')}", "capacity"))
    for model in models:
        options = []
        unsized: list[tuple[str, str]] = []  # (pool, why an LLM's replica doesn't fit its GPUs)
        for i, pool in enumerate(pools):
            m, size = _on(model, pool)
            if m is None:
                unsized.append((pool.name, size))
                continue
            profile = _fixed_profile(m, pool) if pool.layout is not None else profile_for(m, pool.gpu_model)
            if profile is not None:
                options.append((i, profile, m, size))
        if not options:
            misfits.append(Misfit(model.name, _no_option(model, pools, unsized), "memory"))
            continue
        for i, profile, m, size in options:
            trial = demand[i] + Counter({profile: m.slices})
            if _fits(pools[i], trial, pods[i] + m.pods):
                demand[i], pods[i] = trial, pods[i] + m.pods
                placement = placements[i]
                placement.profiles[m.name], placement.replicas[m.name], placement.slices[m.name] = profile, m.replicas, m.slices
                if size is not None:
                    placement.llms[m.name] = size
                break
        else:
            i, profile, m, _ = options[0]
            short = _shortfall(pools[i], demand[i] + Counter({profile: m.slices}), profile, pods[i] + m.pods)
            what = f"{m.slices} × {profile}" if m.gpus_per_replica == 1 else f"{m.replicas + m.canary_replicas} replicas × {m.gpus_per_replica} GPUs"
            misfits.append(Misfit(m.name, f"{what} on pool {pools[i].name} don't fit: {short}", "capacity"))
    if misfits:
        raise CapacityError(misfits)
    for placement, wanted, gangs in zip(placements, demand, pods):
        pool = placement.pool
        placement.layouts = [Counter(dict(pool.layout)) for _ in range(pool.gpus)] if pool.layout is not None else pack(wanted, pool.gpu_model)
        placement.pods = sorted(gangs, reverse=True)
    return placements


def _no_option(m: InferenceDemand, pools: list[PoolInventory], unsized: list[tuple[str, str]]) -> str:
    """Why no pool offers a model a slice or GPUs: an LLM's sizing on each pool whose GPUs can't hold
    it, or the memory a replica needs against what the pools offer."""
    if m.llm is not None and len(unsized) == len(pools):
        return "; ".join(f"pool {pool}: {why}" for pool, why in unsized)
    biggest = max((catalog.gpus().models[p.gpu_model].memory_gb for p in pools), default=0)
    if m.llm is None and m.gpu_memory_gb > biggest:
        return f"a replica needs {m.gpu_memory_gb:g} GB of GPU memory; the largest GPU in the inventory has {biggest:g} GB"
    if m.llm is not None:
        return "no pool whose GPUs hold a replica offers them whole or as a large enough MIG slice; give such a pool `mig: planned` or whole GPUs"
    kind = "whole GPU" if m.isolation == "whole-gpu" else "MIG slice or whole GPU"
    fix = "give a pool `mig: planned`, a larger profile in its layout, or whole GPUs"
    return f"no pool offers a {kind} holding {m.gpu_memory_gb:g} GB; {fix}"
