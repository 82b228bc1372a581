"""TLS: cert-manager with the stack's issuers, the service-certificate helper, and who gets one."""
from __future__ import annotations

import pulumi
import pytest

from hybridai.config.security import TlsSettings
from hybridai.modules.base import child
from hybridai.modules.certificates import ACME_ISSUER, CA_ISSUER, AcmeArgs, CertManager, CertManagerArgs, TlsArgs, service_certificate
from hybridai.modules.target import Target, TargetArgs
from tests.conftest import planned
from tests.helpers import named, of_kind, release, run_module


def build(args: CertManagerArgs) -> list:
    def program() -> None:
        target = Target("t", "dc1", TargetArgs(placement="onprem", context="dc1"))
        manager = CertManager(target, args)
        service_certificate("t-loki-cert", "loki", "logging", TlsArgs(issuer=args.issuer), child(target, target.provider, depends_on=[manager]))

    return run_module(program)


def test_cert_manager_installs_its_crds_and_the_internal_ca_issuer() -> None:
    # GIVEN an internal CA whose key pair is the Secret hybridai-ca
    resources = build(CertManagerArgs(issuer=CA_ISSUER, ca_secret="hybridai-ca"))
    # THEN the pinned chart runs with its CRDs, in a restricted namespace
    chart = release(resources, "oci://quay.io/jetstack/charts/cert-manager")
    assert chart.inputs["version"] == "v1.21.1" and chart.inputs["values"]["crds"] == {"enabled": True, "keep": True}
    assert named(resources, "Namespace", "cert-manager").inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # AND the ClusterIssuer signs with that Secret, after the release (its CRDs)
    issuer = named(resources, "ClusterIssuer", CA_ISSUER)
    assert issuer.inputs["spec"] == {"ca": {"secretName": "hybridai-ca"}}
    assert chart.urn in issuer.dependencies
    # AND no ACME issuer unless asked for
    assert [r.inputs["metadata"]["name"] for r in of_kind(resources, "ClusterIssuer")] == [CA_ISSUER]


def test_an_existing_issuer_is_used_by_name_and_none_is_created() -> None:
    resources = build(CertManagerArgs(issuer="corp-pki"))
    assert of_kind(resources, "ClusterIssuer") == []
    assert named(resources, "Certificate", "loki-tls").inputs["spec"]["issuerRef"] == {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "corp-pki"}


def test_acme_answers_through_the_serving_gateway() -> None:
    # GIVEN ACME for the Gateway gateway-system/public
    resources = build(CertManagerArgs(issuer="corp-pki", acme=AcmeArgs(email="ops@example.com", server="https://acme.example/directory", gateway="gateway-system/public")))
    # THEN the ACME issuer solves HTTP-01 through that Gateway, which cert-manager's Gateway API support serves
    acme = named(resources, "ClusterIssuer", ACME_ISSUER).inputs["spec"]["acme"]
    assert acme["solvers"] == [{"http01": {"gatewayHTTPRoute": {"parentRefs": [{"name": "public", "namespace": "gateway-system", "kind": "Gateway"}]}}}]
    assert (acme["email"], acme["server"]) == ("ops@example.com", "https://acme.example/directory")
    assert release(resources, "oci://quay.io/jetstack/charts/cert-manager").inputs["values"]["config"]["enableGatewayAPI"] is True


def test_a_service_certificate_covers_every_in_cluster_name_and_rotates() -> None:
    resources = build(CertManagerArgs(issuer=CA_ISSUER, ca_secret="hybridai-ca"))
    certificate = named(resources, "Certificate", "loki-tls").inputs
    assert certificate["metadata"]["namespace"] == "logging"
    spec = certificate["spec"]
    assert spec["secretName"] == "loki-tls"
    assert spec["dnsNames"] == ["loki", "loki.logging", "loki.logging.svc", "loki.logging.svc.cluster.local"]
    assert spec["privateKey"] == {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"}
    assert (spec["duration"], spec["renewBefore"]) == ("2160h", "720h")


@pytest.mark.parametrize(
    ("stack", "certificates"),
    [
        # Loki, Prometheus, Grafana on the on-prem cluster, the Gateway's listener, and the on-prem
        # collector's (for the CA it verifies Loki with)
        ("healthcare-prod", {
            ("dc1", "logging", "loki-tls"), ("dc1", "monitoring", "kps-prometheus-tls"), ("dc1", "monitoring", "kube-prometheus-stack-grafana-tls"), ("dc1", "gateway-system", "internal-tls"),
            ("dc1", "log-collector", "fluent-bit-client-tls"), ("dc1", "decisions", "decision-sink-tls"),
            # KEDA's operator, for the CA it verifies Prometheus with
            ("dc1", "keda", "keda-prometheus-client-tls"),
            # and the inference gateway's HTTPS listener, in front of the LLMs
            ("dc1", "inference-gateway", "llm-tls"),
        }),
        # Prometheus and Grafana on EKS too; nothing at edge sites
        ("manufacturing-prod", {
            ("plant-dc", "logging", "loki-tls"), ("plant-dc", "monitoring", "kps-prometheus-tls"), ("plant-dc", "monitoring", "kube-prometheus-stack-grafana-tls"),
            ("plant-dc", "log-collector", "fluent-bit-client-tls"), ("plant-dc", "keda", "keda-prometheus-client-tls"),
            # MLflow, where the cloud pool's runs reach it (`mlops.trackingUrl`)
            ("plant-dc", "mlflow", "mlflow-tls"),
            ("training", "monitoring", "kps-prometheus-tls"), ("training", "monitoring", "kube-prometheus-stack-grafana-tls"),
        }),
    ],
)
def test_platform_endpoints_get_certificates_and_kserve_takes_its_own(stack: str, certificates: set) -> None:
    # GIVEN an example stack WHEN planned
    plan, _ = planned(stack)
    # THEN each endpoint has its certificate from the stack's CA, and cert-manager runs on those clusters only
    found = {(r.target, r.inputs["metadata"]["namespace"], r.inputs["spec"]["secretName"]) for r in of_kind(plan.resources, "Certificate")}
    assert found == certificates
    assert {r.inputs["spec"]["issuerRef"]["name"] for r in of_kind(plan.resources, "Certificate")} == {CA_ISSUER}
    managers = {r.target for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"].endswith("/cert-manager")}
    assert managers == {t for t, _, _ in certificates}
    # AND KServe asks cert-manager for its webhooks' certificate, after cert-manager is up
    kserve = release(plan.resources, "oci://ghcr.io/kserve/charts/kserve-resources")
    assert kserve.inputs["values"]["kserve"]["certManager"] == {"enabled": True}
    manager = release(plan.resources, "oci://quay.io/jetstack/charts/cert-manager", kserve.target)
    assert manager.urn in kserve.dependencies


def test_the_gateway_certificate_names_the_stacks_hosts() -> None:
    plan, _ = planned("healthcare-prod")
    spec = named(plan.resources, "Certificate", "internal-tls").inputs["spec"]
    assert spec["dnsNames"] == ["inference.hospital.example"]


def test_network_policies_admit_only_the_webhook_and_scrapes() -> None:
    # GIVEN healthcare-prod WHEN planned THEN cert-manager's namespace admits its own pods, the API
    # server on the webhook port and Prometheus on the metrics port, nothing else
    plan, _ = planned("healthcare-prod")
    policy = named(plan.resources, "NetworkPolicy", "cert-manager-ingress").inputs["spec"]["ingress"]
    assert policy == [
        {"from": [{"podSelector": {}}]},
        {"ports": [{"protocol": "TCP", "port": 10250}]},
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"protocol": "TCP", "port": 9402}]},
    ]


def test_serving_without_tls_args_keeps_kserve_as_it_was() -> None:
    # GIVEN a cluster without an issuer (what the stack check refuses for a serving stack), WHEN
    # KServe is built, THEN it asks nothing of cert-manager (which isn't there)
    from hybridai.modules.serving import Serving, ServingArgs

    def program() -> None:
        target = Target("t", "dc1", TargetArgs(placement="onprem", context="dc1"))
        Serving(target, ServingArgs(models=()), opts=pulumi.ResourceOptions())

    resources = run_module(program)
    assert release(resources, "oci://ghcr.io/kserve/charts/kserve-resources").inputs["values"]["kserve"]["certManager"] == {"enabled": False}


def test_the_stacks_internal_ca_or_existing_issuer_is_what_components_ask() -> None:
    # GIVEN an internal CA, and an organization's existing ClusterIssuer
    ca = TlsSettings.model_validate({"issuer": {"ca": {"secret": "bank-ca"}}})
    existing = TlsSettings.model_validate({"issuer": {"existing": "corp-pki"}})
    # WHEN their args are made THEN components ask the CA's ClusterIssuer, or the existing one by name
    assert (TlsArgs.of(ca).issuer, TlsArgs.of(existing).issuer) == (CA_ISSUER, "corp-pki")
    # AND cert-manager gets the CA's Secret only for the internal CA
    assert (CertManagerArgs.of(ca, None, (), "monitoring").ca_secret, CertManagerArgs.of(existing, None, (), "monitoring").ca_secret) == ("bank-ca", None)


def test_an_acme_issuer_is_made_only_where_its_challenges_can_be_answered() -> None:
    # GIVEN a stack with an ACME issuer for the serving Gateway's public names
    tls = TlsSettings.model_validate({"issuer": {"existing": "corp-pki"}, "acme": {"email": "ops@example.com"}})
    # WHEN cert-manager's args are made on the cluster of the Gateway, and on one without it
    served, elsewhere = CertManagerArgs.of(tls, "gateway-system/public", (), "observability"), CertManagerArgs.of(tls, None, (), "observability")
    # THEN the ACME issuer answers through that Gateway, at Let's Encrypt by default; nowhere else
    assert served.acme == AcmeArgs(email="ops@example.com", server="https://acme-v02.api.letsencrypt.org/directory", gateway="gateway-system/public")
    assert elsewhere.acme is None
    assert served.monitoring_namespace == "observability"
