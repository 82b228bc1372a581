"""TrainingRuntime: JobSet and Argo Workflows where teams train, each catalog job's workflow in its
team's namespace on the cluster the capacity plan chose, least-privilege workflow identity."""
from __future__ import annotations

import yaml

from hybridai.config.mlops import ArgoSso
from hybridai.modules.training_runtime import EvaluationArgs, TrainingJobArgs, TrainingRuntimeArgs
from hybridai.recorded import MLOPS_JOB_LABEL
from tests.conftest import planned
from tests.helpers import named, of_kind, prepared, release


def on(stack: str, target: str):
    plan, _ = planned(stack)
    return [r for r in plan.resources if r.target == target]


def training(resources, kind: str) -> list:  # noqa: ANN001 - recorded resources
    """The catalog jobs' workflows of `kind` (labelled with their job), not the drift checks'."""
    return [r for r in of_kind(resources, kind) if MLOPS_JOB_LABEL in r.inputs["metadata"]["labels"]]


def jobset_of(template) -> dict:  # noqa: ANN001 - a recorded WorkflowTemplate
    [train] = [t for t in template.inputs["spec"]["templates"] if t["name"] == "train"]
    return yaml.safe_load(train["resource"]["manifest"])


def test_each_job_runs_where_the_capacity_plan_placed_it() -> None:
    # GIVEN finance-prod: fraud-retrain and credit-retrain overflow to the cloud pool, fraud-features fits on-prem
    cloud = {r.inputs["metadata"]["name"] for r in training(on("finance-prod", "training"), "WorkflowTemplate")}
    onprem = {r.inputs["metadata"]["name"] for r in training(on("finance-prod", "dc1"), "WorkflowTemplate")}
    # THEN each job's WorkflowTemplate is on that cluster only, and only scheduled jobs get a CronWorkflow
    assert cloud == {"fraud-retrain", "credit-retrain"} and onprem == {"fraud-features"}
    assert {r.inputs["metadata"]["name"] for r in training(on("finance-prod", "training"), "CronWorkflow")} == {"fraud-retrain", "credit-retrain"}
    assert training(on("finance-prod", "dc1"), "CronWorkflow") == []


def test_a_cloud_job_is_one_gang_in_the_teams_queue_checkpointing_to_the_teams_bucket() -> None:
    template = named(on("finance-prod", "training"), "WorkflowTemplate", "fraud-retrain")
    jobset = jobset_of(template)
    job = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]
    pod = job["template"]["spec"]
    # THEN 4 indexed pods of 8 GPUs: the 32 GPUs the plan gives it, admitted by Kueue as one workload
    assert (job["parallelism"], job["completions"], job["completionMode"]) == (4, 4, "Indexed")
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "88", "memory": "700Gi", "nvidia.com/gpu": "8"}
    assert pod["containers"][0]["resources"]["requests"] == pod["containers"][0]["resources"]["limits"]
    assert jobset["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "training"
    # AND it reaches the team's bucket through the `trainer` service account (Pod Identity), not keys
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["CHECKPOINT_DIR"]["value"] == "s3://fin-prod-fraud-train-210987654321/checkpoints/fraud-retrain"
    assert pod["serviceAccountName"] == "trainer" and "AWS_ACCESS_KEY_ID" not in env
    # AND MLflow over the private link, the experiment the team's, the run the workflow's
    assert env["MLFLOW_TRACKING_URI"]["value"] == "https://mlflow.dc1.bank.example"
    assert env["MLFLOW_EXPERIMENT_NAME"]["value"] == "fraud/fraud-retrain"
    assert env["MLFLOW_RUN_ID"]["value"] == "{{inputs.parameters.run-id}}"
    assert env["MLFLOW_TRACKING_PASSWORD"]["valueFrom"] == {"secretKeyRef": {"name": "mlflow-credentials", "key": "password"}}


def test_an_onprem_job_stays_on_its_planned_pool_and_checkpoints_to_the_onprem_store() -> None:
    jobset = jobset_of(named(on("finance-prod", "dc1"), "WorkflowTemplate", "fraud-features"))
    pod = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert pod["nodeSelector"] == {"hybrid-ai.io/gpu-pool": "l40s"}
    assert env["CHECKPOINT_DIR"]["value"] == "s3://fin-prod-fraud-checkpoints/checkpoints/fraud-features"
    assert env["AWS_ENDPOINT_URL_S3"]["value"] == "https://s3.bank.example"
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"] == {"secretKeyRef": {"name": "checkpoint-store", "key": "secret-access-key"}}
    assert env["MLFLOW_TRACKING_URI"]["value"] == "http://mlflow.mlflow.svc.cluster.local"


def test_the_workflow_identity_creates_jobsets_in_its_own_namespace_only() -> None:
    resources = on("healthcare-prod", "dc1")
    role = named(resources, "Role", "training-workflow")
    binding = named(resources, "RoleBinding", "training-workflow")
    assert role.inputs["metadata"]["namespace"] == binding.inputs["metadata"]["namespace"] == "clinical-research"
    assert role.inputs["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
        {"apiGroups": ["jobset.x-k8s.io"], "resources": ["jobsets"], "verbs": ["create", "get", "list", "watch"]},
    ]
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": "training-workflow", "namespace": "clinical-research"}]
    # AND no ClusterRole is bound to it
    assert not [r for r in of_kind(resources, "ClusterRoleBinding") if "training-workflow" in str(r.inputs)]


def test_argo_has_no_unauthenticated_ui() -> None:
    # GIVEN healthcare-prod (no argoSso) and finance-prod (argoSso)
    healthcare = release(on("healthcare-prod", "dc1"), "argo-workflows").inputs["values"]
    finance_hub = release(on("finance-prod", "dc1"), "argo-workflows").inputs["values"]
    finance_cloud = release(on("finance-prod", "training"), "argo-workflows").inputs["values"]
    # THEN without SSO there is no server at all; with it, SSO is the only auth mode, on the hub only
    assert healthcare["server"] == {"enabled": False} and finance_cloud["server"] == {"enabled": False}
    assert finance_hub["server"]["authModes"] == ["sso"] and finance_hub["server"]["sso"]["enabled"] is True
    assert finance_hub["server"]["sso"]["clientSecret"] == {"name": "argo-server-sso", "key": "client-secret"}
    # AND the chart's broad workflow Role is replaced by the least-privilege one
    assert healthcare["workflow"] == {"serviceAccount": {"create": False}, "rbac": {"create": False}}
    # (the decision sink's namespace runs the platform's drift checks: tests/modules/test_drift_monitor.py)
    assert healthcare["controller"]["workflowNamespaces"] == ["clinical-research", "decisions"]


def test_jobset_image_is_pinned_not_the_charts_main_tag() -> None:
    values = release(on("healthcare-prod", "dc1"), "oci://registry.k8s.io/jobset/charts/jobset").inputs["values"]
    assert values["image"] == {"repository": "registry.k8s.io/jobset/jobset", "tag": "v0.12.0", "pullPolicy": "IfNotPresent"}


def test_training_pods_may_reach_mlflow_and_https_only() -> None:
    policy = named(on("healthcare-prod", "dc1"), "NetworkPolicy", "clinical-research-training-egress").inputs["spec"]
    assert policy["podSelector"] == {"matchExpressions": [{"key": "hybrid-ai.io/training-job", "operator": "Exists"}]}
    assert policy["egress"][0] == {"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlflow"}}}], "ports": [{"protocol": "TCP", "port": 5000}]}


def test_a_job_without_gpus_per_node_spreads_the_plans_gpus_over_its_pods() -> None:
    # GIVEN healthcare-prod's readmission-risk: one pod, no `gpusPerNode`, 1 GPU of the h100 pool planned
    spec, capacity = prepared("healthcare-prod")
    index, job = next((i, j) for i, j in enumerate(spec.training) if j.name == "readmission-risk")
    where = capacity.job_placement(index)
    # WHEN its args are made on-prem
    args = TrainingJobArgs.on_prem(job, "clinical-research", where.pool, where.gpus, spec.mlops, spec.prefix)
    # THEN its pod takes the planned GPU on the planned pool, and it checkpoints to the team's on-prem bucket
    assert (args.nodes, args.gpus_per_node, args.pool) == (1, 1, "h100")
    assert (args.checkpoint_uri, args.store_endpoint, args.store_secret, args.service_account) == (
        "s3://hc-prod-clinical-research-checkpoints/checkpoints/readmission-risk", spec.mlops.object_store.endpoint, spec.mlops.team_store_secret, None
    )
    # AND its runs go to the team's experiment and register under the job's name
    assert (args.experiment, args.registered_model) == ("clinical-research/readmission-risk", "readmission-risk")


def test_a_cloud_job_checkpoints_to_its_teams_bucket_through_pod_identity_on_its_schedule() -> None:
    # GIVEN finance-prod's fraud-retrain, sent to the burst pool (4 pods × 8 GPUs, scheduled, evaluated)
    spec, capacity = prepared("finance-prod")
    index, job = next((i, j) for i, j in enumerate(spec.training) if j.name == "fraud-retrain")
    args = TrainingJobArgs.in_cloud(job, "fraud", capacity.job_placement(index).gpus, spec.prefix, spec.cloud.account_id)
    # THEN Kueue picks its NodePool, it reaches its team's training bucket as `trainer`, with no store key
    assert (args.pool, args.nodes, args.gpus_per_node) == (None, 4, 8)
    assert (args.checkpoint_uri, args.service_account, args.store_secret) == ("s3://fin-prod-fraud-train-210987654321/checkpoints/fraud-retrain", "trainer", None)
    # AND its schedule and evaluation gate come with it
    assert (args.schedule, args.time_zone) == (job.schedule.cron, job.schedule.time_zone)
    assert args.evaluation == EvaluationArgs.of(job.evaluation)


def test_the_hub_runs_the_argo_ui_and_reaches_mlflow_in_cluster_other_clusters_over_the_tracking_url() -> None:
    # GIVEN finance-prod's `mlops` with Argo SSO
    spec, _ = prepared("finance-prod")
    settings = spec.mlops.model_copy(update={"argo_sso": ArgoSso.model_validate({
        "issuer": "https://login.bank.example", "redirectUrl": "https://argo.dc1.bank.example/oauth2/callback",
        "clientId": {"name": "argo-sso", "key": "client-id"}, "clientSecret": {"name": "argo-sso", "key": "client-secret"},
    })})
    jobs = (TrainingJobArgs.in_cloud(spec.training[0], "fraud", 32, spec.prefix, spec.cloud.account_id),)
    # WHEN the runtime's args are made on the hub and on the burst pool
    hub, cloud = TrainingRuntimeArgs.of(settings, jobs, hub=True, monitoring_namespace="monitoring"), TrainingRuntimeArgs.of(settings, jobs, hub=False, monitoring_namespace="monitoring")
    # THEN the hub reaches MLflow's Service and serves the UI behind SSO; the pool goes to the tracking URL with no UI
    assert (hub.tracking_uri, hub.tracking_namespace, hub.sso.client_secret) == ("http://mlflow.mlflow.svc.cluster.local", "mlflow", ("argo-sso", "client-secret"))
    assert (cloud.tracking_uri, cloud.tracking_namespace, cloud.sso) == (settings.tracking_url, None, None)
    assert (hub.namespaces, hub.mlflow_credentials_secret) == (("fraud",), settings.team_credentials_secret)
