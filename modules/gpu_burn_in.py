"""GpuBurnIn: new GPU nodes prove their GPUs before they take work — DCGM diagnostics and, where a
floor is known, an NCCL all-reduce, in a Job per node that a small controller starts and acts on
(docs/design/gpu-health.md#burn-in)."""
from __future__ import annotations

import json
from typing import Iterable

import pulumi
import pulumi_kubernetes as k8s

from hybridai import catalog
from hybridai.config.cloud import GpuNodePool
from hybridai.config.components import GpuPool
from hybridai.config.gpu_health import BurnInSettings
from hybridai.modules.base import (
    GPU_TOLERATION, MANAGED_BY, NO_PRIVILEGE_ESCALATION, READ_ONLY_ROOT_FILESYSTEM, RESTRICTED_CONTAINER, RESTRICTED_POD,
    RUNTIME_DEFAULT_SECCOMP, Args, Module, child, placed, platform_namespace, pod_security,
)
from hybridai.modules.scripts import script
from hybridai.modules.target import Target
from hybridai.recorded import GPU_RESOURCE, NODE_GROUP_LABEL, component_type

TAINT_KEY = "hybrid-ai.io/burn-in"
"""The taint a GPU node carries until its burn-in passed: `pending` while it runs, `failed` after."""
STARTUP_TAINT = {"key": TAINT_KEY, "value": "pending", "effect": "NoSchedule"}
"""What a new GPU node joins with (Karpenter's `startupTaints`; on-prem the kubelet's
`--register-with-taints`): NoSchedule, so nothing but the burn-in Job lands on it, and nothing
already running (DaemonSets) is evicted, as NoExecute would."""
NODE_ANNOTATION = "hybrid-ai.io/burn-in-node"
"""On each burn-in Job: the node it tests (the Job's name is a hash of it: node names outgrow Job names)."""
CONTROLLER = "gpu-burn-in"
"""The controller's CronJob and ServiceAccount (the identity the node admission policy binds)."""
CONFIG_DIR = "/etc/burn-in"
ALL_REDUCE_PERF = "/opt/nccl-tests/build/all_reduce_perf"
"""Where the pinned nccl-tests image has the test (its README: nccl-tests under /opt/nccl-tests)."""
DIAG_MINUTES = {1: 5, 2: 15, 3: 60, 4: 180}
"""How long a node's DCGM diagnostic may take per level, with room over DCGM's own durations
(seconds, about 2 minutes, about 30 minutes, an hour or more): past it the Job fails."""
NCCL_MINUTES = 15
"""How long the all-reduce may take: 512 MiB to 8 GiB messages on 8 GPUs run in well under a minute
at the floors; the rest is the image pull (CUDA and NCCL, several GB)."""
WAIT_MINUTES = 30
"""How long a node may wait for its GPUs (the GPU Operator installing the driver and validating)
and its Job's images before the burn-in counts as stuck."""
SYS_ADMIN = {"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}
"""The DCGM diagnostic's one capability: NVIDIA runs its DCGM container with `--cap-add SYS_ADMIN`
(the DCGM container documentation), which DCGM needs for the profiling counters its stress and
power plugins read; every other capability is dropped."""


class BurnInPool(Args):
    """The burn-in of one pool's nodes: how many GPUs each must offer and whether NCCL runs."""

    name: str
    """The pool (on-prem `gpuPools[].name`) or NodePool (`cloud.gpuNodePools[].name`)."""
    gpu_model: str
    """Its GPU model (hybridai/data/gpus.yaml)."""
    gpus: int
    """GPUs each node must advertise; the Job takes them all."""
    nodes: tuple[str, ...] = ()
    """On-prem: the pool's node names (they carry no pool label); default: none, a NodePool's nodes
    carry `hybrid-ai.io/node-group`."""
    nccl_floor_gbps: float | None = None
    """The all-reduce bus bandwidth the node must reach (gpu-health.yaml); default: None, not run."""
    nccl_skipped: str | None = None
    """Why the NCCL test doesn't run here, said in the Job's log and the plan; default: None, it runs."""

    @classmethod
    def of(cls, name: str, gpu_model: str, gpus: int, interconnect: str | None, nodes: Iterable[str] = ()) -> BurnInPool:
        """A pool of `gpus` GPUs of `gpu_model` per node over `interconnect`: the NCCL floor where
        gpu-health.yaml has one for that model, interconnect and GPU count, else why not."""
        floor, skipped = None, None
        known = catalog.gpu_health().nccl_floor(gpu_model, interconnect) if interconnect else None
        if gpus < 2:
            skipped = "one GPU per node: nothing to all-reduce between"
        elif interconnect is None:
            skipped = "the pool doesn't state its GPUs' interconnect"
        elif known is None:
            skipped = f"hybridai/data/gpu-health.yaml has no NCCL floor for {gpu_model} over {interconnect}"
        elif known.gpus != gpus:
            skipped = f"the NCCL floor of {gpu_model} over {interconnect} is for {known.gpus} GPUs, these nodes have {gpus}"
        else:
            floor = known.bus_bandwidth_gbps
        return cls(name=name, gpu_model=gpu_model, gpus=gpus, nodes=tuple(nodes), nccl_floor_gbps=floor, nccl_skipped=skipped)


class GpuBurnInArgs(Args):
    namespace: str = "gpu-burn-in"
    """Its namespace, privileged for the DCGM diagnostic's root and SYS_ADMIN (the stack's default)."""
    diag_level: int = 3
    """`dcgmi diag -r` level, 1 to 4 (the stack's `gpuHealth.burnIn.diagLevel`; default: its default)."""
    pools: tuple[BurnInPool, ...]
    """The pools whose new nodes are burned in."""

    @property
    def deadline_minutes(self) -> int:
        """How long one node's Job may run: its diagnostic and the all-reduce."""
        return DIAG_MINUTES[self.diag_level] + NCCL_MINUTES

    @property
    def stuck_minutes(self) -> int:
        """How long a node may stay `pending` before the burn-in counts as stuck: waiting for its
        GPUs, then its Job's deadline, and two controller runs."""
        return WAIT_MINUTES + self.deadline_minutes + 2

    @classmethod
    def of_onprem(cls, settings: BurnInSettings, pools: Iterable[GpuPool]) -> GpuBurnInArgs | None:
        """The on-prem cluster's pools of whole GPUs (`mig` unset); None where the stack turns the
        burn-in off or no pool is of whole GPUs. A MIG pool's nodes aren't burned in: DCGM's
        diagnostic doesn't run on MIG-enabled GPUs and the operator partitions them as they join,
        so their nodes join without the taint (docs/operations.md#burn-in)."""
        burned = tuple(BurnInPool.of(p.name, p.gpu_model, p.gpus_per_node, p.interconnect, p.nodes) for p in pools if p.mig is None)
        return cls(namespace=settings.namespace, diag_level=settings.diag_level, pools=burned) if settings.enabled and burned else None

    @classmethod
    def of_node_pools(cls, settings: BurnInSettings, pools: Iterable[GpuNodePool]) -> GpuBurnInArgs | None:
        """The cloud cluster's NodePools, the interconnect where all of a pool's instance types
        state the same one; None where the stack turns the burn-in off."""
        instances = catalog.aws().gpu_instances
        burned = []
        for pool in pools:
            links = {instances[t].interconnect for t in pool.instance_types}
            burned.append(BurnInPool.of(pool.name, pool.gpu_model, pool.gpus_per_node, links.pop() if len(links) == 1 else None))
        return cls(namespace=settings.namespace, diag_level=settings.diag_level, pools=tuple(burned)) if settings.enabled and burned else None


class GpuBurnIn(Module):
    """The burn-in of new GPU nodes in its own namespace. A CronJob (every minute, on a node without
    GPUs) finds nodes tainted `hybrid-ai.io/burn-in=pending`, creates one Job per node — pinned to
    it, tolerating only that taint and the GPU taint, requesting all its GPUs — and acts on the
    Job's end: success removes the taint, failure sets it to `failed` (alerted). The Job's DCGM
    diagnostic (init container, root with SYS_ADMIN) runs before its NCCL all-reduce (restricted).
    When the Job ends its pod's GPUs are free: nothing of the burn-in holds a passed node's GPUs. A
    ValidatingAdmissionPolicy holds the controller's node rights to that one taint."""

    def __init__(self, target: Target, args: GpuBurnInArgs, opts: pulumi.ResourceOptions | None = None):
        name = f"{target.prefix}-gpu-burn-in"
        super().__init__(component_type("gpu_burn_in", "GpuBurnIn"), name, None, placed(target, opts))
        provider = target.provider
        ns = args.namespace
        # No inbound traffic at all: nothing here serves.
        namespace = platform_namespace(f"{name}-ns", ns, pod_security("privileged"), [], self, provider)
        after = child(self, provider, depends_on=[namespace])
        meta = {"namespace": ns, "labels": MANAGED_BY}
        account = k8s.core.v1.ServiceAccount(f"{name}-sa", metadata={"name": CONTROLLER, **meta}, opts=after)
        # Nodes are cluster-scoped and a new node's name isn't known in advance, so `resourceNames`
        # can't narrow these: get/list to find tainted nodes, patch to change the taint. The
        # admission policy below narrows the patch to the burn-in taint.
        node_role = k8s.rbac.v1.ClusterRole(
            f"{name}-nodes", metadata={"name": f"hybridai-{CONTROLLER}-nodes", "labels": MANAGED_BY},
            rules=[{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]}], opts=child(self, provider),
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-nodes-binding", metadata={"name": f"hybridai-{CONTROLLER}-nodes", "labels": MANAGED_BY},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": f"hybridai-{CONTROLLER}-nodes"},
            subjects=[{"kind": "ServiceAccount", "name": CONTROLLER, "namespace": ns}], opts=child(self, provider, depends_on=[node_role, account]),
        )
        # Its own namespace only: create a node's Job, read its status. Nothing else.
        job_role = k8s.rbac.v1.Role(f"{name}-jobs", metadata={"name": f"{CONTROLLER}-jobs", **meta}, rules=[{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get"]}], opts=after)
        k8s.rbac.v1.RoleBinding(
            f"{name}-jobs-binding", metadata={"name": f"{CONTROLLER}-jobs", **meta},
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": f"{CONTROLLER}-jobs"},
            subjects=[{"kind": "ServiceAccount", "name": CONTROLLER, "namespace": ns}], opts=child(self, provider, depends_on=[job_role, account]),
        )
        policy = k8s.admissionregistration.v1.ValidatingAdmissionPolicy(
            f"{name}-node-policy", metadata={"name": f"hybridai-{CONTROLLER}-nodes", "labels": MANAGED_BY}, spec=node_policy(ns), opts=child(self, provider)
        )
        k8s.admissionregistration.v1.ValidatingAdmissionPolicyBinding(
            f"{name}-node-policy-binding", metadata={"name": f"hybridai-{CONTROLLER}-nodes", "labels": MANAGED_BY},
            spec={"policyName": f"hybridai-{CONTROLLER}-nodes", "validationActions": ["Deny"]}, opts=child(self, provider, depends_on=[policy]),
        )
        config = k8s.core.v1.ConfigMap(f"{name}-config", metadata={"name": CONTROLLER, **meta}, data=config_files(args), opts=after)
        k8s.batch.v1.CronJob(f"{name}-controller", metadata={"name": CONTROLLER, **meta}, spec=controller_spec(args), opts=child(self, provider, depends_on=[config, account]))
        self.register_outputs({"namespace": ns})


def node_policy(namespace: str) -> dict:
    """What the controller's node patches may change: the burn-in taint, removed or set to `failed`,
    and nothing else of the node (its other taints, labels, cordon). Without it, `patch nodes` would
    let a stolen controller token relabel or untaint any node of the cluster."""
    own = f"t.key == '{TAINT_KEY}'"
    others = f"t.key != '{TAINT_KEY}'"

    def taints(obj: str, keep: str) -> str:
        return f"(has({obj}.spec.taints) ? {obj}.spec.taints.filter(t, {keep}) : [])"

    def labels(obj: str) -> str:
        return f"(has({obj}.metadata.labels) ? {obj}.metadata.labels : {{}})"

    return {
        "failurePolicy": "Fail",
        "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["UPDATE"], "resources": ["nodes"]}]},
        "matchConditions": [{"name": "burn-in-controller", "expression": f"request.userInfo.username == 'system:serviceaccount:{namespace}:{CONTROLLER}'"}],
        "validations": [
            {"expression": f"{taints('object', others)} == {taints('oldObject', others)}", "message": f"the burn-in controller may change only the {TAINT_KEY} taint"},
            {"expression": f"{taints('object', own)}.all(t, t.value == 'failed')", "message": f"the burn-in controller may only remove the {TAINT_KEY} taint or set it to failed"},
            {"expression": f"{labels('object')} == {labels('oldObject')}", "message": "the burn-in controller may not change a node's labels"},
            {
                "expression": "(has(object.spec.unschedulable) && object.spec.unschedulable) == (has(oldObject.spec.unschedulable) && oldObject.spec.unschedulable)",
                "message": "the burn-in controller may not cordon or uncordon a node",
            },
        ],
    }


def config_files(args: GpuBurnInArgs) -> dict[str, str]:
    """The controller's ConfigMap: its program, the pools (node → pool, each pool's GPUs and NCCL
    floor or why it is skipped), the Job it creates per node, and the Job's two programs."""
    pools = {
        p.name: {"gpuModel": p.gpu_model, "gpus": p.gpus, **({"ncclFloorGbps": p.nccl_floor_gbps} if p.nccl_floor_gbps else {}), **({"ncclSkipped": p.nccl_skipped} if p.nccl_skipped else {})}
        for p in args.pools
    }
    nodes = {node: p.name for p in args.pools for node in p.nodes}
    return {
        "controller.sh": script(
            "gpu_burn_in_controller.sh", TAINT_KEY=TAINT_KEY, NAMESPACE=args.namespace, CONFIG=f"{CONFIG_DIR}/pools.json", GROUP_LABEL=NODE_GROUP_LABEL,
            GPU_RESOURCE=GPU_RESOURCE, NODE_ANNOTATION=NODE_ANNOTATION, JOB_TEMPLATE=f"{CONFIG_DIR}/job.json",
        ),
        "pools.json": json.dumps({"pools": pools, "nodes": nodes}, indent=2, sort_keys=True),
        "job.json": json.dumps(burn_in_job(args), indent=2, sort_keys=True),
        "diag.sh": script("gpu_burn_in_diag.sh"),
        "nccl.sh": script("gpu_burn_in_nccl.sh", ALL_REDUCE_PERF=ALL_REDUCE_PERF),
    }


def burn_in_job(args: GpuBurnInArgs) -> dict:
    """The Job the controller creates per node, before it fills in the name, the node and its GPU
    count (the placeholders below: empty node list, zero GPUs) and the pool's NCCL settings."""
    gpus = {GPU_RESOURCE: "0"}
    scripts = {"name": "scripts", "mountPath": "/burn-in", "readOnly": True}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "burn-in", "namespace": args.namespace, "labels": {**MANAGED_BY, "app.kubernetes.io/name": "gpu-burn-in"}, "annotations": {}},
        "spec": {
            # One try: a failure is the node's, not the Job's to retry.
            "backoffLimit": 0,
            "activeDeadlineSeconds": args.deadline_minutes * 60,
            # A day to read its log; the node's taint keeps the outcome after the Job is gone.
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": {**MANAGED_BY, "app.kubernetes.io/name": "gpu-burn-in"}},
                "spec": {
                    "restartPolicy": "Never",
                    # It talks to no API: no token in the pod.
                    "automountServiceAccountToken": False,
                    "securityContext": RUNTIME_DEFAULT_SECCOMP,
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": []}]}]}}},
                    # Only the pending burn-in taint (never `failed`) and the GPU nodes' own.
                    "tolerations": [{"key": TAINT_KEY, "operator": "Equal", "value": "pending", "effect": "NoSchedule"}, GPU_TOLERATION],
                    "initContainers": [
                        {
                            "name": "dcgm-diag",
                            "image": catalog.image("dcgm"),
                            "command": ["bash", "/burn-in/diag.sh"],
                            "env": [{"name": "DIAG_LEVEL", "value": str(args.diag_level)}],
                            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}, "limits": {"cpu": "4", "memory": "8Gi", **gpus}},
                            # Root with SYS_ADMIN alone (SYS_ADMIN above); no privilege escalation, the runtime's seccomp filter.
                            "securityContext": {"runAsUser": 0, "runAsNonRoot": False, **NO_PRIVILEGE_ESCALATION, **SYS_ADMIN},
                            "volumeMounts": [scripts],
                        }
                    ],
                    "containers": [
                        {
                            "name": "nccl-all-reduce",
                            "image": catalog.image("nccl-tests"),
                            "command": ["bash", "/burn-in/nccl.sh"],
                            "env": [],
                            "resources": {"requests": {"cpu": "4", "memory": "16Gi"}, "limits": {"cpu": "8", "memory": "32Gi", **gpus}},
                            # Nothing of the host: restricted, as an unprivileged user.
                            "securityContext": {**RESTRICTED_POD, "runAsUser": 1000, **RESTRICTED_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM},
                            "volumeMounts": [scripts, {"name": "tmp", "mountPath": "/tmp"}, {"name": "shm", "mountPath": "/dev/shm"}],
                        }
                    ],
                    "volumes": [
                        {"name": "scripts", "configMap": {"name": CONTROLLER, "items": [{"key": "diag.sh", "path": "diag.sh"}, {"key": "nccl.sh", "path": "nccl.sh"}]}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
                        # NCCL's host buffers; the runtime's default /dev/shm is 64 MiB.
                        {"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": "2Gi"}},
                    ],
                },
            },
        },
    }


def controller_spec(args: GpuBurnInArgs) -> dict:
    """The controller's CronJob: every minute, one run at a time, on a node without GPUs (it
    tolerates no taint), restricted, reading its ConfigMap."""
    return {
        "schedule": "* * * * *",
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": {
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": 300,
                "template": {
                    "metadata": {"labels": {**MANAGED_BY, "app.kubernetes.io/name": CONTROLLER}},
                    "spec": {
                        "serviceAccountName": CONTROLLER,
                        "restartPolicy": "Never",
                        "securityContext": {**RESTRICTED_POD, "runAsUser": 65532, "runAsGroup": 65532},
                        "containers": [
                            {
                                "name": "controller",
                                "image": catalog.image("kubectl"),
                                "command": ["bash", f"{CONFIG_DIR}/controller.sh"],
                                # kubectl's cache goes to $HOME.
                                "env": [{"name": "HOME", "value": "/tmp"}],
                                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "200m", "memory": "128Mi"}},
                                "securityContext": {**RESTRICTED_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM},
                                "volumeMounts": [{"name": "config", "mountPath": CONFIG_DIR, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
                            }
                        ],
                        "volumes": [{"name": "config", "configMap": {"name": CONTROLLER}}, {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                    },
                },
            }
        },
    }
