"""Kubernetes API audit policy per on-prem cluster and edge site: `audit/<cluster>/`.

Each cluster the stack runs itself (the on-prem cluster and every edge site; a managed cloud
cluster such as EKS has its provider's audit logs) gets

- `audit-policy.yaml`: an `audit.k8s.io/v1` Policy for its API server;
- `enable.md`: how to turn it on for the cluster's distribution, with the flags, config and paths
  of hybridai/data/distributions.yaml (`audit`).

Pure functions of the stack spec; the plan writes what `render` returns (docs/audit.md).
"""
from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from hybridai import catalog

FOLDER = "audit"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
PLATFORM_GROUPS = ("kueue.x-k8s.io", "serving.kserve.io", "nvidia.com", "monitoring.coreos.com", "argoproj.io")
"""API groups of the custom resources the platform runs on its own clusters (Kueue, KServe, GPU
Operator, Prometheus Operator, Argo CD). Karpenter's groups exist only on EKS, which gets no policy."""
GATEWAY_GROUP = "gateway.networking.k8s.io"
"""Gateway API routes carry canary traffic splits; audited when the stack names a Gateway."""


def clusters(spec: Any) -> list[tuple[str, str]]:
    """(name, distribution) of every cluster the stack runs itself: on-prem, then each edge site."""
    return [(spec.onprem.name, spec.onprem.distribution), *((site.name, site.distribution) for site in spec.edge_sites())]


def audited_groups(spec: Any) -> tuple[str, ...]:
    """Custom-resource API groups whose writes are logged with their bodies."""
    return PLATFORM_GROUPS + ((GATEWAY_GROUP,) if spec.serving.gateway else ())


def policy(spec: Any) -> dict[str, Any]:
    """The audit.k8s.io/v1 Policy. The first rule a request matches sets its level, so the order is:
    drop noise, keep sensitive resources at Metadata, record platform writes in full, Metadata else."""
    groups = audited_groups(spec)
    rules: list[dict[str, Any]] = [
        # (a) None: high-volume, read-only system traffic.
        {"level": "None", "users": ["system:kube-proxy"], "verbs": ["watch"],
         "resources": [{"group": "", "resources": ["endpoints", "services", "services/status"]},
                       {"group": "discovery.k8s.io", "resources": ["endpointslices"]}]},
        {"level": "None", "users": ["system:unsecured", "system:kube-controller-manager", "system:kube-scheduler"],
         "namespaces": ["kube-system"], "verbs": ["get"],
         "resources": [{"group": "", "resources": ["configmaps", "endpoints"]}, {"group": "coordination.k8s.io", "resources": ["leases"]}]},
        {"level": "None", "userGroups": ["system:nodes"], "verbs": ["get", "list", "watch"],
         "resources": [{"group": "", "resources": ["nodes", "nodes/status"]}]},
        {"level": "None", "nonResourceURLs": ["/healthz*", "/readyz*", "/livez*", "/version", "/version/", "/metrics"]},
        {"level": "None", "resources": [{"group": "", "resources": ["events"]}, {"group": "events.k8s.io", "resources": ["events"]}]},
        # (b) Metadata, never a body: secrets and tokens would land in the log in clear text.
        {"level": "Metadata",
         "resources": [{"group": "", "resources": ["secrets", "serviceaccounts/token"]},
                       {"group": "authentication.k8s.io", "resources": ["tokenreviews"]},
                       {"group": "certificates.k8s.io", "resources": ["certificatesigningrequests", "certificatesigningrequests/*"]}]},
        # Controllers rewrite the status of the platform's resources constantly; who did it is enough.
        {"level": "Metadata", "resources": [{"group": g, "resources": ["*/status"]} for g in groups]},
        # (c) RequestResponse: who changed access, tenancy limits and the platform's resources, and to
        # what. The log collector copies exactly these events to the `change` stream (modules/logging.py).
        {"level": "RequestResponse", "verbs": list(WRITE_VERBS),
         "resources": [{"group": "rbac.authorization.k8s.io"},
                       {"group": "", "resources": ["resourcequotas", "limitranges", "namespaces"]},
                       *({"group": g} for g in groups)]},
        # (d) Everything else: who did what to which object, without bodies.
        {"level": "Metadata"},
    ]
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        # One event per request at ResponseComplete (ResponseStarted for watches), not one more on arrival.
        "omitStages": ["RequestReceived"],
        # managedFields are bookkeeping; they would double the size of RequestResponse events.
        "omitManagedFields": True,
        "rules": rules,
    }


def _yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False, default_flow_style=False, width=120)


def policy_file(spec: Any, name: str, distribution: str) -> str:
    audit = catalog.distribution_audit(distribution)
    head = (
        f"# Kubernetes API audit policy of cluster {name} ({distribution}), written by `hybridai plan`.\n"
        f"# Install it at {audit.policy_path} on every control-plane node: see enable.md and docs/audit.md.\n"
        "# The first rule a request matches decides its level.\n"
    )
    return head + _yaml(policy(spec))


def _flags(distribution: str) -> list[tuple[str, str]]:
    """kube-apiserver flags (without `--`) and their values, the policy file first."""
    audit = catalog.distribution_audit(distribution)
    keep = audit.retention
    return [
        ("audit-policy-file", audit.policy_path),
        ("audit-log-path", audit.log_path),
        ("audit-log-maxage", str(keep.max_age_days)),
        ("audit-log-maxbackup", str(keep.max_backup)),
        ("audit-log-maxsize", str(keep.max_size_mb)),
    ]


def _indent(text: str, n: int) -> str:
    return "".join(" " * n + line + "\n" for line in text.splitlines())


def _static_pod(distribution: str) -> str:
    audit = catalog.distribution_audit(distribution)
    log_dir = str(PurePosixPath(audit.log_path).parent)
    flags = "\n".join(f"    - --{flag}={value}" for flag, value in _flags(distribution))
    mounts = _yaml({
        "volumeMounts": [
            {"name": "audit-policy", "mountPath": audit.policy_path, "readOnly": True},
            {"name": "audit-log", "mountPath": log_dir},
        ],
    })
    volumes = _yaml({
        "volumes": [
            {"name": "audit-policy", "hostPath": {"path": audit.policy_path, "type": "File"}},
            {"name": "audit-log", "hostPath": {"path": log_dir, "type": "DirectoryOrCreate"}},
        ],
    })
    return f"""The API server is a static pod: edit `{audit.config_file}` on each control-plane node.

Add the flags to the `kube-apiserver` container's `command`:

```yaml
spec:
  containers:
  - command:
    - kube-apiserver
{flags}
```

Mount the policy file (read-only) and the log folder into that container, from the host (hostPath):

```yaml
spec:
  containers:
  - name: kube-apiserver
{_indent(mounts, 4)}```

```yaml
spec:
{_indent(volumes, 2)}```

Restart: {audit.restart}.

`kubeadm upgrade` rewrites the manifest from the cluster's kubeadm `ClusterConfiguration`: put the same
flags in its `apiServer.extraArgs` and the two mounts in `apiServer.extraVolumes` (`hostPath`,
`mountPath`, `readOnly`, `pathType`), or the next upgrade turns auditing off.
"""


def _config_file(distribution: str) -> str:
    audit = catalog.distribution_audit(distribution)
    flags = _flags(distribution)
    own = [(f, v) for f, v in flags if f == audit.policy_option]
    args = [(f, v) for f, v in flags if f != audit.policy_option]
    lines = [f"{f}: {v}" for f, v in own] + ["kube-apiserver-arg:"] + [f'  - "{f}={v}"' for f, v in args]
    body = "\n".join(lines)
    label = {"rke2": "RKE2", "k3s": "K3s"}.get(distribution, distribution)
    option = (f"`{audit.policy_option}` is an {label} server option of its own; {label} mounts the policy and the log "
              "folder into its API server itself. The other flags are `kube-apiserver-arg` entries."
              if audit.policy_option else
              f"Every flag is a `kube-apiserver-arg` entry; the API server runs inside the {label} process, so it reads "
              "and writes the host paths directly.")
    return f"""Add to `{audit.config_file}` on each server (control-plane) node, merging with any
`kube-apiserver-arg` list already there:

```yaml
{body}
```

{option}

Restart: {audit.restart}.
"""


def enable_file(spec: Any, name: str, distribution: str) -> str:
    audit = catalog.distribution_audit(distribution)
    keep = audit.retention
    log_dir = str(PurePosixPath(audit.log_path).parent)
    steps = _static_pod(distribution) if audit.method == "static-pod" else _config_file(distribution)
    profiles = spec.compliance_profiles()
    compliance = (
        f"This stack checks the compliance profiles {', '.join(f'`{p}`' for p in profiles)}: their retention applies to that archive, "
        "not to these files."
        if profiles else "This stack checks no compliance profile; keep the archive as long as your own rules say."
    )
    return f"""# Audit logging on cluster `{name}` ({distribution})

Turns on the Kubernetes API audit log with [audit-policy.yaml](audit-policy.yaml), written by
`hybridai plan` for this cluster. What the policy records and why: docs/audit.md in the project.

## 1. Install the policy

On each control-plane node:

```sh
sudo install -D -m 0600 -o root -g root audit-policy.yaml {audit.policy_path}
sudo install -d -m 0700 {log_dir}
```

## 2. Point the API server at it

{steps}
## 3. Check

```sh
kubectl get namespaces
sudo tail -n 1 {audit.log_path}   # on a control-plane node: one JSON event per line
```

## Where the log lands, and for how long

`{audit.log_path}` on each control-plane node. The API server rotates it: at most
{keep.max_size_mb} MB a file, {keep.max_backup} old files, none older than {keep.max_age_days} days (`audit-log-maxsize`,
`audit-log-maxbackup`, `audit-log-maxage`).

These files are a buffer, not the archive: a log shipper on the control-plane nodes reads
`{audit.log_path}` and sends the events to the long-term archive, a separate stream with its own
retention. {compliance}
"""


def render(spec: Any) -> dict[Path, str]:
    """`audit/<cluster>/audit-policy.yaml` and `enable.md` for the on-prem cluster and each edge site."""
    files: dict[Path, str] = {}
    for name, distribution in clusters(spec):
        files[Path(FOLDER, name, "audit-policy.yaml")] = policy_file(spec, name, distribution)
        files[Path(FOLDER, name, "enable.md")] = enable_file(spec, name, distribution)
    return files
