"""What a reviewer reads: policy findings, the change against a base plan, and summary.md."""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable

from jinja2 import Environment, PackageLoader, StrictUndefined

from hybridai import catalog
from hybridai.capacity import CapacityPlan
from hybridai.config import StackSpec
from hybridai.plan.aliases import KEEP_IDENTITY, Urns
from hybridai.plan.engine import Plan
from hybridai.recorded import NODEPOOL_TYPE, PROJECT_TYPE_PREFIX, TARGET_TYPE, Resource, gpu_nodes
from hybridai.policy.rules import RULES, evaluate
from hybridai.policy.rules.evaluate import levels
from hybridai.policy.stack import context_for, exceptions_for, overrides_for



def policy_report(plan: Plan, records: list[dict[str, Any]], cost: dict[str, Any] | None) -> dict[str, Any]:
    ctx = context_for(plan.spec, cost)
    overrides = overrides_for(plan.spec)
    findings = evaluate(records, ctx, overrides)
    enforced = levels(ctx, overrides)
    return {
        "stack": plan.stack,
        "profiles": list(ctx.profiles),
        "profiles_not_applied": [p for p in plan.spec.implied_profiles() if p not in ctx.profiles],
        "exceptions": exceptions_for(plan.spec),
        "rules": [{"id": rule_id, "enforcement": level, "description": RULES[rule_id].description} for rule_id, level in enforced.items()],
        "findings": findings,
        "mandatory_violations": sum(f["enforcement"] == "mandatory" for f in findings),
    }


def crossguard_config(plan: Plan, cost: dict[str, Any] | None) -> dict[str, Any]:
    """`pulumi preview --policy-pack-config` for this stack: each rule's level and the context."""
    ctx = context_for(plan.spec, cost)
    enforced = levels(ctx, overrides_for(plan.spec))
    shared = {"context": ctx.model_dump(mode="json", exclude={"monthly_estimate_usd"}), "costSettings": plan.spec.cost.model_dump(mode="json", by_alias=True)}
    return {rule_id: {"enforcementLevel": enforced.get(rule_id, "disabled"), **shared} for rule_id in sorted(RULES)}


class BasePlanError(Exception):
    """`--compare` names a folder whose plan can't be read."""


# Inputs that name a cloud resource: with its type and account, its physical identity.
_NAMING_INPUTS = ("bucket", "name", "clusterName", "nodeGroupName", "roleName", "repositoryName", "functionName")
# Provider inputs that say which cluster (kubeconfig context) or account (region, account) it is in.
_WHERE_INPUTS = ("context", "kubeconfig", "renderYamlToDirectory", "region", "allowedAccountIds")


def _read_base(base_dir: Path, name: str) -> Any:
    path = base_dir / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise BasePlanError(f"--compare {base_dir}: can't read {path} ({error}); pass the folder of an earlier plan") from None


def _base_records(base_dir: Path) -> list[dict[str, Any]]:
    document = _read_base(base_dir, "resources.json")
    records = document.get("resources") if isinstance(document, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) and {"urn", "type", "name", "inputs"} <= r.keys() for r in records):
        raise BasePlanError(f"--compare {base_dir}: {base_dir / 'resources.json'} is not a plan's resources.json; pass the folder of an earlier plan")
    return records


def _identity(record: dict[str, Any]) -> tuple | None:
    """The type and the inputs that name the object it manages (a Kubernetes object's namespace
    and name, a bucket's or repository's name); None when nothing names it (a KMS key)."""
    type_, inputs = record["type"], record.get("inputs") or {}
    if type_.startswith("kubernetes:"):
        fields = inputs if type_ == "kubernetes:helm.sh/v3:Release" else (inputs.get("metadata") or {})
        name, namespace = fields.get("name"), fields.get("namespace")
        naming = (("namespace", namespace or ""), ("name", name)) if isinstance(name, str) and name else ()
    else:
        naming = tuple((k, inputs[k]) for k in _NAMING_INPUTS if isinstance(inputs.get(k), str))
    return (type_, naming) if naming else None


def _where(record: dict[str, Any], by_urn: dict[str, dict[str, Any]]) -> tuple:
    """The cluster or account the record's provider points at (not its Pulumi name)."""
    inputs = (by_urn.get(record.get("provider") or "") or {}).get("inputs") or {}
    return tuple((k, json.dumps(inputs[k], sort_keys=True)) for k in _WHERE_INPUTS if k in inputs)


def _named_place(where: tuple) -> bool:
    """Whether the provider names its cluster or account itself (a kubeconfig context, an AWS
    region), rather than deriving it from resources a rename also renames (an EKS kubeconfig, a
    GitOps folder)."""
    return any(key in ("context", "region") for key, _ in where)


def _identity_changes(base: list[dict[str, Any]], resources: list[Resource], records: list[dict[str, Any]]) -> dict[str, Any]:
    """How each base resource reaches the new plan, by the URNs the engine sees (the parent's
    whole type chain): kept; moved by an alias the program declares; renamed (its URN is gone,
    while a new resource manages the same object: Pulumi would create that anew and delete the
    old one); or removed."""
    old_urns, new_urns = Urns.of_records(base), Urns(resources)
    old_real = {r["urn"]: old_urns.real(r["urn"]) for r in base}
    new_real = {r.urn: new_urns.real(r.urn) for r in resources}
    kept = set(new_real.values())
    reached_by: dict[str, str] = {}
    for r in resources:
        for urn in sorted(new_urns.reached(r.urn)):
            reached_by.setdefault(urn, r.urn)
    moved = {b: reached_by[old_real[b]] for b in old_real if old_real[b] not in kept and old_real[b] in reached_by}
    # A rename's successor is new: neither an old URN nor moved from one.
    successors = {reached_by[u] for u in old_real.values() if u in reached_by}
    by_urn_new = {r["urn"]: r for r in records}
    exact: dict[tuple, list[str]] = defaultdict(list)
    loose: dict[tuple, list[tuple[str, bool]]] = defaultdict(list)
    for r in records:
        identity = _identity(r)
        if r["urn"] not in successors and identity is not None:
            where = _where(r, by_urn_new)
            exact[(identity, where)].append(r["urn"])
            loose[identity].append((r["urn"], _named_place(where)))
    by_urn_old = {r["urn"]: r for r in base}
    renamed, removed_protected = [], []
    for record in sorted(base, key=lambda r: r["urn"]):
        urn = record["urn"]
        if not record.get("protect") or old_real[urn] in kept or urn in moved:
            continue
        identity = _identity(record)
        # The same object in the same cluster or account; else the one new object of that type and
        # name, unless both name their cluster (context) or account (region) and those differ.
        where = _where(record, by_urn_old)
        match = exact.get((identity, where), []) if identity else []
        if len(match) != 1 and identity:
            match = [u for u, named in loose.get(identity, []) if not (named and _named_place(where))]
        if len(match) == 1:
            renamed.append({"type": record["type"], "from": old_real[urn], "to": new_real[match[0]]})
        else:
            removed_protected.append(urn)
    return {"moved": moved, "moved_real": [{"from": old_real[b], "to": new_real[n]} for b, n in sorted(moved.items())], "renamed": renamed, "removed_protected": removed_protected}


def compare(resources: list[Resource], records: list[dict[str, Any]], cost: dict[str, Any] | None, base_dir: Path) -> dict[str, Any]:
    """Resources added, changed (inputs or options differ), moved (by aliases) and removed against
    a base plan; protected resources renamed or removed; cost delta. Raises BasePlanError when
    the base can't be read."""
    base_records = _base_records(base_dir)
    base = {r["urn"]: r for r in base_records}
    now = {r["urn"]: r for r in records}
    keys = ("inputs", "protect", "retain_on_delete", "provider", "parent", "placement")
    changed = sorted(urn for urn in base.keys() & now.keys() if any(base[urn].get(k) != now[urn].get(k) for k in keys))
    delta = None
    if cost and (base_dir / "cost.json").exists():
        before = _read_base(base_dir, "cost.json")
        try:
            placements = sorted(set(before["by_placement"]) | set(cost["by_placement"]))
            delta = {
                "before": before["total"]["estimate"],
                "after": cost["total"]["estimate"],
                "delta": round(cost["total"]["estimate"] - before["total"]["estimate"], 2),
                "by_placement": {p: round(cost["by_placement"].get(p, 0) - before["by_placement"].get(p, 0), 2) for p in placements},
                "by_team": [
                    {"team": t, "before": before["by_team"].get(t, 0.0), "after": cost["by_team"].get(t, 0.0), "delta": round(cost["by_team"].get(t, 0.0) - before["by_team"].get(t, 0.0), 2)}
                    for t in sorted(set(before["by_team"]) | set(cost["by_team"]))
                    if round(cost["by_team"].get(t, 0.0) - before["by_team"].get(t, 0.0), 2)
                ],
            }
        except (KeyError, TypeError, AttributeError):
            raise BasePlanError(f"--compare {base_dir}: {base_dir / 'cost.json'} is not a plan's cost.json; pass the folder of an earlier plan") from None
    identity = _identity_changes(base_records, resources, records)
    replacements = [r for r in (_replacement(base[urn], now[urn]) for urn in changed) if r]
    fields = {urn: _field_changes(base[urn], now[urn]) for urn in changed}
    quotas = _before_after(_team_quotas(base.values()), _team_quotas(now.values()))
    pools = _before_after(_pool_gpus(base.values()), _pool_gpus(now.values()))
    moved = identity["moved"]
    before_layouts = {(n.target, n.name): n.layouts for n in gpu_nodes(base.values())}
    repartitioned = sorted(f"{n.target}/{n.name}" for n in gpu_nodes(records) if before_layouts.get((n.target, n.name), n.layouts) != n.layouts)
    return {
        "added": sorted(now.keys() - base.keys() - set(moved.values())),
        "changed": changed,
        # Changed resources their providers replace rather than update, with the fields that force
        # it and whether the old one goes first (delete_before_replace: an outage while it's recreated).
        "replacements": replacements,
        # Per changed resource, what changed: `path: old → new` (secrets already redacted).
        "fields": fields,
        # GPU quota per team namespace and GPUs per pool (MIG-partitioned / whole), before → after.
        "quotas": quotas,
        "pools": pools,
        "removed": sorted(base.keys() - now.keys() - moved.keys()),
        # Pulumi moves these to their new URN (the program declares aliases): nothing is replaced.
        "moved": identity["moved_real"],
        # Protected resources whose URN changes while a new resource manages the same object:
        # `pulumi up` would create them anew and then fail to delete the old (unprotected: delete
        # it, and its data). `hybridai plan` exits 1 for these unless --allow-renames.
        "renamed": identity["renamed"],
        # `pulumi up` refuses to delete these: the change needs a deliberate `pulumi state unprotect`.
        "removed_protected": identity["removed_protected"],
        # The mig-manager drains these nodes' GPUs to repartition them when the change is applied.
        "repartitioned": repartitioned,
        "cost": delta,
    }


ABBREVIATE = 80
"""Characters of a value shown in a change; longer ones are cut (the manifests hold them whole)."""


def _short(value: Any) -> str:
    text = "—" if value is None else json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= ABBREVIATE else text[: ABBREVIATE - 1] + "…"


def _field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, str]]:
    """The inputs and options that differ, each `path: old → new` (values abbreviated)."""
    out = []
    for path in _changed_paths(before.get("inputs"), after.get("inputs")):
        out.append({"path": ".".join(path), "old": _short(_at(before.get("inputs"), path)), "new": _short(_at(after.get("inputs"), path))})
    for option in ("protect", "retain_on_delete", "provider", "parent", "placement", "delete_before_replace"):
        if before.get(option) != after.get(option):
            out.append({"path": f"({option})", "old": _short(before.get(option)), "new": _short(after.get(option))})
    return out


def _at(value: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _team_quotas(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """`target/namespace` → GPU resource → units its ResourceQuota allows."""
    out: dict[str, dict[str, float]] = {}
    for r in records:
        if r["type"] == "kubernetes:core/v1:ResourceQuota":
            hard = ((r["inputs"].get("spec") or {}).get("hard") or {})
            gpus = {k.removeprefix("requests."): float(v) for k, v in hard.items() if k.startswith("requests.nvidia.com/")}
            out[f"{r['target']}/{r['inputs']['metadata']['namespace']}"] = gpus
    return out


def _pool_gpus(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """`target/pool` → GPUs partitioned with MIG and whole, from the recorded GPU nodes; and each
    Karpenter NodePool's GPU limit."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"mig": 0.0, "whole": 0.0})
    for node in gpu_nodes(records):
        slot = out[f"{node.target}/{node.pool}"]
        slot["mig"] += sum(1 for layout in node.layouts if layout)
        slot["whole"] += sum(1 for layout in node.layouts if not layout)
    for r in records:
        if r["type"] == NODEPOOL_TYPE:
            out[f"{r['target']}/{r['inputs']['metadata']['name']}"] = {"limit": float(r["inputs"]["spec"]["limits"]["nvidia.com/gpu"])}
    return dict(out)


def _before_after(before: dict[str, dict[str, float]], after: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Rows whose numbers moved: name, resource, before, after, delta."""
    rows = []
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, {}), after.get(name, {})
        for key in sorted(set(old) | set(new)):
            a, b = old.get(key, 0.0), new.get(key, 0.0)
            if a != b:
                rows.append({"name": name, "resource": key, "before": a, "after": b, "delta": b - a})
    return rows


def _changed_paths(before: Any, after: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Input paths (key tuples: keys may hold dots) whose values differ; a list or a value counts as one leaf."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            out += _changed_paths(before.get(key), after.get(key), (*path, key))
        return out
    return [path] if before != after else []


def _replacement(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any] | None:
    """The fields of a change that make the provider replace the resource, or None."""
    data = catalog.replacement_fields()
    forcing = list(data["types"].get(after["type"], [])) + list(after.get("replace_on_changes") or [])
    if after["type"].startswith("kubernetes:"):
        forcing += data["kubernetes"]
    if "*" in forcing:
        forcing = [""]
    changed = [".".join(p) for p in _changed_paths(before.get("inputs"), after.get("inputs"))]
    fields = [p for p in changed if any(p == f or p.startswith(f"{f}.") or not f for f in forcing)]
    if not fields:
        return None
    return {"urn": after["urn"], "type": after["type"], "fields": fields, "delete_first": bool(after.get("delete_before_replace")), "protected": bool(after.get("protect"))}


def _node_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def diagram(records: list[dict[str, Any]]) -> list[str]:
    """Mermaid flowchart: placements → targets (clusters, cloud accounts) → components; edge sites grouped."""
    by_urn = {r["urn"]: r for r in records}
    targets = [r for r in records if r["type"] == TARGET_TYPE]
    components: dict[str, Counter] = defaultdict(Counter)
    for r in records:
        if r["type"].startswith(PROJECT_TYPE_PREFIX) and r["type"] != TARGET_TYPE:
            # the nearest enclosing Target of the component
            parent = by_urn.get(r.get("parent") or "")
            while parent is not None and parent["type"] != TARGET_TYPE:
                parent = by_urn.get(parent.get("parent") or "")
            if parent is not None:
                components[parent["urn"]][r["type"].rsplit(":", 1)[-1]] += 1
    placements: dict[str, list[dict]] = defaultdict(list)
    for t in targets:
        placements[t["inputs"]["placement"]].append(t)
    lines = ["flowchart LR"]

    def target_block(t: dict, indent: str) -> None:
        tid = _node_id(t["urn"].rsplit("::", 1)[-1])
        counts = sum(1 for r in records if r.get("target") == t["inputs"]["target"] and r["type"] != TARGET_TYPE)
        lines.append(f'{indent}subgraph {tid}["{t["inputs"]["target"]} ({counts} resources)"]')
        for component, n in sorted(components[t["urn"]].items()):
            label = component if n == 1 else f"{component} ×{n}"
            lines.append(f'{indent}  {tid}_{_node_id(component)}["{label}"]')
        lines.append(f"{indent}end")

    for placement in sorted(p for p in placements if not p.startswith("edge:")):
        lines.append(f'  subgraph {_node_id("placement_" + placement)}["{placement}"]')
        for t in sorted(placements[placement], key=lambda t: t["inputs"]["target"]):
            target_block(t, "    ")
        lines.append("  end")
    edges = sorted(p for p in placements if p.startswith("edge:"))
    if edges:
        lines.append('  subgraph placement_edge["edge sites"]')
        for placement in edges:
            for t in placements[placement]:
                target_block(t, "    ")
        lines.append("  end")
    # A cluster created by a component of another target (EKS by the training pool): an arrow.
    for t in targets:
        owner = by_urn.get(t.get("parent") or "")
        if owner is not None and owner["type"].startswith(PROJECT_TYPE_PREFIX) and owner["type"] != TARGET_TYPE:
            host = by_urn.get(owner.get("parent") or "")
            while host is not None and host["type"] != TARGET_TYPE:
                host = by_urn.get(host.get("parent") or "")
            if host is not None:
                source = f'{_node_id(host["urn"].rsplit("::", 1)[-1])}_{_node_id(owner["type"].rsplit(":", 1)[-1])}'
                lines.append(f'  {source} -->|creates| {_node_id(t["urn"].rsplit("::", 1)[-1])}')
    return lines


_env = Environment(loader=PackageLoader("hybridai", "templates"), undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["money"] = lambda v: "—" if v is None else f"{v:,.0f}"
_env.filters["signed"] = lambda v: f"{v:+,.0f}"


def capacity_table(spec: StackSpec, capacity: CapacityPlan) -> dict[str, Any]:
    """What the capacity planner made of the on-prem cluster, for reviewers: each pool's GPUs
    (partitioned with MIG or whole), each team's GPU quota, and the training sent to the cloud."""
    onprem = capacity.onprem

    def quota(counts: Counter) -> str:
        parts = [f"{n} × {key}" for key, n in sorted(counts.items()) if key != "gpu"]
        if counts.get("gpu"):
            parts.append(f"{counts['gpu']} GPU{'s' if counts['gpu'] != 1 else ''}")
        return ", ".join(parts) or "—"

    return {
        "cluster": spec.onprem.name,
        "strategy": onprem.strategy,
        "pools": [
            {"name": p.name, "gpu_model": p.gpu_model, "gpus": p.gpu_count, "mig": onprem.pool_gpus.get(p.name, (0, 0))[0], "whole": onprem.pool_gpus.get(p.name, (0, 0))[1]}
            for p in spec.onprem.gpu_pools
        ],
        "teams": [{"name": t.name, "quota": quota(onprem.team_quota.get(t.name, Counter()))} for t in spec.teams],
        "overflow": [{"team": team, "gpus": gpus, "hours": onprem.overflow_hours[team]} for team, gpus in sorted(onprem.overflow.items())],
        "node_pools": capacity.cloud.pools if capacity.cloud else [],
    }


def summary(plan: Plan, records: list[dict[str, Any]], cost: dict[str, Any] | None, policy: dict[str, Any] | None, change: dict[str, Any] | None) -> str:
    counts: Counter = Counter()
    for r in records:
        counts[(r["placement"], r["inputs"].get("kind") if r["type"].startswith("kubernetes:") and "kind" in r["inputs"] else r["type"])] += 1
    return _env.get_template("summary.md.j2").render(
        plan=plan,
        spec=plan.spec,
        capacity=capacity_table(plan.spec, plan.capacity) if plan.spec is not None else None,
        diagram=diagram(records),
        counts=sorted(counts.items()),
        total=len(records),
        cost=cost,
        policy=policy,
        change=change,
        outputs=sorted(plan.outputs),
        by_placement=sorted(Counter(r["placement"] for r in records).items()),
        budget=budget_check(plan.spec, cost),
        keep_identity=KEEP_IDENTITY,
    )


def budget_check(spec: StackSpec | None, cost: dict[str, Any] | None) -> dict[str, Any] | None:
    """The cloud estimate against the stack's AWS budget, where it has one."""
    pool = spec.burst_pool() if spec is not None else None
    if pool is None or not cost:
        return None
    cloud = cost["by_placement"].get("cloud", 0.0)
    limit = pool.budget.monthly_limit_usd
    return {"cloud": cloud, "limit": limit, "percent": round(100 * cloud / limit), "over": cloud > limit}
