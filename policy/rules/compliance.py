"""Compliance-profile rules (HIPAA, SOX, data residency) and GPU hygiene and cost rules."""
from __future__ import annotations

import ipaddress
import json
import re
from typing import Iterator

from hybridai import catalog
from hybridai.config import Problem, StackSpec
from hybridai.recorded import (
    DECISION_SINK,
    GATEWAY_TRACES_ENDPOINT,
    decision_sink_traces_url,
    decision_sink_url,
    release_of,
    API_AUDIT_INPUT,
    ARCHIVE_CHECK,
    ARCHIVE_OUTPUT,
    CAPACITY_LABEL,
    DATA_CLASSIFICATION_LABEL,
    PHI_ENDPOINT_LABEL,
    EKS_AUDIT_FILTER,
    MODEL_VERSION_LABEL,
    NODE_ROLE_LABEL,
    REGISTRY_MODEL_LABEL,
    ROLE_GPU_TRAINING,
    ROLE_INFERENCE,
    SPOT,
    TIER_LABEL,
    TEAM_LABEL,
    fluent_bit_sections,
)
from hybridai.policy.rules.aws import karpenter_objects, nodepool_labels, nodepool_requirements
from hybridai.policy.rules.base import Finding, PolicyContext, Resource, kind, metadata, of_type, rule
from hybridai.policy.rules.kubernetes import workloads
from hybridai.policy.rules.security import _selects

DATA_TYPES = (
    "aws:s3/bucket:Bucket", "aws:kms/key:Key", "aws:ecr/repository:Repository",
    # Audit records and their writers (the trail; the EKS audit's subscription, stream and
    # replication), and the cluster holding every Kubernetes object and secret.
    "aws:cloudwatch/logGroup:LogGroup", "aws:cloudtrail/trail:Trail", "aws:eks/cluster:Cluster",
    "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter", "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",
    "aws:s3/bucketReplicationConfig:BucketReplicationConfig",
)


def _phi_namespaces(resources: list[Resource]) -> list[Resource]:
    return [r for r in resources if kind(r) == "Namespace" and (metadata(r).get("labels") or {}).get(DATA_CLASSIFICATION_LABEL) == "phi"]


@rule("hipaa-no-phi-in-cloud", "No cloud resource holds PHI-classified data")
def no_phi_in_cloud(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in _phi_namespaces(resources):
        if r["placement"] == "cloud":
            yield Finding(r["urn"], f"PHI namespace {metadata(r).get('name')} is on cloud cluster {r['target']}")
    for r in resources:
        tags = r["inputs"].get("tags") if r["type"].startswith("aws:") else None
        if isinstance(tags, dict) and tags.get(DATA_CLASSIFICATION_LABEL) == "phi":
            yield Finding(r["urn"], f"{r['name']} is tagged as holding PHI in the cloud")


PHI_EGRESS_KINDS = ("NetworkPolicy", "CiliumNetworkPolicy")


def _egress_cidrs(policy: Resource) -> list[str]:
    spec = policy["inputs"].get("spec") or {}
    return [peer["ipBlock"]["cidr"] for rule_ in spec.get("egress") or [] for peer in rule_.get("to") or [] if "ipBlock" in peer]


def _admits_port(ports: list[dict] | None, port: float) -> bool:
    """A rule's ports admit TCP `port` (no ports: every port; a named port is read as admitting it)."""
    return not ports or any(p.get("protocol", "TCP") == "TCP" and (p.get("port") is None or isinstance(p.get("port"), str) or p["port"] <= port <= p.get("endPort", p["port"])) for p in ports)


def _opens_endpoint(policy: Resource, networks: list, ports: list[float]) -> list[str]:
    """What of an endpoint's networks an egress policy opens on one of its ports: a rule to every
    address (no `to`), or an ipBlock overlapping them."""
    opened = []
    for rule_ in (policy["inputs"].get("spec") or {}).get("egress") or []:
        if not any(_admits_port(rule_.get("ports"), port) for port in ports):
            continue
        peers = rule_.get("to")
        if not peers:
            opened.append("every address")
            continue
        for peer in peers:
            block = peer.get("ipBlock")
            if block and any(ipaddress.ip_network(block["cidr"]).overlaps(n) for n in networks if n.version == ipaddress.ip_network(block["cidr"]).version):
                opened.append(block["cidr"])
    return opened


@rule(
    "hipaa-phi-egress-only-from-phi-namespaces",
    "Egress to the hospital's PHI systems (EHR, PACS) only from the PHI namespaces of on-prem clusters their endpoint policies "
    "name: never from a cloud, edge or non-PHI (research) namespace, nor from another team namespace by a policy opening their "
    "networks and port",
)
def phi_egress_only_from_phi_namespaces(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    phi = {(r["target"], metadata(r).get("name")) for r in _phi_namespaces(resources)}
    teams = {(r["target"], metadata(r).get("name")) for r in resources if kind(r) == "Namespace" and TEAM_LABEL in (metadata(r).get("labels") or {})}
    policies = [r for r in resources if kind(r) in PHI_EGRESS_KINDS]
    endpoint_policies = [r for r in policies if PHI_ENDPOINT_LABEL in (metadata(r).get("labels") or {})]
    # endpoint → its networks, ports and the namespaces its policies are in
    endpoints: dict[tuple[str, str], tuple[list, list[float], set[str]]] = {}
    for r in endpoint_policies:
        namespace = metadata(r).get("namespace")
        endpoint = metadata(r)["labels"][PHI_ENDPOINT_LABEL]
        if r["placement"] != "onprem":
            yield Finding(r["urn"], f"egress to PHI endpoint {endpoint} from {namespace} on {r['placement']} cluster {r['target']}: PHI systems are reached from on-prem only")
        elif (r["target"], namespace) not in phi:
            yield Finding(r["urn"], f"egress to PHI endpoint {endpoint} from namespace {namespace}, which is not a PHI namespace: research teams get de-identified data, never a path to the EHR or PACS")
        if kind(r) == "NetworkPolicy":
            networks, ports, allowed = endpoints.setdefault((r["target"], endpoint), ([], [], set()))
            networks += [ipaddress.ip_network(c) for c in _egress_cidrs(r)]
            ports += [p["port"] for rule_ in (r["inputs"].get("spec") or {}).get("egress") or [] for p in rule_.get("ports") or [] if isinstance(p.get("port"), (int, float))]
            if r["placement"] == "onprem" and (r["target"], namespace) in phi:
                allowed.add(namespace)  # only a compliant endpoint policy grants its namespace the path
    for r in policies:
        where = (r["target"], metadata(r).get("namespace"))
        if r in endpoint_policies or where not in teams:
            continue
        for (target, endpoint), (networks, ports, allowed) in sorted(endpoints.items(), key=lambda e: e[0]):
            if target != r["target"] or where[1] in allowed:
                continue
            opened = _opens_endpoint(r, networks, ports)
            if opened:
                yield Finding(r["urn"], f"{kind(r)} {where[1]}/{metadata(r).get('name')} opens {', '.join(dict.fromkeys(opened))} on the port of PHI endpoint {endpoint}, which names no path from {where[1]}")


def _peers_reach(peers: list[dict] | None, own: str, other: dict[str, str]) -> bool:
    """A NetworkPolicy rule's peers (`to` or `from`) of a policy in namespace `own` include pods of the
    namespace labelled `other`; no peers: every pod everywhere."""
    if not peers:
        return True
    return any("namespaceSelector" in peer and _selects(peer["namespaceSelector"], other) for peer in peers) or (
        own == other["kubernetes.io/metadata.name"] and any("podSelector" in peer and "namespaceSelector" not in peer for peer in peers)
    )


def _opens(policies: list[Resource], direction: str, own: str, other: dict[str, str]) -> list[str]:
    """The policies of namespace `own` whose rules of `direction` let some pod of it talk with pods of
    `other` (any pod of either: pod selectors are read as covering the namespace, which a team's own
    labels can make them); every policy's name once, or `(none)` when no policy covers that
    direction at all (the namespace is open)."""
    side = "to" if direction == "egress" else "from"
    covering = [p for p in policies if direction.capitalize() in ((p["inputs"].get("spec") or {}).get("policyTypes") or ["Ingress"])]
    if not covering:
        return ["(none)"]
    return [metadata(p).get("name") for p in covering if any(_peers_reach(r.get(side), own, other) for r in (p["inputs"].get("spec") or {}).get(direction) or [])]


@rule(
    "hipaa-no-path-from-phi-to-research",
    "No network path between a PHI team namespace and a team namespace that is not PHI (research), in either direction: "
    "the source's egress and the destination's ingress never both admit it, so PHI reaches research only as de-identified data",
)
def no_path_from_phi_to_research(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    teams: dict[tuple[str, str], tuple[Resource, dict]] = {}
    for r in resources:
        labels = metadata(r).get("labels") or {}
        if kind(r) == "Namespace" and TEAM_LABEL in labels:
            teams[(r["target"], metadata(r).get("name"))] = (r, {**labels, "kubernetes.io/metadata.name": metadata(r).get("name")})
    policies: dict[tuple[str, str], list[Resource]] = {}
    for r in resources:
        if kind(r) == "NetworkPolicy":
            policies.setdefault((r["target"], metadata(r).get("namespace")), []).append(r)
    for (target, source), (namespace, labels) in sorted(teams.items(), key=lambda t: t[0]):
        phi = labels.get(DATA_CLASSIFICATION_LABEL) == "phi"
        for (other_target, destination), (_, other) in sorted(teams.items(), key=lambda t: t[0]):
            if other_target != target or (other.get(DATA_CLASSIFICATION_LABEL) == "phi") == phi:
                continue
            out = _opens(policies.get((target, source), []), "egress", source, other)
            into = _opens(policies.get((target, destination), []), "ingress", destination, labels)
            if out and into:
                yield Finding(
                    namespace["urn"],
                    f"{'PHI' if phi else 'non-PHI'} namespace {source} reaches {'non-PHI' if phi else 'PHI'} namespace {destination}: egress by "
                    f"{', '.join(out)}, ingress by {', '.join(into)}; PHI reaches research only de-identified",
                )


@rule("hipaa-no-time-slicing-with-phi", "Clusters with PHI namespaces share GPUs only through MIG or whole GPUs, never time-slicing")
def no_time_slicing(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    phi_targets = {r["target"] for r in _phi_namespaces(resources)}
    for r in of_type(resources, "kubernetes:helm.sh/v3:Release"):
        if r["inputs"].get("chart") == "gpu-operator" and r["target"] in phi_targets and ((r["inputs"].get("values") or {}).get("devicePlugin") or {}).get("config"):
            yield Finding(r["urn"], f"the GPU Operator on {r['target']} configures device-plugin sharing (time-slicing) on a cluster with PHI namespaces")
    for r in resources:
        if kind(r) == "ConfigMap" and r["target"] in phi_targets and "timeSlicing" in json.dumps(r["inputs"].get("data") or {}):
            yield Finding(r["urn"], f"ConfigMap {metadata(r).get('name')} defines time-slicing on a cluster with PHI namespaces")


@rule("hipaa-audit-logging", "Audit logging is on: EKS audit logs into KMS-encrypted log groups, Pod Security audit mode on PHI namespaces")
def audit_logging(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, "aws:eks/cluster:Cluster"):
        if "audit" not in (r["inputs"].get("enabledClusterLogTypes") or []):
            yield Finding(r["urn"], "EKS audit logs are off")
    for r in of_type(resources, "aws:cloudwatch/logGroup:LogGroup"):
        if not r["inputs"].get("kmsKeyId"):
            yield Finding(r["urn"], f"log group {r['inputs'].get('name')} is not encrypted with a KMS key")
    for r in _phi_namespaces(resources):
        if "pod-security.kubernetes.io/audit" not in (metadata(r).get("labels") or {}):
            yield Finding(r["urn"], f"PHI namespace {metadata(r).get('name')} has no Pod Security audit mode")


def _routes_critical(config: dict) -> bool:
    """Whether an Alertmanager configuration sends `severity: critical` alerts to a real receiver:
    a route matching them, or the root receiver, other than the `null` one."""
    route = config.get("route") or {}
    for sub in route.get("routes") or []:
        if any(m.replace(" ", "") in ('severity="critical"', "severity=critical") for m in sub.get("matchers") or []):
            return sub.get("receiver") not in (None, "null")
    return route.get("receiver") not in (None, "null")


@rule("alerts-critical-receiver", "Every Alertmanager sends critical alerts to a receiver (a HIPAA or SOX platform is watched by someone)")
def critical_receiver(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, "kubernetes:helm.sh/v3:Release"):
        if r["inputs"].get("chart") != "kube-prometheus-stack":
            continue
        alertmanager = (r["inputs"].get("values") or {}).get("alertmanager") or {}
        if alertmanager.get("enabled", True) and not _routes_critical(alertmanager.get("config") or {}):
            yield Finding(r["urn"], f"Alertmanager on {r['target']} sends critical alerts nowhere: set monitoring.alerting.critical")


def _self_run_collectors(resources: list[Resource]) -> Iterator[tuple[Resource, dict]]:
    """The log collector release of every cluster the stack runs itself (on-prem, edge sites: the
    ones with an API server of their own), with its Fluent Bit config."""
    for r in of_type(resources, "kubernetes:helm.sh/v3:Release"):
        if r["inputs"].get("chart") == "fluent-bit" and r["placement"] != "cloud":
            yield r, ((r["inputs"].get("values") or {}).get("config") or {})


EKS_LOG_GROUP = re.compile(r"^/aws/eks/[^/]+/cluster$")
"""The control-plane log group EKS writes its audit log to (`/aws/eks/<cluster>/cluster`)."""


def _archived_log_groups(resources: list[Resource]) -> Iterator[str]:
    """Log groups whose API audit events a subscription filter sends to a Firehose stream (all of
    them: an empty pattern, or the one selecting the audit events)."""
    for r in of_type(resources, "aws:cloudwatch/logSubscriptionFilter:LogSubscriptionFilter"):
        inputs = r["inputs"]
        destination = inputs.get("destinationArn")
        # Not known at preview: the offline plan sees every value.
        to_firehose = not isinstance(destination, str) or destination.startswith("arn:aws:firehose:")
        if to_firehose and inputs.get("filterPattern") in ("", EKS_AUDIT_FILTER) and isinstance(inputs.get("logGroup"), str):
            yield inputs["logGroup"]


@rule(
    "api-audit-enabled",
    "The collector of every on-prem cluster and edge site reads the Kubernetes API audit log (audit/<cluster>/enable.md turns it on); "
    "EKS keeps its audit log for the profiles' audit retention and, where they keep a write-once archive, "
    "sends its audit events there through a subscription filter to Firehose",
)
def api_audit_enabled(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    required = catalog.log_retention(ctx.profiles)
    days = required.audit_days
    archived = set(_archived_log_groups(resources))
    for r in of_type(resources, "aws:cloudwatch/logGroup:LogGroup"):
        name, kept = r["inputs"].get("name") or "", r["inputs"].get("retentionInDays")
        if not EKS_LOG_GROUP.match(name):
            continue
        if kept and kept < days:
            yield Finding(r["urn"], f"log group {name} keeps the EKS audit log {kept} days; the profiles ({', '.join(ctx.profiles)}) keep audit records {days}")
        if required.archive and name not in archived:
            yield Finding(r["urn"], f"log group {name}: no subscription filter sends the EKS audit events to Firehose, so they never reach the write-once archive")
    for r, config in _self_run_collectors(resources):
        if not any(i.get("Alias") == [API_AUDIT_INPUT] and i.get("Path") for i in fluent_bit_sections(config.get("inputs") or "", "INPUT")):
            yield Finding(r["urn"], f"the log collector on {r['target']} doesn't read the API audit log")
    # A stack the profile covers but without collectors on its own clusters keeps no API audit trail.
    if not any(True for _ in _self_run_collectors(resources)) and any(r["placement"] != "cloud" and kind(r) == "Namespace" for r in resources):
        yield Finding("", "the stack's on-prem clusters have no log collector: set `logging`")


@rule("audit-archive-locked", "Audit streams of on-prem clusters and edge sites go to an archive locked in COMPLIANCE mode for at least the profile's audit retention")
def audit_archive_locked(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    days = catalog.log_retention(ctx.profiles).audit_days
    for r, config in _self_run_collectors(resources):
        archive = [o for o in fluent_bit_sections(config.get("outputs") or "", "OUTPUT") if o.get("Alias") == [ARCHIVE_OUTPUT]]
        if not archive:
            yield Finding(r["urn"], f"the log collector on {r['target']} writes no audit archive (`logging.auditArchive`)")
        elif archive[0].get("Name") != ["s3"] or archive[0].get("send_content_md5") != ["On"]:
            yield Finding(r["urn"], f"the log collector on {r['target']} writes the archive without the checksum an object-locked bucket requires")
    checks = [r for r in resources if kind(r) == "CronJob" and metadata(r).get("name") == ARCHIVE_CHECK]
    for r in checks:
        containers = (((r["inputs"].get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec", {}).get("containers") or []
        env = {e.get("name"): e.get("value") for c in containers for e in c.get("env") or []}
        mode, lock_days = env.get("LOCK_MODE"), env.get("LOCK_DAYS")
        if mode != "COMPLIANCE" or not (lock_days or "").isdigit() or int(lock_days) < days:
            yield Finding(r["urn"], f"the audit archive is locked {mode} for {lock_days} days; the profiles ({', '.join(ctx.profiles)}) need COMPLIANCE for {days}")
    if not checks and any(True for _ in _self_run_collectors(resources)):
        yield Finding("", f"nothing checks the audit archive's Object Lock (the `{ARCHIVE_CHECK}` CronJob comes with `logging.auditArchive`)")


@rule("sox-immutable-audit-trail", "A CloudTrail trail with log file validation writes to an object-locked (compliance mode), KMS-encrypted bucket")
def immutable_trail(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    if not any(r["type"].startswith("aws:") for r in resources):
        return
    buckets = {r["inputs"].get("bucket"): r for r in of_type(resources, "aws:s3/bucket:Bucket")}
    locks = {r.get("parent"): r for r in of_type(resources, "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration")}
    trails = list(of_type(resources, "aws:cloudtrail/trail:Trail"))
    for trail in trails:
        inputs = trail["inputs"]
        bucket = buckets.get(inputs.get("s3BucketName"))
        lock = locks.get(bucket.get("parent")) if bucket else None
        mode = (((lock or {}).get("inputs") or {}).get("rule") or {}).get("defaultRetention", {}).get("mode")
        problems = [
            *([] if inputs.get("enableLogFileValidation") is True else ["log file validation is off"]),
            *([] if inputs.get("kmsKeyId") else ["logs aren't KMS-encrypted"]),
            *([] if bucket and bucket["inputs"].get("objectLockEnabled") and mode == "COMPLIANCE" else ["its bucket has no compliance-mode object lock"]),
        ]
        if problems:
            yield Finding(trail["urn"], f"audit trail {inputs.get('name')}: {'; '.join(problems)}")
    if not trails:
        yield Finding("", "the stack has cloud resources but no audit trail")


@rule(
    "sox-protected-data-resources",
    "Buckets, KMS keys, ECR repositories, audit log groups, trails, the EKS audit's delivery (subscription, stream, replication) and EKS clusters are protected and retained on delete",
)
def protected_data(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, *DATA_TYPES):
        if not r.get("protect"):
            yield Finding(r["urn"], f"{r['name']} holds data but isn't protected")
        elif r.get("retain_on_delete") is False:
            yield Finding(r["urn"], f"{r['name']} holds data but isn't retained on delete")


@rule("residency-allowed-regions", "Every cloud resource is in a region of the stack's jurisdiction")
def residency(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    regions = {r["urn"]: r["inputs"].get("region") for r in of_type(resources, "pulumi:providers:aws")}
    for urn, region in regions.items():
        if region not in ctx.allowed_regions:
            yield Finding(urn, f"AWS provider region {region!r} is outside the allowed regions {', '.join(ctx.allowed_regions) or '(none)'}")
    for r in resources:
        region = r["inputs"].get("region") if r["type"].startswith("aws:") else None
        if isinstance(region, str) and region not in ctx.allowed_regions:
            yield Finding(r["urn"], f"{r['name']} is placed in {region}, outside the allowed regions")


@rule("gpu-training-scales-to-zero", "GPU training node groups scale to zero", level="advisory")
def scale_to_zero(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in of_type(resources, "aws:eks/nodeGroup:NodeGroup"):
        inputs = r["inputs"]
        if (inputs.get("labels") or {}).get(NODE_ROLE_LABEL) == ROLE_GPU_TRAINING and (inputs.get("scalingConfig") or {}).get("minSize") != 0:
            yield Finding(r["urn"], f"{inputs.get('nodeGroupName')} keeps {inputs['scalingConfig'].get('minSize')} GPU nodes up between runs")


KARPENTER_CAPACITY = "karpenter.sh/capacity-type"
KARPENTER_CAPACITY_TYPES = frozenset({"spot", "on-demand", "reserved"})


def _nodepool_capacity_types(r: Resource) -> frozenset[str]:
    """The capacity types a NodePool may launch: its capacity-type requirements (and label)
    intersected; with none, Karpenter launches on-demand only."""
    allowed: frozenset[str] | None = None
    for req in nodepool_requirements(r):
        if req.get("key") != KARPENTER_CAPACITY:
            continue
        values, op, current = frozenset(req.get("values") or []), req.get("operator"), KARPENTER_CAPACITY_TYPES if allowed is None else allowed
        allowed = {"In": current & values, "NotIn": current - values, "DoesNotExist": frozenset()}.get(op, current)
    return frozenset({"on-demand"}) if allowed is None else allowed


@rule("gpu-production-inference-not-on-spot", "Production inference doesn't run on spot capacity (workloads, node groups, Karpenter NodePools)")
def inference_not_spot(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    inference = {(r["target"], metadata(r).get("name")) for r in resources if kind(r) == "Namespace" and (metadata(r).get("labels") or {}).get(TIER_LABEL) == "production-inference"}
    spot_keys = {(CAPACITY_LABEL, SPOT), ("eks.amazonaws.com/capacityType", "SPOT"), ("karpenter.sh/capacity-type", "spot")}
    for r, spec in workloads(resources):
        if (r["target"], metadata(r).get("namespace")) in inference and set((spec.get("nodeSelector") or {}).items()) & spot_keys:
            yield Finding(r["urn"], f"{kind(r)} {metadata(r).get('name')} serves production inference from spot nodes")
    for r in of_type(resources, "aws:eks/nodeGroup:NodeGroup"):
        if (r["inputs"].get("labels") or {}).get(NODE_ROLE_LABEL) == ROLE_INFERENCE and r["inputs"].get("capacityType") == "SPOT":
            yield Finding(r["urn"], f"inference node group {r['inputs'].get('nodeGroupName')} runs on spot")
    for r in karpenter_objects(resources, "NodePool"):
        if nodepool_labels(r).get(NODE_ROLE_LABEL) == ROLE_INFERENCE and "spot" in _nodepool_capacity_types(r):
            yield Finding(r["urn"], f"inference NodePool {metadata(r).get('name')} may launch spot nodes ({KARPENTER_CAPACITY} allows {', '.join(sorted(_nodepool_capacity_types(r)))})")


@rule("cost-under-ceiling", "The estimated monthly cost stays under the stack's ceiling")
def under_ceiling(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    if ctx.monthly_ceiling_usd is not None and ctx.monthly_estimate_usd is not None and ctx.monthly_estimate_usd > ctx.monthly_ceiling_usd:
        yield Finding("", f"estimated {ctx.monthly_estimate_usd:,.0f} USD/month exceeds the ceiling of {ctx.monthly_ceiling_usd:,.0f} USD")


def _production_models_named_by_version(spec: StackSpec) -> Iterator[Problem]:
    """Ahead of the plan: each production model names a registry version, and the stack has the
    registry (`mlops`) that resolves it, whose Secrets a prod stack sources: the whole chain at once."""
    chain = "" if spec.mlops is not None else (
        "; the registry is the stack's MLflow: add the `mlops` block too (`hybridai reference --key mlops`), and a `secrets.sources` entry for each Secret it names"
    )
    for i, model in enumerate(spec.models):
        if model.production and model.registry is None:
            yield Problem(
                ("models", i, "storageUri"), "registry_required",
                f"a production model is served from a pinned registry version (policy rule models-from-registry, profiles {', '.join(spec.compliance_profiles())}): "
                f"name `registry: {{model, version}}` instead of a raw URI{chain}",
                model.storage_uri,
            )


@rule(
    "models-from-registry",
    "Production models are served from a pinned registry version, never a raw storage URI (change control: every model is a reviewed, traceable version)",
    ahead=_production_models_named_by_version,
)
def models_from_registry(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    for r in resources:
        if kind(r) != "InferenceService":
            continue
        predictor = ((r["inputs"].get("spec") or {}).get("predictor")) or {}
        if predictor.get("priorityClassName") != "hybridai-production-inference":
            continue
        labels = metadata(r).get("labels") or {}
        name = metadata(r).get("name")
        if REGISTRY_MODEL_LABEL not in labels:
            uri = (predictor.get("model") or {}).get("storageUri")
            yield Finding(r["urn"], f"production model {name} is served from a raw URI ({uri}); name a registry version (`registry: {{model, version}}`)")
        elif not str(labels.get(MODEL_VERSION_LABEL, "")).isdigit():
            yield Finding(r["urn"], f"production model {name} names no pinned registry version ({labels.get(MODEL_VERSION_LABEL)!r}); pin an integer version")


def _sink_namespaces(resources: list[Resource]) -> dict[str, str]:
    """Target → the namespace of the decision sink the stack runs there (its Vector release's)."""
    namespaces = {}
    for r in resources:
        release = release_of(r["type"], r["inputs"])
        if release is not None and release[0] == "vector" and release[1].get("fullnameOverride") == DECISION_SINK:
            namespaces[r["target"]] = r["inputs"].get("namespace") or ((r["inputs"].get("spec") or {}).get("destination") or {}).get("namespace")
    return namespaces


def _decision_sinks(resources: list[Resource]) -> dict[str, str]:
    """Target → the URL of the decision sink the stack runs there."""
    return {target: decision_sink_url(namespace) for target, namespace in _sink_namespaces(resources).items()}


@rule(
    "decision-logging",
    "Every InferenceService logs all its requests and responses (KServe's logger, mode `all`) to the stack's decision sink on its "
    "cluster, or to the external sink the stack names: which model version decided what, on what input, kept write-once",
)
def decision_logging(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    sinks = _decision_sinks(resources)
    for r in resources:
        if kind(r) != "InferenceService":
            continue
        spec = r["inputs"].get("spec") or {}
        where = f"InferenceService {metadata(r).get('namespace')}/{metadata(r).get('name')}"
        expected = ctx.external_decision_log or sinks.get(r["target"])
        for predictor in [spec.get("predictor") or {}, *((c.get("predictor") or {}) for c in spec.get("canary") or [])]:
            logger = predictor.get("logger")
            if not logger:
                yield Finding(r["urn"], f"{where} logs none of its decisions: give its predictor a logger (mode `all`) to the decision sink")
            elif logger.get("mode", "all") != "all":
                yield Finding(r["urn"], f"{where} logs only its {logger['mode']}s: a decision is its request and its response (mode `all`)")
            elif expected is None:
                yield Finding(r["urn"], f"{where} logs to {logger.get('url')}, but {r['target']} runs no decision sink: set `logging.auditArchive`")
            elif logger.get("url") != expected:
                yield Finding(r["urn"], f"{where} logs to {logger.get('url')}, not the stack's decision sink {expected}")


def _gateway_trails(resources: list[Resource]) -> dict[str, tuple[str | None, dict[str, str]]]:
    """Target → (the traces endpoint, the external processor's variables) of the GatewayConfig its
    Gateways name: where the AI Gateway in front of the target's LLMs sends each request."""
    configs = {(r["target"], metadata(r).get("namespace"), metadata(r).get("name")): r for r in resources if kind(r) == "GatewayConfig"}
    trails = {}
    for r in resources:
        if kind(r) != "Gateway":
            continue
        named = (metadata(r).get("annotations") or {}).get("aigateway.envoyproxy.io/gateway-config")
        config = configs.get((r["target"], metadata(r).get("namespace"), named))
        if config is not None:
            env = {e.get("name"): e.get("value") for e in (((config["inputs"].get("spec") or {}).get("extProc") or {}).get("kubernetes") or {}).get("env") or []}
            trails[r["target"]] = (env.get(GATEWAY_TRACES_ENDPOINT), env)
    return trails


@rule(
    "llm-decision-logging",
    "Every LLM's prompts and completions reach the decision trail, as every model's decisions do: an LLMInferenceService "
    "(serving.kserve.io/v1alpha2) has no request logger, so its cluster's inference gateway (Envoy AI Gateway) exports every "
    "request, bodies whole, to the decision sink on that cluster",
)
def llm_decision_logging(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    sinks = _sink_namespaces(resources)
    trails = _gateway_trails(resources)
    for r in resources:
        if kind(r) != "LLMInferenceService":
            continue
        where = f"LLMInferenceService {metadata(r).get('namespace')}/{metadata(r).get('name')}"
        namespace = sinks.get(r["target"])
        endpoint, env = trails.get(r["target"], (None, {}))
        hidden = sorted(k for k in ("OPENINFERENCE_HIDE_INPUTS", "OPENINFERENCE_HIDE_OUTPUTS") if str(env.get(k, "")).lower() == "true")
        if namespace is None:
            yield Finding(r["urn"], f"{where}: {r['target']} runs no decision sink for its prompts and completions: set `logging.auditArchive`")
        elif endpoint != decision_sink_traces_url(namespace):
            yield Finding(
                r["urn"],
                f"{where}: the inference gateway exports its requests to {endpoint or 'nowhere'}, not the decision sink's "
                f"{decision_sink_traces_url(namespace)} (an LLMInferenceService has no logger of its own: docs/design/llm-serving.md)",
            )
        elif hidden:
            yield Finding(r["urn"], f"{where}: the inference gateway records its requests with {', '.join(hidden)}=true: the decision trail gets no bodies")
        elif env.get("OTEL_TRACES_SAMPLER") != "always_on":
            yield Finding(r["urn"], f"{where}: the inference gateway samples its requests ({env.get('OTEL_TRACES_SAMPLER') or 'parentbased_always_on'}): a caller's trace context could keep a request out of the trail; set always_on")
