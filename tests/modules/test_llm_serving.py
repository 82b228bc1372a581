"""LLM serving: LLMInferenceServices (llm-d) as the capacity plan sized them on data-center clusters,
vLLM InferenceServices on k3s, the charts they need, the LLM pods behind the gateway, bad input."""
from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from hybridai.capacity.llm import LlmSizing
from hybridai.config.workloads import ServedModel
from hybridai.modules.llm_serving import vllm_args
from tests.conftest import planned, planned_llm_lab
from tests.harness.upstream import validate_custom_resource
from tests.helpers import named, of_kind, problems_of, release, stack_values


def llmisvc(stack: str, name: str) -> dict:
    return named(planned(stack)[0].resources, "LLMInferenceService", name).inputs


def test_finance_document_review_is_an_llm_inference_service_tensor_parallel_over_a_node() -> None:
    # GIVEN finance-prod's document-review LLM (Llama 3.1 70B fp8, sized TP 4 on its L40S pool, 2 replicas)
    # WHEN it is planned
    service = llmisvc("finance-prod", "document-review")
    spec = service["spec"]
    # THEN it is a v1alpha2 LLMInferenceService in its team's namespace, labelled with its registry version
    assert service["apiVersion"] == "serving.kserve.io/v1alpha2"
    assert service["metadata"]["namespace"] == "document-review"
    labels = service["metadata"]["labels"]
    assert (labels["hybrid-ai.io/registry-model"], labels["hybrid-ai.io/model-version"]) == ("document-review", "1")
    # AND it serves the registry version's artifacts, as the predictive models do
    assert spec["model"] == {"uri": "s3://fin-prod-mlflow/registry/document-review/1", "name": "document-review"}
    # AND one node's 4 GPUs per replica, two replicas at least (production) and at most (the plan's peak), no workers
    assert spec["parallelism"] == {"tensor": 4}
    assert (spec["scaling"]["minReplicas"], spec["scaling"]["maxReplicas"]) == (2, 2)
    assert "replicas" not in spec
    assert "worker" not in spec
    pod = spec["template"]
    [main] = pod["containers"]
    assert main["name"] == "main"
    assert main["resources"]["limits"] == main["resources"]["requests"] == {"cpu": "8", "memory": "64Gi", "nvidia.com/gpu": "4"}
    # AND vLLM gets the catalog's context and concurrency and the plan's memory share, FP8 quantized on load
    assert main["args"] == ["--max-model-len=8192", "--max-num-seqs=16", "--gpu-memory-utilization=0.9", "--kv-cache-dtype=auto", "--quantization=fp8"]
    # AND restricted, on the pool it was sized for, top tier, spread over nodes
    assert pod["securityContext"] == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert main["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    assert pod["automountServiceAccountToken"] is False
    assert pod["nodeSelector"] == {"hybrid-ai.io/gpu-pool": "l40s-review"}
    assert pod["priorityClassName"] == "hybridai-production-inference"
    assert pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/part-of": "llminferenceservice", "kserve.io/component": "workload", "app.kubernetes.io/name": "document-review",
    }
    # AND KServe runs the llm-d scheduler and its InferencePool; no route of KServe's own bypasses the gateway
    assert spec["router"] == {"scheduler": {}}


def test_a_single_gpu_llm_on_mig_takes_its_slice() -> None:
    # GIVEN healthcare-prod's summarizer, sized onto a 1g.10gb slice WHEN planned THEN each pod asks for that slice
    [main] = llmisvc("healthcare-prod", "clinical-notes-summarizer")["spec"]["template"]["containers"]
    assert main["resources"]["limits"]["nvidia.com/mig-1g.10gb"] == "1"
    assert "nvidia.com/gpu" not in main["resources"]["limits"]
    assert main["args"] == ["--max-model-len=4096", "--max-num-seqs=8", "--gpu-memory-utilization=0.9", "--kv-cache-dtype=fp8"]


def test_a_replica_across_nodes_is_a_leader_and_workers_with_pipeline_parallelism() -> None:
    # GIVEN the LLM lab's research assistant, sized TP 8 × 2 nodes of H100s
    plan, _ = planned_llm_lab()
    spec = named(plan.resources, "LLMInferenceService", "research-assistant").inputs["spec"]
    # THEN it names both parallelisms (KServe's multi-node presets are data-parallel) and runs a worker pod per further node
    assert spec["parallelism"] == {"tensor": 8, "pipeline": 2}
    assert "--pipeline-parallel-size=2" in spec["template"]["containers"][0]["args"]
    assert spec["worker"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8"
    assert spec["worker"]["nodeSelector"] == {"hybrid-ai.io/gpu-pool": "h100"}
    # AND LeaderWorkerSet is installed, at its release, in its own restricted namespace
    lws = release(plan.resources, "oci://registry.k8s.io/lws/charts/lws")
    assert (lws.inputs["version"], lws.inputs["namespace"]) == ("0.10.0", "lws-system")
    assert lws.inputs["values"] == {"image": {"manager": {"tag": "v0.10.0", "pullPolicy": "IfNotPresent"}}}


def test_every_object_of_the_llm_lab_validates_against_its_schema() -> None:
    # GIVEN the LLM lab's plan (LLMs on MIG, tensor parallel and across nodes, behind the gateway)
    _, files = planned_llm_lab()
    custom = [yaml.safe_load(text) for path, text in files.items() if path.parts[0] == "manifests"]
    llm_kinds = {"LLMInferenceService", "AIGatewayRoute", "SecurityPolicy", "BackendTrafficPolicy", "Gateway", "GatewayClass", "PodMonitor"}
    checked = [o for o in custom if o["kind"] in llm_kinds]
    # WHEN each is validated against its pinned CRD (schema, strictly, and CEL rules)
    assert {o["kind"] for o in checked} == llm_kinds
    errors = {f"{o['kind']} {o['metadata']['name']}": e for o in checked if (e := validate_custom_resource(o))}
    # THEN none breaks it
    assert errors == {}


def test_the_llmisvc_charts_and_presets_are_installed_beside_kserve() -> None:
    plan, _ = planned("finance-prod")
    crd = release(plan.resources, "oci://ghcr.io/kserve/charts/kserve-llmisvc-crd")
    controller = release(plan.resources, "oci://ghcr.io/kserve/charts/kserve-llmisvc-resources")
    presets = release(plan.resources, "oci://ghcr.io/kserve/charts/kserve-runtime-configs")
    assert {r.inputs["version"] for r in (crd, controller, presets)} == {"v0.20.0"}
    assert {r.inputs["namespace"] for r in (crd, controller, presets)} == {"kserve"}
    # The program owns inferenceservice-config (modules/serving.py): the chart's stays off; the InferencePool CRD comes with it
    assert controller.inputs["values"] == {"kserve": {"createSharedResources": False, "inferenceServiceConfig": {"enabled": False}, "llmisvc": {"createGIECRDs": True}}}
    assert presets.inputs["values"] == {"kserve": {"llmisvcConfigs": {"enabled": True}}}
    # AND no LeaderWorkerSet where no LLM may span nodes
    assert not [r for r in plan.resources if r.type == "kubernetes:helm.sh/v3:Release" and r.inputs["chart"].endswith("/lws")]
    # AND the LLM is no InferenceService too
    assert {r.inputs["metadata"]["name"] for r in of_kind(plan.resources, "InferenceService")} == {"fraud-score", "credit-limit"}


def test_llm_pods_admit_only_the_gateways_proxies_from_outside_their_namespace() -> None:
    plan, _ = planned("finance-prod")
    policies = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in of_kind(plan.resources, "NetworkPolicy") if r.inputs["metadata"]["namespace"] == "document-review"}
    assert policies["llms-behind-gateway"] == {
        "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "llminferenceservice"}},
        "policyTypes": ["Ingress"],
        "ingress": [
            {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}}}], "ports": [{"protocol": "TCP", "port": 8000}, {"protocol": "TCP", "port": 9002}]}
        ],
    }
    # AND out of the default-deny namespace only HTTPS (weights) and the API server (the scheduler)
    assert policies["llm-egress"]["egress"] == [{"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]}]
    assert policies["document-review-default-deny"]["policyTypes"] == ["Ingress", "Egress"]


def test_on_k3s_an_llm_is_a_vllm_inference_service() -> None:
    # GIVEN healthcare-dev (k3s) with its report summarizer WHEN planned
    plan, _ = planned("healthcare-dev")
    predictor = named(plan.resources, "InferenceService", "report-summarizer-dev").inputs["spec"]["predictor"]
    model = predictor["model"]
    # THEN KServe's vLLM runtime serves it with the catalog's arguments, on its slice
    assert (model["runtime"], model["modelFormat"]) == ("kserve-vllmserver", {"name": "vLLM"})
    assert model["args"] == ["--max-model-len=2048", "--max-num-seqs=2", "--gpu-memory-utilization=0.9", "--kv-cache-dtype=fp8"]
    # (one 1g.6gb slice: the lab's A30s run MIG strategy `single`, which names slices nvidia.com/gpu)
    assert model["resources"]["limits"]["nvidia.com/gpu"] == "1"
    # AND as a plain user (the image's is root), its home writable
    assert model["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsUser": 1000}
    assert model["env"] == [{"name": "HOME", "value": "/tmp"}]
    # AND its requests and responses go to the decision log (KServe's logger), as every InferenceService's
    assert predictor["logger"]["mode"] == "all"
    # AND the runtimes are installed, vLLM's at its pinned release, with no llm-d part on the cluster
    runtimes = release(plan.resources, "oci://ghcr.io/kserve/charts/kserve-runtime-configs")
    assert runtimes.inputs["values"] == {"kserve": {"servingruntime": {"enabled": True, "vllmserver": {"image": "docker.io/vllm/vllm-openai", "tag": "v0.19.1"}}}}
    assert not of_kind(plan.resources, "LLMInferenceService") and not of_kind(plan.resources, "Gateway")


@pytest.mark.parametrize(
    "dtype,kv,expected",
    [
        ("bf16", "auto", ["--kv-cache-dtype=auto", "--dtype=bfloat16"]),
        ("fp16", "fp8", ["--kv-cache-dtype=fp8", "--dtype=float16"]),
        ("fp8", "auto", ["--kv-cache-dtype=auto", "--quantization=fp8"]),
        # a quantized checkpoint carries its own quantization config
        ("int4", "fp8", ["--kv-cache-dtype=fp8"]),
    ],
)
def test_vllm_arguments_follow_the_dtypes(dtype: str, kv: str, expected: list[str]) -> None:
    model = ServedModel.model_validate(
        {"name": "m", "team": "t", "storageUri": "oci://r/m:1", "peakRps": 1, "llm": {
            "architecture": "llama-3.1-8b-instruct", "dtype": dtype, "kvCacheDtype": kv, "contextLength": 4096, "concurrentSequences": 4,
            "outputTokensPerRequest": 100, "outputTokensPerSecond": 500, "ttftP95Ms": 1000, "tpotP95Ms": 50}}
    )
    sizing = LlmSizing(pool="p", gpu_model="H100-80GB", weights_gb=1, kv_cache_gb=1, kv_bytes_per_token=1, activation_gb=2, gpu_memory_utilization=0.9, per_gpu_gb=4, tensor_parallel=1, pipeline_parallel=1)
    assert vllm_args(model, sizing) == ("--max-model-len=4096", "--max-num-seqs=4", "--gpu-memory-utilization=0.9", *expected)


def lab_values() -> dict:
    return {**stack_values("healthcare-dev"), **copy.deepcopy(yaml.safe_load((Path(__file__).parents[1] / "capacity" / "fixtures" / "llm-catalog.yaml").read_text()))}


def test_a_replica_across_nodes_on_k3s_is_refused_at_its_key() -> None:
    # GIVEN the LLM lab on k3s, whose research assistant may span nodes
    values = lab_values()
    values["onprem"]["distribution"] = "k3s"
    # WHEN prepared THEN its multiNode is refused: k3s serves vLLM InferenceServices, one pod per replica
    assert (("models", 3, "llm", "multiNode"), "multi_node_on_k3s") in problems_of("llm-lab", values)


def test_llms_on_a_data_center_cluster_need_the_gateway_and_token_budgets() -> None:
    # GIVEN finance-prod without its llmGateway, and its document-review team without a token budget
    values = copy.deepcopy(stack_values("finance-prod"))
    del values["serving"]
    team = next(i for i, t in enumerate(values["teams"]) if t["name"] == "document-review")
    del values["teams"][team]["llmTokensPerMinute"]
    # WHEN prepared THEN both are refused at their keys
    assert problems_of("finance-prod", values) == {(("serving", "llmGateway"), "llm_gateway_required"), (("teams", team, "llmTokensPerMinute"), "token_budget_required")}


@pytest.mark.parametrize("tokens", [0, 4294967296])
def test_a_token_budget_beyond_envoys_rate_limit_is_refused(tokens: int) -> None:
    # GIVEN a budget outside 1..4294967295 (BackendTrafficPolicy `limit.requests`) WHEN prepared THEN refused at its key
    values = copy.deepcopy(stack_values("finance-prod"))
    team = next(i for i, t in enumerate(values["teams"]) if t["name"] == "document-review")
    values["teams"][team]["llmTokensPerMinute"] = tokens
    assert problems_of("finance-prod", values) == {(("teams", team, "llmTokensPerMinute"), "tokens_per_minute_range")}


# --- Scaling (spec.scaling: the workload-variant-autoscaler through KEDA) -------------------------


def test_an_llm_scales_between_the_plans_bounds_on_what_wva_decides_through_keda() -> None:
    # GIVEN the LLM lab (dev: one replica is enough off-peak) and finance-prod (production)
    plan, _ = planned_llm_lab()
    lab = {r.inputs["metadata"]["name"]: r.inputs["spec"] for r in of_kind(plan.resources, "LLMInferenceService")}
    review = llmisvc("finance-prod", "document-review")
    # THEN a non-production LLM keeps one replica (the CRD's floor: no scale to zero) and may grow to its planned peak
    assert lab["document-review"]["scaling"] == {
        "minReplicas": 1,
        "maxReplicas": 2,
        # KEDA actuates WVA's decision; while it can't read it for 3 polls it runs the peak
        "wva": {"keda": {"fallback": {"failureThreshold": 3, "replicas": 2}}},
    }
    # AND a production LLM never goes below two
    assert review["spec"]["scaling"]["minReplicas"] == 2
    # AND no fixed `replicas` beside it (the CRD's rule: they exclude each other), for any LLM
    assert all("replicas" not in spec for spec in lab.values())
    # AND the CR passes the pinned CRD's schema and its CEL rules (wva required, one actuator, min ≤ max)
    assert validate_custom_resource({"apiVersion": review["apiVersion"], "kind": "LLMInferenceService", "metadata": review["metadata"], "spec": review["spec"]}) == []


def test_the_crd_refuses_the_scaling_kserve_would_refuse() -> None:
    # GIVEN finance-prod's LLM as planned
    review = copy.deepcopy(llmisvc("finance-prod", "document-review"))
    cr = {"apiVersion": review["apiVersion"], "kind": "LLMInferenceService", "metadata": review["metadata"], "spec": review["spec"]}
    # WHEN fixed replicas are added, or the actuator dropped, or min exceeds max, or scaled to zero
    both = copy.deepcopy(cr)
    both["spec"]["replicas"] = 2
    no_actuator = copy.deepcopy(cr)
    no_actuator["spec"]["scaling"]["wva"] = {}
    inverted = copy.deepcopy(cr)
    inverted["spec"]["scaling"]["minReplicas"] = 3
    zero = copy.deepcopy(cr)
    zero["spec"]["scaling"]["minReplicas"] = 0
    # THEN the pinned CRD refuses each (the harness checks the real rules, so the planned CR's pass means something)
    for broken in (both, no_actuator, inverted, zero):
        assert validate_custom_resource(broken) != []


def test_kserve_reads_the_scaling_prometheus_from_its_configuration_with_verification() -> None:
    # GIVEN finance-prod (LLMInferenceServices on dc1) and healthcare-dev (k3s: vLLM InferenceServices)
    def config(stack: str) -> dict:
        data = named(planned(stack)[0].resources, "ConfigMap", "inferenceservice-config").inputs["data"]
        return {key: yaml.safe_load(text) for key, text in data.items()}

    # THEN the llmisvc controller finds the Prometheus its ScaledObjects read, https, its certificate verified
    assert config("finance-prod")["autoscaling-wva-controller-config"] == {"prometheus": {"url": "https://kps-prometheus.monitoring.svc:9090", "tlsInsecureSkipVerify": False}}
    # AND KEDA, which queries it, trusts the stack's CA and is admitted by Prometheus, as the autoscaler is
    plan, _ = planned("finance-prod")
    keda = release(plan.resources, "keda")
    assert keda.inputs["values"]["certificates"] == {"operator": {"caDirs": ["/custom/ca"]}}
    [policy] = [r for r in of_kind(plan.resources, "NetworkPolicy") if r.inputs["metadata"]["name"] == "monitoring-ingress" and r.target == keda.target]
    ingress = policy.inputs["spec"]["ingress"]
    admitted = {r["from"][0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for r in ingress if r.get("ports") == [{"protocol": "TCP", "port": 9090}] and "from" in r}
    assert {"keda", "wva-system"} <= admitted
    # AND a cluster without LLMInferenceServices has no such key
    assert "autoscaling-wva-controller-config" not in config("healthcare-dev")


# --- vLLM metrics (the LLM alerts' and the autoscaler's source) -----------------------------------


def relabel(rules: list[dict], labels: dict[str, str]) -> dict[str, str] | None:
    """Prometheus' relabeling of one target (the actions used here: replace, keep, drop; regexes
    anchored, `$n` and `${n}` groups), None when dropped."""
    labels = dict(labels)
    for rule in rules:
        value = rule.get("separator", ";").join(labels.get(name, "") for name in rule.get("sourceLabels", []))
        match = re.fullmatch(rule.get("regex", "(.*)"), value)
        action = rule.get("action", "replace")
        if action == "keep" and match is None or action == "drop" and match is not None:
            return None
        if action == "replace" and match is not None:
            labels[rule["targetLabel"]] = re.sub(r"\$\{(\d+)\}|\$(\d+)", lambda m: match.group(int(m.group(1) or m.group(2))) or "", rule.get("replacement", "$1"))
    return labels


def test_the_vllm_pods_of_llm_inference_services_are_scraped_with_the_labels_the_alerts_select() -> None:
    # GIVEN finance-prod's PodMonitor of its LLM pods
    plan, _ = planned("finance-prod")
    monitor = named(plan.resources, "PodMonitor", "llm-vllm").inputs
    spec = monitor["spec"]
    # THEN it selects the vLLM pods KServe's controller labels (not the llm-d scheduler's) in the LLMs' namespaces
    assert spec["selector"] == {"matchLabels": {"app.kubernetes.io/part-of": "llminferenceservice", "kserve.io/component": "workload"}}
    assert (monitor["metadata"]["namespace"], spec["namespaceSelector"]) == ("monitoring", {"matchNames": ["document-review"]})
    [endpoint] = spec["podMetricsEndpoints"]
    assert (endpoint["portNumber"], endpoint["path"], endpoint["scheme"]) == (8000, "/metrics", "http")
    # WHEN a leader pod, a worker pod of a group, and a single-node pod are relabelled
    meta = {"__meta_kubernetes_pod_label_app_kubernetes_io_name": "document-review"}
    leader = relabel(endpoint["relabelings"], {**meta, "__meta_kubernetes_pod_label_leaderworkerset_sigs_k8s_io_worker_index": "0"})
    worker = relabel(endpoint["relabelings"], {**meta, "__meta_kubernetes_pod_label_leaderworkerset_sigs_k8s_io_worker_index": "1"})
    single = relabel(endpoint["relabelings"], meta)
    # THEN the worker isn't scraped (the leader serves the metrics), the others carry the model's name and one job
    assert worker is None
    assert (leader["model"], leader["job"]) == (single["model"], single["job"]) == ("document-review", "llm-vllm")
    # AND the pinned Prometheus Operator CRD admits the PodMonitor
    assert validate_custom_resource({"apiVersion": monitor["apiVersion"], "kind": "PodMonitor", "metadata": monitor["metadata"], "spec": spec}) == []


def test_the_llm_alerts_select_only_labels_the_vllm_scrape_yields() -> None:
    # GIVEN finance-prod's LLM alerts and the labels its vLLM series carry: the Prometheus Operator's
    # target labels (namespace, pod, container, endpoint, instance), the relabelings' (job, model),
    # and vLLM's own (model_name, engine; `le` on histogram buckets)
    plan, _ = planned("finance-prod")
    rules = [r for res in of_kind(plan.resources, "PrometheusRule") for g in res.inputs["spec"]["groups"] if g["name"] == "hybridai-llm-objectives" for r in g["rules"]]
    scraped = {"namespace", "pod", "container", "endpoint", "instance", "job", "model", "model_name", "engine", "le"}
    # WHEN every selector of their expressions on a vLLM series or the scrape's `up` is read
    selected = set()
    for rule in rules:
        for metric, matchers in re.findall(r"((?:vllm:[a-z_:]+)|\bup)\{([^}]*)\}", rule["expr"]):
            selected |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
    # THEN each is one the scrape gives (the model's is `model`, from model_relabelings, with the target's namespace)
    assert rules and {"namespace", "model"} <= selected <= scraped


def test_the_scrape_scheme_follows_kserves_tls_setting_for_llm_workloads() -> None:
    # GIVEN the KServe configuration the program writes for finance-prod
    plan, _ = planned("finance-prod")
    ingress = yaml.safe_load(named(plan.resources, "ConfigMap", "inferenceservice-config").inputs["data"]["ingress"])
    # THEN LLM workload TLS is off, so KServe's presets start vLLM without --ssl-certfile and probe it on HTTP,
    # and the PodMonitor scrapes http: turning the setting on must change the scrape with it (this fails first)
    assert not ingress.get("enableLLMInferenceServiceTLS", False)
    assert named(plan.resources, "PodMonitor", "llm-vllm").inputs["spec"]["podMetricsEndpoints"][0]["scheme"] == "http"


def test_a_vllm_inference_services_series_carry_the_model_label_its_alerts_select() -> None:
    # GIVEN healthcare-dev (k3s), whose report summarizer is a vLLM InferenceService scraped by the predictors' PodMonitor
    plan, _ = planned("healthcare-dev")
    [endpoint] = named(plan.resources, "PodMonitor", "kserve-predictors").inputs["spec"]["podMetricsEndpoints"]
    # WHEN its pod's model server container is relabelled
    target = relabel(endpoint["relabelings"], {
        "__address__": "10.0.0.7", "__meta_kubernetes_pod_container_name": "kserve-container",
        "__meta_kubernetes_pod_annotationpresent_prometheus_kserve_io_port": "true", "__meta_kubernetes_pod_annotation_prometheus_kserve_io_port": "8080",
        "__meta_kubernetes_pod_label_serving_kserve_io_inferenceservice": "report-summarizer-dev",
    })
    # THEN it is scraped at the annotated port under the predictors' job, labelled with the model's name
    assert (target["__address__"], target["job"], target["model"]) == ("10.0.0.7:8080", "kserve-predictors", "report-summarizer-dev")
    # AND that is the label the LLM's "no replica answering" alert counts its targets by
    rules = [r for res in of_kind(plan.resources, "PrometheusRule") for g in res.inputs["spec"]["groups"] for r in g["rules"] if r.get("alert") == "LlmNoReplicaAnswering"]
    assert [r["labels"]["model"] for r in rules] == ["report-summarizer-dev"]
    assert 'up{namespace="radiology-dev", model="report-summarizer-dev"}' in rules[0]["expr"]
