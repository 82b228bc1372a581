"""What `pulumi up` will do with a change, and what the stack publishes: every fixed-name AWS
resource is replace-safe, the options that decide replacements are recorded, `--compare` marks a
replacement, and outputs.json lists the stack outputs with secrets redacted."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from hybridai.plan.artifacts import SECRET, render, write
from hybridai.plan.engine import run_plan
from tests.conftest import EXAMPLE_STACKS, planned


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_aws_resource_is_protected_or_deleted_before_it_is_replaced(stack: str) -> None:
    # GIVEN any example stack, THEN no AWS resource would fail a replacement with "already exists":
    # what holds data is protected (a replacement fails loudly), everything else goes first
    plan, files = planned(stack)
    unsafe = [r.name for r in plan.resources if r.type.startswith("aws:") and not (r.protect or r.delete_before_replace)]
    assert unsafe == []
    # AND resources.json records the options that decide it, and each provider plugin's version
    records = {r["name"]: r for r in json.loads(files[Path("resources.json")])["resources"]}
    for record in records.values():
        assert {"delete_before_replace", "replace_on_changes", "ignore_changes", "aliases", "provider_version"} <= set(record)
    if stack == "finance-prod":
        assert records["fin-prod-aws-training-node-role"]["delete_before_replace"] is True
        assert records["fin-prod-aws-training-system"]["ignore_changes"] == ["scalingConfig.desiredSize"]
        assert records["fin-prod-aws-training-eks"]["provider_version"].count(".") == 2


def test_a_change_that_forces_replacement_is_marked_in_the_summary(project: Path, tmp_path: Path) -> None:
    # GIVEN finance-prod planned as it is
    base = tmp_path / "base"
    write(run_plan("finance-prod", project), base, project=project)
    # WHEN the system nodes' instance type changes (EKS replaces a managed node group for it)
    path = project / "stacks" / "Pulumi.finance-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:cloud"]["cluster"]["systemInstanceType"] = "m7i.xlarge"
    path.write_text(yaml.safe_dump(document))
    files = render(run_plan("finance-prod", project), base)
    # THEN the node group is a replacement, deleted first (its name is fixed), and summary.md says so
    [replacement] = [r for r in files.change["replacements"] if r["type"] == "aws:eks/nodeGroup:NodeGroup"]
    assert replacement["fields"] == ["instanceTypes"] and replacement["delete_first"] is True
    assert "fin-prod-aws-training-system: instanceTypes changed — deleted first, then created (its name is fixed)" in files[Path("summary.md")]


def test_outputs_json_lists_each_clusters_outputs_and_redacts_the_kubeconfig() -> None:
    # GIVEN finance-prod, WHEN planned
    plan, files = planned("finance-prod")
    outputs = json.loads(files[Path("outputs.json")])
    # THEN each cluster publishes how to reach it and what its teams use; the audit trail its bucket
    assert set(outputs) == {"audit", "dc1", "training", "training-kubeconfig"}
    assert outputs["training"]["clusterName"] == "fin-prod-training"
    assert outputs["training"]["endpoint"].startswith("https://")
    assert outputs["training"]["ecrRepositoryUrl"].endswith(".dkr.ecr.eu-central-1.amazonaws.com/fin-prod/training")
    assert outputs["training"]["trainingBuckets"]["fraud"] == {"name": "fin-prod-fraud-train-210987654321", "arn": "arn:aws:s3:::fin-prod-fraud-train-210987654321"}
    assert outputs["training"]["interruptionQueue"] == "fin-prod-training"
    assert outputs["training"]["trainingQueues"]["fraud"] == "fraud/training"
    assert outputs["dc1"]["context"] == "bank-dc1-admin"
    # AND each cluster's Prometheus and Grafana by their in-cluster names: kps-prometheus from the
    # chart's fullnameOverride, <release>-grafana from the subchart with the release named after the
    # chart; https, since the stack has an issuer and both serve TLS
    assert outputs["dc1"]["monitoring"] == {"prometheus": "https://kps-prometheus.monitoring.svc:9090", "grafana": "https://kube-prometheus-stack-grafana.monitoring.svc:443"}
    [kps] = [r for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.target == "dc1" and r.inputs["chart"] == "kube-prometheus-stack"]
    assert kps.inputs["name"] == "kube-prometheus-stack" and kps.inputs["values"]["fullnameOverride"] == "kps"
    assert outputs["audit"]["bucket"] == "fin-prod-audit-210987654321"
    # AND the kubeconfig is a secret, redacted, published apart so the rest stays readable
    assert outputs["training-kubeconfig"] == SECRET
    # AND summary.md names the outputs
    assert "`audit`, `dc1`, `training`, `training-kubeconfig`" in files[Path("summary.md")]
