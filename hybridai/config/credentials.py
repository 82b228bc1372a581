"""Every credential Secret the platform reads, where it reads it, and the secret stores each
placement reads them from: one list the credential checks (hybridai/config/rules.py) and the
Secrets the program creates (blueprints/platform.py) both read (docs/security.md)."""
from __future__ import annotations

from typing import NamedTuple

from hybridai.config.codec import key_path
from hybridai.config.edge import MODEL_SOURCE_KEYS
from hybridai.recorded import edge_placement
from hybridai.config.base import CERT_MANAGER_NAMESPACE, EXTERNAL_SECRETS_NAMESPACE, NO_VALUE, Model, Problem, choose_from
from hybridai.config.mlops import ARGO_WORKFLOWS_NAMESPACE, CHECKPOINT_STORE_KEYS, MLFLOW_LOGIN_KEYS, MLFLOW_NAMESPACE
from hybridai.config.operations import SecretKeyRef
from hybridai.config.security import SecretStoreSettings
from hybridai.config.spec import StackSpec


class CredentialNeed(NamedTuple):
    """A Secret some component of one cluster reads: where, in which namespace, its name and keys."""

    placement: str
    """The cluster that reads it: `onprem`, `cloud` or `edge:<site>`."""
    namespace: str
    name: str
    keys: tuple[str, ...]
    gitops: bool = False
    """The cluster's objects are rendered into a Git folder its Argo CD pulls (edge sites)."""
    at: tuple[str | int, ...] = ()
    """The stack-file key naming the Secret (the first, where several keys of one block name it)."""


GRAFANA_ADMIN_KEYS = ("admin-user", "admin-password")
"""Keys of the Secret `monitoring.grafanaAdminSecret` (the Grafana chart's `admin.userKey`/`passwordKey`)."""
CA_KEYS = ("tls.crt", "tls.key")
"""Keys of the internal CA's Secret (cert-manager's CA issuer)."""
AWS_STORE_KEYS = ("access-key-id", "secret-access-key")
"""Keys of the access key an AWS Secrets Manager store uses off EKS."""
ARCHIVE_READER_KEYS = ("access-key-id", "secret-access-key")
"""Keys of the drift checks' archive reader Secret (`logging.decisions.drift.archiveReaderSecret`)."""


Ref = tuple[tuple[str | int, ...], SecretKeyRef]
"""A credential reference with the stack-file key path of its `name`."""


def _refs_of(value: object, at: tuple[str | int, ...]) -> list[Ref]:
    """Every credential reference (`SecretKeyRef`) inside a config value found at key path `at`."""
    if isinstance(value, SecretKeyRef):
        return [((*at, "name"), value)]
    if isinstance(value, Model):
        return [ref for name, info in type(value).model_fields.items() for ref in _refs_of(getattr(value, name), (*at, info.alias or name))]
    if isinstance(value, (list, tuple)):
        return [ref for i, item in enumerate(value) for ref in _refs_of(item, (*at, i))]
    return []


def _grouped(placement: str, namespace: str, refs: list[Ref], gitops: bool = False) -> list[CredentialNeed]:
    """One need per Secret the references name, with every key they read of it."""
    keys: dict[str, set[str]] = {}
    at: dict[str, tuple] = {}
    for loc, ref in refs:
        keys.setdefault(ref.name, set()).add(ref.key)
        at.setdefault(ref.name, loc)
    return [CredentialNeed(placement, namespace, name, tuple(sorted(k)), gitops, at[name]) for name, k in sorted(keys.items())]


def credential_needs(spec: StackSpec) -> list[CredentialNeed]:
    """Every Secret the platform reads, per cluster: Alertmanager's receivers and Grafana's admin
    login (every cluster with a full monitoring stack: on-prem, EKS) and the internal CA (where
    cert-manager runs); Loki's object store (on-prem), the model sync's rclone config (edge sites),
    the audit archive's and the backup store's keys; MLOps' (_mlops_needs); the drift checks'
    (_drift_needs); and an AWS
    store's access key (clusters off EKS reading it). The program creates each one whose name has a
    source in `secrets.sources`; others must exist (docs/security.md)."""
    gitops = {site.placement: site.delivery == "gitops" for site in spec.edge_sites()}
    needs = [
        *_monitoring_needs(spec), *_log_store_needs(spec), *_model_sync_needs(spec), *_audit_archive_needs(spec, gitops),
        *_backup_needs(spec, gitops), *_mlops_needs(spec), *_drift_needs(spec), *phi_endpoint_needs(spec),
    ]
    return needs + _store_key_needs(spec, needs)


def _monitoring_needs(spec: StackSpec) -> list[CredentialNeed]:
    """Alertmanager's receivers, Grafana's login and the internal CA, on the on-prem and EKS clusters."""
    monitoring, tls = spec.monitoring, spec.tls
    needs: list[CredentialNeed] = []
    for placement in ["onprem", *(["cloud"] if spec.burst_pool() is not None else [])]:
        needs += _grouped(placement, monitoring.namespace, _refs_of(monitoring.alerting, ("monitoring", "alerting")))
        needs.append(CredentialNeed(placement, monitoring.namespace, monitoring.grafana_admin_secret, GRAFANA_ADMIN_KEYS, at=("monitoring", "grafanaAdminSecret")))
        if tls is not None and tls.issuer.ca is not None:
            needs.append(CredentialNeed(placement, CERT_MANAGER_NAMESPACE, tls.issuer.ca.secret, CA_KEYS, at=("tls", "issuer", "ca", "secret")))
    return needs


def _log_store_needs(spec: StackSpec) -> list[CredentialNeed]:
    """Loki's object store, on the on-prem cluster."""
    return _grouped("onprem", spec.logging.namespace, _refs_of(spec.logging.object_store, ("logging", "objectStore"))) if spec.logging is not None else []


def _model_sync_needs(spec: StackSpec) -> list[CredentialNeed]:
    """Each edge site's model sync: its rclone config, in the site's inference namespace."""
    return [
        CredentialNeed(site.placement, site.owner().namespace, site.model_source_secret, MODEL_SOURCE_KEYS, site.delivery == "gitops", ("sites", i, "modelSourceSecret"))
        for i, site in enumerate(spec.edge_sites())
    ]


def _audit_archive_needs(spec: StackSpec, gitops: dict[str, bool]) -> list[CredentialNeed]:
    """The audit archive's keys: the collectors of the clusters with an API server of their own
    (on-prem, edge sites) and the decision sink write it; the hub's check reads it."""
    logging = spec.logging
    archive = logging.audit_archive if logging is not None else None
    if archive is None:
        return []
    refs = _refs_of(archive, ("logging", "auditArchive"))
    needs: list[CredentialNeed] = []
    for placement in ["onprem", *gitops]:
        needs += _grouped(placement, logging.collector_namespace, refs, gitops.get(placement, False))
    if spec.decision_sink() is not None:
        # The decision sink writes the models' decisions into it too.
        needs += _grouped("onprem", logging.decisions.namespace, refs)
    return needs + _grouped("onprem", logging.namespace, refs)


def _backup_needs(spec: StackSpec, gitops: dict[str, bool]) -> list[CredentialNeed]:
    """The backup store's keys, in Velero's namespace on the on-prem cluster and each backed-up site."""
    backups = spec.backups
    if backups is None:
        return []
    needs: list[CredentialNeed] = []
    for placement in ["onprem", *(edge_placement(site) for site in backups.sites)]:
        needs += _grouped(placement, backups.namespace, _refs_of(backups.object_store, ("backups", "objectStore")), gitops.get(placement, False))
    return needs


def _mlops_needs(spec: StackSpec) -> list[CredentialNeed]:
    """MLflow's database, admin and artifact-store keys and Argo's SSO client (the hub); each
    training team's MLflow login, in its namespace on every cluster where it has one (the capacity
    plan may move a job between them from one week to the next), and its on-prem checkpoint-store key."""
    settings = spec.mlops
    if settings is None:
        return []
    stores = [_refs_of(getattr(settings, key), ("mlops", type(settings).model_fields[key].alias)) for key in ("database", "admin", "object_store", "cloud_artifacts")]
    needs = _grouped("onprem", MLFLOW_NAMESPACE, [ref for refs in stores for ref in refs])
    needs += _grouped("onprem", ARGO_WORKFLOWS_NAMESPACE, _refs_of(settings.argo_sso, ("mlops", "argoSso")))
    training = {job.team for job in spec.training if job.image is not None}
    pool = spec.burst_pool()
    for placement, teams in (("onprem", spec.teams), ("cloud", pool.teams if pool else [])):
        for team in teams:
            if team.name in training:
                needs.append(CredentialNeed(placement, team.namespace, settings.team_credentials_secret, MLFLOW_LOGIN_KEYS, at=("mlops", "teamCredentialsSecret")))
                if placement == "onprem":
                    needs.append(CredentialNeed(placement, team.namespace, settings.team_store_secret, CHECKPOINT_STORE_KEYS, at=("mlops", "teamStoreSecret")))
    return needs


def _drift_needs(spec: StackSpec) -> list[CredentialNeed]:
    """The drift checks' archive reader key and MLflow login, in the decision sink's namespace on
    the on-prem cluster, where the stack watches its models' drift."""
    if not spec.drift_watched():
        return []
    decisions = spec.logging.decisions
    at = ("logging", "decisions", "drift")
    return [
        CredentialNeed("onprem", decisions.namespace, decisions.drift.archive_reader_secret, ARCHIVE_READER_KEYS, at=(*at, "archiveReaderSecret")),
        CredentialNeed("onprem", decisions.namespace, decisions.drift.mlflow_secret, MLFLOW_LOGIN_KEYS, at=(*at, "mlflowSecret")),
    ]


def phi_endpoint_needs(spec: StackSpec) -> list[CredentialNeed]:
    """Each PHI endpoint's credential, in the namespace of every team allowed to reach it (on-prem)."""
    namespaces = {team.name: team.namespace for team in spec.teams}
    return [
        CredentialNeed("onprem", namespaces[team], endpoint.credentials.name, (endpoint.credentials.key,), at=(*at, "credentials", "name"))
        for at, endpoint in spec.phi_endpoints()
        if endpoint.credentials is not None
        for team in endpoint.teams
        if team in namespaces  # an unknown team is reported at its key (check_interop)
    ]


def _store_key_needs(spec: StackSpec, needs: list[CredentialNeed]) -> list[CredentialNeed]:
    """Off EKS, an AWS Secrets Manager store reads with an access key of its own."""
    read = _stores_by_placement(spec, needs)
    out = []
    for placement in _off_eks(needs):
        for store in read.get(placement, []):
            if store.aws_secrets_manager is not None and store.aws_secrets_manager.credentials:
                gitops = any(n.gitops for n in needs if n.placement == placement)
                at = ("secrets", "stores", spec.secrets.stores.index(store), "awsSecretsManager", "credentials")
                out.append(CredentialNeed(placement, EXTERNAL_SECRETS_NAMESPACE, store.aws_secrets_manager.credentials, AWS_STORE_KEYS, gitops, at))
    return out


def _off_eks(needs: list[CredentialNeed]) -> list[str]:
    """The placements that read credentials outside EKS (where no Pod Identity reaches a store), in order."""
    return [p for p in dict.fromkeys(n.placement for n in needs) if p != "cloud"]


def stores_read(spec: StackSpec, placement: str, needs: list[CredentialNeed] | None = None) -> list[SecretStoreSettings]:
    """The secret stores a cluster reads (its Secrets' sources name them), in the stack's order."""
    return _stores_by_placement(spec, credential_needs(spec) if needs is None else needs).get(placement, [])


def _stores_by_placement(spec: StackSpec, needs: list[CredentialNeed]) -> dict[str, list[SecretStoreSettings]]:
    """placement → the secret stores its cluster reads, in the stack's order: one pass over the
    needs, so a fleet of many sites costs as many steps as it has Secrets."""
    names: dict[str, set[str]] = {}
    for need in needs:
        source = spec.secrets.source(need.name)
        if source is not None and source.store:
            names.setdefault(need.placement, set()).add(source.store)
    return {placement: [store for store in spec.secrets.stores if store.name in read] for placement, read in names.items()}


# --- Rules: every Secret read has a source that can give it ----------------------------------------


def check_secret_names(spec: StackSpec) -> list[Problem]:
    """Store names are unique; one source per Secret, each naming a store of the stack."""
    secrets = spec.secrets
    stores = [s.name for s in secrets.stores]
    problems = [Problem(("secrets", "stores", i, "name"), "duplicate", "another store has this name", name) for i, name in enumerate(stores) if stores.index(name) != i]
    names = [s.name for s in secrets.sources]
    for i, source in enumerate(secrets.sources):
        if names.index(source.name) != i:
            problems.append(Problem(("secrets", "sources", i, "name"), "duplicate", "another source is for this Secret; one source per Secret name", source.name))
        if source.store and source.store not in stores:
            problems.append(Problem(("secrets", "sources", i, "store"), "unknown_store", f"no store {source.store!r} in `secrets.stores`{choose_from(source.store, stores, 'stores')}", source.store))
    return problems


def check_one_reader_per_secret(spec: StackSpec) -> list[Problem]:
    """Two blocks of the stack don't name one Secret in one namespace: each would make its own copy
    of it (two objects of one name fighting in the cluster), and two components sharing an access
    key can each do what the other may. Reported at both keys."""
    first: dict[tuple[str, str, str], CredentialNeed] = {}
    problems: dict[tuple, Problem] = {}
    for need in credential_needs(spec):
        where = (need.placement, need.namespace, need.name)
        other = first.setdefault(where, need)
        if other is need or other.at == need.at:
            continue
        for this, that in ((need, other), (other, need)):
            message = (
                f"the Secret {need.name!r} in namespace {need.namespace} is also named by `{key_path(that.at).split(':', 1)[1]}`: "
                "give each component its own Secret (and key), with a source in `secrets.sources` for each"
            )
            problems.setdefault(this.at, Problem(this.at, "secret_shared", message, need.name))
    return list(problems.values())


def check_source_values(spec: StackSpec) -> list[Problem]:
    """A source of Pulumi secret `values` holds every key its readers need, and is for no GitOps
    site (they'd be written into its rendered manifests); a store's own access key comes from no store."""
    names = [s.name for s in spec.secrets.sources]
    problems = []
    for need in credential_needs(spec):
        source = spec.secrets.source(need.name)
        if source is None:
            continue
        at = ("secrets", "sources", names.index(need.name))
        if source.values:
            absent = [k for k in need.keys if k not in {v.key for v in source.values}]
            if absent:
                problems.append(Problem((*at, "values"), "source_keys_missing", f"{need.namespace} reads keys {', '.join(absent)} of this Secret: add them", [v.key for v in source.values]))
            if need.gitops:
                why = f"{need.placement} is delivered through GitOps, and a Secret made from Pulumi secrets would be written into its rendered manifests: read it from a store"
                problems.append(Problem(at, "gitops_needs_store", why, need.name))
        elif need.namespace == EXTERNAL_SECRETS_NAMESPACE:
            problems.append(Problem(at, "store_credentials_from_store", "a store's own access key can't come from a store: give it as Pulumi secret `values`", need.name))
    return problems


def check_sources_present(spec: StackSpec) -> list[Problem]:
    """A prod stack makes every credential Secret it reads (none by hand)."""
    if spec.environment != "prod":
        return []
    missing: dict[str, set[str]] = {}
    for need in credential_needs(spec):
        if spec.secrets.source(need.name) is None:
            missing.setdefault(need.name, set()).add(need.namespace)
    return [
        Problem(
            ("secrets", "sources"),
            "credential_source_required",
            f"a prod stack creates every credential Secret it reads (none by hand): add a source for {name!r} (read in {', '.join(sorted(namespaces))}) "
            "from a store (`store`, `remoteKey`) or as Pulumi secret `values`",
            NO_VALUE,
        )
        for name, namespaces in sorted(missing.items())
    ]


def check_remote_keys(spec: StackSpec) -> list[Problem]:
    """On EKS the store's Pod Identity role may read only the stack's own secrets, `<prefix>/…`."""
    read_on_eks = {s.name for s in stores_read(spec, "cloud") if s.aws_secrets_manager is not None}
    return [
        Problem(
            ("secrets", "sources", i, "remoteKey"),
            "remote_key_outside_prefix",
            f"the EKS cluster reads AWS Secrets Manager with a role allowed only the stack's own secrets: name it `{spec.prefix}/…`",
            source.remote_key,
        )
        for i, source in enumerate(spec.secrets.sources)
        if source.store in read_on_eks and source.remote_key and not source.remote_key.startswith(f"{spec.prefix}/")
    ]


def check_aws_stores(spec: StackSpec) -> list[Problem]:
    """An AWS Secrets Manager store read outside EKS names the Secret of its access key, and every
    one is in the stack's jurisdiction."""
    needs = credential_needs(spec)
    read = _stores_by_placement(spec, needs)
    allowed = spec.allowed_regions()
    problems = []
    for j, store in enumerate(spec.secrets.stores):
        aws, at = store.aws_secrets_manager, ("secrets", "stores", j, "awsSecretsManager")
        if aws is None:
            continue
        outside = [p for p in _off_eks(needs) if store in read.get(p, [])]
        if outside and not aws.credentials:
            why = f"{', '.join(outside)} read this store from outside EKS (no Pod Identity there): name the Secret holding its access key"
            problems.append(Problem((*at, "credentials"), "store_credentials_required", why, NO_VALUE))
        if allowed and aws.region not in allowed:
            problems.append(Problem((*at, "region"), "region_outside_jurisdiction", f"the stack's data stays in {', '.join(allowed)}", aws.region))
    return problems
