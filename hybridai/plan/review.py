"""What a reviewer reads: policy findings, the change against a base plan, and summary.md."""
from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from hybridai.capacity import CapacityPlan
from hybridai.config import StackSpec
from hybridai.plan.engine import Plan
from hybridai.recorded import PROJECT_TYPE_PREFIX, TARGET_TYPE, gpu_nodes
from policy.rules import RULES, evaluate
from policy.rules.evaluate import levels
from policy.stack import context_for, overrides_for



def policy_report(plan: Plan, records: list[dict[str, Any]], cost: dict[str, Any] | None) -> dict[str, Any]:
    ctx = context_for(plan.spec, cost)
    overrides = overrides_for(plan.spec)
    findings = evaluate(records, ctx, overrides)
    enforced = levels(ctx, overrides)
    return {
        "stack": plan.stack,
        "profiles": list(ctx.profiles),
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


def compare(records: list[dict[str, Any]], cost: dict[str, Any] | None, base_dir: Path) -> dict[str, Any]:
    """Resources added, changed (inputs or options differ) and removed against a base plan; cost delta."""
    base = {r["urn"]: r for r in json.loads((base_dir / "resources.json").read_text())["resources"]}
    now = {r["urn"]: r for r in records}
    keys = ("inputs", "protect", "retain_on_delete", "provider", "parent", "placement")
    changed = sorted(urn for urn in base.keys() & now.keys() if any(base[urn].get(k) != now[urn].get(k) for k in keys))
    base_cost_path = base_dir / "cost.json"
    delta = None
    if cost and base_cost_path.exists():
        before = json.loads(base_cost_path.read_text())
        placements = sorted(set(before["by_placement"]) | set(cost["by_placement"]))
        delta = {
            "before": before["total"]["estimate"],
            "after": cost["total"]["estimate"],
            "delta": round(cost["total"]["estimate"] - before["total"]["estimate"], 2),
            "by_placement": {p: round(cost["by_placement"].get(p, 0) - before["by_placement"].get(p, 0), 2) for p in placements},
        }
    removed = sorted(base.keys() - now.keys())
    before_layouts = {(n.target, n.name): n.layouts for n in gpu_nodes(base.values())}
    repartitioned = sorted(f"{n.target}/{n.name}" for n in gpu_nodes(records) if before_layouts.get((n.target, n.name), n.layouts) != n.layouts)
    return {
        "added": sorted(now.keys() - base.keys()),
        "changed": changed,
        "removed": removed,
        # `pulumi up` refuses to delete these: the change needs a deliberate `pulumi state unprotect`.
        "removed_protected": [urn for urn in removed if base[urn].get("protect")],
        # The mig-manager drains these nodes' GPUs to repartition them when the change is applied.
        "repartitioned": repartitioned,
        "cost": delta,
    }


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
    )
