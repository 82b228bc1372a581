"""Mlflow: the registry and tracking server on the training hub — PostgreSQL from Secret keys,
artifacts proxied to the store residency allows, auth always on, its namespace restricted."""
from __future__ import annotations

import pytest

from hybridai.modules.certificates import TlsArgs
from hybridai.modules.mlflow import Mlflow, MlflowArgs, SecretKeys
from hybridai.modules.target import Target, TargetArgs
from tests.conftest import planned
from tests.helpers import named, prepared, release, run_module


def hub(stack: str):
    plan, _ = planned(stack)
    return [r for r in plan.resources if r.placement == "onprem"]


def test_mlflow_on_the_hub_with_postgres_auth_and_proxied_artifacts() -> None:
    # GIVEN healthcare-prod's MLflow
    values = release(hub("healthcare-prod"), "mlflow").inputs["values"]
    # THEN the backend is the existing database, its credentials read from the Secret
    assert values["backendStore"]["postgres"] == {"enabled": True, "host": "pg-mlflow.hospital.example", "port": 5432, "database": "mlflow"}
    assert values["backendStore"]["existingDatabaseSecret"] == {"name": "mlflow-database", "usernameKey": "username", "passwordKey": "password"}
    # AND auth is on, nobody sees anything not granted, users kept in the same database
    assert values["auth"]["enabled"] is True and values["auth"]["defaultPermission"] == "NO_PERMISSIONS"
    assert values["auth"]["existingAdminSecret"]["name"] == "mlflow-admin"
    # AND artifacts go to the hospital's own store, proxied (clients never hold its keys)
    assert values["artifactRoot"]["proxiedArtifactStorage"] is True
    assert values["artifactRoot"]["s3"]["bucket"] == "hc-prod-mlflow"
    assert values["extraEnvVars"] == {"MLFLOW_S3_ENDPOINT_URL": "https://s3.hospital.example"}
    # AND no credential value is in the values, and no ingress without a TLS Secret
    assert "password" not in str(values["backendStore"]["postgres"]) and "ingress" not in values


def test_mlflow_namespace_is_restricted_and_admits_only_teams_and_monitoring() -> None:
    resources = hub("healthcare-prod")
    namespace = named(resources, "Namespace", "mlflow")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    sources = [rule["from"][0].get("namespaceSelector", {}).get("matchLabels", {}).get("kubernetes.io/metadata.name") for rule in named(resources, "NetworkPolicy", "mlflow-ingress").inputs["spec"]["ingress"][1:]]
    # (and the decision sink's namespace, whose drift checks read the versions' baselines)
    assert sources == ["clinical-notes", "clinical-research", "decisions", "ml-platform", "pathology", "radiology", "monitoring"]


def test_an_issuer_puts_mlflow_behind_a_tls_ingress_and_admits_the_ingress_controller() -> None:
    # GIVEN MLflow with a public host and the cluster's issuer for its certificate
    keys = SecretKeys(name="db", first="username", second="password")
    args = MlflowArgs(
        database_host="pg", database_name="mlflow", database_secret=keys, admin_secret=keys, artifact_bucket="b", artifact_endpoint="https://s3", artifact_secret=keys,
        client_namespaces=("fraud",), public_host="mlflow.example.com", tls=TlsArgs(issuer="hybridai-ca"), ingress_namespace="ingress-nginx",
    )
    resources = run_module(lambda: Mlflow(Target("t", "dc1", TargetArgs(placement="onprem", context="dc1")), args))
    values = release(resources, "mlflow").inputs["values"]
    # THEN the ingress serves only that host, with that Secret
    assert values["ingress"]["tls"] == [{"secretName": "mlflow-tls", "hosts": ["mlflow.example.com"]}]
    ingress = named(resources, "NetworkPolicy", "mlflow-ingress").inputs["spec"]["ingress"]
    assert {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}], "ports": [{"protocol": "TCP", "port": 5000}]} in ingress
    # AND without an issuer there is no ingress at all (never plain http outside the cluster)
    no_tls = run_module(lambda: Mlflow(Target("t", "dc1", TargetArgs(placement="onprem", context="dc1")), args.model_copy(update={"tls": None})))
    assert "ingress" not in release(no_tls, "mlflow").inputs["values"]


@pytest.mark.parametrize(("environment", "replicas"), [("prod", 2), ("staging", 1), ("dev", 1)])
def test_prod_runs_two_mlflow_replicas_through_node_drains(environment: str, replicas: int) -> None:
    # GIVEN finance-prod's `mlops` WHEN MLflow's args are made for a stack of each environment
    spec, _ = prepared("finance-prod")
    args = MlflowArgs.of(spec.mlops, ("fraud",), "monitoring", environment)
    # THEN prod keeps a second replica (the registry answers through a drain), the others run one
    assert args.replicas == replicas


def test_mlflow_reads_its_logins_from_one_secret_each_and_is_served_at_the_tracking_url() -> None:
    # GIVEN finance-prod's `mlops` WHEN MLflow's args are made for the hub's teams
    spec, _ = prepared("finance-prod")
    settings = spec.mlops
    args = MlflowArgs.of(settings, ("credit-serving", "fraud"), "monitoring", spec.environment)
    # THEN the database and admin logins are each two keys of one Secret
    assert args.database_secret == SecretKeys(name=settings.database.username.name, first=settings.database.username.key, second=settings.database.password.key)
    assert args.admin_secret == SecretKeys(name=settings.admin.username.name, first=settings.admin.username.key, second=settings.admin.password.key)
    assert (args.database_host, args.database_port, args.database_name) == (settings.database.host, settings.database.port, settings.database.name)
    # AND the cloud pool reaches it at the tracking URL's host, through the stack's ingress controller
    assert (args.public_host, args.ingress_namespace, args.client_namespaces) == ("mlflow.dc1.bank.example", settings.ingress_namespace, ("credit-serving", "fraud"))
