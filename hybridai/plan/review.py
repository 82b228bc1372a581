"""What a reviewer reads: policy findings, the change against a base plan, and summary.md."""
from __future__ import annotations

import difflib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit


from hybridai import catalog
from hybridai.capacity import CapacityPlan
from hybridai.config import StackSpec
from hybridai.config.sites import failover
from hybridai.rendering import template
from hybridai.plan.aliases import KEEP_IDENTITY, Urns
from hybridai.plan.engine import Plan
from hybridai.recorded import HELM_RELEASE, MODEL_SOURCE_ENV, MODEL_SYNC_JOB, TARGET_TYPE, Resource, gpu_node_pools, gpu_nodes, gpu_quotas, served_versions, value_at
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


def _base_records(base_dir: Path, stack: str) -> tuple[list[dict[str, Any]], str | None]:
    """The base plan's records, and the stack it planned when that is another one. The stack is part
    of every URN (`urn:pulumi:<stack>::…`): a base of another stack is read with its URNs in this
    stack's form, so resources are matched by the rest of their URN."""
    document = _read_base(base_dir, "resources.json")
    records = document.get("resources") if isinstance(document, dict) else None
    if not isinstance(records, list) or not all(isinstance(r, dict) and {"urn", "type", "name", "inputs"} <= r.keys() for r in records):
        raise BasePlanError(f"--compare {base_dir}: {base_dir / 'resources.json'} is not a plan's resources.json; pass the folder of an earlier plan")
    other = document.get("stack")
    if not isinstance(other, str) or other == stack:
        return records, None
    # The stack is in each URN's head and in the name of the stack's root resource (`<project>-<stack>`).
    project = records[0]["urn"].split("::")[1] if records else ""
    text = json.dumps(records)
    for old, new in ((f"urn:pulumi:{other}::", f"urn:pulumi:{stack}::"), (f"pulumi:pulumi:Stack::{project}-{other}", f"pulumi:pulumi:Stack::{project}-{stack}")):
        text = text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1])
    return json.loads(text), other


def _identity(record: dict[str, Any]) -> tuple | None:
    """The type and the inputs that name the object it manages (a Kubernetes object's namespace
    and name, a bucket's or repository's name); None when nothing names it (a KMS key)."""
    type_, inputs = record["type"], record.get("inputs") or {}
    if type_.startswith("kubernetes:"):
        fields = inputs if type_ == HELM_RELEASE else (inputs.get("metadata") or {})
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


def _monthly_by_model(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Monthly cost per model, kind and cluster ("fraud-score (serving, dc1)"): a name can be both
    served and trained, or served at several sites."""
    return {f"{r['name']} ({r['kind']}, {r['cluster']})": r["monthly"] for r in rows}


def compare(resources: list[Resource], records: list[dict[str, Any]], cost: dict[str, Any] | None, base_dir: Path) -> dict[str, Any]:
    """Resources added, changed (inputs or options differ), moved (by aliases) and removed against
    a base plan; protected resources renamed or removed; cost delta. Raises BasePlanError when
    the base can't be read. A base of another stack is compared by the rest of each URN, and no
    rename or protected removal is claimed: another stack's state is not this one's, so `pulumi up`
    of this stack neither renames nor deletes anything of it."""
    # This plan's stack, as its URNs name it (`urn:pulumi:<stack>::…`).
    stack = records[0]["urn"].split("::", 1)[0].removeprefix("urn:pulumi:") if records else ""
    base_records, other_stack = _base_records(base_dir, stack)
    base = {r["urn"]: r for r in base_records}
    now = {r["urn"]: r for r in records}
    keys = ("inputs", "protect", "retain_on_delete", "provider", "parent", "placement")
    changed = sorted(urn for urn in base.keys() & now.keys() if any(base[urn].get(k) != now[urn].get(k) for k in keys))
    delta = _cost_delta(cost, base_dir) if cost and (base_dir / "cost.json").exists() else None
    identity = _identity_changes(base_records, resources, records)
    replacements = [r for r in (_replacement(base[urn], now[urn]) for urn in changed) if r]
    fields = {urn: _field_changes(base[urn], now[urn]) for urn in changed}
    quotas = _before_after(_team_quotas(base.values()), _team_quotas(now.values()))
    pools = _before_after(_pool_gpus(base.values()), _pool_gpus(now.values()))
    moved = identity["moved"]
    return {
        # Models promoted (or rolled back) between registry versions: "fraud-score: v12 → v13".
        "promotions": _promotions(base.values(), records),
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
        "renamed": [] if other_stack else identity["renamed"],
        # `pulumi up` refuses to delete these: the change needs a deliberate `pulumi state unprotect`.
        "removed_protected": [] if other_stack else identity["removed_protected"],
        # The base is a plan of this other stack: compared by the rest of each URN.
        "other_stack": other_stack,
        # The mig-manager drains these nodes' GPUs to repartition them when the change is applied.
        "repartitioned": _repartitioned(base.values(), records),
        "cost": delta,
    }


def _promotions(base: Iterable[dict[str, Any]], records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """InferenceServices served from another registry version than in the base plan."""
    versions_before, versions_now = served_versions(base), served_versions(records)
    return [
        {"name": where.rsplit("/", 1)[-1], "where": where, "model": model, "before": versions_before[where][1], "after": version}
        for where, (model, version) in sorted(versions_now.items())
        if where in versions_before and versions_before[where][1] != version
    ]


def _repartitioned(base: Iterable[dict[str, Any]], records: list[dict[str, Any]]) -> list[str]:
    """`target/node` of each GPU node whose MIG layouts differ from the base plan's."""
    before_layouts = {(n.target, n.name): n.layouts for n in gpu_nodes(base)}
    return sorted(f"{n.target}/{n.name}" for n in gpu_nodes(records) if before_layouts.get((n.target, n.name), n.layouts) != n.layouts)


def _cost_delta(cost: dict[str, Any], base_dir: Path) -> dict[str, Any]:
    """The estimate against the base plan's cost.json: in all, by placement, and the teams and
    models whose monthly cost moved. Raises BasePlanError when that file isn't a plan's cost.json."""
    before = _read_base(base_dir, "cost.json")
    try:
        placements = sorted(set(before["by_placement"]) | set(cost["by_placement"]))
        # Plans written before per-model cost existed have no per_model: every model counts as new.
        models_before = _monthly_by_model(before.get("per_model", []))
        models_now = _monthly_by_model(cost.get("per_model", []))
        return {
            "before": before["total"]["estimate"],
            "after": cost["total"]["estimate"],
            "delta": round(cost["total"]["estimate"] - before["total"]["estimate"], 2),
            "by_placement": {p: round(cost["by_placement"].get(p, 0) - before["by_placement"].get(p, 0), 2) for p in placements},
            "by_team": [
                {"team": t, "before": before["by_team"].get(t, 0.0), "after": cost["by_team"].get(t, 0.0), "delta": round(cost["by_team"].get(t, 0.0) - before["by_team"].get(t, 0.0), 2)}
                for t in sorted(set(before["by_team"]) | set(cost["by_team"]))
                if round(cost["by_team"].get(t, 0.0) - before["by_team"].get(t, 0.0), 2)
            ],
            "by_model": [
                {"model": m, "before": models_before.get(m, 0.0), "after": models_now.get(m, 0.0), "delta": round(models_now.get(m, 0.0) - models_before.get(m, 0.0), 2)}
                for m in sorted(models_before.keys() | models_now.keys())
                if round(models_now.get(m, 0.0) - models_before.get(m, 0.0), 2)
            ],
        }
    except (KeyError, TypeError, AttributeError):
        raise BasePlanError(f"--compare {base_dir}: {base_dir / 'cost.json'} is not a plan's cost.json; pass the folder of an earlier plan") from None


ABBREVIATE = 80
"""Characters of a value shown in a change; longer ones are cut (the manifests hold them whole)."""


def _text(value: Any) -> str:
    return "—" if value is None else json.dumps(value, sort_keys=True) if not isinstance(value, str) else value


def _short(value: Any) -> str:
    text = _text(value)
    return text if len(text) <= ABBREVIATE else text[: ABBREVIATE - 1] + "…"


def _lines(value: Any) -> list[str]:
    """A value as the lines a diff compares: a text as it is, a structure pretty-printed."""
    if isinstance(value, (dict, list)):
        return json.dumps(value, indent=2, sort_keys=True).splitlines()
    return _text(value).splitlines()


def _field_change(path: tuple[str, ...], old: Any, new: Any) -> dict[str, Any]:
    """`path: old → new`; a value that doesn't fit on one line (several lines, or longer than
    ABBREVIATE) also gets a unified diff of the lines that changed, one line of context: a cut prefix
    would hide the change itself (`mig-enabled: fals…` → `mig-enabled: fals…`)."""
    change: dict[str, Any] = {"path": ".".join(path), "old": _short(old), "new": _short(new)}
    if any("\n" in _text(v) or len(_text(v)) > ABBREVIATE for v in (old, new)):
        diff = difflib.unified_diff(_lines(old), _lines(new), "before", "after", n=1, lineterm="")
        change["diff"] = [line for line in diff if not line.startswith(("---", "+++"))]
        change["lines"] = {sign: sum(1 for line in change["diff"] if line.startswith(sign)) for sign in "+-"}
    return change


def _field_changes(before: dict[str, Any], after: dict[str, Any]) -> list[dict[str, Any]]:
    """The inputs and options that differ, each `path: old → new` (values abbreviated, long ones
    with the diff of their lines)."""
    out = []
    for path in _changed_paths(before.get("inputs"), after.get("inputs")):
        out.append(_field_change(path, value_at(before.get("inputs"), path), value_at(after.get("inputs"), path)))
    for option in ("protect", "retain_on_delete", "provider", "parent", "placement", "delete_before_replace"):
        if before.get(option) != after.get(option):
            out.append({"path": f"({option})", "old": _short(before.get(option)), "new": _short(after.get(option))})
    return out


def _team_quotas(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """`target/namespace` → GPU resource → units its ResourceQuota allows."""
    return {f"{q.target}/{q.namespace}": q.gpus for q in gpu_quotas(records)}


def _pool_gpus(records: Iterable[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """`target/pool` → GPUs partitioned with MIG and whole, from the recorded GPU nodes; and each
    Karpenter NodePool's GPU limit."""
    records = list(records)
    out: dict[str, dict[str, float]] = defaultdict(lambda: {"mig": 0.0, "whole": 0.0})
    for node in gpu_nodes(records):
        slot = out[f"{node.target}/{node.pool}"]
        slot["mig"] += sum(1 for layout in node.layouts if layout)
        slot["whole"] += sum(1 for layout in node.layouts if not layout)
    for pool in gpu_node_pools(records):
        out[f"{pool.target}/{pool.name}"] = {"limit": float(pool.gpu_limit)}
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


def _cluster_label(target: str, records: list[dict[str, Any]]) -> str:
    """A cluster's GPUs, serving and training in a line or two: what a reviewer looks for."""
    parts = []
    pools: dict[str, list] = defaultdict(list)
    for node in gpu_nodes(r for r in records if r.get("target") == target):
        pools[(node.pool, node.model)].append(node)
    for (pool, model), nodes in sorted(pools.items()):
        gpus = sum(n.gpus for n in nodes)
        mig = sum(1 for n in nodes for layout in n.layouts if layout)
        parts.append(f"{gpus} × {model.split('-')[0]}" + (f" ({mig} MIG)" if mig else ""))
    for pool in gpu_node_pools(r for r in records if r.get("target") == target):
        parts.append(f"0–{pool.gpu_limit} × {(pool.gpu_model or 'GPU').split('-')[0]} on demand")
    kinds = Counter(r["inputs"].get("kind") for r in records if r.get("target") == target and r["type"].startswith("kubernetes:"))
    served = kinds["InferenceService"] + kinds["LLMInferenceService"] + sum(1 for r in records if r.get("target") == target and r["inputs"].get("kind") == "Deployment" and "triton" in str((r["inputs"].get("metadata") or {}).get("name", "")))
    if served:
        parts.append(f"serves {served} model{'s' if served != 1 else ''}")
    if kinds["ClusterQueue"]:
        parts.append(f"{kinds['ClusterQueue']} training queue{'s' if kinds['ClusterQueue'] != 1 else ''}")
    return target + (": " + ", ".join(parts) if parts else "")


def _model_stores(records: list[dict[str, Any]]) -> dict[str, set[str]]:
    """Where served models come from, per store, and the clusters that pull them: an
    InferenceService's storageUri bucket, or an edge site's model-sync source (rclone remote)."""
    stores: dict[str, set[str]] = defaultdict(set)
    for r in records:
        inputs = r.get("inputs") or {}
        if inputs.get("kind") in ("InferenceService", "LLMInferenceService"):
            spec = inputs.get("spec") or {}
            model = (spec.get("predictor") or {}).get("model", {}) if inputs["kind"] == "InferenceService" else spec.get("model") or {}
            uri = urlsplit(str(model.get("storageUri" if inputs["kind"] == "InferenceService" else "uri", "")))
            if uri.scheme:
                stores[f"{uri.scheme}://{uri.netloc}"].add(r["target"])
        elif inputs.get("kind") == "CronJob" and (inputs.get("metadata") or {}).get("name") == MODEL_SYNC_JOB:
            for container in inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]:
                for env in container.get("env", []):
                    if env.get("name") == MODEL_SOURCE_ENV and ":" in str(env.get("value")):
                        stores[f'{str(env["value"]).split(":", 1)[0]}: model store'].add(r["target"])
    return stores


def diagram(records: list[dict[str, Any]], overflow: dict[str, Any] | None = None) -> list[str]:
    """Mermaid flowchart of the platform: each cluster under its placement with its GPUs, serving
    and training; edge sites of the same shape collapsed into one node with a count; and the flows
    the stack has — training overflow to the cloud pool, models from their stores into serving,
    metrics from sites to the hub, GitOps pulls,
    the audit trail to its locked bucket, the cloud account creating its EKS cluster."""
    targets = [r for r in records if r["type"] == TARGET_TYPE]
    clusters, site_nodes = _diagram_clusters(targets, records)
    return ["flowchart LR", *clusters, *_diagram_flows(targets, records, site_nodes, overflow)]


def _target_node(name: str) -> str:
    return _node_id(f"t_{name}")


def _diagram_clusters(targets: list[dict[str, Any]], records: list[dict[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """A subgraph per placement with its clusters, and one of edge sites with a node per fleet
    (sites of one shape: GPUs, serving, delivery — a fleet reads at a glance); each site → its
    fleet's node."""
    lines = []
    fleets: dict[tuple, list[str]] = defaultdict(list)
    for t in targets:
        placement = t["inputs"]["placement"]
        if placement.startswith("edge:") and not t["inputs"]["target"].endswith("-bootstrap"):
            label = _cluster_label(t["inputs"]["target"], records).split(": ", 1)
            fleets[(label[1] if len(label) > 1 else "", t["inputs"].get("delivery"))].append(t["inputs"]["target"])
    for placement in sorted({t["inputs"]["placement"] for t in targets if not t["inputs"]["placement"].startswith("edge:")}):
        lines.append(f'  subgraph {_node_id("placement_" + placement)}["{placement}"]')
        for t in sorted((t for t in targets if t["inputs"]["placement"] == placement), key=lambda t: t["inputs"]["target"]):
            lines.append(f'    {_target_node(t["inputs"]["target"])}["{_cluster_label(t["inputs"]["target"], records)}"]')
        lines.append("  end")
    site_nodes: dict[str, str] = {}
    if fleets:
        lines.append('  subgraph placement_edge["edge sites"]')
        for (shape, delivery), sites in sorted(fleets.items()):
            name = sites[0] if len(sites) == 1 else f"{sites[0]} … ×{len(sites)}"
            fleet = _target_node("fleet_" + sites[0])
            lines.append(f'    {fleet}["{name}: {shape}{" (GitOps)" if delivery == "gitops" else ""}"]')
            for site in sites:
                site_nodes[site] = fleet
        lines.append("  end")
    return lines, site_nodes


def _diagram_flows(targets: list[dict[str, Any]], records: list[dict[str, Any]], site_nodes: dict[str, str], overflow: dict[str, Any] | None) -> list[str]:
    """The arrows: overflow to the burst pool, metrics to the hub, models from their stores, GitOps
    pulls, the audit trail, and the account creating its EKS cluster."""
    by_target = {t["inputs"]["target"]: t for t in targets}
    lines = []
    onprem = [t["inputs"]["target"] for t in targets if t["inputs"]["placement"] == "onprem"]
    burst_targets = {pool.target for pool in gpu_node_pools(records)}
    clouds = [name for name, t in by_target.items() if t["inputs"]["placement"] == "cloud" and name in burst_targets]
    if overflow and onprem and clouds:
        gpus, hours = sum(overflow["gpus"].values()), sum(overflow["hours"].values())
        lines.append(f'  {_target_node(onprem[0])} -->|"training overflow: {gpus} GPUs, {hours:,.0f} GPU-h/week"| {_target_node(clouds[0])}')
    for fleet in sorted(set(site_nodes.values())):
        if onprem:
            lines.append(f'  {fleet} -.->|metrics| {_target_node(onprem[0])}')
    for store, served in sorted(_model_stores(records).items()):
        store_node = _node_id("store_" + store)
        lines.append(f'  {store_node}[("{store}")]')
        for target in sorted({site_nodes.get(t, _target_node(t)) for t in served}):
            lines.append(f"  {store_node} -->|models| {target}")
    if any(t["inputs"].get("delivery") == "gitops" for t in targets):
        lines.append('  git[("GitOps repository")]')
        for fleet in sorted({site_nodes[n] for n, t in by_target.items() if t["inputs"].get("delivery") == "gitops" and n in site_nodes}):
            lines.append(f"  git -->|pull| {fleet}")
    accounts = [name for name, t in by_target.items() if t["inputs"]["placement"] == "cloud" and name not in clouds]
    if any(r["type"] == "aws:cloudtrail/trail:Trail" for r in records):
        lines.append('  audit[("audit bucket, object-locked")]')
        for account in accounts[:1]:
            lines.append(f"  {_target_node(account)} -->|CloudTrail| audit")
    for name in clouds:
        if accounts:
            lines.append(f"  {_target_node(accounts[0])} -->|creates| {_target_node(name)}")
    return lines


def llm_rows(spec: StackSpec, capacity: CapacityPlan) -> list[dict[str, Any]]:
    """Each LLM's sizing as the capacity plan decided it, for reviewers to check the arithmetic:
    weights and KV cache, what each GPU holds of what vLLM uses of it, the GPUs of a replica
    (tensor parallel × nodes) and the replicas, on its pool and slice."""
    onprem, rows = capacity.onprem, []
    for m in spec.models:
        sizing = onprem.llms.get(m.name)
        if m.llm is None or sizing is None:
            continue
        pool, profile, replicas = onprem.placements[m.name]
        gpu = catalog.gpus().models[sizing.gpu_model]
        memory = gpu.memory_gb if profile == "gpu" else gpu.mig.profiles[profile].memory_gb
        rows.append(
            {
                "name": m.name,
                "architecture": m.llm.architecture if isinstance(m.llm.architecture, str) else "explicit",
                "dtype": m.llm.dtype if m.llm.kv_cache_dtype == "auto" else f"{m.llm.dtype}, KV {m.llm.kv_cache_dtype}",
                "weights_gb": sizing.weights_gb,
                "kv_gb": sizing.kv_cache_gb,
                "context": m.llm.context_length,
                "sequences": m.llm.concurrent_sequences,
                "per_gpu_gb": sizing.per_gpu_gb,
                "usable_gb": memory * sizing.gpu_memory_utilization,
                "tensor": sizing.tensor_parallel,
                "nodes": sizing.pipeline_parallel,
                "gpus": sizing.gpus_per_replica,
                "replicas": replicas,
                "pool": pool if profile == "gpu" else f"{pool} ({profile})",
                "ttft_ms": m.llm.ttft_p95_ms,
                "tpot_ms": m.llm.tpot_p95_ms,
                "measured_at_ms": tuple(round(b * 1000, 3) for b in m.llm.measured_at),
            }
        )
    return rows


def capacity_table(spec: StackSpec, capacity: CapacityPlan) -> dict[str, Any]:
    """What the capacity planner made of the on-prem cluster, for reviewers: each pool's GPUs
    (partitioned with MIG or whole), each team's GPU quota, each LLM's sizing, and the training
    sent to the cloud."""
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
        "llms": llm_rows(spec, capacity),
        "vllm": catalog.llms().vllm,
        "overflow": [{"team": team, "gpus": gpus, "hours": onprem.overflow_hours[team]} for team, gpus in sorted(onprem.overflow.items())],
        "node_pools": capacity.cloud.pools if capacity.cloud else [],
    }


def summary(plan: Plan, records: list[dict[str, Any]], cost: dict[str, Any] | None, policy: dict[str, Any] | None, change: dict[str, Any] | None) -> str:
    counts: Counter = Counter()
    for r in records:
        counts[(r["placement"], r["inputs"].get("kind") if r["type"].startswith("kubernetes:") and "kind" in r["inputs"] else r["type"])] += 1
    return template("summary.md.j2").render(
        plan=plan,
        spec=plan.spec,
        capacity=capacity_table(plan.spec, plan.capacity) if plan.spec is not None else None,
        diagram=diagram(records, {"gpus": plan.capacity.onprem.overflow, "hours": plan.capacity.onprem.overflow_hours} if plan.capacity else None),
        counts=sorted(counts.items()),
        registry=sorted(served_versions(records).items()),
        total=len(records),
        cost=cost,
        policy=policy,
        change=change,
        outputs=sorted(plan.outputs),
        by_placement=sorted(Counter(r["placement"] for r in records).items()),
        budget=budget_check(plan.spec, cost),
        keep_identity=KEEP_IDENTITY,
        failover=failover(plan.spec) if plan.spec is not None and plan.spec.multi_site() else None,
        failover_sites=[s.name for s in plan.spec.onprem_sites()] if plan.spec is not None else [],
    )


def budget_check(spec: StackSpec | None, cost: dict[str, Any] | None) -> dict[str, Any] | None:
    """The cloud estimate against the stack's AWS budget, where it has one."""
    pool = spec.burst_pool() if spec is not None else None
    if pool is None or not cost:
        return None
    cloud = cost["by_placement"].get("cloud", 0.0)
    limit = pool.budget.monthly_limit_usd
    return {"cloud": cloud, "limit": limit, "percent": round(100 * cloud / limit), "over": cloud > limit}
