"""EdgeSite: inference on factory-floor GPUs that keeps serving through network outages."""
from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_kubernetes as k8s

from hybridai import catalog
from hybridai.config.edge import MODEL_SOURCE_KEYS, EdgeModel, EdgeSite as EdgeSiteSpec
from hybridai.recorded import GPU_POOL_LABEL, MODEL_SOURCE_ENV, MODEL_SYNC_JOB, component_type
from hybridai.modules.base import GPU_TOLERATION, MANAGED_BY, READ_ONLY_ROOT_FILESYSTEM, RESTRICTED_CONTAINER, RESTRICTED_POD, Args, Module, child, placed, priority_class, protected
from hybridai.modules.scripts import script
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target

CACHE = "model-cache"
TRITON_PORTS = {"http": 8000, "grpc": 8001, "metrics": 8002}

UID = 10001
"""User and group of Triton and the model sync. Not an image's own user (Triton's `triton-server` is
uid 1000, on most hosts the first login user): a fixed high ID that is no host user, so a process
that escaped its container owns nothing on the node. Neither image needs its user's home: HOME is
the writable /tmp. The model cache is shared through the group: `fsGroup` gives the volume this group
(group-writable, setgid; the first mount after a change of group re-owns it, later ones skip when the
root already matches), and the sync writes with umask 0002."""
RUN_AS = {**RESTRICTED_POD, "runAsUser": UID, "runAsGroup": UID, "fsGroup": UID, "fsGroupChangePolicy": "OnRootMismatch"}
"""Pods of a site: restricted, as the fixed user and group (see UID)."""
SECURITY = {**RESTRICTED_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM}
"""Containers of a site: restricted, and nothing written outside their volumes (/tmp, the cache)."""
TMP = {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}
"""The one writable scratch folder (/tmp, also HOME) of a read-only container."""
TMP_MOUNT = {"name": "tmp", "mountPath": "/tmp"}
HOME = {"name": "HOME", "value": "/tmp"}

RCLONE_DIR = "/etc/rclone"
RCLONE_CONFIG_KEY = MODEL_SOURCE_KEYS[0]
"""The key of the model-sync Secret: an rclone config file, mounted read-only (never environment
variables) at /etc/rclone/rclone.conf."""
SECRET_MODE = 0o440
"""Owner root and the pod's group (fsGroup) may read the credentials; nobody may write them."""


class EdgeModelArgs(Args):
    name: str
    """Model name: its folder in the Triton model repository, and its Deployment's name."""
    replicas: int
    """Serving replicas at the site."""
    gpus: int
    """GPUs per replica (0: CPU only)."""
    cpu: str
    """CPU per replica (request = limit)."""
    memory: str
    """Memory per replica (request = limit)."""

    @classmethod
    def of(cls, model: EdgeModel) -> EdgeModelArgs:
        """A model of the site's catalog."""
        return cls(name=model.name, replicas=model.replicas, gpus=model.gpus, cpu=model.cpu, memory=model.memory)


class EdgeSiteArgs(Args):
    site: str
    """Site name: what its objects are named and labelled after."""
    namespace: str = "inference"
    """The site team's namespace (default: `inference`, the namespace every site's team gets)."""
    distribution: Literal["k3s", "rke2", "jetson"]
    """The site's Kubernetes: Jetson runs Triton's iGPU image."""
    timezone: str
    """IANA time zone of the site: the maintenance window is local time."""
    window_cron: str
    """When the maintenance window opens (cron, in `timezone`): the only time the model sync runs."""
    window_hours: int
    """Length of the window: a sync still running at its end is stopped."""
    registry_mirror: str | None
    """Site-local registry every image is pulled through, so a restart during an outage finds them on site."""
    model_source: str
    """rclone remote path of the model repository the sync copies from."""
    model_source_secret: str
    """Secret holding the rclone config file of `model_source` under key `rclone.conf`."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets of the inference namespace the program creates (the model sync's rclone config)."""
    image_digests: dict[str, str] = {}
    """Digest of each image (name in versions.yaml → `sha256:…`); an image without one is pulled by tag."""
    cache_size: str
    """Local model cache: the last good models stay here through outages."""
    storage_class: str | None = None
    """StorageClass of the cache; default: None, the cluster's (k3s: local-path)."""
    client_cidrs: tuple[str, ...]
    """Networks of the line equipment allowed to call inference."""
    models: tuple[EdgeModelArgs, ...]
    """Models served at the site."""

    @classmethod
    def of(cls, site: EdgeSiteSpec, credentials: tuple[CredentialSecretArgs, ...]) -> EdgeSiteArgs:
        """A site's serving in its team's namespace, synced in its maintenance window; `credentials`:
        the Secrets of that namespace the program creates."""
        window = site.maintenance_window
        return cls(
            site=site.name,
            namespace=site.owner().namespace,
            distribution=site.distribution,
            timezone=site.timezone,
            window_cron=window.cron(),
            window_hours=window.hours,
            registry_mirror=site.registry_mirror,
            model_source=site.model_source,
            model_source_secret=site.model_source_secret,
            credentials=credentials,
            image_digests=dict(site.image_digests),
            cache_size=site.cache_size,
            storage_class=site.storage_class,
            client_cidrs=tuple(site.client_cidrs),
            models=tuple(EdgeModelArgs.of(m) for m in site.models),
        )


class EdgeSite(Module):
    """A site's serving that survives outages, in its inference namespace (a tenant of the site's
    GPU platform, which also runs the GPU setup and the agent forwarding metrics to the plant hub):

    - models are served by Triton from a local cache volume, so a restart while the link is down
      still serves the last good models;
    - a model-sync CronJob runs only inside the site's maintenance window (site time zone, stopped
      before the window closes); it stages new models and swaps them in only after a complete copy,
      so a failed or cut-off sync leaves the current models in place;
    - every image comes through the site's registry mirror, by digest; pods run as a fixed high
      non-root user with read-only root filesystems, all capabilities dropped and the runtime's
      seccomp profile, pinned to the site's GPU nodes; the sync reads its credentials from a file.
    """

    def __init__(self, target: Target, args: EdgeSiteArgs, namespace: pulumi.Resource, opts: pulumi.ResourceOptions | None = None):
        """`namespace`: the inference namespace, created by the site's GPU platform."""
        name = f"{target.prefix}-edge"
        super().__init__(component_type("edge_site", "EdgeSite"), name, None, placed(target, opts))
        provider = target.provider
        self._namespace = namespace
        cache = k8s.core.v1.PersistentVolumeClaim(
            f"{name}-cache",
            metadata={"name": CACHE, "namespace": args.namespace, "labels": MANAGED_BY},
            spec={
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": args.cache_size}},
                **({"storageClassName": args.storage_class} if args.storage_class else {}),
            },
            # The cache is what the site serves during an outage: never deleted by a deploy.
            opts=protected(self, provider, depends_on=[namespace]),
        )
        for model in args.models:
            self._triton(name, provider, args, model, cache)
        self._model_sync(name, provider, args, cache)
        # Line equipment calls the models; nothing else outside the namespace may.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol-clients",
            metadata={"name": "allow-line-clients", "namespace": args.namespace, "labels": MANAGED_BY},
            spec={
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": "triton"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"ipBlock": {"cidr": cidr}} for cidr in args.client_cidrs], "ports": [{"protocol": "TCP", "port": TRITON_PORTS["http"]}, {"protocol": "TCP", "port": TRITON_PORTS["grpc"]}]}],
            },
            opts=child(self, provider, depends_on=[namespace]),
        )
        self.register_outputs({"site": args.site})

    def _triton(self, name: str, provider: k8s.Provider, args: EdgeSiteArgs, model: EdgeModelArgs, cache: pulumi.Resource) -> None:
        """One model's Triton Deployment, its Service and, with several replicas, its disruption budget."""
        labels = {"app.kubernetes.io/name": "triton", "hybrid-ai.io/model": model.name}
        metadata = {"name": f"triton-{model.name}", "namespace": args.namespace, "labels": {**MANAGED_BY, **labels}}
        deployment = k8s.apps.v1.Deployment(
            f"{name}-{model.name}",
            metadata=metadata,
            spec={
                "replicas": model.replicas,
                "selector": {"matchLabels": labels},
                # One replica at a time: a site rarely has a spare GPU for a surge pod.
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}},
                "template": {"metadata": {"labels": labels}, "spec": triton_pod(args, model, labels)},
            },
            opts=child(self, provider, depends_on=[cache]),
        )
        k8s.core.v1.Service(
            f"{name}-{model.name}-svc",
            metadata=metadata,
            spec={"selector": labels, "ports": [{"name": port, "port": number, "targetPort": port} for port, number in TRITON_PORTS.items()]},
            opts=child(self, provider, depends_on=[deployment]),
        )
        if model.replicas > 1:
            # A drain keeps one replica serving. Not with one replica: its budget would block every drain.
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-{model.name}-pdb",
                metadata=metadata,
                spec={"minAvailable": 1, "selector": {"matchLabels": labels}},
                opts=child(self, provider, depends_on=[deployment]),
            )

    def _model_sync(self, name: str, provider: k8s.Provider, args: EdgeSiteArgs, cache: pulumi.Resource) -> None:
        """The model-sync CronJob, inside the maintenance window, and its egress."""
        labels = {"app.kubernetes.io/name": MODEL_SYNC_JOB}
        window = args.window_hours * 3600
        # The sync's rclone config, created from its source (a store or Pulumi secrets) when the
        # stack gives one; otherwise the Secret must exist (docs/security.md).
        secrets = credential_secrets(name, args.credentials, self, provider, [self._namespace])
        k8s.batch.v1.CronJob(
            f"{name}-model-sync",
            metadata={"name": MODEL_SYNC_JOB, "namespace": args.namespace, "labels": {**MANAGED_BY, **labels}},
            spec={
                "schedule": args.window_cron,
                "timeZone": args.timezone,
                "concurrencyPolicy": "Forbid",
                # A start missed by more than this is skipped: the sync never begins late in the window.
                "startingDeadlineSeconds": min(3600, window // 2),
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        # Stopped five minutes before the window closes.
                        "activeDeadlineSeconds": max(600, window - 300),
                        "backoffLimit": 2,
                        "template": {"metadata": {"labels": labels}, "spec": model_sync_pod(args)},
                    }
                },
            },
            opts=child(self, provider, depends_on=[cache, *secrets]),
        )
        # The sync reaches the plant's object store over HTTPS (or MinIO's 9000); nothing else.
        k8s.networking.v1.NetworkPolicy(
            f"{name}-netpol-sync",
            metadata={"name": "allow-model-sync-egress", "namespace": args.namespace, "labels": MANAGED_BY},
            spec={"podSelector": {"matchLabels": labels}, "policyTypes": ["Egress"], "egress": [{"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 9000}]}]},
            opts=child(self, provider, depends_on=[cache]),
        )


def _image(args: EdgeSiteArgs, name: str) -> str:
    return catalog.image(name, args.registry_mirror, args.image_digests.get(name))


def triton_pod(args: EdgeSiteArgs, model: EdgeModelArgs, labels: dict[str, str]) -> dict:
    """The pod of one model's Triton: on the site's GPU nodes, serving the model's folder of the
    cache read-only."""
    resources = {"cpu": model.cpu, "memory": model.memory, **({"nvidia.com/gpu": str(model.gpus)} if model.gpus else {})}
    # Replicas on different nodes where the site has several (as production models in the data center).
    spread = {"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels}}]} if model.replicas > 1 else {}
    return {
        "priorityClassName": priority_class("production-inference"),
        "nodeSelector": {GPU_POOL_LABEL: args.site},
        "tolerations": [GPU_TOLERATION],
        "securityContext": RUN_AS,
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "triton",
                "image": _image(args, "triton-igpu" if args.distribution == "jetson" else "triton"),
                "args": [
                    "tritonserver",
                    # The model's own repository in the cache; polled, so a model
                    # swapped in by the sync is loaded without a restart.
                    f"--model-repository=/models/current/{model.name}",
                    "--model-control-mode=poll",
                    "--repository-poll-secs=60",
                ],
                "ports": [{"name": port, "containerPort": number} for port, number in TRITON_PORTS.items()],
                "resources": {"requests": resources, "limits": resources},
                "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, "periodSeconds": 10, "failureThreshold": 6},
                "readinessProbe": {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 5},
                "startupProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, "periodSeconds": 10, "failureThreshold": 60},
                "env": [HOME],
                "securityContext": SECURITY,
                "volumeMounts": [{"name": "models", "mountPath": "/models", "readOnly": True}, TMP_MOUNT],
            }
        ],
        "volumes": [{"name": "models", "persistentVolumeClaim": {"claimName": CACHE, "readOnly": True}}, TMP],
        **spread,
    }


def model_sync_pod(args: EdgeSiteArgs) -> dict:
    """The model sync's pod: the sync script on the site's GPU nodes (where the cache volume is),
    writing the cache, reading its rclone config from the Secret's one key."""
    resources = {"cpu": "500m", "memory": "512Mi"}
    return {
        "restartPolicy": "Never",
        "nodeSelector": {GPU_POOL_LABEL: args.site},
        "tolerations": [GPU_TOLERATION],
        "securityContext": RUN_AS,
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "sync",
                "image": _image(args, "rclone"),
                "command": ["/bin/sh", "-c", model_sync_script(args)],
                "env": [{"name": MODEL_SOURCE_ENV, "value": args.model_source}, HOME],
                "resources": {"requests": resources, "limits": resources},
                "securityContext": SECURITY,
                "volumeMounts": [
                    {"name": "models", "mountPath": "/models"},
                    {"name": "credentials", "mountPath": RCLONE_DIR, "readOnly": True},
                    TMP_MOUNT,
                ],
            }
        ],
        "volumes": [
            {"name": "models", "persistentVolumeClaim": {"claimName": CACHE}},
            # Only the config file. Not optional: without the Secret or its key the pod
            # doesn't start (the event names them), rather than syncing without credentials.
            {
                "name": "credentials",
                "secret": {
                    "secretName": args.model_source_secret,
                    "items": [{"key": RCLONE_CONFIG_KEY, "path": RCLONE_CONFIG_KEY}],
                    "defaultMode": SECRET_MODE,
                },
            },
            TMP,
        ],
    }


def model_sync_script(args: EdgeSiteArgs) -> str:
    """The site's model sync (modules/scripts/edge_model_sync.sh) for its models, without the file's
    final newline: the command sites run so far ends without one."""
    models = " ".join(m.name for m in args.models)
    return script("edge_model_sync.sh", MODELS=models, RCLONE_CONFIG=f"{RCLONE_DIR}/{RCLONE_CONFIG_KEY}", MODEL_SOURCE_ENV=MODEL_SOURCE_ENV).removesuffix("\n")
