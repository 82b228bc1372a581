"""Every credential Secret the platform reads, on the cluster that reads it, and the stores each
cluster reads them from."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hybridai.cli import app
from hybridai.config import StackConfigError
from hybridai.config.credentials import credential_needs, stores_read
from hybridai.program import prepare
from tests.helpers import stack_values


def test_credential_needs_follow_the_clusters_that_read_them() -> None:
    # GIVEN manufacturing-prod WHEN its credential needs are listed
    spec, _ = prepare("manufacturing-prod", stack_values("manufacturing-prod"))
    needs = {(n.placement, n.namespace, n.name, n.keys, n.gitops) for n in credential_needs(spec)}
    # THEN receivers and Grafana's login on the plant and EKS, Loki's key on the plant, the sync's
    # config at each site (line-3 through GitOps), the CA wherever cert-manager runs
    for placement in ("onprem", "cloud"):
        assert (placement, "monitoring", "grafana-admin", ("admin-user", "admin-password"), False) in needs
        assert (placement, "monitoring", "alertmanager-receivers", ("oncall-webhook-url",), False) in needs
        assert (placement, "cert-manager", "hybridai-ca", ("tls.crt", "tls.key"), False) in needs
    assert ("onprem", "logging", "loki-object-store", ("access-key-id", "secret-access-key"), False) in needs
    assert {(c, g) for c, ns, name, _, g in needs if name == "model-sync-credentials"} == {("edge:line-1", False), ("edge:line-2", False), ("edge:line-3", True)}
    assert not any(c.startswith("edge:") and ns in ("monitoring", "cert-manager") for c, ns, *_ in needs)


def test_an_aws_store_read_off_eks_adds_its_access_key_where_it_is_read() -> None:
    # GIVEN finance-prod with Grafana's login moved to an AWS Secrets Manager store that has an access key
    values = stack_values("finance-prod")
    values["secrets"]["stores"].append({"name": "aws", "awsSecretsManager": {"region": "eu-central-1", "credentials": "aws-store"}})
    values["secrets"]["sources"] = [{**s, "store": "aws", "remoteKey": "fin-prod/grafana-admin"} if s["name"] == "grafana-admin" else s for s in values["secrets"]["sources"]]
    values["secrets"]["sources"].append({"name": "aws-store", "values": [{"key": "access-key-id", "value": "[secret]"}, {"key": "secret-access-key", "value": "[secret]"}]})
    spec, _ = prepare("finance-prod", values)
    needs = credential_needs(spec)
    # WHEN the stores each cluster reads are listed THEN both clusters read both stores, in the stack's order
    assert [s.name for s in stores_read(spec, "onprem", needs)] == ["vault", "aws"]
    assert [s.name for s in stores_read(spec, "cloud", needs)] == ["vault", "aws"]
    # AND only off EKS (no Pod Identity there) the store's access key is read, in external-secrets' namespace
    keys = [(n.placement, n.namespace, n.keys) for n in needs if n.name == "aws-store"]
    assert keys == [("onprem", "external-secrets", ("access-key-id", "secret-access-key"))]


def test_two_blocks_naming_one_secret_in_one_namespace_are_refused_at_both_keys(project: Path) -> None:
    # GIVEN healthcare-prod whose audit archive names the log store's Secret (and its keys)
    values = stack_values("healthcare-prod")
    values["logging"]["auditArchive"]["accessKeyId"] = {"name": "loki-object-store", "key": "access-key-id"}
    values["logging"]["auditArchive"]["secretAccessKey"] = {"name": "loki-object-store", "key": "secret-access-key"}
    # WHEN it is prepared THEN both keys are named, each pointing at the other, before anything is planned
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", values)
    shared = {p.loc: p.message for p in caught.value.problems if p.type == "secret_shared"}
    assert set(shared) == {("logging", "objectStore", "accessKeyId", "name"), ("logging", "auditArchive", "accessKeyId", "name")}
    assert "also named by `logging.auditArchive.accessKeyId.name`" in shared[("logging", "objectStore", "accessKeyId", "name")]
    # AND through the CLI it is exit 2 with the keys, not exit 1 with two resources' URNs
    path = project / "stacks" / "Pulumi.healthcare-prod.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["hybrid-ai:logging"]["auditArchive"].update(accessKeyId={"name": "loki-object-store", "key": "access-key-id"}, secretAccessKey={"name": "loki-object-store", "key": "secret-access-key"})
    path.write_text(yaml.safe_dump(document))
    result = CliRunner().invoke(app, ["plan", "healthcare-prod", "--project-dir", str(project), "--out", str(project / "out")])
    assert result.exit_code == 2 and "hybrid-ai:logging.auditArchive.accessKeyId.name: the Secret 'loki-object-store' in namespace logging" in result.output
    assert "would fight" not in result.output
