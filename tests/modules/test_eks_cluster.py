"""EksCluster's args: the stack's control plane at its version (default: the pinned one), its
control-plane logs kept as long as the stack's compliance profiles require."""
from __future__ import annotations

from hybridai import catalog
from hybridai.modules.eks_cluster import EksClusterArgs
from hybridai.modules.target import AwsScope
from tests.helpers import prepared


def cluster_of(stack: str, **cluster) -> EksClusterArgs:
    spec, _ = prepared(stack)
    scope = AwsScope.of(spec.cloud, spec.prefix, spec.environment, spec.cost_center)
    return EksClusterArgs.of(scope, spec.cloud.cluster.model_copy(update=cluster), spec.eks_log_retention_days())


def test_the_control_plane_runs_the_pinned_version_and_logs_its_audit_trail_as_long_as_sox_keeps_it() -> None:
    # GIVEN finance-prod, which names no version (SOX: audit records kept 2557 days)
    args = cluster_of("finance-prod")
    # THEN the cluster runs the EKS version pinned in aws.yaml and sends the pinned log types, audit among them
    assert args.kubernetes_version == catalog.aws().eks.version
    assert args.log_types == tuple(catalog.aws().eks.log_types) and "audit" in args.log_types
    assert args.log_retention_days == 2557
    # AND only the stack's admin roles get access; the endpoint is private
    assert args.admin_role_arns == ("arn:aws:iam::210987654321:role/platform-admin", "arn:aws:iam::210987654321:role/ci-deployer")
    assert args.public_access_cidrs == ()


def test_a_version_the_stack_names_is_the_clusters() -> None:
    # GIVEN finance-dev naming Kubernetes 1.31 and a public endpoint for one network
    args = cluster_of("finance-dev", version="1.31")
    # THEN the cluster runs it, its endpoint answering that network only
    assert (args.kubernetes_version, args.public_access_cidrs) == ("1.31", ("203.0.113.0/24",))
