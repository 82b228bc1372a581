"""`hybridai images`: the images a plan runs, and their digests resolved from a real registry."""
from __future__ import annotations

import json
import socket
from pathlib import Path

import oras.client
import pytest
import yaml
from typer.testing import CliRunner

from hybridai.cli import app
from hybridai.supply import images
from hybridai.supply.images import ImageLock, ImageUse, LockEntry, StackImages, UnlistedImage, merged, normalize, read_lock, resolve, values_images, workload_images
from hybridai.supply.transport import SupplyError
from tests.conftest import ROOT

IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
IMAGE_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def push_image(registry: str, repository: str, tag: str, folder: Path) -> str:
    """An OCI image (config and one layer) pushed with oras-py; the manifest digest the registry answered."""
    folder.mkdir(parents=True, exist_ok=True)
    layer = folder / "layer.tar.gz"
    layer.write_bytes(b"\x1f\x8b" + repository.encode() + tag.encode())
    config = folder / "config.json"
    config.write_text(json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}))
    client = oras.client.OrasClient(hostname=registry, insecure=True)
    response = client.push(target=f"{registry}/{repository}:{tag}", files=[f"{layer}:{IMAGE_LAYER}"], manifest_config=f"{config}:{IMAGE_CONFIG}", disable_path_validation=True, quiet=True)
    assert response.status_code == 201, response.text
    return response.headers["Docker-Content-Digest"]


@pytest.mark.parametrize(
    ("reference", "normal"),
    [
        ("redis:7", "docker.io/library/redis:7"),
        ("velero/velero:v1", "docker.io/velero/velero:v1"),
        ("docker.io/redis:7", "docker.io/library/redis:7"),
        ("quay.io/prometheus/prometheus:v3", "quay.io/prometheus/prometheus:v3"),
        ("127.0.0.1:5000/a/b:1", "127.0.0.1:5000/a/b:1"),
        ("localhost/a:1", "localhost/a:1"),
    ],
)
def test_references_are_written_with_their_registry(reference: str, normal: str) -> None:
    assert normalize(reference) == normal


def test_workload_images_are_every_container_image_outside_helm_releases() -> None:
    # GIVEN a Deployment, an Argo WorkflowTemplate step and a Helm release setting an image
    records = [
        {"type": "kubernetes:apps/v1:Deployment", "inputs": {"spec": {"template": {"spec": {"initContainers": [{"name": "i", "image": "rclone/rclone:1.68.2"}], "containers": [{"name": "c", "image": "nvcr.io/nvidia/tritonserver:25.01-py3@sha256:" + "a" * 64}]}}}}},
        {"type": "kubernetes:argoproj.io/v1alpha1:WorkflowTemplate", "inputs": {"spec": {"templates": [{"name": "t", "container": {"image": "public.ecr.aws/aws-cli/aws-cli:2.22.0"}}, {"name": "p", "container": {"image": "{{inputs.parameters.image}}"}}]}}},
        {"type": "kubernetes:helm.sh/v3:Release", "inputs": {"chart": "velero", "values": {"image": {"repository": "velero/velero", "tag": "v1"}}}},
        {"type": "aws:s3/bucket:Bucket", "inputs": {"image": "not-a-container"}},
    ]
    # WHEN listed THEN the two workloads' three images are, normalized; the release's and the templated ones aren't
    assert workload_images(records) == [
        ImageUse("docker.io/rclone/rclone:1.68.2", "workload"),
        ImageUse("nvcr.io/nvidia/tritonserver:25.01-py3@sha256:" + "a" * 64, "workload"),
        ImageUse("public.ecr.aws/aws-cli/aws-cli:2.22.0", "workload"),
    ]


def test_values_images_reads_each_way_charts_name_images() -> None:
    # GIVEN values naming images in each way the pinned charts do
    values = {
        "image": {"repository": "cr.fluentbit.io/fluent/fluent-bit", "tag": ""},
        "prometheus": {"image": {"registry": "quay.io", "repository": "prometheus/prometheus", "tag": "v3.14.0"}},
        "operator": {"repository": "nvcr.io/nvidia", "image": "gpu-operator", "version": "v26.7.0"},
        "ui": {"image": {"registry": "ghcr.io", "repository": "opencost/opencost-ui", "tag": "1.1", "digest": "sha256:" + "b" * 64}},
        "sidecar": {"image": "public.ecr.aws/x/proxy:latest"},
        "agent": {"image": "kserve/agent", "tag": "v0.20.0"},
        "router": {"image": "kserve/router"},
        "thanos": {"enabled": False, "image": {"repository": "quay.io/thanos/thanos", "tag": "v1"}},
        "templated": {"image": {"repository": "{{ .Values.registry }}/x", "tag": "1"}},
    }
    # WHEN read
    listed, unlisted = values_images(values, "demo@1")
    # THEN each settled image is listed, the disabled and templated ones aren't, the empty tag is reported
    assert [u.reference for u in listed] == [
        "docker.io/kserve/agent:v0.20.0",
        "ghcr.io/opencost/opencost-ui@sha256:" + "b" * 64,
        "nvcr.io/nvidia/gpu-operator:v26.7.0",
        "public.ecr.aws/x/proxy:latest",
        "quay.io/prometheus/prometheus:v3.14.0",
    ]
    assert unlisted == [UnlistedImage("demo@1", "image", "cr.fluentbit.io/fluent/fluent-bit"), UnlistedImage("demo@1", "router.image", "docker.io/kserve/router")]


def test_values_merge_as_helm_merges_them() -> None:
    defaults = {"image": {"repository": "a/b", "tag": "1"}, "extra": {"x": 1}, "list": [1, 2]}
    assert merged(defaults, {"image": {"tag": "2"}, "extra": None, "list": [3]}) == {"image": {"repository": "a/b", "tag": "2"}, "list": [3]}


def test_an_image_resolves_to_the_digest_its_registry_answers(oci_registry: str, tmp_path: Path) -> None:
    # GIVEN an image pushed to a real registry
    pushed = push_image(oci_registry, "resolve/app", "1.0", tmp_path)
    # WHEN its tag is resolved THEN the digest is the registry's for that manifest
    assert resolve(f"{oci_registry}/resolve/app:1.0") == pushed
    # AND the same manifest by its digest resolves to that digest
    assert resolve(f"{oci_registry}/resolve/app@{pushed}") == pushed


def test_a_tag_the_registry_lacks_does_not_resolve(oci_registry: str, tmp_path: Path) -> None:
    push_image(oci_registry, "resolve/missing", "1.0", tmp_path)
    with pytest.raises(SupplyError, match=rf"^{oci_registry}/resolve/missing:2.0: the registry has no such tag$"):
        resolve(f"{oci_registry}/resolve/missing:2.0")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_lock_records_resolved_digests_and_unresolved_images_with_why(oci_registry: str, tmp_path: Path) -> None:
    # GIVEN images.lock holding another stack's entry, and a stack running one image of a reachable
    # registry and one of a registry that doesn't answer
    pushed = push_image(oci_registry, "lock/app", "2.0", tmp_path / "push")
    images.write_lock(tmp_path, ImageLock({"docker.io/library/other:1": LockEntry("sha256:" + "c" * 64, ("workload",))}, ("other@1",)))
    port = _closed_port()
    pinned = f"127.0.0.1:{port}/pinned/app:1@sha256:" + "f" * 64
    found = StackImages([ImageUse(f"{oci_registry}/lock/app:2.0", "workload"), ImageUse(f"127.0.0.1:{port}/gone/app:1", "demo@1"), ImageUse(pinned, "workload")], [], [], ("demo@1",))
    # WHEN the stack's images are locked
    locked = images.lock(tmp_path, found)
    entries = locked.images
    # THEN the reachable one has the registry's digest, the other is unresolved saying why, the other stack's entry stays
    assert entries[f"{oci_registry}/lock/app:2.0"] == LockEntry(pushed, ("workload",))
    gone = entries[f"127.0.0.1:{port}/gone/app:1"]
    assert gone.digest == "unresolved" and gone.origins == ("demo@1",)
    assert gone.reason.startswith(f"can't reach 127.0.0.1:{port}:")
    assert read_lock(tmp_path) == locked
    assert "docker.io/library/other:1" in entries and locked.charts == ("demo@1", "other@1")
    # AND an image already pinned by a digest in its reference isn't entered: the lock holds only what a registry answered
    assert pinned not in entries
    assert (tmp_path / "images.lock").read_text().startswith("# Written by `hybridai images STACK --lock`")


def test_cli_lists_a_stacks_images_with_their_lock_state(project: Path) -> None:
    # GIVEN an example stack and a lock resolving one of its workload images
    images.write_lock(project, ImageLock({"public.ecr.aws/aws-cli/aws-cli:2.22.0": LockEntry("sha256:" + "d" * 64, ("workload",))}, ()))
    # WHEN `hybridai images` lists it
    result = CliRunner().invoke(app, ["images", "healthcare-prod", "--project-dir", str(project)])
    # THEN the program's own images are listed with their lock state, the charts' with theirs
    assert result.exit_code == 0, result.output
    rows = {tuple(line.split()[:2]): line.split(maxsplit=2)[2] for line in result.output.splitlines() if line and not line.startswith("warning")}
    assert rows[("public.ecr.aws/aws-cli/aws-cli:2.22.0", "workload")] == "sha256:" + "d" * 64
    assert rows[("public.ecr.aws/docker/library/redis:7.4.2-alpine", "workload")] == "not in images.lock"
    assert ("docker.io/velero/velero-plugin-for-aws:v1.14.0", "velero@12.1.0") in rows


@pytest.mark.parametrize("stack", ["healthcare-prod", "manufacturing-prod"])
def test_the_example_plans_list_their_unresolved_images_and_nothing_stale(stack: str) -> None:
    # GIVEN an example stack and the example images.lock (made where no public registry answers)
    from tests.conftest import planned

    plan, files = planned(stack)
    summary = files[Path("summary.md")]
    # WHEN its plan is summarized THEN summary.md lists the images the lock left unresolved
    section = summary.split("### Images not pinned by images.lock", 1)[1].split("\n### ", 1)[0]
    rows = [line.strip("|").split(" | ") for line in section.splitlines() if line.startswith(("| unresolved", "| stale", "| not locked", "| by tag"))]
    assert rows and {row[0].strip() for row in rows} == {"unresolved"}
    # AND each image is one the lock holds as unresolved, for the reason its row gives
    lock = read_lock(ROOT)
    for _, why, _, listed in rows:
        for image in listed.strip().split(", "):
            entry = lock.images[image.strip("`")]
            assert entry.digest == "unresolved" and entry.reason == why
    # AND every chart release of the plan is one the lock was made for
    assert {f"{r.inputs['chart'].rsplit('/', 1)[-1]}@{r.inputs['version']}" for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release"} <= set(lock.charts)
