"""More than one on-prem data center (`onprem` as a list, docs/multi-site.md): where each team and
model runs, what share of its peak each site carries, the stack as one site sees it, and the rules
of the list.

The lead cluster — the `primary`, else the first listed — is `spec.onprem`, the one every
single-cluster reader reads: the training hub, with MLflow and the log store, and the URNs a
single-cluster stack had. A single mapping is one site of its own, and every function here gives
back what the stack had before.
"""
from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from hybridai.config.base import NO_VALUE, Problem
from hybridai.config.components import OnpremCluster, OnpremSite, Team
from hybridai.config.workloads import ServedModel

if TYPE_CHECKING:
    from hybridai.config.spec import StackSpec

SERVING_ROLES = ("primary", "active")
"""The roles whose clusters serve their models' traffic all the time; a `dr` cluster stands by."""


def lead(spec: StackSpec) -> str:
    """The lead cluster's name (`spec.onprem`): the training hub."""
    return spec.onprem.name


def serving_sites(spec: StackSpec) -> list[str]:
    """The clusters that serve traffic (`primary`, `active`), in the stack file's order."""
    return [s.name for s in spec.onprem_sites() if s.role in SERVING_ROLES]


def dr_sites(spec: StackSpec) -> list[str]:
    """The disaster-recovery clusters, in the stack file's order."""
    return [s.name for s in spec.onprem_sites() if s.role == "dr"]


def model_sites(spec: StackSpec, model: ServedModel) -> list[str]:
    """The clusters serving `model`: those it names, else every serving cluster its team is on."""
    if model.clusters is not None:
        return list(model.clusters)
    team = next((t for t in spec.teams if t.name == model.team), None)
    on = set(team.clusters) if team is not None and team.clusters is not None else None
    return [s for s in serving_sites(spec) if on is None or s in on]


def standby_sites(spec: StackSpec, model: ServedModel) -> list[str]:
    """The `dr` clusters holding a standby of `model`: every one, for a critical model."""
    return dr_sites(spec) if model.critical else []


def team_sites(spec: StackSpec, team: Team) -> list[str]:
    """The clusters `team`'s namespace is on: those it names, else every serving cluster and the
    `dr` clusters where its critical models stand by."""
    if team.clusters is not None:
        return list(team.clusters)
    standby = {s for m in spec.models if m.team == team.name for s in standby_sites(spec, m)}
    return [s.name for s in spec.onprem_sites() if s.role in SERVING_ROLES or s.name in standby]


def peak_share(spec: StackSpec, model: ServedModel, site: str) -> float:
    """The part of `model`'s peak `site` is sized for: with n clusters serving it, the share each
    carries once one of them is lost, 1/(n-1) (the whole peak for two, or for one alone); a `dr`
    standby the whole peak (it serves alone when the primary is lost); 0 where it doesn't run."""
    serving = model_sites(spec, model)
    if site in serving:
        return 1.0 / max(len(serving) - 1, 1)
    return 1.0 if site in standby_sites(spec, model) else 0.0


def normal_share(spec: StackSpec, model: ServedModel, site: str) -> float:
    """The part of `model`'s peak `site` carries while every site is up: an equal share of the
    clusters serving it; nothing on a standby."""
    serving = model_sites(spec, model)
    return 1.0 / len(serving) if site in serving else 0.0


def failover(spec: StackSpec) -> list[dict]:
    """What serves each model where, with every site up and with each site down: per model, its
    share of the peak on each site (`up`), and for each site lost (`down`, site → what takes over)
    the surviving sites' shares — within what each was sized for — or a standby taking it (`warm`:
    at once; `cold`: once the backup is restored there), or nothing (`[]`: the model is down)."""
    standby = {s.name: s.standby for s in spec.onprem_sites() if s.role == "dr"}
    rows = []
    for model in spec.models:
        serving = model_sites(spec, model)
        down: dict[str, list[tuple[str, float, str]]] = {}
        for lost in (s.name for s in spec.onprem_sites()):
            left = [s for s in serving if s != lost]
            if left:
                down[lost] = [(s, 1 / len(left), "serving") for s in left]
            else:
                down[lost] = [(s, 1.0, f"{standby[s]} standby") for s in standby_sites(spec, model) if s != lost]
        rows.append({"model": model.name, "critical": model.critical, "up": [(s, normal_share(spec, model, s)) for s in serving], "down": down})
    return rows


def site_view(spec: StackSpec, site: str) -> StackSpec:
    """The stack as the cluster `site` sees it: that cluster as its `onprem`, the teams on it, the
    models it serves or stands by for, each with the peak its share sizes (peak_share). Training
    runs on the lead cluster only. A stack with one cluster is its own view, unchanged."""
    if not spec.multi_site():
        return spec
    cluster = next(s for s in spec.onprem_sites() if s.name == site)
    teams = [t for t in spec.teams if site in team_sites(spec, t)]
    # (A model whose team isn't on the site is refused by check_onprem_sites, not sized here.)
    on = {t.name for t in teams}
    models = [m.model_copy(update={"peak_rps": m.peak_rps * peak_share(spec, m, site)}) for m in spec.models if peak_share(spec, m, site) > 0 and m.team in on]
    update = {"onprem": as_cluster(cluster), "teams": teams, "models": models}
    if site != lead(spec):
        update["training"] = []
    # (model_copy keeps the private list of sites: the view still knows the others.)
    return spec.model_copy(update=update)


def as_cluster(site: OnpremSite) -> OnpremCluster:
    """A site's cluster keys alone (its role, jurisdiction and network are the stack's business)."""
    return OnpremCluster.model_validate(site.model_dump(by_alias=True, include=set(OnpremCluster.model_fields)))


def hub_view(spec: StackSpec) -> StackSpec:
    """The stack as its lead cluster, the training hub, sees it (the stack itself for one cluster)."""
    return site_view(spec, lead(spec))


def view_index(spec: StackSpec, view: StackSpec, key: str) -> dict[int, int]:
    """Index in `view`'s `models` or `teams` (`key`) → the same item's index in the stack file."""
    names = [x.name for x in getattr(spec, key)]
    return {i: names.index(x.name) for i, x in enumerate(getattr(view, key))}


# --- Rules ------------------------------------------------------------------------------------------


def check_onprem_sites(spec: StackSpec) -> list[Problem]:
    """`onprem` as a list: names unique (and not another cluster's), at most one `primary`, a `dr`
    only beside a `primary` and with a critical model to stand by for, networks apart; teams and
    models name clusters that exist, models don't name a `dr` cluster, a team trains on the lead
    cluster, a prod stack's production models survive the loss of any one site, and residency-bound
    stacks keep every site in their jurisdiction."""
    sites = spec.onprem_sites()
    names = [s.name for s in sites]
    problems: list[Problem] = []
    if not spec.multi_site():
        # One cluster: naming clusters means naming it.
        for key, items in (("teams", spec.teams), ("models", spec.models)):
            for i, item in enumerate(items):
                for j, name in enumerate(item.clusters or []):
                    if name != spec.onprem.name:
                        problems.append(Problem((key, i, "clusters", j), "cluster_unknown", f"`onprem` is one cluster, {spec.onprem.name}; name it, or list the data centers under `onprem` (docs/multi-site.md)", name))
        return problems
    others = {spec.burst_pool().cluster.name} if spec.burst_pool() is not None else set()
    others |= {s.name for s in spec.edge_sites()}
    for i, site in enumerate(sites):
        if site.name in names[:i]:
            problems.append(Problem(("onprem", i, "name"), "duplicate", "two on-prem clusters share this name; each names its resources and artifacts, so give each its own", site.name))
        elif site.name in others:
            problems.append(Problem(("onprem", i, "name"), "duplicate", "the cloud pool's cluster or an edge site has this name; give the on-prem cluster another", site.name))
    primaries = [i for i, s in enumerate(sites) if s.role == "primary"]
    for i in primaries[1:]:
        problems.append(Problem(("onprem", i, "role"), "primary_twice", f"{sites[primaries[0]].name} is already the primary; make this one `active` (both serve) or `dr` (it stands by)", "primary"))
    critical = [m.name for m in spec.models if m.critical]
    for i, site in enumerate(sites):
        if site.role != "dr":
            continue
        if not primaries:
            problems.append(Problem(("onprem", i, "role"), "dr_without_primary", "a `dr` cluster stands by for a `primary`, and none is listed; make one cluster `primary`, or this one `active`", "dr"))
        elif not critical:
            problems.append(Problem(("onprem", i, "role"), "dr_without_critical", "a `dr` cluster holds a standby of the models marked `critical`, and none is; mark the models that must survive the primary's loss `critical: true`", "dr"))
    if not serving_sites(spec):
        problems.append(Problem(("onprem",), "no_serving_site", "every cluster is `dr`; make one `primary` (or `active`)", NO_SITES))
    if spec.logging is not None and spec.logging.hub_url is None:
        problems.append(Problem(("logging", "hubUrl"), "hub_url_needed", f"the clusters beside {lead(spec)} push their logs and decisions to its Loki from outside; give the address they reach it at (a TLS load balancer in front of it)", NO_VALUE))
    pool = spec.burst_pool()
    for i, team in enumerate(pool.teams if pool is not None else []):
        if team.clusters is not None:
            problems.append(Problem(("cloud", "teams", i, "clusters"), "cluster_not_onprem", "the cloud pool's teams are on the pool's cluster; `clusters` places on-prem teams only, so remove it here", team.clusters))
    problems += _networks_apart(sites)
    problems += _placements(spec, names)
    problems += _residency(spec)
    return problems


NO_SITES = "dr only"


def _networks_apart(sites: tuple[OnpremSite, ...]) -> list[Problem]:
    """No two sites' pod or service networks overlap: cross-site traffic must route."""
    seen: list[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str]] = []
    problems = []
    for i, site in enumerate(sites):
        if site.network is None:
            continue
        for key, value in (("podCidr", site.network.pod_cidr), ("serviceCidr", site.network.service_cidr)):
            net = ipaddress.ip_network(value)
            clash = next((where for other, where in seen if net.overlaps(other)), None)
            if clash:
                problems.append(Problem(("onprem", i, "network", key), "network_overlap", f"overlaps {clash}; the sites route to each other, so give each its own range", value))
            seen.append((net, f"{site.name}'s {key} {value}"))
    return problems


def _placements(spec: StackSpec, names: list[str]) -> list[Problem]:
    problems = []
    roles = {s.name: s.role for s in spec.onprem_sites()}
    teams = {t.name: t for t in spec.teams}
    for i, team in enumerate(spec.teams):
        for j, name in enumerate(team.clusters or []):
            if name not in roles:
                problems.append(Problem(("teams", i, "clusters", j), "cluster_unknown", f"no on-prem cluster has this name; use one of {', '.join(names)}", name))
        if any(job.team == team.name for job in spec.training) and lead(spec) not in team_sites(spec, team):
            problems.append(Problem(("teams", i, "clusters"), "training_off_hub", f"the team trains, and training runs on {lead(spec)} (the lead cluster, with MLflow); add {lead(spec)}", team.clusters))
    for i, model in enumerate(spec.models):
        for j, name in enumerate(model.clusters or []):
            if name not in roles:
                problems.append(Problem(("models", i, "clusters", j), "cluster_unknown", f"no on-prem cluster has this name; use one of {', '.join(names)}", name))
            elif roles[name] == "dr":
                problems.append(Problem(("models", i, "clusters", j), "cluster_standby", "a `dr` cluster serves only when the primary is lost; remove it here and mark the model `critical: true` for a standby there", name))
        team = teams.get(model.team)
        if team is None or not {*(model.clusters or []), *(team.clusters or [])} <= set(roles):
            continue  # reported at its own key
        on = set(team_sites(spec, team))
        missing = [s for s in [*model_sites(spec, model), *standby_sites(spec, model)] if s in roles and s not in on]
        if missing:
            problems.append(Problem(("models", i, "clusters"), "team_not_on_cluster", f"team {model.team} has no namespace on {', '.join(missing)}; add it to the team's `clusters`", model.clusters))
        serving = [s for s in model_sites(spec, model) if roles.get(s) in SERVING_ROLES]
        if not serving and not model.clusters:
            problems.append(Problem(("models", i, "team"), "no_serving_site", f"team {model.team} is on no serving cluster; add a `primary` or `active` one to its `clusters`", model.team))
        elif spec.environment == "prod" and model.production and serving and len(serving) < 2 and not standby_sites(spec, model):
            problems.append(
                Problem(
                    ("models", i, "clusters"), "single_site",
                    f"a production model served only on {serving[0]} stops when that site is lost; serve it on two clusters (`clusters`), or mark it `critical: true` with a `dr` cluster",
                    model.clusters,
                )
            )
    return problems


def _residency(spec: StackSpec) -> list[Problem]:
    """A stack bound by residency keeps every site holding its teams in its jurisdiction (the stack's
    `jurisdiction`, else the lead cluster's)."""
    if "residency" not in spec.compliance_profiles():
        return []
    sites = spec.onprem_sites()
    lead_site = next(s for s in sites if s.name == lead(spec))
    home = spec.data_jurisdiction() or lead_site.jurisdiction
    problems = []
    for i, site in enumerate(sites):
        if home is None or site.jurisdiction in (None, home):
            continue
        held = [m.name for m in spec.models if site.name in [*model_sites(spec, m), *standby_sites(spec, m)]]
        teams = [t.name for t in spec.teams if site.name in team_sites(spec, t)]
        if held or teams:
            what = f"models {', '.join(held)}" if held else f"teams {', '.join(teams)}"
            problems.append(
                Problem(
                    ("onprem", i, "jurisdiction"), "residency",
                    f"the stack's data stays in {home} (profile residency), and this site would hold {what}; keep the site in {home}, "
                    "or leave it out of those models' and teams' `clusters`",
                    site.jurisdiction,
                )
            )
    return problems
