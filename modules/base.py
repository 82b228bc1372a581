"""What every module shares: frozen args, child options, and the labels every object carries."""
from __future__ import annotations

from weakref import WeakKeyDictionary

from typing import Any, Self

import pulumi
import pulumi_kubernetes as k8s
from pydantic import BaseModel, ConfigDict

from hybridai import catalog
from hybridai.config.base import ARGOCD_NAMESPACE
from hybridai.config.operations import ObjectStore, SecretKeyRef
from hybridai.recorded import component_type

MANAGED_BY = {"app.kubernetes.io/managed-by": "hybrid-ai"}
"""Label on every Kubernetes object hybrid-ai creates, so operators can tell what Pulumi owns."""

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
"""Tolerates the taint GPU nodes carry, so only pods that ask for GPUs land on them."""

# The securityContext settings of every pod and container hybrid-ai writes itself, each defined once
# with its reason. RESTRICTED_POD and RESTRICTED_CONTAINER together are what Pod Security `restricted`
# demands; a pod or container that differs (a node agent that must run as root, a read-only root
# filesystem on top) composes these and says why where it does.
NON_ROOT = {"runAsNonRoot": True}
"""The kubelet refuses to start a container whose user is root (UID 0), whatever the image's USER
says: a process that escapes its container is not root on the node."""
RUNTIME_DEFAULT_SECCOMP = {"seccompProfile": {"type": "RuntimeDefault"}}
"""The container runtime's default syscall filter, where Kubernetes would otherwise run containers
Unconfined: it refuses the calls containers have no use for (loading kernel modules, kexec, mount,
…), where many kernel escapes start."""
NO_PRIVILEGE_ESCALATION = {"allowPrivilegeEscalation": False}
"""no_new_privs: a setuid binary or file capability in the image can't give the process more than
it started with."""
NO_CAPABILITIES = {"capabilities": {"drop": ["ALL"]}}
"""Not even the runtime's default set (CHOWN, DAC_OVERRIDE, NET_RAW, SETUID, …): the process may do
what its user may, nothing more."""
READ_ONLY_ROOT_FILESYSTEM = {"readOnlyRootFilesystem": True}
"""Nothing is written into the image's files (no dropped tools, no changed binaries); what the
program writes goes to volumes it names. Beyond `restricted`: used where those writes are known."""

RESTRICTED_POD = {**NON_ROOT, **RUNTIME_DEFAULT_SECCOMP}
"""A pod's `securityContext`: Pod Security `restricted`'s pod-level half."""
RESTRICTED_CONTAINER = {**NO_PRIVILEGE_ESCALATION, **NO_CAPABILITIES}
"""A container's `securityContext`: Pod Security `restricted`'s container-level half."""

TIERS: dict[str, tuple[int, str]] = {
    # tier: (priority, preemption policy). Production inference may preempt anything below it so a
    # latency objective holds under load; research never preempts, it only fills idle capacity.
    # The same values rank pods (PriorityClass) and queued training (Kueue WorkloadPriorityClass).
    "production-inference": (100000, "PreemptLowerPriority"),
    "training": (10000, "PreemptLowerPriority"),
    "research": (1000, "Never"),
}


def priority_class(tier: str) -> str:
    """Name of a tier's PriorityClass (and Kueue WorkloadPriorityClass)."""
    return f"hybridai-{tier}"


class Args(BaseModel):
    """Base of module args: typed, frozen, unknown fields rejected. Every field has a docstring; a
    default marked "the stack's" is the default of the stack setting the builder (`of`) fills it
    from, so args made without a stack (tests, another composition) behave as a stack that leaves
    the setting out."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class StoreBucketArgs(Args):
    """A bucket of the on-prem S3-compatible object store and the access key a component reaches it
    with: the part every module keeping data there (Loki, the audit archive, Velero) shares."""

    endpoint: str
    """S3 API endpoint of the store (https)."""
    bucket: str
    """The component's own bucket: no other component's key can read or delete its data."""
    region: str | None = None
    """Region the store expects in request signatures; default: None, a store that checks none."""
    access_key_id: SecretKeyRef
    """Key of a Secret in the reading component's namespace holding the access key id."""
    secret_access_key: SecretKeyRef
    """Key of a Secret there holding the secret access key: components read both as environment
    variables or files, so no credential is ever in the values, the plan or Pulumi's state."""

    @classmethod
    def of_store(cls, store: ObjectStore, **more: Any) -> Self:
        """The stack's `store` as these args name it, with the subclass's `more` fields."""
        return cls(endpoint=store.endpoint, bucket=store.bucket, region=store.region, access_key_id=store.access_key_id, secret_access_key=store.secret_access_key, **more)


class Module(pulumi.ComponentResource):
    """A module's component. Pulumi doesn't make a component's children wait for what the component
    was told to depend on (pulumi/pulumi#8721: only the component itself waits), so a Module keeps
    its `depends_on` — and its parent module's — and `options()` hands them to every child.

    `children_were_under`: where this module's children were registered before it existed (a
    resource or a URN). `options()` then gives each child an alias with that parent, so a stack
    deployed before the module was introduced moves its resources under it instead of replacing
    them; their own children follow through Pulumi's inherited aliases."""

    waits_for: tuple[pulumi.Resource, ...]
    children_were_under: pulumi.Resource | pulumi.Input[str] | None = None

    def __init__(self, type_: str, name: str, props: dict | None, opts: pulumi.ResourceOptions | None):
        super().__init__(type_, name, props, opts)
        depends_on = opts.depends_on if opts else None
        own = [depends_on] if isinstance(depends_on, pulumi.Resource) else list(depends_on or [])
        inherited = getattr(opts.parent, "waits_for", ()) if opts else ()
        self.waits_for = tuple(dict.fromkeys([*inherited, *own]))


def options(parent: pulumi.Resource, **opts) -> pulumi.ResourceOptions:
    """Options of a module's child, parented to it, waiting for whatever the module waits for, and
    aliased to where the module's children were registered before (see `Module`)."""
    after = getattr(parent, "waits_for", ())
    if after:
        opts["depends_on"] = [*after, *(opts.get("depends_on") or [])]
    previous = getattr(parent, "children_were_under", None)
    if previous is not None:
        opts["aliases"] = [pulumi.Alias(parent=previous), *(opts.get("aliases") or [])]
    return pulumi.ResourceOptions(parent=parent, **opts)


def placed(target: pulumi.Resource, opts: pulumi.ResourceOptions | None) -> pulumi.ResourceOptions:
    """A module's own options: under its target unless `opts` names another parent (a component
    composing modules, such as GpuPlatform), with whatever else `opts` says."""
    return pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=target), opts)


def pod_security(enforce: str, audit_and_warn: str | None = None) -> dict[str, str]:
    """Pod Security Standards labels, the version pinned (hybridai/data/versions.yaml) so a cluster
    upgrade never silently changes admission. Audit and warn default to the enforced level; a
    platform namespace enforcing `baseline` audits and warns at `restricted`, so drift shows."""
    version = catalog.versions().kubernetes.pod_security_version
    levels = {"enforce": enforce, "audit": audit_and_warn or enforce, "warn": audit_and_warn or enforce}
    return {
        **{f"pod-security.kubernetes.io/{mode}": level for mode, level in levels.items()},
        **{f"pod-security.kubernetes.io/{mode}-version": version for mode in levels},
    }


def child(parent: pulumi.Resource, provider: pulumi.ProviderResource, **opts) -> pulumi.ResourceOptions:
    """Options of a module's child: parented to the module and sent through the target's provider,
    never the ambient default provider (which would deploy to whatever cluster kubectl points at)."""
    return options(parent, provider=provider, **opts)


def protected(parent: pulumi.Resource, provider: k8s.Provider, **opts) -> pulumi.ResourceOptions:
    """Options of a child that holds data: `pulumi destroy` refuses it, and a delete (rename,
    replacement) leaves the object in place instead of losing what it holds."""
    return child(parent, provider, protect=True, retain_on_delete=True, **opts)


def ingress_policy(name: str, namespace: str, ingress: list[dict], parent: pulumi.Resource, provider: k8s.Provider, depends_on: list[pulumi.Resource]) -> k8s.networking.v1.NetworkPolicy:
    """A platform namespace's NetworkPolicy: inbound traffic only from its own pods and the listed
    sources; outbound stays open (operators and Prometheus talk to the API server and every node)."""
    return k8s.networking.v1.NetworkPolicy(
        name,
        metadata={"name": f"{namespace}-ingress", "namespace": namespace, "labels": MANAGED_BY},
        spec={"podSelector": {}, "policyTypes": ["Ingress"], "ingress": [{"from": [{"podSelector": {}}]}, *ingress]},
        opts=child(parent, provider, depends_on=depends_on),
    )


def on_port(port: int) -> dict:
    """An ingress rule admitting any source on one TCP port (webhooks the API server calls)."""
    return {"ports": [{"protocol": "TCP", "port": port}]}


def aws_key_env(access_key_id: SecretKeyRef, secret_access_key: SecretKeyRef) -> list[dict]:
    """An S3 access key pair as the AWS SDKs' environment variables, read from its Secret keys: the
    key itself is never in a pod spec, the chart values, the plan or the state."""
    return [
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {"name": access_key_id.name, "key": access_key_id.key}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {"name": secret_access_key.name, "key": secret_access_key.key}}},
    ]


AWS_KEY_FILES = ("access_key_id", "secret_access_key")
"""The file names an S3 access key pair is mounted as (the AWS SDKs' own names for the two values)."""


def aws_key_files(volume: str, access_key_id: SecretKeyRef, secret_access_key: SecretKeyRef) -> dict:
    """An S3 access key pair as two files (`AWS_KEY_FILES`) of one read-only projected volume, from
    its Secret keys: the pod reads the key when it needs it, so it is never in the pod's environment
    (where `kubectl describe`, crash dumps and child processes see it) and a rotated key reaches the
    next read without restarting anything."""

    def item(ref: SecretKeyRef, path: str) -> dict:
        return {"secret": {"name": ref.name, "items": [{"key": ref.key, "path": path}]}}

    id_file, secret_file = AWS_KEY_FILES
    return {"name": volume, "projected": {"sources": [item(access_key_id, id_file), item(secret_access_key, secret_file)]}}


def from_namespace(namespace: str) -> dict:
    return {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}]}




def argo_application(name: str, app: str, destination_namespace: str, source: dict, opts: pulumi.ResourceOptions) -> k8s.apiextensions.CustomResource:
    """An Argo CD Application that keeps `source` synced into the cluster it runs in."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version="argoproj.io/v1alpha1",
        kind="Application",
        metadata={"name": app, "namespace": ARGOCD_NAMESPACE, "labels": MANAGED_BY},
        spec={
            "project": "default",
            "destination": {"server": "https://kubernetes.default.svc", "namespace": destination_namespace},
            "source": source,
            # Server-side apply, like Pulumi's provider; drift is healed, removed objects pruned.
            "syncPolicy": {"automated": {"enabled": True, "prune": True, "selfHeal": True}, "syncOptions": ["ServerSideApply=true"]},
        },
        opts=opts,
    )


def pinned_release(
    name: str, chart: str, namespace: str, values: dict, opts: pulumi.ResourceOptions, timeout: int = 900, gitops: bool = False, skip_crds: bool = False
) -> pulumi.CustomResource:
    """A Helm release of a chart pinned in hybridai/data/versions.yaml, named after the chart (never
    auto-named). Atomic: a failed install or upgrade rolls back instead of leaving half a release.
    On a GitOps target the same release is an Argo CD Application the site's Argo CD installs.
    `skip_crds`: leave out the chart's crds/ folder (another release installs those CRDs)."""
    pin = catalog.chart(chart)
    oci = pin.repository.startswith("oci://")
    if gitops:
        # Argo CD names an OCI registry without its scheme.
        helm = {"releaseName": chart, "valuesObject": values, **({"skipCrds": True} if skip_crds else {})}
        source = {"repoURL": pin.repository.removeprefix("oci://"), "chart": pin.chart, "targetRevision": pin.version, "helm": helm}
        return argo_application(name, chart, namespace, source, opts)
    extra = {"skip_crds": True} if skip_crds else {}
    return k8s.helm.v3.Release(
        name,
        name=chart,
        # Helm pulls OCI charts by reference, classic ones from a repository index.
        chart=f"{pin.repository}/{pin.chart}" if oci else pin.chart,
        version=pin.version,
        repository_opts=None if oci else {"repo": pin.repository},
        namespace=namespace,
        values=values,
        atomic=True,
        cleanup_on_fail=True,
        timeout=timeout,
        max_history=10,
        opts=opts,
        **extra,
    )


_PLATFORM_NAMESPACES: WeakKeyDictionary[pulumi.ProviderResource, list[str]] = WeakKeyDictionary()
"""Each cluster's provider → the platform namespaces created on it so far (`platform_namespace`)."""


def platform_namespaces_on(provider: pulumi.ProviderResource) -> tuple[str, ...]:
    """The platform namespaces created so far on the cluster `provider` reaches, in order: what the
    platform's backup schedule covers, read from what the program made rather than kept by hand."""
    return tuple(_PLATFORM_NAMESPACES.get(provider, ()))


def platform_namespace(
    name: str,
    namespace: str,
    pod_security_levels: dict[str, str],
    ingress: list[dict],
    parent: pulumi.Resource,
    provider: k8s.Provider,
    **options,
) -> k8s.core.v1.Namespace:
    """A namespace the platform runs in (operator, monitoring, queues, serving, GitOps): its Pod
    Security labels and a NetworkPolicy admitting only its own pods and the listed sources."""
    created = k8s.core.v1.Namespace(name, metadata={"name": namespace, "labels": {**MANAGED_BY, **pod_security_levels}}, opts=child(parent, provider, **options))
    _PLATFORM_NAMESPACES.setdefault(provider, []).append(namespace)
    ingress_policy(f"{name.removesuffix('-ns')}-netpol", namespace, ingress, parent, provider, [created])
    return created


def former_training_pool(target, cluster: str) -> pulumi.Output[str]:
    """URN of the one TrainingPool component the AWS modules (network, EKS cluster, node capacity,
    training storage, budget) were split from: stacks deployed before the split hold their
    children under it, so each of those modules aliases its children to it (see `Module`)."""
    return pulumi.create_urn(f"{target.prefix}-{cluster}", component_type("training_pool", "TrainingPool"), parent=target)
