"""manufacturing-edge: per-site targets, GPU setup by distribution, offline-safe serving, GitOps."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hybridai.cli import app
from hybridai.config import StackConfigError
from hybridai.program import prepare
from hybridai.plan.artifacts import render
from hybridai.plan.engine import run_plan
from hybridai.policy.rules.base import PolicyContext
from hybridai.policy.rules.kubernetes import images as pinned_images_rule
from tests.conftest import ROOT, planned
from tests.helpers import named, of_kind, of_type, release, stack_values

STACK = "manufacturing-prod"


def site_resources(site: str) -> list:
    plan, _ = planned(STACK)
    return [r for r in plan.resources if r.target == site]


def values() -> dict[str, Any]:
    return stack_values(STACK)


def test_every_site_is_its_own_edge_target() -> None:
    plan, files = planned(STACK)
    placements = {r.target: r.placement for r in plan.resources if r.type == "hybrid-ai:target:Target"}
    assert placements == {"aws": "cloud", "training": "cloud", "plant-dc": "onprem", "line-1": "edge:line-1", "line-2": "edge:line-2", "line-3": "edge:line-3", "line-3-bootstrap": "edge:line-3"}
    providers = {r.inputs.get("context") for r in of_type(plan.resources, "pulumi:providers:kubernetes")}
    assert {"plant-a-line-1", "plant-a-line-2", "plant-a-line-3", "plant-a-dc"} <= providers


@pytest.mark.parametrize("site,config_path", [("line-1", "/var/lib/rancher/k3s/"), ("line-2", "/var/lib/rancher/rke2/")])
def test_k3s_and_rke2_sites_point_the_toolkit_at_their_containerd(site: str, config_path: str) -> None:
    operator = release(site_resources(site), "gpu-operator")
    env = {e["name"]: e["value"] for e in operator.inputs["values"]["toolkit"]["env"]}
    assert env["CONTAINERD_CONFIG"].startswith(config_path)
    assert env["CONTAINERD_SOCKET"] == "/run/k3s/containerd/containerd.sock"
    assert operator.inputs["values"]["driver"] == {"enabled": False}, "edge images ship the driver by default"


def test_jetson_site_runs_the_device_plugin_without_the_operator() -> None:
    resources = site_resources("line-3")
    assert not [r for r in resources if (r.inputs.get("spec") or {}).get("source", {}).get("chart") == "gpu-operator"]
    plugin = named(resources, "DaemonSet", "nvidia-device-plugin")
    container = plugin.inputs["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "DEVICE_DISCOVERY_STRATEGY", "value": "tegra"} in container["env"]
    assert container["image"] == "mirror.line-3.plant-a.example:5000/nvcr.io/nvidia/k8s-device-plugin:v0.20.0@sha256:" + "4" * 64
    assert plugin.inputs["metadata"]["namespace"] == "gpu-operator"


def test_inference_serves_from_the_local_cache_pinned_to_site_gpus() -> None:
    resources = site_resources("line-2")
    cache = named(resources, "PersistentVolumeClaim", "model-cache")
    assert cache.protect and cache.retain_on_delete
    deployment = named(resources, "Deployment", "triton-paint-defects")
    pod = deployment.inputs["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"hybrid-ai.io/gpu-pool": "line-2"}
    assert {"name": "models", "persistentVolumeClaim": {"claimName": "model-cache", "readOnly": True}} in pod["volumes"]
    container = pod["containers"][0]
    assert "--model-repository=/models/current/paint-defects" in container["args"]
    assert container["image"].startswith("mirror.line-2.plant-a.example:5000/nvcr.io/nvidia/tritonserver:")
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}


def test_model_sync_runs_only_inside_the_maintenance_window() -> None:
    sync = named(site_resources("line-2"), "CronJob", "model-sync")
    spec = sync.inputs["spec"]
    # Sundays 01:00 Berlin time for 3 hours
    assert (spec["schedule"], spec["timeZone"]) == ("0 1 * * 0", "Europe/Berlin")
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 3 * 3600 - 300
    assert spec["startingDeadlineSeconds"] <= 3 * 3600 // 2
    script = spec["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
    # the swap comes after every copy, under `set -e`: a failed copy never replaces `current`
    assert script.index("set -eu") < script.index("rclone sync") < script.index("mv /models/incoming /models/current")


SITES = ("line-1", "line-2", "line-3")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def edge_workloads() -> list[tuple[str, Any, dict]]:
    """(site, resource, pod spec) of every Triton Deployment and model-sync CronJob of the example sites."""
    found = []
    for site in SITES:
        resources = site_resources(site)
        found += [(site, r, r.inputs["spec"]["template"]["spec"]) for r in of_kind(resources, "Deployment") if r.inputs["metadata"]["namespace"] == "inference"]
        found += [(site, r, r.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]) for r in of_kind(resources, "CronJob")]
    return found


def test_every_edge_workload_is_hardened_like_the_data_center() -> None:
    # GIVEN Triton of every model and the model sync of every example site
    workloads = edge_workloads()
    assert {(site, r.inputs["kind"]) for site, r, _ in workloads} == {(s, k) for s in SITES for k in ("Deployment", "CronJob")}
    for site, r, pod in workloads:
        where = f"{site} {r.inputs['kind']} {r.inputs['metadata']['name']}"
        context = pod["securityContext"]
        # THEN each pod runs as a fixed high non-root user and group, under the runtime's seccomp profile
        assert context["runAsNonRoot"] is True and context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert context["runAsUser"] >= 10000 and context["runAsGroup"] >= 10000, where
        for container in pod["containers"]:
            # AND each container pulls through the site's mirror by digest, keeping the tag for readers
            assert container["image"].startswith(f"mirror.{site}.plant-a.example:5000/") and DIGEST.search(container["image"]), where
            assert ":" in container["image"].split("/")[-1].split("@")[0], f"{where}: the tag stays"
            # AND its root filesystem is read-only, with no escalation or capabilities
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False and security["capabilities"] == {"drop": ["ALL"]}, where
            # AND no variable comes from a Secret
            assert "envFrom" not in container and not [e for e in container.get("env", []) if "valueFrom" in e], where


def test_model_sync_mounts_its_credentials_read_only_at_the_documented_path() -> None:
    # GIVEN the model sync of every site THEN the Secret `modelSourceSecret` names is mounted, read-only,
    # at /etc/rclone (its key rclone.conf, as docs/blueprints/manufacturing-edge.md says) and rclone reads it
    for site in SITES:
        pod = named(site_resources(site), "CronJob", "model-sync").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        [container] = pod["containers"]
        secret = {v["name"]: v["secret"] for v in pod["volumes"] if "secret" in v}
        [mount] = [m for m in container["volumeMounts"] if m["name"] in secret]
        assert (mount["mountPath"], mount["readOnly"]) == ("/etc/rclone", True), site
        assert secret[mount["name"]]["secretName"] == "model-sync-credentials" and secret[mount["name"]]["items"] == [{"key": "rclone.conf", "path": "rclone.conf"}], site
        assert "--config /etc/rclone/rclone.conf" in container["command"][2], site
    doc = (ROOT / "docs" / "blueprints" / "manufacturing-edge.md").read_text()
    assert "`rclone.conf`" in doc and "/etc/rclone/rclone.conf" in doc


def test_edge_images_pass_the_pinned_image_rule_with_no_registry_allowed() -> None:
    # GIVEN the edge workloads and a policy context that allows no registry at all (mirrors are no exemption)
    resources = [{"urn": r.urn, "type": r.type, "inputs": r.inputs} for _, r, _ in edge_workloads()]
    # THEN the pinned-image rule finds nothing: every image is pinned by digest
    assert list(pinned_images_rule(resources, PolicyContext(allowed_registries=()))) == []


def test_sites_ship_metrics_to_the_plant_hub_labelled_with_the_site() -> None:
    for site in ("line-1", "line-2"):
        spec = release(site_resources(site), "kube-prometheus-stack").inputs["values"]["prometheus"]
        assert spec["agentMode"] is True
        assert spec["prometheusSpec"]["remoteWrite"] == [{"url": "https://metrics.plant-a.example/api/v1/write"}]
        assert spec["prometheusSpec"]["externalLabels"]["site"] == site
    hub = release(site_resources("plant-dc"), "kube-prometheus-stack").inputs["values"]["prometheus"]["prometheusSpec"]
    assert hub["enableRemoteWriteReceiver"] is True


def test_plant_hub_and_cloud_pool_are_present() -> None:
    plan, _ = planned(STACK)
    assert of_type(plan.resources, "aws:eks/cluster:Cluster")
    assert release(site_resources("plant-dc"), "gpu-operator")
    assert release(site_resources("plant-dc"), "opencost")


def test_gitops_site_is_rendered_as_a_folder_and_bootstrapped_once() -> None:
    plan, files = planned(STACK)
    [provider] = [r for r in of_type(plan.resources, "pulumi:providers:kubernetes") if r.target == "line-3"]
    assert provider.inputs["renderYamlToDirectory"] == "gitops/line-3"
    gitops = sorted(p for p in files if p.parts[:2] == ("gitops", "line-3"))
    assert Path("gitops/line-3/inference/Deployment-triton-label-check.yaml") in gitops
    assert not [p for p in files if p.parts[:2] == ("helm", "line-3")], "charts become Argo CD Applications"
    app = yaml.safe_load(files[Path("gitops/line-3/argocd/Application-kube-prometheus-stack.yaml")])
    assert app["spec"]["source"]["chart"] == "kube-prometheus-stack" and app["spec"]["source"]["targetRevision"] == "88.5.3"
    # the one-time bootstrap installs the pinned Argo CD and the root Application, kept on delete
    boot = site_resources("line-3-bootstrap")
    argo = release(boot, "argo-cd")
    assert argo.inputs["version"] == "10.1.1" and argo.retain_on_delete
    root = named(boot, "Application", "site")
    assert root.inputs["spec"]["source"]["path"] == "sites/line-3" and root.retain_on_delete


def test_a_bad_site_entry_names_the_site() -> None:
    broken = values()
    broken["sites"][2]["gpuModel"] = "L4-24GB"  # a Jetson site with a discrete GPU
    broken["sites"][0]["maintenanceWindow"]["start"] = "25:00"
    with pytest.raises(StackConfigError) as caught:
        prepare(STACK, broken)[0]
    text = caught.value.render()
    assert "hybrid-ai:sites[2]: site line-3: jetson sites run Jetson modules" in text
    assert "hybrid-ai:sites[0].maintenanceWindow.start: site line-1:" in text


@pytest.mark.parametrize(
    "path,value,loc,kind",
    [
        (["sites", 0, "timezone"], "Berlin", ("sites", 0, "timezone"), "timezone_unknown"),
        (["sites", 0, "models", 0, "replicas"], 3, ("sites", 0), "site_over_capacity"),
        (["sites", 0, "distribution"], "microk8s", ("sites", 0, "distribution"), "literal_error"),
        (["sites", 2, "gitops"], None, ("sites", 2), "gitops_required"),
        (["sites", 1, "name"], "line-1", ("sites", 1, "name"), "duplicate"),
        (["sites", 0, "registryMirror"], "https://mirror", ("sites", 0, "registryMirror"), "string_pattern_mismatch"),
        (["sites", 0, "imageDigests", "triton"], "sha256:abc", ("sites", 0, "imageDigests", "triton"), "image_digest"),
        (["sites", 0, "imageDigests", "triton"], "25.01-py3", ("sites", 0, "imageDigests", "triton"), "image_digest"),
        # line-1 runs k3s: the GPU Operator's chart pins its device plugin, the site pulls none itself
        (["sites", 0, "imageDigests", "device-plugin"], "sha256:" + "4" * 64, ("sites", 0, "imageDigests", "device-plugin"), "image_unknown"),
    ],
)
def test_bad_site_input(path: list, value: Any, loc: tuple, kind: str) -> None:
    broken = copy.deepcopy(values())
    node = broken
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with pytest.raises(StackConfigError) as caught:
        prepare(STACK, broken)[0]
    assert (loc, kind) in {(p.loc, p.type) for p in caught.value.problems}


def test_a_prod_site_without_digests_fails_at_each_missing_key() -> None:
    # GIVEN the prod stack with no digests for line-1 and none for line-3's device plugin
    broken = values()
    del broken["sites"][0]["imageDigests"]
    del broken["sites"][2]["imageDigests"]["device-plugin"]
    # WHEN validated THEN each missing digest is a problem at its own key, and nothing else is
    with pytest.raises(StackConfigError) as caught:
        prepare(STACK, broken)
    assert {(p.loc, p.type) for p in caught.value.problems} == {
        (("sites", 0, "imageDigests", "triton"), "image_digest_required"),
        (("sites", 0, "imageDigests", "rclone"), "image_digest_required"),
        (("sites", 2, "imageDigests", "device-plugin"), "image_digest_required"),
    }


def test_a_prod_site_without_digests_exits_2_naming_the_key_and_how_to_get_the_digest(project: Path, tmp_path: Path) -> None:
    # GIVEN the prod stack file with line-2's digests removed
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load(path.read_text())
    del document["config"]["hybrid-ai:sites"][1]["imageDigests"]
    path.write_text(yaml.safe_dump(document))
    # WHEN planned THEN it exits 2 before registering anything, naming the key and the command that gives its value
    result = CliRunner().invoke(app, ["plan", STACK, "--out", str(tmp_path / "out"), "--project-dir", str(project)])
    assert result.exit_code == 2, result.output
    ref = "mirror.line-2.plant-a.example:5000/nvcr.io/nvidia/tritonserver:25.01-py3"
    assert f"hybrid-ai:sites[1].imageDigests.triton: site line-2: prod sites pull every image by digest; add the digest of {ref}" in result.stderr
    assert f"`crane digest {ref}`" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_dev_site_may_pull_by_tag() -> None:
    # GIVEN the stack as a dev environment, with no digests for line-1
    relaxed = values()
    relaxed["environment"] = "dev"
    del relaxed["sites"][0]["imageDigests"]
    # THEN it validates, and line-1's images are pulled by tag
    spec = prepare(STACK, relaxed)[0]
    assert spec.sites[0].image("triton") == "mirror.line-1.plant-a.example:5000/nvcr.io/nvidia/tritonserver:25.01-py3"


def _plan_with(project: Path, sites: list[dict]) -> dict[str, dict]:
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    document = yaml.safe_load((ROOT / "stacks" / path.name).read_text())
    document["config"]["hybrid-ai:sites"] = sites
    # Every site of the stack is backed up, as in the example.
    document["config"]["hybrid-ai:backups"]["sites"] = [s["name"] for s in sites]
    path.write_text(yaml.safe_dump(document))
    plan = run_plan(STACK, project)
    return {r["urn"]: r for r in json.loads(render(plan)[Path("resources.json")])["resources"]}


def test_adding_or_removing_a_site_changes_only_that_sites_resources(project: Path) -> None:
    sites = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text())["config"]["hybrid-ai:sites"]
    extra = {**copy.deepcopy(sites[0]), "name": "line-4", "context": "plant-a-line-4", "nodes": ["line4-gpu-01"]}
    before = _plan_with(project, sites)
    after = _plan_with(project, [*sites, extra])
    added = after.keys() - before.keys()
    assert added and {after[u]["target"] for u in added} == {"line-4"}
    assert before.keys() <= after.keys()
    assert all(before[u] == after[u] for u in before), "no other resource changes"
    removed = _plan_with(project, sites[1:])
    gone = before.keys() - removed.keys()
    assert {before[u]["target"] for u in gone} == {"line-1"}
    assert all(removed[u] == before[u] for u in removed)
