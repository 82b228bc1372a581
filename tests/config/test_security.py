"""The `tls` and `secrets` blocks: bad input, each at its key, before anything is registered."""
from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from hybridai.config.credentials import credential_needs
from hybridai.program import prepare
from tests.helpers import problems_of, stack_values


def changed(stack: str, change: Callable[[dict], None]) -> dict[str, Any]:
    values = copy.deepcopy(stack_values(stack))
    change(values)
    return values


def source(values: dict, name: str) -> dict:
    return next(s for s in values["secrets"]["sources"] if s["name"] == name)


def index_of(stack: str, name: str) -> int:
    """Where the example stack lists the source of `name`."""
    return [s["name"] for s in stack_values(stack)["secrets"]["sources"]].index(name)


def appended(stack: str) -> int:
    """The index of a source appended to the example stack's list."""
    return len(stack_values(stack)["secrets"]["sources"])


def drop_source(name: str) -> Callable[[dict], None]:
    return lambda v: v["secrets"].update(sources=[s for s in v["secrets"]["sources"] if s["name"] != name])


CASES = [
    # (stack, change, key path, error type)
    ("healthcare-dev", lambda v: v.pop("tls"), ("tls",), "issuer_required"),
    ("healthcare-prod", lambda v: v.pop("tls"), ("tls",), "issuer_required"),
    ("healthcare-prod", lambda v: v["tls"].update(issuer={"ca": {"secret": "hybridai-ca"}, "existing": "corp-pki"}), ("tls", "issuer"), "issuer_one_of"),
    ("healthcare-prod", lambda v: v["tls"].pop("gatewayHosts"), ("tls", "gatewayHosts"), "gateway_hosts_required"),
    ("finance-prod", lambda v: v["tls"].update(gatewayHosts=["inference.bank.example"]), ("tls", "gatewayHosts"), "gateway_required"),
    ("healthcare-prod", lambda v: source(v, "grafana-admin").update(store="vualt"), ("secrets", "sources", 2, "store"), "unknown_store"),
    ("healthcare-prod", lambda v: source(v, "grafana-admin").update(remoteKey=None), ("secrets", "sources", 2), "source_store_incomplete"),
    ("healthcare-prod", lambda v: v["secrets"]["sources"].append({"name": "grafana-admin", "store": "vault", "remoteKey": "x"}), ("secrets", "sources", appended("healthcare-prod"), "name"), "duplicate"),
    ("healthcare-prod", lambda v: v["secrets"]["stores"].append({"name": "vault", "vault": {"server": "https://other.example"}}), ("secrets", "stores", 1, "name"), "duplicate"),
    ("healthcare-prod", lambda v: v["secrets"]["stores"][0].update(awsSecretsManager={"region": "eu-central-1"}), ("secrets", "stores", 0), "store_one_of"),
    # prod: every Secret the platform reads has a source (none made by hand)
    ("healthcare-prod", drop_source("loki-object-store"), ("secrets", "sources"), "credential_source_required"),
    ("manufacturing-prod", drop_source("model-sync-credentials"), ("secrets", "sources"), "credential_source_required"),
    # Pulumi secret values must hold every key the readers need
    ("healthcare-dev", lambda v: source(v, "grafana-admin").update(store=None, remoteKey=None, values=[{"key": "admin-user", "value": "[secret]"}]), ("secrets", "sources", 1, "values"), "source_keys_missing"),
    # a GitOps site's Secret can't be made of Pulumi secrets (they'd be written into its manifests)
    (
        "manufacturing-prod",
        lambda v: source(v, "model-sync-credentials").update(store=None, remoteKey=None, values=[{"key": "rclone.conf", "value": "[secret]"}]),
        ("secrets", "sources", index_of("manufacturing-prod", "model-sync-credentials")),
        "gitops_needs_store",
    ),
    # an AWS store read outside EKS needs an access key, which can't come from a store
    (
        "healthcare-prod",
        lambda v: v["secrets"]["stores"].__setitem__(0, {"name": "vault", "awsSecretsManager": {"region": "eu-central-1"}}),
        ("secrets", "stores", 0, "awsSecretsManager", "credentials"),
        "store_credentials_required",
    ),
    (
        "healthcare-prod",
        lambda v: (
            v["secrets"]["stores"].append({"name": "aws", "awsSecretsManager": {"region": "eu-central-1", "credentials": "aws-store"}}),
            source(v, "grafana-admin").update(store="aws"),
            v["secrets"]["sources"].append({"name": "aws-store", "store": "vault", "remoteKey": "hc-prod/aws-store"}),
        ),
        ("secrets", "sources", appended("healthcare-prod")),
        "store_credentials_from_store",
    ),
    (
        "finance-prod",
        lambda v: (v["secrets"]["stores"].append({"name": "aws", "awsSecretsManager": {"region": "us-east-1"}}), source(v, "grafana-admin").update(store="aws")),
        ("secrets", "stores", 1, "awsSecretsManager", "region"),
        "region_outside_jurisdiction",
    ),
    # EKS reads only the stack's own secrets (`<prefix>/…`) through Pod Identity
    (
        "finance-prod",
        lambda v: (v["secrets"]["stores"].append({"name": "aws", "awsSecretsManager": {"region": "eu-central-1"}}), source(v, "hybridai-ca").update(store="aws", remoteKey="shared/ca")),
        ("secrets", "sources", 0, "remoteKey"),
        "remote_key_outside_prefix",
    ),
]


@pytest.mark.parametrize(("stack", "change", "loc", "kind"), CASES, ids=[f"{c[0]}:{c[3]}" for c in CASES])
def test_bad_tls_and_secrets_input_is_refused_at_its_key(stack: str, change: Callable, loc: tuple, kind: str) -> None:
    # GIVEN an example stack with one bad change WHEN validated THEN the problem is at its key
    assert (loc, kind) in problems_of(stack, changed(stack, change))


def test_a_dev_stack_may_read_an_existing_secret_and_serve_nothing_without_tls() -> None:
    # GIVEN healthcare-dev without a source for Grafana's login, WHEN validated
    spec, _ = prepare("healthcare-dev", changed("healthcare-dev", drop_source("grafana-admin")))
    # THEN it passes: Grafana still reads its login, from a Secret made elsewhere (dev and staging may)
    assert spec.secrets.source("grafana-admin") is None
    assert ("onprem", "monitoring", "grafana-admin") in {(n.placement, n.namespace, n.name) for n in credential_needs(spec)}
    # AND a dev stack serving no models needs no issuer: it passes without `tls`, and nothing reads a CA
    spec, _ = prepare("healthcare-dev", changed("healthcare-dev", lambda v: (v.pop("tls"), v.pop("models"), drop_source("hybridai-ca")(v))))
    assert spec.tls is None and spec.models == []
    assert not any(n.namespace == "cert-manager" for n in credential_needs(spec))
