"""The plan engine: records what the program registers, places it, and writes stable artifacts."""
from __future__ import annotations

import json
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
import yaml

from hybridai.blueprints import BLUEPRINTS
from hybridai.plan import PlanError, run_plan
from hybridai.plan.artifacts import SECRET, render, write
from hybridai.modules.target import Target, TargetArgs
from tests.conftest import ROOT, planned
from tests.helpers import run_module


def test_resources_json_has_every_field_for_every_resource(example_stack: str) -> None:
    _, files = planned(example_stack)
    document = json.loads(files[Path("resources.json")])
    assert document["stack"] == example_stack and document["blueprint"] in BLUEPRINTS
    for r in document["resources"]:
        assert set(r) >= {"urn", "type", "name", "parent", "provider", "protect", "dependencies", "inputs", "placement"}
        assert r["placement"] in {"cloud", "onprem"} or r["placement"].startswith("edge:")
    assert document["resources"] == sorted(document["resources"], key=lambda r: r["urn"])


def test_every_kubernetes_object_has_a_manifest_where_it_is_sent(example_stack: str) -> None:
    plan, files = planned(example_stack)
    objects = [r for r in plan.resources if r.custom and r.type.startswith("kubernetes:") and "Release" not in r.type]
    manifests = [p for p in files if p.parts[0] == "manifests"]
    assert len(manifests) == len(objects)
    for path in manifests:
        obj = yaml.safe_load(files[path])
        target, namespace, filename = path.parts[1:]
        assert namespace == obj["metadata"].get("namespace", "_cluster")
        assert filename == f"{obj['kind']}-{obj['metadata']['name']}.yaml"
        assert list(obj)[:3] == ["apiVersion", "kind", "metadata"]


def test_two_plans_write_byte_identical_files(tmp_path: Path) -> None:
    first = write(run_plan("healthcare-prod", ROOT), tmp_path / "a")
    second = write(run_plan("healthcare-prod", ROOT), tmp_path / "b")
    assert first == second
    for path in first:
        assert (tmp_path / "a" / path).read_bytes() == (tmp_path / "b" / path).read_bytes()


def test_a_new_plan_replaces_the_old_one_and_leaves_no_stale_files(tmp_path: Path) -> None:
    out = tmp_path / "plan"
    write(run_plan("healthcare-prod", ROOT), out)
    write(run_plan("healthcare-dev", ROOT), out)
    assert not list(out.glob("manifests/dc1/**/*.yaml")), "prod's target is gone"
    assert list(out.glob("manifests/lab/**/*.yaml"))


def test_refuses_to_replace_a_folder_that_holds_no_plan(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(PlanError, match="holds no earlier plan"):
        write(run_plan("healthcare-dev", ROOT), tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me"


def test_secrets_are_redacted_in_artifacts() -> None:
    def program():
        target = Target("t", "c", TargetArgs(placement="onprem", context="c"))
        k8s.core.v1.Secret("s", metadata={"name": "s", "namespace": "n"}, string_data={"token": pulumi.Output.secret("hunter2")}, opts=pulumi.ResourceOptions(parent=target, provider=target.provider))

    from hybridai.plan import Plan

    files = render(Plan("t", "test", run_module(program)))
    text = "".join(files.values())
    assert "hunter2" not in text
    assert yaml.safe_load(files[Path("manifests/c/n/Secret-s.yaml")])["stringData"] == SECRET


def test_resources_outside_a_target_are_a_plan_error() -> None:
    with pytest.raises(PlanError, match="outside any Target"):
        run_module(lambda: k8s.core.v1.Namespace("stray", metadata={"name": "stray"}))


def test_two_resources_writing_one_object_are_a_plan_error() -> None:
    def program():
        target = Target("t", "c", TargetArgs(placement="onprem", context="c"))
        for logical in ("a", "b"):
            k8s.core.v1.Namespace(logical, metadata={"name": "same"}, opts=pulumi.ResourceOptions(parent=target, provider=target.provider))

    from hybridai.plan import Plan

    with pytest.raises(PlanError, match="fight over one object"):
        render(Plan("t", "test", run_module(program)))


def test_auto_named_objects_are_a_plan_error() -> None:
    def program():
        target = Target("t", "c", TargetArgs(placement="onprem", context="c"))
        k8s.core.v1.ConfigMap("unnamed", metadata={"namespace": "n"}, data={"a": "b"}, opts=pulumi.ResourceOptions(parent=target, provider=target.provider))

    from hybridai.plan import Plan

    with pytest.raises(PlanError, match="without metadata.name"):
        render(Plan("t", "test", run_module(program)))
