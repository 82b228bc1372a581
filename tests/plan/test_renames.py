"""`hybridai plan --compare` catches protected resources whose URN would change.

A protected resource (a namespace with volumes, a cache PVC, a bucket) whose URN changes while a new
resource manages the same object would be created anew by `pulumi up`, and the old one deleted — so
the plan names each one and exits 1 unless `--allow-renames`. A URN the program keeps through
`aliases` is moved by Pulumi, not renamed, and is not reported.
"""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from hybridai.cli import app
from hybridai.plan import run_plan
from hybridai.plan.aliases import Urns
from hybridai.plan.artifacts import render
from hybridai.plan.review import compare
from hybridai.recorded import Resource
from tests.conftest import ROOT, planned

runner = CliRunner()
HEAD = "urn:pulumi:healthcare-prod::hybrid-ai::"
TENANCY_NS = "hybrid-ai:target:Target$hybrid-ai:gpu_platform:GpuPlatform$hybrid-ai:tenancy:Tenancy$kubernetes:core/v1:Namespace"
MONITORING_NS = "hybrid-ai:target:Target$hybrid-ai:gpu_platform:GpuPlatform$hybrid-ai:monitoring:Monitoring$kubernetes:core/v1:Namespace"


def plan(project: Path, stack: str, out: Path, *extra: str):
    return runner.invoke(app, ["plan", stack, "--out", str(out), "--project-dir", str(project), *extra])


def edit(project: Path, stack: str, change) -> None:
    path = project / "stacks" / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text())
    change(document["config"])
    path.write_text(yaml.safe_dump(document))


def rename_line_1(config: dict, **site: str) -> None:
    """Site line-1 becomes line-9 (with `site`'s other changes), and so does its entry among the backed-up sites."""
    config["hybrid-ai:sites"][0].update(name="line-9", modelSource="plant:models/line-9", **site)
    config["hybrid-ai:backups"]["sites"] = ["line-9" if s == "line-1" else s for s in config["hybrid-ai:backups"]["sites"]]


def manufacturing_base_and_project(tmp_path: Path) -> tuple[Path, Path]:
    """manufacturing-prod's plan as a base folder, and a scratch project holding its stack file."""
    base = tmp_path / "base"
    base.mkdir()
    _, files = planned("manufacturing-prod")
    (base / "resources.json").write_text(files[Path("resources.json")])
    project = tmp_path / "project"
    (project / "stacks").mkdir(parents=True)
    (project / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (project / "stacks" / "Pulumi.manufacturing-prod.yaml").write_text((ROOT / "stacks" / "Pulumi.manufacturing-prod.yaml").read_text())
    return base, project


def rename_onprem(config: dict) -> None:
    config["hybrid-ai:onprem"]["name"] = "dc2"


def test_renaming_the_onprem_cluster_lists_its_protected_namespaces_and_exits_1(project: Path, tmp_path: Path) -> None:
    # GIVEN a base plan of healthcare-prod
    base = tmp_path / "base"
    assert plan(project, "healthcare-prod", base).exit_code == 0
    # WHEN onprem.name is renamed (same cluster: the kubeconfig context stays) and the stack re-planned
    edit(project, "healthcare-prod", rename_onprem)
    out = tmp_path / "out"
    result = plan(project, "healthcare-prod", out, "--compare", str(base))
    # THEN exit 1, each protected namespace named old URN → new URN, with how to keep its identity
    assert result.exit_code == 1, result.output
    assert f"error: 9 protected resources would get a new URN against the base plan {base}" in result.stderr
    for name in ("clinical-notes", "clinical-research", "ml-platform", "pathology", "radiology"):
        assert f"  kubernetes:core/v1:Namespace: {HEAD}{TENANCY_NS}::hc-prod-dc1-tenancy-{name}\n    -> {HEAD}{TENANCY_NS}::hc-prod-dc2-tenancy-{name}\n" in result.stderr
    assert f"{HEAD}{MONITORING_NS}::hc-prod-dc1-monitoring-ns\n    -> {HEAD}{MONITORING_NS}::hc-prod-dc2-monitoring-ns" in result.stderr
    assert "::hc-prod-dc1-logging-ns\n    -> " in result.stderr
    assert "::hc-prod-dc1-nvsentinel-ns\n    -> " in result.stderr
    assert "add `aliases` to those resources in the program" in result.stderr
    assert "`pulumi state rename <old-urn> <new-name>`" in result.stderr and "or revert the rename" in result.stderr
    assert "URNs are named from the stack keys prefix, onprem.name, cloud.cluster.name, sites[].name" in result.stderr
    assert "Pass --allow-renames if the change is deliberate." in result.stderr
    assert "Traceback" not in result.output
    # AND the artifacts are written, the summary's change section showing the same list
    summary = (out / "summary.md").read_text()
    assert "**9 protected resources would get a new URN**" in summary
    assert f"> - `kubernetes:core/v1:Namespace`: `{HEAD}{TENANCY_NS}::hc-prod-dc1-tenancy-radiology` → `{HEAD}{TENANCY_NS}::hc-prod-dc2-tenancy-radiology`" in summary
    # (renamed, so not listed again as plainly removed)
    assert "Removing protected resources fails" not in summary

    # AND WHEN the rename is deliberate, THEN --allow-renames passes, still listing them
    again = tmp_path / "again"
    allowed = plan(project, "healthcare-prod", again, "--compare", str(base), "--allow-renames")
    assert allowed.exit_code == 0, allowed.output
    assert "warning: 9 protected resources would get a new URN" in allowed.stderr and "Allowed by --allow-renames." in allowed.stderr


def test_renaming_an_edge_site_lists_its_protected_model_cache(tmp_path: Path) -> None:
    # GIVEN manufacturing-prod's plan as the base, WHEN site line-1 is renamed line-9 (same context)
    base, project = manufacturing_base_and_project(tmp_path)
    edit(project, "manufacturing-prod", rename_line_1)
    renamed = run_plan("manufacturing-prod", project)
    records = json.loads(render(renamed)[Path("resources.json")])["resources"]
    change = compare(renamed.resources, records, None, base)
    # THEN the site's protected cache PVC and namespaces are renamed, the other sites' are not
    moves = {(r["from"].rsplit("::", 1)[-1], r["to"].rsplit("::", 1)[-1]) for r in change["renamed"]}
    assert moves == {
        ("mfg-prod-line-1-edge-cache", "mfg-prod-line-9-edge-cache"),
        ("mfg-prod-line-1-monitoring-ns", "mfg-prod-line-9-monitoring-ns"),
        ("mfg-prod-line-1-tenancy-manufacturing-ops", "mfg-prod-line-9-tenancy-manufacturing-ops"),
    }
    assert {r["type"] for r in change["renamed"]} == {"kubernetes:core/v1:PersistentVolumeClaim", "kubernetes:core/v1:Namespace"}
    assert change["removed_protected"] == []


def test_removing_a_protected_resource_is_a_warning_not_a_rename(project: Path, tmp_path: Path) -> None:
    # GIVEN a base plan of healthcare-dev, WHEN a team is removed (its namespace goes, nothing takes its place)
    base = tmp_path / "base"
    assert plan(project, "healthcare-dev", base).exit_code == 0
    edit(project, "healthcare-dev", lambda config: config.update({"hybrid-ai:teams": config["hybrid-ai:teams"][:1]}))
    result = plan(project, "healthcare-dev", tmp_path / "out", "--compare", str(base))
    # THEN it is named as leaving the plan (pulumi up refuses until unprotected), not as a rename
    assert result.exit_code == 0, result.output
    assert "warning: protected resources leave the plan: hc-dev-lab-tenancy-pathology-dev; `pulumi up` fails to delete them until they are unprotected" in result.stderr
    assert "new URN" not in result.stderr


def before_the_platform(records: list[dict]) -> list[dict]:
    """The records as a plan made before the GpuPlatform component laid them out: the platform's
    parts (operator, tenancy, monitoring, queues, serving) directly under their Target."""
    platforms = {r["urn"]: r["parent"] for r in records if r["type"] == "hybrid-ai:gpu_platform:GpuPlatform"}
    moved: dict[str, str] = {}
    for r in records:
        if r.get("parent") in platforms:
            target = platforms[r["parent"]]
            moved[r["urn"]] = f"{target.split('::')[0]}::{target.split('::')[1]}::{target.split('::')[2].rsplit('$', 1)[-1]}${r['type']}::{r['name']}"
    old = []
    for r in records:
        if r["urn"] in platforms:
            continue
        parent = platforms.get(r.get("parent"), moved.get(r.get("parent"), r.get("parent")))
        old.append({**r, "urn": moved.get(r["urn"], r["urn"]), "parent": parent})
    return old


def test_a_change_that_moves_resources_through_aliases_is_not_a_rename(tmp_path: Path) -> None:
    # GIVEN a base plan of healthcare-prod as laid out before the GPU platform (its URNs, in the
    # engine's form, are those the stacks deployed before the split hold)
    plan_, files = planned("healthcare-prod")
    # (logging, backups, MLflow, the training runtime, certificates and secrets from the store, the
    # decision trail and its drift checks, KEDA, LLM serving and its autoscaler, NVSentinel and the GPU burn-in, PHI egress came after the split: stacks deployed before it never held them)
    later = ("-gpu-burn-in", "-logging", "-backup", "-mlflow", "-training-runtime", "-cert-manager", "-external-secrets", "-cert", "-secret-", "-decisions", "-decision-log", "-serving-ca-", "-serving-config", "-drift", "-keda", "-predictors-podmonitor", "-llm-serving", "-variant-autoscaler", "-inference-gateway", "-clinical-notes", "-dashboard-llm", "-nvsentinel", "-phi-egress")
    records = [r for r in json.loads(files[Path("resources.json")])["resources"] if not any(part in r["name"] for part in later)]
    base = tmp_path / "base"
    base.mkdir()
    (base / "resources.json").write_text(json.dumps({"stack": "healthcare-prod", "blueprint": "healthcare-onprem", "resources": before_the_platform(records)}))
    deployed = set((ROOT / "tests" / "plan" / "fixtures" / "urns-before-split-healthcare-prod.txt").read_text().split())
    old_urns = Urns.of_records(before_the_platform(records))
    assert {old_urns.real(u) for u in old_urns.by_urn} <= deployed
    # WHEN today's program is compared with it
    change = compare(plan_.resources, records, None, base)
    # THEN nothing is renamed or removed: the aliases the program declares move every part
    assert change["renamed"] == [] and change["removed_protected"] == [] and change["removed"] == []
    moved = {(m["from"], m["to"]) for m in change["moved"]}
    assert (
        f"{HEAD}hybrid-ai:target:Target$hybrid-ai:tenancy:Tenancy$kubernetes:core/v1:Namespace::hc-prod-dc1-tenancy-radiology",
        f"{HEAD}{TENANCY_NS}::hc-prod-dc1-tenancy-radiology",
    ) in moved
    # AND without the aliases, the same change would rename all 5 protected namespaces
    stripped = [Resource(**{**r.__dict__, "aliases": []}) for r in plan_.resources]
    assert len(compare(stripped, records, None, base)["renamed"]) == 5


def test_moves_show_in_the_summary_and_pass(project: Path, tmp_path: Path) -> None:
    # GIVEN the same pre-platform base as a folder, WHEN planned with --compare
    _, files = planned("healthcare-prod")
    records = json.loads(files[Path("resources.json")])["resources"]
    base = tmp_path / "base"
    base.mkdir()
    (base / "resources.json").write_text(json.dumps({"stack": "healthcare-prod", "blueprint": "healthcare-onprem", "resources": before_the_platform(records)}))
    out = tmp_path / "out"
    result = plan(project, "healthcare-prod", out, "--compare", str(base))
    # THEN exit 0; the summary counts the moves and reports no rename
    assert result.exit_code == 0, result.output
    summary = (out / "summary.md").read_text()
    assert "| moved (aliases) |" in summary and "would get a new URN" not in summary
    assert "- `hybrid-ai:tenancy:Tenancy` hc-prod-dc1-tenancy: `hybrid-ai:target:Target$hybrid-ai:tenancy:Tenancy` → `hybrid-ai:target:Target$hybrid-ai:gpu_platform:GpuPlatform$hybrid-ai:tenancy:Tenancy`" in summary


def test_an_unreadable_base_is_a_clear_error(project: Path, tmp_path: Path) -> None:
    # GIVEN a --compare folder whose resources.json is not a plan's
    base = tmp_path / "base"
    base.mkdir()
    (base / "resources.json").write_text("{not json")
    # WHEN planned, THEN exit 2 naming the file, no traceback
    result = plan(project, "healthcare-dev", tmp_path / "out", "--compare", str(base))
    assert result.exit_code == 2
    assert f"--compare {base}: can't read {base / 'resources.json'}" in result.stderr
    assert "Traceback" not in result.output


def test_a_plan_compared_with_itself_moves_and_renames_nothing(example_stack: str, tmp_path: Path) -> None:
    # GIVEN an example stack's plan as its own base, WHEN compared, THEN nothing moved, renamed or removed
    plan_, files = planned(example_stack)
    (tmp_path / "resources.json").write_text(files[Path("resources.json")])
    records = json.loads(files[Path("resources.json")])["resources"]
    change = compare(plan_.resources, records, None, tmp_path)
    assert (change["added"], change["removed"], change["moved"], change["renamed"], change["removed_protected"]) == ([], [], [], [], [])


def test_a_rename_with_renamed_from_keeps_identity_and_passes(project: Path, tmp_path: Path) -> None:
    # GIVEN a base plan of healthcare-prod
    base = tmp_path / "base"
    assert plan(project, "healthcare-prod", base).exit_code == 0

    # WHEN the on-prem cluster is renamed and says what it was called
    def rename_with_memory(config: dict) -> None:
        config["hybrid-ai:onprem"]["name"] = "dc2"
        config["hybrid-ai:onprem"]["renamedFrom"] = "dc1"

    edit(project, "healthcare-prod", rename_with_memory)
    result = plan(project, "healthcare-prod", tmp_path / "out", "--compare", str(base))
    # THEN nothing is reported renamed: the target's alias carries every resource under it over
    # (children named `<target>-…` follow through the engine's inherited aliases)
    assert result.exit_code == 0, result.output
    assert "would get a new URN" not in result.stderr


def test_an_edge_site_renamed_with_renamed_from_keeps_its_model_cache(tmp_path: Path) -> None:
    # GIVEN manufacturing-prod's plan as the base, WHEN site line-1 becomes line-9 with renamedFrom
    base, project = manufacturing_base_and_project(tmp_path)
    edit(project, "manufacturing-prod", lambda config: rename_line_1(config, renamedFrom="line-1"))
    renamed = run_plan("manufacturing-prod", project)
    records = json.loads(render(renamed)[Path("resources.json")])["resources"]
    change = compare(renamed.resources, records, None, base)
    # THEN its protected cache and namespaces are moved, not renamed
    assert change["renamed"] == []
    assert any(m["to"].endswith("::mfg-prod-line-9-edge-cache") for m in change["moved"]) if isinstance(change["moved"][0], dict) else change["moved"]
