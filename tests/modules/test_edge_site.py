"""EdgeSite: Triton and the model sync hardened like the data center's workloads, field by field."""
from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from hybridai.modules.edge_site import EdgeModelArgs, EdgeSite, EdgeSiteArgs, model_sync_script
from hybridai.modules.target import Target, TargetArgs
from tests.helpers import named, of_kind, prepared, run_module

TRITON = "sha256:" + "a" * 64
TRITON_IGPU = "sha256:" + "b" * 64
RCLONE = "sha256:" + "c" * 64
MIRROR = "mirror.line-1.example:5000"


def site(distribution: str = "k3s", **changes: Any) -> EdgeSiteArgs:
    args = {
        "site": "line-1",
        "distribution": distribution,
        "timezone": "Europe/Berlin",
        "window_cron": "0 2 * * 6",
        "window_hours": 4,
        "registry_mirror": MIRROR,
        "model_source": "plant:models/line-1",
        "model_source_secret": "model-sync-credentials",
        "image_digests": {"triton": TRITON, "triton-igpu": TRITON_IGPU, "rclone": RCLONE},
        "cache_size": "50Gi",
        "client_cidrs": ("10.31.1.0/24",),
        "models": (EdgeModelArgs(name="weld", replicas=1, gpus=1, cpu="4", memory="16Gi"),),
    }
    return EdgeSiteArgs(**{**args, **changes})


def build(args: EdgeSiteArgs) -> list:
    def program() -> None:
        target = Target("mfg", args.site, TargetArgs(placement=f"edge:{args.site}", context=args.site))
        namespace = k8s.core.v1.Namespace("ns", metadata={"name": args.namespace}, opts=pulumi.ResourceOptions(parent=target, provider=target.provider))
        EdgeSite(target, args, namespace=namespace)

    return run_module(program)


@pytest.fixture(scope="module")
def resources() -> list:
    return build(site())


def pods(resources: list) -> dict[str, dict]:
    """Pod spec of every workload the site runs: Triton per model, the sync's job template."""
    out = {f"Deployment/{r.inputs['metadata']['name']}": r.inputs["spec"]["template"]["spec"] for r in of_kind(resources, "Deployment")}
    out |= {f"CronJob/{r.inputs['metadata']['name']}": r.inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"] for r in of_kind(resources, "CronJob")}
    return out


def sync_pod(resources: list) -> dict:
    return named(resources, "CronJob", "model-sync").inputs["spec"]["jobTemplate"]["spec"]["template"]["spec"]


@pytest.mark.parametrize(
    "distribution,triton",
    [
        ("k3s", f"{MIRROR}/nvcr.io/nvidia/tritonserver:25.01-py3@{TRITON}"),
        ("jetson", f"{MIRROR}/nvcr.io/nvidia/tritonserver:25.01-py3-igpu@{TRITON_IGPU}"),
    ],
)
def test_every_image_is_pulled_through_the_mirror_by_digest(distribution: str, triton: str) -> None:
    # GIVEN a site with a digest for each of its images WHEN built
    resources = build(site(distribution))
    # THEN Triton (the -igpu build on Jetson) and rclone are pulled as <mirror>/<repo>:<tag>@<digest>
    assert named(resources, "Deployment", "triton-weld").inputs["spec"]["template"]["spec"]["containers"][0]["image"] == triton
    assert sync_pod(resources)["containers"][0]["image"] == f"{MIRROR}/docker.io/rclone/rclone:1.68.2@{RCLONE}"


def test_pods_run_as_a_fixed_high_non_root_user_sharing_the_cache_by_group(resources) -> None:
    # GIVEN the site's workloads THEN every pod runs as uid/gid 10001 — not Triton's own uid 1000 —
    # with the cache volume given that group, the runtime's seccomp profile and no API token
    found = pods(resources)
    assert set(found) == {"Deployment/triton-weld", "CronJob/model-sync"}
    for where, pod in found.items():
        context = pod["securityContext"]
        assert context["runAsNonRoot"] is True, where
        assert context["runAsUser"] == context["runAsGroup"] == context["fsGroup"] == 10001, where
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert pod["automountServiceAccountToken"] is False, where
        for container in pod["containers"]:
            assert "runAsUser" not in container["securityContext"] and "runAsGroup" not in container["securityContext"], f"{where}: no container overrides the pod's user"


def test_root_filesystems_are_read_only_and_tmp_is_the_writable_home(resources) -> None:
    # GIVEN the site's workloads THEN each container's root filesystem is read-only, without
    # privilege escalation or capabilities, and its one scratch folder is an emptyDir at /tmp (HOME)
    for where, pod in pods(resources).items():
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}, where
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]["name"]], where
            assert {"name": "HOME", "value": "/tmp"} in container["env"], where
    # Triton reads the cache; only the sync writes it
    triton = pods(resources)["Deployment/triton-weld"]["containers"][0]
    assert {m["mountPath"]: m.get("readOnly", False) for m in triton["volumeMounts"]} == {"/models": True, "/tmp": False}


def test_sync_reads_its_credentials_from_a_read_only_file_not_the_environment(resources) -> None:
    # GIVEN the model sync THEN no variable comes from a Secret
    pod = sync_pod(resources)
    [container] = pod["containers"]
    assert "envFrom" not in container
    assert not [e for e in container["env"] if "valueFrom" in e]
    # AND the Secret's one key, rclone.conf, is a file readable by the pod's group only, mounted read-only
    volume = next(v for v in pod["volumes"] if "secret" in v)
    assert volume["secret"] == {"secretName": "model-sync-credentials", "items": [{"key": "rclone.conf", "path": "rclone.conf"}], "defaultMode": 0o440}
    assert {"name": volume["name"], "mountPath": "/etc/rclone", "readOnly": True} in container["volumeMounts"]
    # AND rclone is told to read it, and to keep its cache in /tmp
    script = container["command"][2]
    assert "rclone sync --config /etc/rclone/rclone.conf --cache-dir /tmp/rclone " in script
    # AND what it writes stays writable for the cache's group, before anything is written
    assert script.index("umask 0002") < script.index("mkdir -p /models/incoming")


def test_several_replicas_are_spread_and_budgeted_one_is_not() -> None:
    # GIVEN a model with two replicas and one with one
    resources = build(site(models=(EdgeModelArgs(name="weld", replicas=2, gpus=1, cpu="4", memory="16Gi"), EdgeModelArgs(name="paint", replicas=1, gpus=0, cpu="2", memory="8Gi"))))
    # THEN the first keeps one replica through a drain and spreads over nodes, as in the data center
    pdb = named(resources, "PodDisruptionBudget", "triton-weld")
    assert pdb.inputs["spec"] == {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "triton", "hybrid-ai.io/model": "weld"}}}
    [spread] = named(resources, "Deployment", "triton-weld").inputs["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["labelSelector"]["matchLabels"]["hybrid-ai.io/model"]) == ("kubernetes.io/hostname", "weld")
    # AND a lone replica gets no budget: it would block every drain of the site's node
    assert [r.inputs["metadata"]["name"] for r in of_kind(resources, "PodDisruptionBudget")] == ["triton-weld"]
    assert "topologySpreadConstraints" not in named(resources, "Deployment", "triton-paint").inputs["spec"]["template"]["spec"]


def test_an_image_without_a_digest_is_pulled_by_tag() -> None:
    # GIVEN a site that states no digests (allowed outside prod) THEN images keep their tag alone
    resources = build(site(image_digests={}))
    assert named(resources, "Deployment", "triton-weld").inputs["spec"]["template"]["spec"]["containers"][0]["image"] == f"{MIRROR}/nvcr.io/nvidia/tritonserver:25.01-py3"


def test_the_sync_script_is_its_template_filled_in_for_the_sites_models() -> None:
    # GIVEN a site serving two models
    two = (EdgeModelArgs(name="weld", replicas=1, gpus=1, cpu="4", memory="16Gi"), EdgeModelArgs(name="paint", replicas=1, gpus=0, cpu="2", memory="8Gi"))
    # WHEN its sync command is written
    script = model_sync_script(site(models=two))
    # THEN it is modules/scripts/edge_model_sync.sh without its header, each placeholder filled in:
    # the models in order, the mounted config file, the variable naming the remote (no final newline)
    assert script == "\n".join(
        [
            "set -eu",
            "umask 0002",
            "rm -rf /models/incoming && mkdir -p /models/incoming",
            'for m in weld paint; do rclone sync --config /etc/rclone/rclone.conf --cache-dir /tmp/rclone --checksum "$MODEL_SOURCE/$m" "/models/incoming/$m/$m"; done',
            "rm -rf /models/previous",
            "if [ -d /models/current ]; then mv /models/current /models/previous; fi",
            "mv /models/incoming /models/current",
        ]
    )
    # AND it is what the site's CronJob runs
    assert sync_pod(build(site(models=two)))["containers"][0]["command"] == ["/bin/sh", "-c", script]


def test_a_sites_serving_is_its_teams_synced_in_its_local_maintenance_window() -> None:
    # GIVEN manufacturing-prod's line-3 (Jetson, Sat and Sun 03:00 for 2 h, Berlin time)
    spec, _ = prepared("manufacturing-prod")
    line3 = next(s for s in spec.sites if s.name == "line-3")
    # WHEN its serving args are made
    args = EdgeSiteArgs.of(line3, ())
    # THEN in its team's namespace, syncing from its model source only in the window, local time
    assert (args.site, args.namespace, args.distribution) == ("line-3", line3.owner().namespace, "jetson")
    assert (args.window_cron, args.window_hours, args.timezone) == ("0 3 * * 6,0", 2, "Europe/Berlin")
    assert (args.model_source, args.model_source_secret, args.registry_mirror) == ("plant:models/line-3", line3.model_source_secret, line3.registry_mirror)
    # AND its images by the digests its mirror serves, its cache and its line equipment's networks
    assert (args.image_digests, args.cache_size, args.client_cidrs) == (line3.image_digests, "20Gi", ("10.31.3.0/24",))
    assert args.models == (EdgeModelArgs(name="label-check", replicas=1, gpus=1, cpu="2", memory="8Gi"),)
