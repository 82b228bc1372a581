"""Tenancy: a namespace per team with Pod Security, quota, defaults, RBAC and network isolation."""
from __future__ import annotations

from typing import Iterable, Literal, Mapping

import pulumi
import pulumi_kubernetes as k8s

from hybridai.config.components import Team
from hybridai.recorded import COST_CENTER_LABEL, DATA_CLASSIFICATION_LABEL, ENVIRONMENT_LABEL, TEAM_LABEL, TIER_LABEL, component_type, gpu_quota_key
from hybridai.modules.base import MANAGED_BY, TIERS, Args, Module, child, placed, pod_security, priority_class, protected
from hybridai.modules.target import Target

# What a team may do in its own namespace. Explicit resources and verbs, never `*`: no RBAC objects
# (a team can't grant itself more), no reading secrets (a compromised account can't harvest
# credentials), no pods/exec or port-forward (no interactive access to data-bearing pods).
_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete"]
TEAM_RULES = [
    {"apiGroups": [""], "resources": ["pods", "services", "configmaps", "persistentvolumeclaims", "serviceaccounts"], "verbs": _WRITE},
    {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "update", "patch", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log", "events", "resourcequotas", "limitranges"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "replicasets"], "verbs": _WRITE},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _WRITE},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _WRITE},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _WRITE},
]


class TenantArgs(Args):
    name: str
    """Team name: labelled on its namespace (cost showback, ownership)."""
    namespace: str
    """The team's namespace."""
    group: str
    """Identity-provider group bound to the team's Role."""
    tier: Literal["production-inference", "training", "research"]
    """Scheduling tier: labelled on the namespace, it ranks the team's pods and queued training."""
    data_classification: str
    """Most sensitive data the team handles: labelled on the namespace, it decides which compliance rules apply."""
    gpu_quota: dict[str, int]
    """Extended resource (`nvidia.com/gpu`, `nvidia.com/mig-1g.10gb`, …) → requests allowed: every
    GPU resource of the cluster, zero where the team has none (a ResourceQuota leaves unlisted
    resources unlimited)."""
    cpu: str
    """CPU requests and limits of the whole namespace."""
    memory: str
    """Memory requests and limits of the whole namespace."""
    storage: str
    """Persistent volume storage the namespace may claim."""
    pods: int
    """Most pods in the namespace."""

    @classmethod
    def of(cls, team: Team, gpu_quota: dict[str, int]) -> TenantArgs:
        """A team of the stack with the GPU quota the capacity plan gives it on this cluster."""
        quota = team.quota
        return cls(
            name=team.name,
            namespace=team.namespace,
            group=team.group,
            tier=team.tier,
            data_classification=team.data_classification,
            gpu_quota=gpu_quota,
            cpu=quota.cpu,
            memory=quota.memory,
            storage=quota.storage,
            pods=quota.pods,
        )


class TenancyArgs(Args):
    tenants: tuple[TenantArgs, ...]
    """The cluster's teams."""
    monitoring_namespace: str = "monitoring"
    """Namespace whose Prometheus may scrape tenant pods (admitted by a NetworkPolicy); default: the stack's default."""
    labels: dict[str, str] = {}
    """Labels for every namespace (environment, cost center) — the keys cost showback groups by."""
    pod_security: Literal["restricted", "baseline"] = "restricted"
    """Pod Security Standard enforced on tenant namespaces. `restricted` (default): non-root, no privilege
    escalation, all capabilities dropped, seccomp RuntimeDefault — what untrusted workloads need."""

    @classmethod
    def of(cls, teams: Iterable[Team], gpu_quotas: Mapping[str, dict[str, int]], monitoring_namespace: str, environment: str, cost_center: str) -> TenancyArgs:
        """The cluster's teams, each with its GPU quota from `gpu_quotas` (team name → the capacity
        plan's quota there), their namespaces labelled with the stack's environment and cost center."""
        return cls(
            tenants=tuple(TenantArgs.of(team, gpu_quotas[team.name]) for team in teams),
            monitoring_namespace=monitoring_namespace,
            labels={ENVIRONMENT_LABEL: environment, COST_CENTER_LABEL: cost_center},
        )


class Tenancy(Module):
    """Team namespaces on one target, each isolated and bounded:

    - Pod Security Standards (enforce, audit and warn, version pinned) on the namespace;
    - a ResourceQuota including GPUs and MIG slices, and a LimitRange supplying container defaults
      so pods without limits are still admitted under the quota;
    - a Role for the team's group (explicit verbs, no wildcards) and its RoleBinding;
    - default-deny NetworkPolicy plus DNS, same-namespace and monitoring-scrape allows;
    - cluster-wide PriorityClasses: production inference > training > research.
    """

    def __init__(self, target: Target, args: TenancyArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-tenancy"
        super().__init__(component_type("tenancy", "Tenancy"), name, None, placed(target, opts))
        provider = target.provider

        self.priority_classes = {
            tier: k8s.scheduling.v1.PriorityClass(
                f"{name}-priority-{tier}",
                metadata={"name": priority_class(tier), "labels": MANAGED_BY},
                value=value,
                preemption_policy=policy,
                global_default=False,
                description=f"hybrid-ai {tier} workloads",
                opts=child(self, provider),
            )
            for tier, (value, policy) in TIERS.items()
        }

        self.namespaces: dict[str, k8s.core.v1.Namespace] = {}
        for tenant in args.tenants:
            labels = {
                **MANAGED_BY,
                **args.labels,
                TEAM_LABEL: tenant.name,
                TIER_LABEL: tenant.tier,
                DATA_CLASSIFICATION_LABEL: tenant.data_classification,
                **pod_security(args.pod_security),
            }
            # A namespace holds the team's volumes: deleting it would delete their data with it.
            ns = k8s.core.v1.Namespace(
                f"{name}-{tenant.name}",
                metadata={"name": tenant.namespace, "labels": labels},
                opts=protected(self, provider),
            )
            self.namespaces[tenant.name] = ns
            self._tenant(name, tenant, ns, args, provider)

        self.register_outputs({"namespaces": {team: ns.metadata.name for team, ns in self.namespaces.items()}})

    def _tenant(self, name: str, tenant: TenantArgs, ns: k8s.core.v1.Namespace, args: TenancyArgs, provider: k8s.Provider) -> None:
        opts = child(self, provider, depends_on=[ns])
        base = f"{name}-{tenant.name}"

        def meta(suffix: str) -> dict:
            return {"name": f"{tenant.namespace}-{suffix}", "namespace": tenant.namespace, "labels": MANAGED_BY}

        hard = {
            "requests.cpu": tenant.cpu,
            "limits.cpu": tenant.cpu,
            "requests.memory": tenant.memory,
            "limits.memory": tenant.memory,
            "requests.storage": tenant.storage,
            "pods": str(tenant.pods),
            **{gpu_quota_key(resource): str(count) for resource, count in sorted(tenant.gpu_quota.items())},
        }
        k8s.core.v1.ResourceQuota(f"{base}-quota", metadata=meta("quota"), spec={"hard": hard}, opts=opts)
        k8s.core.v1.LimitRange(
            f"{base}-limits",
            metadata=meta("defaults"),
            spec={
                "limits": [
                    {
                        # Defaults for containers that state none: admitted under the quota, but small.
                        "type": "Container",
                        "default": {"cpu": "1", "memory": "2Gi"},
                        "defaultRequest": {"cpu": "250m", "memory": "512Mi"},
                    }
                ]
            },
            opts=opts,
        )

        role = k8s.rbac.v1.Role(f"{base}-role", metadata=meta("developer"), rules=TEAM_RULES, opts=opts)
        k8s.rbac.v1.RoleBinding(
            f"{base}-rolebinding",
            metadata=meta("developer"),
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{tenant.namespace}-developer"},
            subjects=[{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": tenant.group}],
            opts=child(self, provider, depends_on=[ns, role]),
        )

        for suffix, spec in _network_policies(tenant.namespace, args.monitoring_namespace).items():
            k8s.networking.v1.NetworkPolicy(f"{base}-netpol-{suffix}", metadata=meta(suffix), spec=spec, opts=opts)


def _network_policies(namespace: str, monitoring_namespace: str) -> dict[str, dict]:
    """Default deny in both directions, then only what tenants need."""
    same_namespace = [{"podSelector": {}}]
    return {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                }
            ],
        },
        # Distributed training and multi-pod serving talk among themselves, never across teams.
        "allow-same-namespace": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"from": same_namespace}],
            "egress": [{"to": same_namespace}],
        },
        "allow-monitoring-scrape": {
            "podSelector": {},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": monitoring_namespace}}}]}],
        },
    }
