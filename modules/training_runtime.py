"""TrainingRuntime: what runs the training catalog on one cluster — the JobSet controller, Argo
Workflows, and per job a WorkflowTemplate (start an MLflow run → train as one JobSet in the team's
LocalQueue → evaluate → register) and, for scheduled jobs, a CronWorkflow starting it.

A distributed run is one JobSet, so Kueue admits all its pods at once against the team's quota
(gang admission: no half-started run holding GPUs). Kueue's JobSet integration is enabled by the
Queues module (`QueuesArgs.jobset`)."""
from __future__ import annotations

import copy
from urllib.parse import urlsplit

from typing import Literal

import pulumi
import pulumi_kubernetes as k8s
import yaml

from hybridai import catalog
from hybridai.config.cloud import bucket_name
from hybridai.config.decisions import MIN_DECISIONS
from hybridai.config.drift import PSI_BINS
from hybridai.config.mlops import ARGO_WORKFLOWS_NAMESPACE, CHECKPOINT_STORE_KEYS, JOBSET_NAMESPACE, MLFLOW_LOGIN_KEYS, MLFLOW_NAMESPACE, ArgoSso, Evaluation, MlopsSettings, checkpoint_bucket, mlflow_image
from hybridai.config.workloads import TrainingJob
from hybridai.recorded import GPU_POOL_LABEL, MLOPS_JOB_LABEL, MLOPS_STEP_LABEL, component_type
from hybridai.config.operations import SecretKeyRef
from hybridai.modules.base import (
    aws_key_env,
    GPU_TOLERATION,
    MANAGED_BY,
    READ_ONLY_ROOT_FILESYSTEM,
    RESTRICTED_CONTAINER,
    RESTRICTED_POD,
    Args,
    Module,
    child,
    from_namespace,
    on_port,
    pinned_release,
    placed,
    platform_namespace,
    pod_security,
    priority_class,
)
from hybridai.modules.karpenter import DO_NOT_DISRUPT
from hybridai.modules.queues import LOCAL_QUEUE
from hybridai.modules.scripts import script
from hybridai.modules.certificates import TlsArgs, service_certificate
from hybridai.modules.mlflow import tracking_uri
from hybridai.modules.secret_store import CredentialSecretArgs, credential_secrets
from hybridai.modules.target import Target
from hybridai.modules.training_storage import TRAINER_SERVICE_ACCOUNT

WORKFLOW_SERVICE_ACCOUNT = "training-workflow"
"""Runs each workflow's pods (the resource step's executor creates the JobSet): may create and watch
JobSets and report its steps' results, in its own namespace only."""
QUEUE_NAME_LABEL = "kueue.x-k8s.io/queue-name"
PRIORITY_LABEL = "kueue.x-k8s.io/priority-class"
STARTING_DEADLINE_SECONDS = 3600
"""A schedule missed by more than an hour (controller down, cluster upgrade) is skipped, not run
late: with `Forbid`, missed runs never pile up behind each other."""
RUN_CONTAINER = {**RESTRICTED_CONTAINER, **copy.deepcopy(RESTRICTED_POD)}
"""Every container of a run, in team namespaces that enforce Pod Security `restricted`: the
container-level settings and the pod-level ones again, so each container passes on its own
whatever pod it lands in (Argo's executor and main containers are set through the chart). A copy
of the pod-level settings: the JobSet is written as YAML text, where one dict in both places would
become an anchor and its alias."""


class EvaluationArgs(Args):
    image: str
    """Evaluation image, pinned by digest: it reads the trained run and writes the metric's value."""
    command: tuple[str, ...] = ()
    """Entrypoint override; default: the image's entrypoint."""
    metric: str
    """Name of the metric, recorded on the run."""
    threshold: float
    """Value the metric must reach for the model to be registered."""
    higher_is_better: bool = True
    """Whether the metric must be at least (default, as for accuracy or AUC) or at most the threshold."""

    @classmethod
    def of(cls, evaluation: Evaluation) -> EvaluationArgs:
        """A catalog job's evaluation gate."""
        ev = evaluation
        return cls(image=ev.image, command=tuple(ev.command), metric=ev.metric, threshold=ev.threshold, higher_is_better=ev.higher_is_better)


class TrainingJobArgs(Args):
    name: str
    """Job name: its WorkflowTemplate's and CronWorkflow's."""
    team: str
    """Team that runs it: its LocalQueue admits the run against the team's quota."""
    namespace: str
    """The team's namespace on this cluster."""
    image: str
    """Training image, pinned by digest (recorded as the model's lineage)."""
    command: tuple[str, ...] = ()
    """Entrypoint override; default: the image's entrypoint."""
    nodes: int
    """Pods (nodes) of the distributed run."""
    gpus_per_node: int
    """GPUs each pod takes."""
    cpu: str | None = None
    """CPU and memory of each pod (requests = limits, so the gang's footprint is what Kueue admits);
    None: the namespace's LimitRange defaults."""
    memory: str | None = None
    """Memory of each pod; None: the LimitRange default."""
    pool: str | None = None
    """On-prem: the GPU pool the capacity plan placed it on (its Kueue flavor); cloud: None, Kueue
    picks among the NodePool flavors."""
    checkpoint_uri: str
    """`s3://<team bucket>/checkpoints/<job>`: the team's own bucket."""
    store_endpoint: str | None = None
    """On-prem S3-compatible store's endpoint (None: AWS S3)."""
    store_secret: str | None = None
    """On-prem: Secret in the team's namespace with `access-key-id` / `secret-access-key` for its
    bucket (None in the cloud: the `trainer` service account's Pod Identity reaches the bucket)."""
    service_account: str | None = None
    """Service account of the training pods (cloud: `trainer`, bound to the bucket's IAM role);
    None on-prem, where the store key in `store_secret` reaches the bucket."""
    experiment: str
    """MLflow experiment its runs are recorded in (`<team>/<job>`)."""
    registered_model: str
    """Registry model a passing run is registered as."""
    data_version: str | None = None
    """Version of the data it trains on, recorded as lineage; None: the run's date."""
    schedule: str | None = None
    """Five-field cron expression of its CronWorkflow; None: no schedule, runs are submitted."""
    time_zone: str = "UTC"
    """IANA time zone `schedule` is read in (default: UTC, as a catalog schedule's)."""
    evaluation: EvaluationArgs | None = None
    """The gate between training and registration; None: every finished run is registered."""

    @classmethod
    def on_prem(cls, job: TrainingJob, namespace: str, pool: str, gpus: int, settings: MlopsSettings, prefix: str) -> TrainingJobArgs:
        """A catalog job the capacity plan placed on an on-prem `pool` with `gpus` at once; its
        checkpoints go to the team's bucket on the on-prem store (`mlops.checkpointEndpoint`, else
        the artifact store's), with the team's store key."""
        endpoint = settings.checkpoint_endpoint or settings.object_store.endpoint
        return cls._of(job, namespace, gpus, pool, checkpoint_bucket(prefix, job.team), store_endpoint=endpoint, store_secret=settings.team_store_secret)

    @classmethod
    def in_cloud(cls, job: TrainingJob, namespace: str, gpus: int, prefix: str, account_id: str) -> TrainingJobArgs:
        """A catalog job the capacity plan sent to the burst pool with `gpus` at once; its
        checkpoints go to the team's training bucket, through its `trainer` service account's Pod Identity."""
        return cls._of(job, namespace, gpus, None, bucket_name(prefix, job.team, account_id), service_account=TRAINER_SERVICE_ACCOUNT)

    @classmethod
    def _of(cls, job: TrainingJob, namespace: str, gpus: int, pool: str | None, bucket: str, **access: str) -> TrainingJobArgs:
        schedule = job.schedule
        return cls(
            name=job.name,
            team=job.team,
            namespace=namespace,
            image=job.image,
            command=tuple(job.command),
            nodes=job.nodes,
            # Default: the plan's GPUs spread over the pods.
            gpus_per_node=job.gpus_per_node or max(gpus // job.nodes, 1),
            cpu=job.cpu_per_node,
            memory=job.memory_per_node,
            pool=pool,
            checkpoint_uri=f"s3://{bucket}/checkpoints/{job.name}",
            experiment=f"{job.team}/{job.name}",
            registered_model=job.registered_model or job.name,
            data_version=job.data_version,
            **({"schedule": schedule.cron, "time_zone": schedule.time_zone} if schedule else {}),
            evaluation=EvaluationArgs.of(job.evaluation) if job.evaluation else None,
            **access,
        )


class ArgoSsoArgs(Args):
    issuer: str
    """OIDC issuer of the UI's login."""
    redirect_url: str
    """`<argo url>/oauth2/callback`: its host is where the ingress serves the UI."""
    client_id: tuple[str, str]
    """(Secret, key) in the argo namespace holding the OIDC client id."""
    client_secret: tuple[str, str]
    """(Secret, key) there holding the OIDC client secret."""
    ingress_class: str | None = None
    """IngressClass of the UI's ingress; default: None, the cluster's default class."""
    ingress_namespace: str | None = None
    """Namespace of the ingress controller serving the UI at `redirect_url`'s host: admitted to the server's port."""

    @classmethod
    def of(cls, sso: ArgoSso, settings: MlopsSettings) -> ArgoSsoArgs:
        """The Argo UI's single sign-on, behind the stack's MLOps ingress."""
        return cls(
            issuer=sso.issuer,
            redirect_url=sso.redirect_url,
            client_id=(sso.client_id.name, sso.client_id.key),
            client_secret=(sso.client_secret.name, sso.client_secret.key),
            ingress_class=settings.ingress_class,
            ingress_namespace=settings.ingress_namespace,
        )


ARGO_SERVER_SERVICE = "argo-workflows-server"
"""The Argo server's Service (the chart's `<release>-server`), port 2746."""
ARGO_SERVER_PORT = 2746
ARGO_SERVER_TLS = "argo-server-tls"
"""The Secret the certificate of the UI's host lands in; the ingress serves it."""


class TrainingRuntimeArgs(Args):
    tracking_uri: str
    """MLflow as this cluster's pods reach it."""
    mlflow_credentials_secret: str
    """Secret (keys `username`, `password`) in each team's namespace: the team's MLflow login."""
    register_image: str
    """Image of the start-run and register steps (MLflow's own, at the pinned version)."""
    tracking_namespace: str | None = None
    """MLflow's namespace when it runs on this cluster (egress goes there), else None (the cloud
    pool reaches it over https)."""
    namespaces: tuple[str, ...]
    """Team namespaces where workflows run (every namespace with a job here)."""
    jobs: tuple[TrainingJobArgs, ...]
    """The catalog jobs placed on this cluster."""
    sso: ArgoSsoArgs | None = None
    """None: no Argo server (no UI at all)."""
    monitoring_namespace: str = "monitoring"
    """Whose Prometheus scrapes the controllers (default: the stack's default monitoring namespace)."""
    credentials: tuple[CredentialSecretArgs, ...] = ()
    """Secrets the program creates: Argo's SSO client (argo namespace), each team's MLflow login and checkpoint-store key."""
    tls: TlsArgs | None = None
    """The cluster's issuer: with SSO, the UI's host gets a certificate and an ingress serving it;
    without an issuer there is no ingress (the UI stays inside the cluster)."""
    drift_baselines: bool = False
    """After registering, each workflow records the version's drift baseline from the run's
    reference sample (the stack watches its models' drift); default: off, no baseline step."""
    monitor_namespaces: tuple[str, ...] = ()
    """Namespaces of the platform's own workflows (the drift checks, modules/drift_monitor.py): the
    controller runs them, and its metrics — their custom metrics among them — are scraped; default:
    none, and the controller's metrics stay off (nothing reads them)."""

    @classmethod
    def of(cls, settings: MlopsSettings, jobs: tuple[TrainingJobArgs, ...], hub: bool, monitoring_namespace: str, drift_baselines: bool = False) -> TrainingRuntimeArgs:
        """The runtime of `jobs` on one cluster. On the `hub` (where MLflow runs) runs reach MLflow
        inside the cluster and the Argo UI (behind SSO, where `argoSso.redirectUrl` points) is served;
        elsewhere runs reach MLflow at `mlops.trackingUrl` and there is no Argo server. With
        `drift_baselines` (the stack watches drift), each run records its version's baseline."""
        sso = settings.argo_sso if hub else None
        return cls(
            tracking_uri=tracking_uri() if hub else settings.tracking_url,
            tracking_namespace=MLFLOW_NAMESPACE if hub else None,
            mlflow_credentials_secret=settings.team_credentials_secret,
            register_image=mlflow_image(),
            namespaces=tuple(sorted({j.namespace for j in jobs})),
            jobs=jobs,
            sso=ArgoSsoArgs.of(sso, settings) if sso else None,
            monitoring_namespace=monitoring_namespace,
            drift_baselines=drift_baselines,
        )


def _env(job: TrainingJobArgs, args: TrainingRuntimeArgs, run_id: str) -> list[dict]:
    secret = args.mlflow_credentials_secret
    password, username = MLFLOW_LOGIN_KEYS
    return [
        {"name": "MLFLOW_TRACKING_URI", "value": args.tracking_uri},
        {"name": "MLFLOW_EXPERIMENT_NAME", "value": job.experiment},
        # mlflow.start_run() resumes this run: the workflow created it with the lineage tags.
        {"name": "MLFLOW_RUN_ID", "value": run_id},
        {"name": "MLFLOW_TRACKING_USERNAME", "valueFrom": {"secretKeyRef": {"name": secret, "key": username}}},
        {"name": "MLFLOW_TRACKING_PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret, "key": password}}},
    ]


def _store_env(job: TrainingJobArgs) -> list[dict]:
    if job.store_secret is None:
        return []
    # The team's checkpoint-store Secret, with the keys the program creates it with.
    access, secret = CHECKPOINT_STORE_KEYS
    env = aws_key_env(SecretKeyRef(name=job.store_secret, key=access), SecretKeyRef(name=job.store_secret, key=secret))
    return ([{"name": "AWS_ENDPOINT_URL_S3", "value": job.store_endpoint}] if job.store_endpoint else []) + env


WORKERS = "workers"


def jobset(job: TrainingJobArgs, args: TrainingRuntimeArgs, name: str = "{{workflow.name}}", run_id: str = "{{inputs.parameters.run-id}}") -> dict:
    """The JobSet of one run: `nodes` indexed pods of `gpusPerNode` GPUs each, one replicated job,
    admitted by Kueue as a unit in the team's LocalQueue. torchrun finds its peers through the
    JobSet's headless service (`<name>-workers-0-0.<name>` is rank 0)."""
    pod_labels = {**MANAGED_BY, MLOPS_JOB_LABEL: job.name, MLOPS_STEP_LABEL: "train"}
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {
            "name": name,
            "namespace": job.namespace,
            "labels": {**MANAGED_BY, QUEUE_NAME_LABEL: LOCAL_QUEUE, PRIORITY_LABEL: priority_class("training"), MLOPS_JOB_LABEL: job.name},
        },
        "spec": {
            # A failed pod restarts the whole gang from its last checkpoint, at most 3 times.
            "failurePolicy": {"maxRestarts": 3},
            "network": {"enableDNSHostnames": True},
            "successPolicy": {"operator": "All", "targetReplicatedJobs": [WORKERS]},
            "replicatedJobs": [
                {
                    "name": WORKERS,
                    "replicas": 1,
                    "template": {
                        "spec": {
                            "parallelism": job.nodes,
                            "completions": job.nodes,
                            "completionMode": "Indexed",
                            "backoffLimit": 0,
                            "template": {"metadata": {"labels": pod_labels, "annotations": {DO_NOT_DISRUPT: "true"}}, "spec": _trainer_pod(job, args, name, run_id)},
                        }
                    },
                }
            ],
        },
    }


def _trainer_pod(job: TrainingJobArgs, args: TrainingRuntimeArgs, name: str, run_id: str) -> dict:
    """One pod of a run: the trainer on its node's GPUs, with torchrun's rendezvous (rank 0 at the
    JobSet's first pod, this pod's rank from its completion index), MLflow's run and the checkpoint store."""
    gpus = str(job.gpus_per_node)
    sized = {**({"cpu": job.cpu} if job.cpu else {}), **({"memory": job.memory} if job.memory else {}), "nvidia.com/gpu": gpus}
    pod_spec: dict = {
        "restartPolicy": "Never",
        "securityContext": RESTRICTED_POD,
        "tolerations": [GPU_TOLERATION],
        "containers": [
            {
                "name": "trainer",
                "image": job.image,
                **({"command": list(job.command)} if job.command else {}),
                "env": [
                    *_env(job, args, run_id),
                    {"name": "CHECKPOINT_DIR", "value": job.checkpoint_uri},
                    *_store_env(job),
                    {"name": "NNODES", "value": str(job.nodes)},
                    {"name": "NPROC_PER_NODE", "value": gpus},
                    {"name": "MASTER_ADDR", "value": f"{name}-{WORKERS}-0-0.{name}"},
                    {"name": "MASTER_PORT", "value": "29500"},
                    {"name": "NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
                ],
                "resources": {"requests": sized, "limits": sized},
                "securityContext": RUN_CONTAINER,
                # PyTorch's data loader workers share tensors through /dev/shm, 64 MiB by default.
                "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
            }
        ],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
    }
    if job.service_account:
        pod_spec["serviceAccountName"] = job.service_account
    # Training code needs no Kubernetes API; Pod Identity projects its own token.
    pod_spec["automountServiceAccountToken"] = False
    if job.pool:
        pod_spec["nodeSelector"] = {GPU_POOL_LABEL: job.pool}
    return pod_spec


START_RUN = script("mlflow_start_run.py")
"""Creates the run the JobSet resumes (MLFLOW_RUN_ID), with the lineage tags set before training."""
REGISTER = script("mlflow_register.py")
"""Registers the run's model with its lineage, and copies the version to its stable address."""
DRIFT_PROGRAM = script("decision_drift.py")
"""The baseline step (and the drift checks of modules/drift_monitor.py): one program, so a baseline
and the decisions compared with it are read into features the same way."""


def _script(name: str, source: str, args: TrainingRuntimeArgs, job: TrainingJobArgs, env: list[dict], outputs: dict | None = None, inputs: dict | None = None) -> dict:
    return {
        "name": name,
        **({"inputs": inputs} if inputs else {}),
        **({"outputs": outputs} if outputs else {}),
        "metadata": {"labels": {MLOPS_JOB_LABEL: job.name, MLOPS_STEP_LABEL: name}},
        "script": {
            "image": args.register_image,
            "command": ["python"],
            "source": source,
            "env": env,
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
            "securityContext": RUN_CONTAINER,
        },
    }


def _param(name: str) -> dict:
    return {"name": name}


RUN_ID_INPUT = {"parameters": [_param("run-id")]}
"""The steps after start-run take the run's id as their input parameter `run-id`."""
RUN_ID_ARGUMENT = {"parameters": [{"name": "run-id", "value": "{{tasks.start-run.outputs.parameters.run-id}}"}]}
"""What the DAG passes them: start-run's output `run-id`."""


def workflow_template(job: TrainingJobArgs, args: TrainingRuntimeArgs) -> dict:
    """The job's WorkflowTemplate: a DAG start-run → train → [evaluate →] register."""
    mlflow_env = _env(job, args, "{{inputs.parameters.run-id}}")
    tasks: list[dict] = [
        {"name": "start-run", "template": "start-run"},
        {"name": "train", "template": "train", "depends": "start-run", "arguments": RUN_ID_ARGUMENT},
    ]
    templates: list[dict] = [_start_run_template(job, args, mlflow_env), _train_template(job, args)]
    register_after = "train"
    when = None
    if job.evaluation is not None:
        ev = job.evaluation
        tasks.append({"name": "evaluate", "template": "evaluate", "depends": "train", "arguments": RUN_ID_ARGUMENT})
        templates.append(_evaluate_template(job, ev, mlflow_env))
        register_after = "evaluate"
        when = f"{{{{tasks.evaluate.outputs.parameters.metric}}}} {'>=' if ev.higher_is_better else '<='} {ev.threshold:g}"
    tasks.append({"name": "register", "template": "register", "depends": register_after, "arguments": RUN_ID_ARGUMENT, **({"when": when} if when else {})})
    templates.append(
        _script(
            "register",
            REGISTER,
            args,
            job,
            [*mlflow_env, {"name": "REGISTERED_MODEL", "value": job.registered_model}, {"name": "WORKFLOW", "value": "{{workflow.name}}"}],
            inputs=RUN_ID_INPUT,
        )
    )
    if args.drift_baselines:
        # Only after a registration that happened: a skipped register counts as done for `depends`.
        tasks.append({"name": "baseline", "template": "baseline", "depends": "register.Succeeded", "arguments": RUN_ID_ARGUMENT})
        templates.append(_baseline_template(job, args))
    data_version = job.data_version or "{{workflow.creationTimestamp.Y}}-{{workflow.creationTimestamp.m}}-{{workflow.creationTimestamp.d}}"
    return {
        "serviceAccountName": WORKFLOW_SERVICE_ACCOUNT,
        "entrypoint": "pipeline",
        "arguments": {"parameters": [{"name": "data-version", "value": data_version}]},
        "securityContext": {**RESTRICTED_POD, "runAsUser": 1000, "runAsGroup": 1000},
        "podMetadata": {"labels": {**MANAGED_BY, MLOPS_JOB_LABEL: job.name}},
        # A run that hasn't finished a week later is stuck: the next schedule would find it running.
        "activeDeadlineSeconds": 7 * 24 * 3600,
        **({"volumes": _baseline_volumes(args)} if args.drift_baselines else {}),
        "templates": [{"name": "pipeline", "dag": {"tasks": tasks}}, *templates],
    }


MLFLOW_LOGIN_DIR = "/etc/mlflow/login"
"""Where the baseline step reads the team's MLflow login, as files (`LOGIN_FILES`)."""
LOGIN_FILES = ("username", "password")
"""The file names an MLflow login is mounted as (the user, the password)."""


def login_files(volume: str, secret: str) -> dict:
    """An MLflow login Secret (`MLFLOW_LOGIN_KEYS`) as two files (`LOGIN_FILES`) of one read-only volume."""
    password, username = MLFLOW_LOGIN_KEYS
    items = [{"key": username, "path": LOGIN_FILES[0]}, {"key": password, "path": LOGIN_FILES[1]}]
    return {"name": volume, "secret": {"secretName": secret, "items": items, "defaultMode": 0o444}}


def _baseline_volumes(args: TrainingRuntimeArgs) -> list[dict]:
    """The team's MLflow login as two read-only files, and the baseline step's scratch space."""
    return [login_files("mlflow-login", args.mlflow_credentials_secret), {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}]


def _baseline_template(job: TrainingJobArgs, args: TrainingRuntimeArgs) -> dict:
    """The baseline step: the registered version's drift baseline, from the run's reference sample
    (modules/scripts/decision_drift.py), the login read from mounted files."""
    env = {
        "DRIFT_STEP": "baseline",
        "MLFLOW_TRACKING_URI": args.tracking_uri,
        "MLFLOW_RUN_ID": "{{inputs.parameters.run-id}}",
        "REGISTERED_MODEL": job.registered_model,
        "DRIFT_BINS": str(PSI_BINS),
        "DRIFT_MIN_VALUES": str(MIN_DECISIONS),
        "MLFLOW_USERNAME_FILE": f"{MLFLOW_LOGIN_DIR}/{LOGIN_FILES[0]}",
        "MLFLOW_PASSWORD_FILE": f"{MLFLOW_LOGIN_DIR}/{LOGIN_FILES[1]}",
        "HOME": "/tmp",
    }
    return {
        "name": "baseline",
        "inputs": RUN_ID_INPUT,
        "metadata": {"labels": {MLOPS_JOB_LABEL: job.name, MLOPS_STEP_LABEL: "baseline"}},
        "script": {
            "image": args.register_image,
            "command": ["python"],
            "source": DRIFT_PROGRAM,
            "env": [{"name": k, "value": v} for k, v in env.items()],
            "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
            "securityContext": {**RUN_CONTAINER, **READ_ONLY_ROOT_FILESYSTEM},
            "volumeMounts": [{"name": "mlflow-login", "mountPath": MLFLOW_LOGIN_DIR, "readOnly": True}, {"name": "tmp", "mountPath": "/tmp"}],
        },
    }


def _start_run_template(job: TrainingJobArgs, args: TrainingRuntimeArgs, mlflow_env: list[dict]) -> dict:
    """The start-run step: the MLflow run, tagged with the run's lineage, whose id it outputs."""
    lineage_env = [
        {"name": "JOB", "value": job.name},
        {"name": "WORKFLOW", "value": "{{workflow.name}}"},
        {"name": "DATA_VERSION", "value": "{{workflow.parameters.data-version}}"},
        {"name": "TRAINING_IMAGE", "value": job.image},
    ]
    return _script(
        "start-run",
        START_RUN,
        args,
        job,
        [*[e for e in mlflow_env if e["name"] != "MLFLOW_RUN_ID"], *lineage_env],
        outputs={"parameters": [{"name": "run-id", "valueFrom": {"path": "/tmp/run-id"}}]},
    )


def _train_template(job: TrainingJobArgs, args: TrainingRuntimeArgs) -> dict:
    """The train step: creates the run's JobSet and waits for its end."""
    return {
        "name": "train",
        "inputs": RUN_ID_INPUT,
        "metadata": {"labels": {MLOPS_JOB_LABEL: job.name, MLOPS_STEP_LABEL: "train"}},
        "resource": {
            "action": "create",
            # Deleting the workflow deletes its JobSet (and frees the quota).
            "setOwnerReference": True,
            "successCondition": "status.terminalState == Completed",
            "failureCondition": "status.terminalState == Failed",
            "manifest": yaml.safe_dump(jobset(job, args), sort_keys=False),
        },
    }


def _evaluate_template(job: TrainingJobArgs, ev: EvaluationArgs, mlflow_env: list[dict]) -> dict:
    """The evaluate step: the job's own evaluation image, whose metric gates registration."""
    return {
        "name": "evaluate",
        "inputs": RUN_ID_INPUT,
        "outputs": {"parameters": [{"name": "metric", "valueFrom": {"path": "/tmp/metric"}}]},
        "metadata": {"labels": {MLOPS_JOB_LABEL: job.name, MLOPS_STEP_LABEL: "evaluate"}},
        "container": {
            "image": ev.image,
            **({"command": list(ev.command)} if ev.command else {}),
            "env": [*mlflow_env, {"name": "METRIC", "value": ev.metric}],
            "resources": {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}},
            "securityContext": RUN_CONTAINER,
        },
    }


def scheduled(template: str, cron: str, time_zone: str) -> dict:
    """A CronWorkflow's spec running the WorkflowTemplate `template` on `cron` in `time_zone`."""
    return {
        "schedules": [cron],
        "timezone": time_zone,
        # Never two runs at once: a run still going when the next is due skips that one, and a run
        # missed by more than STARTING_DEADLINE_SECONDS is skipped rather than run late.
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": STARTING_DEADLINE_SECONDS,
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "workflowSpec": {"workflowTemplateRef": {"name": template}},
    }


def cron_workflow(job: TrainingJobArgs) -> dict:
    return scheduled(job.name, job.schedule, job.time_zone)


TASK_RESULTS_RULE = {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
"""The executor of each step reports its result (Argo Workflows v3.4+): what every workflow's
account may do, whatever else its steps need."""
WORKFLOW_RULES = [
    TASK_RESULTS_RULE,
    # The train step creates the run's JobSet and watches it to its end; nothing else.
    {"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"], "verbs": ["create", "get", "list", "watch"]},
]
"""The workflow service account's Role, bound in its own namespace only."""


class TrainingRuntime(Module):
    """JobSet and Argo Workflows (charts pinned) on a cluster where teams train, and each
    catalog job's workflow in its team's namespace."""

    def __init__(self, target: Target, args: TrainingRuntimeArgs, namespaces: dict[str, pulumi.Resource], opts: pulumi.ResourceOptions | None = None):
        """`namespaces`: team namespace name → its Namespace resource."""
        name = f"{target.prefix}-training-runtime"
        super().__init__(component_type("training_runtime", "TrainingRuntime"), name, None, placed(target, opts))
        provider = target.provider
        # JobSet runs the catalog's jobs: a runtime of the platform's own workflows only needs none.
        self.jobset = self._jobset_controller(name, target, args) if args.jobs else None
        self.argo = self._argo_workflows(name, target, args)
        for namespace in args.namespaces:
            # Each team's MLflow login and checkpoint-store key, in its namespace.
            credential_secrets(f"{name}-{namespace}", tuple(c for c in args.credentials if c.namespace == namespace), self, provider, [namespaces[namespace]])

        for namespace in args.namespaces:
            self._workflow_identity(name, namespace, args, namespaces[namespace], provider)
        crds = [self.jobset, self.argo] if self.jobset else [self.argo]
        for job in args.jobs:
            after = child(self, provider, depends_on=[*crds, namespaces[job.namespace]])
            self._custom(f"{name}-{job.name}-template", "WorkflowTemplate", job, workflow_template(job, args), after)
            if job.schedule:
                self._custom(f"{name}-{job.name}-schedule", "CronWorkflow", job, cron_workflow(job), after)
        self.register_outputs({})

    def _jobset_controller(self, name: str, target: Target, args: TrainingRuntimeArgs) -> pulumi.Resource:
        """The JobSet controller in its namespace; its webhook (pod port 9443) is called by the API server."""
        provider = target.provider
        jobset_ns = platform_namespace(f"{name}-jobset-ns", JOBSET_NAMESPACE, pod_security("restricted"), [on_port(9443), from_namespace(args.monitoring_namespace)], self, provider)
        repository, _, tag = catalog.versions().images["jobset"].rpartition(":")
        return pinned_release(
            f"{name}-jobset",
            "jobset",
            JOBSET_NAMESPACE,
            {
                # The chart's default tag is `main`, a moving development build: pin the release.
                "image": {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"},
                "controller": {"resources": {"requests": {"cpu": "500m", "memory": "128Mi"}, "limits": {"cpu": "2", "memory": "4Gi"}}},
            },
            child(self, provider, depends_on=[jobset_ns]),
            gitops=target.gitops,
        )

    def _argo_workflows(self, name: str, target: Target, args: TrainingRuntimeArgs) -> pulumi.Resource:
        """Argo Workflows in its namespace, with its SSO client's Secret and, where the UI is served
        through an ingress, the certificate of the UI's host."""
        provider = target.provider
        sso = args.sso
        # Monitoring scrapes; with an ingress, its controller reaches the server's port, nothing else does.
        ingress = [from_namespace(args.monitoring_namespace)]
        if _served(args):
            ingress.append({**from_namespace(sso.ingress_namespace), "ports": [{"protocol": "TCP", "port": ARGO_SERVER_PORT}]})
        argo_ns = platform_namespace(f"{name}-argo-ns", ARGO_WORKFLOWS_NAMESPACE, pod_security("restricted"), ingress, self, provider)
        argo_secrets = credential_secrets(f"{name}-argo", tuple(c for c in args.credentials if c.namespace == ARGO_WORKFLOWS_NAMESPACE), self, provider, [argo_ns])
        if _served(args):
            # The certificate of the UI's host (where SSO redirects back to); the ingress serves it.
            argo_secrets.append(
                service_certificate(f"{name}-argo-server-cert", ARGO_SERVER_SERVICE, ARGO_WORKFLOWS_NAMESPACE, args.tls, child(self, provider, depends_on=[argo_ns]), dns_names=(_ui_host(sso),), secret_name=ARGO_SERVER_TLS)
            )
        return pinned_release(f"{name}-argo-workflows", "argo-workflows", ARGO_WORKFLOWS_NAMESPACE, argo_values(args), child(self, provider, depends_on=[argo_ns, *argo_secrets]), gitops=target.gitops)

    @staticmethod
    def _custom(logical: str, kind: Literal["WorkflowTemplate", "CronWorkflow"], job: TrainingJobArgs, spec: dict, opts: pulumi.ResourceOptions) -> None:
        k8s.apiextensions.CustomResource(
            logical,
            api_version="argoproj.io/v1alpha1",
            kind=kind,
            metadata={"name": job.name, "namespace": job.namespace, "labels": {**MANAGED_BY, MLOPS_JOB_LABEL: job.name}},
            spec=spec,
            opts=opts,
        )

    def _workflow_identity(self, name: str, namespace: str, args: TrainingRuntimeArgs, ns: pulumi.Resource, provider: k8s.Provider) -> None:
        base = f"{name}-{namespace}"
        meta = {"name": WORKFLOW_SERVICE_ACCOUNT, "namespace": namespace, "labels": MANAGED_BY}
        opts = child(self, provider, depends_on=[ns])
        k8s.core.v1.ServiceAccount(f"{base}-workflow-sa", metadata=meta, opts=opts)
        role = k8s.rbac.v1.Role(f"{base}-workflow-role", metadata=meta, rules=WORKFLOW_RULES, opts=opts)
        k8s.rbac.v1.RoleBinding(
            f"{base}-workflow-rolebinding",
            metadata=meta,
            role_ref={"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": WORKFLOW_SERVICE_ACCOUNT},
            subjects=[{"kind": "ServiceAccount", "name": WORKFLOW_SERVICE_ACCOUNT, "namespace": namespace}],
            opts=child(self, provider, depends_on=[ns, role]),
        )
        # Team namespaces deny egress by default; a run's pods reach MLflow, the object store (https)
        # and, for the executor, the API server — nothing else.
        to_tracking = [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": args.tracking_namespace}}}], "ports": [{"protocol": "TCP", "port": 5000}]}] if args.tracking_namespace else []
        k8s.networking.v1.NetworkPolicy(
            f"{base}-netpol-training-egress",
            metadata={"name": f"{namespace}-training-egress", "namespace": namespace, "labels": MANAGED_BY},
            spec={
                "podSelector": {"matchExpressions": [{"key": MLOPS_JOB_LABEL, "operator": "Exists"}]},
                "policyTypes": ["Egress"],
                "egress": [*to_tracking, {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}],
            },
            opts=opts,
        )


def _ui_host(sso: ArgoSsoArgs) -> str | None:
    """The Argo UI's host: where SSO redirects back to."""
    return urlsplit(sso.redirect_url).hostname


def _served(args: TrainingRuntimeArgs) -> bool:
    """The Argo UI is served through an ingress: SSO, an issuer for its certificate, and an ingress controller."""
    return args.sso is not None and args.tls is not None and args.sso.ingress_namespace is not None


def argo_values(args: TrainingRuntimeArgs) -> dict:
    """The Argo Workflows chart's values: the controller, and the server only behind SSO (never
    `server` or `client` auth without it: no unauthenticated UI, no UI at all by default)."""
    controller: dict = {
        # The controller acts on these namespaces' workflows only.
        "workflowNamespaces": [*args.namespaces, *args.monitor_namespaces],
        "podSecurityContext": RESTRICTED_POD,
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
    }
    if args.monitor_namespaces:
        # Prometheus scrapes the controller (its ServiceMonitor, over the namespace's admitted
        # monitoring traffic): the drift checks' numbers are its custom metrics. Their labels are
        # kept as emitted (`namespace` is the model's, not the controller's).
        controller["metricsConfig"] = {"enabled": True, "honorLabels": True}
        controller["serviceMonitor"] = {"enabled": True}
    return {
        "controller": controller,
        # The chart would bind a broad Role to `argo-workflow` in every workflow namespace; the
        # least-privilege account of each namespace (TrainingRuntime._workflow_identity) replaces it.
        "workflow": {"serviceAccount": {"create": False}, "rbac": {"create": False}},
        "executor": {"securityContext": RUN_CONTAINER},
        "mainContainer": {"securityContext": RUN_CONTAINER},
        "server": _argo_server(args),
    }


def _argo_server(args: TrainingRuntimeArgs) -> dict:
    """The Argo server's values: off without SSO; with it, SSO only, and an ingress where it is served."""
    sso = args.sso
    if sso is None:
        return {"enabled": False}
    server: dict = {
        "enabled": True,
        "authModes": ["sso"],
        "podSecurityContext": RESTRICTED_POD,
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        "sso": {
            "enabled": True,
            "issuer": sso.issuer,
            "redirectUrl": sso.redirect_url,
            "clientId": {"name": sso.client_id[0], "key": sso.client_id[1]},
            "clientSecret": {"name": sso.client_secret[0], "key": sso.client_secret[1]},
            "scopes": ["groups"],
            "rbac": {"enabled": True},
        },
    }
    if _served(args):
        host = _ui_host(sso)
        server["ingress"] = {
            "enabled": True,
            **({"ingressClassName": sso.ingress_class} if sso.ingress_class else {}),
            "hosts": [host],
            "tls": [{"secretName": ARGO_SERVER_TLS, "hosts": [host]}],
        }
    return server
