"""GpuBurnIn: a new GPU node's burn-in — the pools and their NCCL floors, the controller's
least-privilege RBAC and the admission policy holding its node patches to one taint, the Job it
creates (checked against Kubernetes' schema), the controller and both test programs run as
programs on fixtures, the startup taint on the NodePools, the alerts under promtool, and bad input."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import celpy
import kubernetes_validate
import pytest

from hybridai import catalog
from hybridai.config.gpu_health import BurnInSettings
from hybridai.modules.gpu_burn_in import (
    CONTROLLER, STARTUP_TAINT, TAINT_KEY, BurnInPool, GpuBurnIn, GpuBurnInArgs, burn_in_job, config_files, node_policy,
)
from hybridai.modules.gpu_node_pools import GpuNodePools, GpuNodePoolsArgs, NodePoolArgs
from hybridai.modules.observability import burn_in_alerts
from hybridai.modules.scripts import script
from hybridai.modules.target import Target, TargetArgs
from tests.harness.upstream import cel_program
from tests.helpers import named, of_kind, prepared, problems_of, promtool_test, run_module, stack_values

POOLS = (
    BurnInPool.of("h100", "H100-80GB", 8, "nvswitch", ["dc1-gpu-h100-01"]),
    BurnInPool.of("l40s", "L40S-48GB", 4, "pcie", ["dc1-gpu-l40s-01"]),
)
ARGS = GpuBurnInArgs(namespace="gpu-burn-in", diag_level=3, pools=POOLS)


# --- pools and floors -----------------------------------------------------------------------------


def test_an_nvswitch_node_of_a_model_with_a_floor_runs_nccl_against_it() -> None:
    # GIVEN 8 H100s over NVSwitch (gpu-health.yaml: 368 GB/s for 8 GPUs)
    pool = BurnInPool.of("h100", "H100-80GB", 8, "nvswitch")
    # THEN the all-reduce must reach that floor, and nothing is skipped
    assert (pool.nccl_floor_gbps, pool.nccl_skipped) == (catalog.gpu_health().nccl_floor("H100-80GB", "nvswitch").bus_bandwidth_gbps, None)
    assert pool.nccl_floor_gbps == 368


@pytest.mark.parametrize(
    ("model", "gpus", "interconnect", "reason"),
    [
        ("H100-80GB", 1, "nvswitch", "one GPU per node: nothing to all-reduce between"),
        ("A100-80GB", 8, None, "the pool doesn't state its GPUs' interconnect"),
        ("L40S-48GB", 4, "pcie", "hybridai/data/gpu-health.yaml has no NCCL floor for L40S-48GB over pcie"),
        ("H100-80GB", 4, "nvswitch", "the NCCL floor of H100-80GB over nvswitch is for 8 GPUs, these nodes have 4"),
    ],
)
def test_nccl_is_skipped_with_the_reason_where_no_floor_applies(model: str, gpus: int, interconnect: str | None, reason: str) -> None:
    # WHEN a pool has no floor that fits it
    pool = BurnInPool.of("p", model, gpus, interconnect)
    # THEN no floor, and the reason the Job logs
    assert (pool.nccl_floor_gbps, pool.nccl_skipped) == (None, reason)


def test_healthcare_prods_whole_gpu_pools_are_burned_in_and_its_mig_pool_is_not() -> None:
    # GIVEN healthcare-prod: a100-mig (MIG planned) and h100 (8 GPUs over NVSwitch)
    spec, _ = prepared("healthcare-prod")
    args = GpuBurnInArgs.of_onprem(spec.gpu_health.burn_in, spec.onprem.gpu_pools)
    # THEN only the whole-GPU pool, with its nodes by name and the H100 floor
    assert [(p.name, p.nodes, p.gpus, p.nccl_floor_gbps) for p in args.pools] == [("h100", ("dc1-gpu-h100-01",), 8, 368)]
    assert (args.diag_level, args.deadline_minutes) == (3, 75)


def test_nothing_is_burned_in_where_it_is_off_or_every_pool_is_mig() -> None:
    # GIVEN healthcare-dev, whose only pool is MIG-partitioned, and healthcare-prod with the burn-in off
    dev, _ = prepared("healthcare-dev")
    prod, _ = prepared("healthcare-prod")
    off = BurnInSettings.model_validate({"enabled": False})
    # THEN no burn-in on either (no controller, no namespace)
    assert GpuBurnInArgs.of_onprem(dev.gpu_health.burn_in, dev.onprem.gpu_pools) is None
    assert GpuBurnInArgs.of_onprem(off, prod.onprem.gpu_pools) is None
    assert GpuBurnInArgs.of_node_pools(off, []) is None


def test_cloud_pools_take_the_interconnect_their_instance_types_state() -> None:
    # GIVEN finance-prod's NodePools
    spec, capacity = prepared("finance-prod")
    pools = [p.pool for p in capacity.cloud.pools]
    args = GpuBurnInArgs.of_node_pools(BurnInSettings.model_validate({"diagLevel": 2}), pools)
    # THEN one burn-in pool per NodePool, found by Karpenter's label (no node names); NCCL where aws.yaml states NVSwitch
    by_name = {p.name: p for p in args.pools}
    assert set(by_name) == {p.name for p in pools}
    for pool in pools:
        links = {catalog.aws().gpu_instances[t].interconnect for t in pool.instance_types}
        burned = by_name[pool.name]
        assert burned.nodes == () and burned.gpus == pool.gpus_per_node
        assert (burned.nccl_floor_gbps is not None) == (links == {"nvswitch"} and catalog.gpu_health().nccl_floor(pool.gpu_model, "nvswitch") is not None)
    assert args.deadline_minutes == 30


# --- the component --------------------------------------------------------------------------------


def burn_in_resources():
    return run_module(lambda: GpuBurnIn(Target("hc", "dc1", TargetArgs(placement="onprem", context="dc1")), ARGS))


def test_the_controllers_rights_are_node_get_list_patch_and_its_own_jobs() -> None:
    resources = burn_in_resources()
    # THEN cluster-wide: nodes get/list/patch only (nodes are cluster-scoped, new nodes' names unknown: no resourceNames)
    [cluster_role] = of_kind(resources, "ClusterRole")
    assert cluster_role.inputs["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "patch"]}]
    [binding] = of_kind(resources, "ClusterRoleBinding")
    assert binding.inputs["subjects"] == [{"kind": "ServiceAccount", "name": CONTROLLER, "namespace": "gpu-burn-in"}]
    # AND in its namespace: create and read Jobs, nothing else
    [role] = of_kind(resources, "Role")
    assert (role.inputs["metadata"]["namespace"], role.inputs["rules"]) == ("gpu-burn-in", [{"apiGroups": ["batch"], "resources": ["jobs"], "verbs": ["create", "get"]}])
    # AND its namespace is privileged (the diagnostic), admitting no traffic
    namespace = named(resources, "Namespace", "gpu-burn-in")
    assert namespace.inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    [policy] = of_kind(resources, "NetworkPolicy")
    assert policy.inputs["spec"]["ingress"] == [{"from": [{"podSelector": {}}]}]


def test_the_controller_runs_restricted_on_a_node_without_gpus_with_the_pinned_kubectl() -> None:
    [cron] = of_kind(burn_in_resources(), "CronJob")
    spec = cron.inputs["spec"]
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert (spec["schedule"], spec["concurrencyPolicy"]) == ("* * * * *", "Forbid")
    assert container["image"] == catalog.versions().images["kubectl"] == "registry.k8s.io/kubectl:v1.33.0"
    assert pod["serviceAccountName"] == CONTROLLER and "tolerations" not in pod
    assert pod["securityContext"]["runAsNonRoot"] is True and container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_admission_policy_binds_the_controller_and_denies() -> None:
    resources = burn_in_resources()
    [policy] = of_kind(resources, "ValidatingAdmissionPolicy")
    [binding] = of_kind(resources, "ValidatingAdmissionPolicyBinding")
    assert policy.inputs["spec"]["matchConditions"][0]["expression"] == "request.userInfo.username == 'system:serviceaccount:gpu-burn-in:gpu-burn-in'"
    assert policy.inputs["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["nodes"]
    assert binding.inputs["spec"] == {"policyName": policy.inputs["metadata"]["name"], "validationActions": ["Deny"]}


GPU = {"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}
PENDING = {"key": TAINT_KEY, "value": "pending", "effect": "NoSchedule"}
FAILED = {**PENDING, "value": "failed"}


def node(taints: list[dict], labels: dict | None = None, unschedulable: bool = False) -> dict:
    return {"metadata": {"name": "n1", "labels": labels or {"a": "b"}}, "spec": {"taints": taints, **({"unschedulable": True} if unschedulable else {})}}


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (node([GPU, PENDING]), node([GPU]), True),  # pass: the burn-in taint removed
        (node([GPU, PENDING]), node([GPU, FAILED]), True),  # fail: set to failed
        (node([GPU, PENDING]), node([]), False),  # the GPU taint removed too
        (node([GPU]), node([GPU, PENDING]), False),  # a node burned in again by the controller itself
        (node([GPU, PENDING]), node([GPU], labels={"a": "c"}), False),  # a label changed
        (node([GPU, PENDING]), node([GPU], unschedulable=True), False),  # cordoned
        (node([GPU, PENDING]), node([GPU, PENDING, {"key": "x", "effect": "NoExecute"}]), False),  # another taint added
    ],
)
def test_the_policy_lets_the_controller_change_only_the_burn_in_taint(old: dict, new: dict, allowed: bool) -> None:
    # GIVEN the policy's validations, evaluated as Kubernetes would on an update of a node by the controller
    context = {"object": celpy.json_to_cel(new), "oldObject": celpy.json_to_cel(old)}
    results = [bool(cel_program(v["expression"]).program.evaluate(context)) for v in node_policy("gpu-burn-in")["validations"]]
    # THEN all pass exactly when only the burn-in taint was removed or set to failed
    assert all(results) == allowed, results


# --- the Job --------------------------------------------------------------------------------------


def filled_job(node_name: str = "dc1-gpu-h100-01", gpus: str = "8") -> dict:
    """The Job as the controller fills it in (the same jq filter, run here)."""
    job = burn_in_job(ARGS)
    job["metadata"]["name"] = "burn-in-0123456789abcdef"
    pod = job["spec"]["template"]["spec"]
    pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchFields"][0]["values"] = [node_name]
    for c in (*pod["initContainers"], *pod["containers"]):
        c["resources"]["limits"]["nvidia.com/gpu"] = gpus
    return job


@pytest.mark.parametrize("version", catalog.versions().kubernetes.validated_versions)
def test_the_job_is_a_valid_kubernetes_job(version: str) -> None:
    kubernetes_validate.validate(filled_job(), f"{version}.0", strict=True)


def test_the_job_tolerates_only_the_pending_taint_and_the_gpu_taint_and_ends() -> None:
    job = burn_in_job(ARGS)
    pod = job["spec"]["template"]["spec"]
    assert pod["tolerations"] == [{"key": TAINT_KEY, "operator": "Equal", "value": "pending", "effect": "NoSchedule"}, {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    # THEN one try, bounded by the level's deadline; no API token; a Job, so its GPUs are freed when it ends
    assert (job["spec"]["backoffLimit"], job["spec"]["activeDeadlineSeconds"]) == (0, 75 * 60)
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"


def test_only_the_diagnostic_is_root_with_sys_admin_and_the_nccl_test_is_restricted() -> None:
    pod = burn_in_job(ARGS)["spec"]["template"]["spec"]
    [diag], [nccl] = pod["initContainers"], pod["containers"]
    assert diag["image"] == "nvcr.io/nvidia/cloud-native/dcgm:4.6.0-1-ubuntu24.04"
    assert diag["securityContext"] == {"runAsUser": 0, "runAsNonRoot": False, "allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}
    assert diag["env"] == [{"name": "DIAG_LEVEL", "value": "3"}]
    assert nccl["image"] == catalog.versions().images["nccl-tests"]
    context = nccl["securityContext"]
    assert (context["runAsNonRoot"], context["allowPrivilegeEscalation"], context["capabilities"], context["seccompProfile"]) == (True, False, {"drop": ["ALL"]}, {"type": "RuntimeDefault"})


def test_the_dcgm_image_is_the_gpu_operators_own() -> None:
    # GIVEN the GPU Operator's pinned chart default for its standalone DCGM
    from tests.harness.upstream import chart_defaults

    pin = catalog.chart("gpu-operator")
    dcgm = chart_defaults(pin.upstream, pin.chart)["dcgm"]
    assert catalog.versions().images["dcgm"] == f"{dcgm['repository']}/{dcgm['image']}:{dcgm['version']}"


# --- the programs, run ----------------------------------------------------------------------------

FAKE_KUBECTL = r"""#!/bin/bash
# A kubectl that answers from $FAKE and records what it was asked to do.
echo "$*" >>"$FAKE/calls"
case "$*" in
  "get nodes -o json") cat "$FAKE/nodes.json" ;;
  *" get job "*) job=$(echo "$*" | awk '{print $5}'); [ -f "$FAKE/jobs/$job.json" ] && cat "$FAKE/jobs/$job.json" || { echo "NotFound" >&2; exit 1; } ;;
  "create -f -") cat >"$FAKE/created.json" ;;
  taint*) ;;
  *) echo "unexpected: $*" >&2; exit 2 ;;
esac
"""


def job_name(node_name: str) -> str:
    import hashlib

    return "burn-in-" + hashlib.sha256(node_name.encode()).hexdigest()[:16]


def run_controller(tmp_path: Path, nodes: list[dict], jobs: dict[str, dict]) -> tuple[list[str], str]:
    """The controller's program on fake nodes and Jobs: (kubectl calls other than reads, its output)."""
    fake = tmp_path / "fake"
    (fake / "jobs").mkdir(parents=True)
    (fake / "nodes.json").write_text(json.dumps({"items": nodes}))
    for name, job in jobs.items():
        (fake / "jobs" / f"{job_name(name)}.json").write_text(json.dumps(job))
    files = config_files(ARGS)
    (tmp_path / "pools.json").write_text(files["pools.json"])
    (tmp_path / "job.json").write_text(files["job.json"])
    program = script(
        "gpu_burn_in_controller.sh", TAINT_KEY=TAINT_KEY, NAMESPACE="gpu-burn-in", CONFIG=str(tmp_path / "pools.json"), GROUP_LABEL="hybrid-ai.io/node-group",
        GPU_RESOURCE="nvidia.com/gpu", NODE_ANNOTATION="hybrid-ai.io/burn-in-node", JOB_TEMPLATE=str(tmp_path / "job.json"),
    )
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "kubectl").write_text(FAKE_KUBECTL)
    (tmp_path / "bin" / "kubectl").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "FAKE": str(fake)}
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = [c for c in (fake / "calls").read_text().splitlines() if not c.startswith("get ") and " get job " not in c]
    return calls, result.stdout


def gpu_node(name: str, taint: dict | None, gpus: str, labels: dict | None = None) -> dict:
    return {"metadata": {"name": name, "labels": labels or {}}, "spec": {"taints": [GPU, *([taint] if taint else [])]}, "status": {"allocatable": {"nvidia.com/gpu": gpus}}}


def test_the_controller_starts_a_job_on_a_pending_node_with_all_its_gpus(tmp_path: Path) -> None:
    # GIVEN a new H100 node, pending, advertising its 8 GPUs, and a node already burned in
    calls, out = run_controller(tmp_path, [gpu_node("dc1-gpu-h100-01", PENDING, "8"), gpu_node("old", None, "8")], {})
    # THEN one Job is created for the new node, pinned to it, with 8 GPUs and the H100 floor
    assert calls == ["create -f -"]
    job = json.loads((tmp_path / "fake" / "created.json").read_text())
    pod = job["spec"]["template"]["spec"]
    assert job["metadata"]["name"] == job_name("dc1-gpu-h100-01")
    assert job["metadata"]["annotations"] == {"hybrid-ai.io/burn-in-node": "dc1-gpu-h100-01"}
    assert pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchFields"][0]["values"] == ["dc1-gpu-h100-01"]
    assert pod["initContainers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "8" == pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]
    assert {e["name"]: e["value"] for e in pod["containers"][0]["env"]} == {"GPUS": "8", "NCCL_FLOOR_GBPS": "368", "NCCL_SKIPPED": ""}
    kubernetes_validate.validate(job, "1.35.0", strict=True)
    assert "burn-in started" in out


def test_a_pcie_pool_s_job_skips_nccl_with_its_reason(tmp_path: Path) -> None:
    run_controller(tmp_path, [gpu_node("dc1-gpu-l40s-01", PENDING, "4")], {})
    env = {e["name"]: e["value"] for e in json.loads((tmp_path / "fake" / "created.json").read_text())["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env == {"GPUS": "4", "NCCL_FLOOR_GBPS": "", "NCCL_SKIPPED": "hybridai/data/gpu-health.yaml has no NCCL floor for L40S-48GB over pcie"}


def test_the_controller_waits_for_the_gpu_operator_and_fails_a_node_missing_a_gpu(tmp_path: Path) -> None:
    # GIVEN a node whose GPUs aren't advertised yet (the operator's validator hasn't passed) and one advertising 7 of 8
    calls, out = run_controller(tmp_path, [gpu_node("dc1-gpu-h100-01", PENDING, "0")], {})
    assert calls == [] and "waiting" in out
    calls, out = run_controller(tmp_path / "b", [gpu_node("dc1-gpu-h100-01", PENDING, "7")], {})
    assert calls == [f"taint node dc1-gpu-h100-01 {TAINT_KEY}=failed:NoSchedule --overwrite"]


def test_a_passed_job_removes_the_taint_and_a_failed_one_sets_it_to_failed(tmp_path: Path) -> None:
    complete = {"status": {"conditions": [{"type": "Complete", "status": "True"}]}}
    failed = {"status": {"conditions": [{"type": "Failed", "status": "True"}]}}
    running = {"status": {"active": 1}}
    nodes = [
        gpu_node("ip-10-0-1-1.ec2.internal", PENDING, "8", {"hybrid-ai.io/node-group": "h100"}),
        gpu_node("dc1-gpu-h100-01", PENDING, "8"),
        gpu_node("dc1-gpu-l40s-01", PENDING, "4"),
        gpu_node("broken", FAILED, "8", {"hybrid-ai.io/node-group": "h100"}),
        gpu_node("stranger", PENDING, "8"),
    ]
    calls, out = run_controller(tmp_path, nodes, {"ip-10-0-1-1.ec2.internal": complete, "dc1-gpu-h100-01": failed, "dc1-gpu-l40s-01": running})
    # THEN the passed node is untainted, the failed one marked failed; a running Job, a failed node and a node of no pool are left alone
    assert calls == [f"taint node ip-10-0-1-1.ec2.internal {TAINT_KEY}-", f"taint node dc1-gpu-h100-01 {TAINT_KEY}=failed:NoSchedule --overwrite"]
    assert "node stranger: tainted" in out


def fake_all_reduce(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "all_reduce_perf"
    header = "#       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong\n"
    path.write_text("#!/bin/bash\ncat <<'OUT'\n" + header + "\n".join(rows) + "\n# Avg bus bandwidth    : 1\nOUT\n")
    path.chmod(0o755)
    return path


ROW = "  {size}     134217728     float     sum      -1   2984.6  179.88  {busbw}      {wrong}   2979.7  180.18  356.60      0"


@pytest.mark.parametrize(
    ("rows", "passes", "says"),
    [
        ([ROW.format(size=536870912, busbw="300.01", wrong=0), ROW.format(size=8589934592, busbw="386.56", wrong=0)], True, "386.56 GB/s at the largest message reaches the floor of 368"),
        ([ROW.format(size=536870912, busbw="380.00", wrong=0), ROW.format(size=8589934592, busbw="350.10", wrong=0)], False, "350.10 GB/s at the largest message is below the floor of 368"),
        ([ROW.format(size=8589934592, busbw="386.56", wrong=3)], False, "1 message sizes returned wrong results"),
        ([], False, "printed no results"),
    ],
)
def test_the_nccl_step_holds_the_bus_bandwidth_to_the_floor(tmp_path: Path, rows: list[str], passes: bool, says: str) -> None:
    program = script("gpu_burn_in_nccl.sh", ALL_REDUCE_PERF=str(fake_all_reduce(tmp_path, rows)))
    result = subprocess.run(["bash", "-c", program.replace("/tmp/all_reduce.txt", str(tmp_path / "out.txt"))], capture_output=True, text=True, env={**os.environ, "GPUS": "8", "NCCL_FLOOR_GBPS": "368", "NCCL_SKIPPED": ""})
    assert (result.returncode == 0) == passes, result.stdout + result.stderr
    assert says in result.stdout


def test_the_nccl_step_says_why_it_is_skipped(tmp_path: Path) -> None:
    program = script("gpu_burn_in_nccl.sh", ALL_REDUCE_PERF="/nonexistent")
    result = subprocess.run(["bash", "-c", program], capture_output=True, text=True, env={**os.environ, "GPUS": "4", "NCCL_FLOOR_GBPS": "", "NCCL_SKIPPED": "no floor for L40S"})
    assert (result.returncode, result.stdout.strip()) == (0, "NCCL all-reduce skipped: no floor for L40S")


DCGM_FAIL = """+---------------------------+------------------------------------------------+
| Diagnostic                | Result                                         |
+===========================+================================================+
| Memory                    | Pass                                           |
| Targeted Stress           | Fail - GPU: 3                                  |
+---------------------------+------------------------------------------------+"""


@pytest.mark.parametrize(("table", "rc", "passes"), [(DCGM_FAIL.replace("Fail - GPU: 3", "Pass"), 0, True), (DCGM_FAIL, 0, False), (DCGM_FAIL.replace("Fail - GPU: 3", "Pass"), 226, False)])
def test_the_diagnostic_step_fails_on_a_failed_test_or_exit_code(tmp_path: Path, table: str, rc: int, passes: bool) -> None:
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "nv-hostengine").write_text("#!/bin/bash\nexit 0\n")
    (bin_ / "dcgmi").write_text(f"#!/bin/bash\n[ \"$*\" = 'diag -r 3' ] || exit 9\ncat <<'OUT'\n{table}\nOUT\nexit {rc}\n")
    (bin_ / "sleep").write_text("#!/bin/bash\nexit 0\n")
    for f in bin_.iterdir():
        f.chmod(0o755)
    result = subprocess.run(["bash", "-c", script("gpu_burn_in_diag.sh")], capture_output=True, text=True, env={**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "DIAG_LEVEL": "3"})
    assert (result.returncode == 0) == passes, result.stdout
    assert ("level 3 passed" in result.stdout) == passes


# --- where it is used -----------------------------------------------------------------------------


def test_nodepools_join_with_the_startup_taint_only_where_burn_in_runs() -> None:
    spec, capacity = prepared("finance-prod")
    sized = tuple(NodePoolArgs(pool=p.pool, gpu_limit=p.gpu_limit) for p in capacity.cloud.pools)

    def pools(burn_in: bool):
        args = GpuNodePoolsArgs(pools=sized, ami_alias="al2023@v20261101", tags={}, burn_in=burn_in)
        resources = run_module(lambda: GpuNodePools(Target("fin", "aws", TargetArgs(placement="cloud", context="aws")), args, "role", ["subnet-1"], "sg-1"))
        return [r.inputs["spec"]["template"]["spec"] for r in of_kind(resources, "NodePool")]

    assert all(p["startupTaints"] == [STARTUP_TAINT] and p["taints"] == [GPU] for p in pools(True))
    assert all("startupTaints" not in p for p in pools(False))


def test_the_gpu_operators_agents_and_nfd_tolerate_the_burn_in_taint_where_it_runs() -> None:
    from hybridai.modules.gpu_operator import GpuOperatorArgs, gpu_operator_values

    # GIVEN the operator on a cluster whose new GPU nodes join tainted
    values = gpu_operator_values(GpuOperatorArgs(tolerate_burn_in=True))
    burn_in = {"key": TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
    # THEN its DaemonSets (device plugin, validator, exporter…) and NFD's worker run there — pending or
    # failed — keeping the chart's own tolerations (a values list replaces the chart's)
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    assert values["daemonsets"]["tolerations"] == [gpu, burn_in]
    assert values["node-feature-discovery"]["worker"]["tolerations"][1:] == [gpu, burn_in]
    # AND where no burn-in runs, the chart's defaults stand
    plain = gpu_operator_values(GpuOperatorArgs())
    assert "daemonsets" not in plain and "node-feature-discovery" not in plain


def test_the_nfd_tolerations_keep_the_charts_own() -> None:
    from tests.harness.upstream import chart_defaults
    from hybridai.modules.gpu_operator import GpuOperatorArgs, gpu_operator_values

    pin = catalog.chart("gpu-operator")
    chart = chart_defaults(pin.upstream, pin.chart)
    values = gpu_operator_values(GpuOperatorArgs(tolerate_burn_in=True))
    assert values["node-feature-discovery"]["worker"]["tolerations"][:-1] == chart["node-feature-discovery"]["worker"]["tolerations"]
    assert values["daemonsets"]["tolerations"][:-1] == chart["daemonsets"]["tolerations"]


def test_the_example_plans_burn_in_onprem_and_in_the_cloud() -> None:
    from tests.conftest import planned

    plan, _ = planned("finance-prod")
    cronjobs = [r for r in of_kind(plan.resources, "CronJob") if r.inputs["metadata"]["name"] == CONTROLLER]
    # THEN its on-prem cluster (dc1) and its EKS pool (training) each run the controller, and every NodePool carries the startup taint
    assert sorted(r.target for r in cronjobs) == ["dc1", "training"]
    assert all(p.inputs["spec"]["template"]["spec"].get("startupTaints") == [STARTUP_TAINT] for p in of_kind(plan.resources, "NodePool"))


# --- alerts ---------------------------------------------------------------------------------------


def test_a_failed_burn_in_alerts_at_once_and_a_stuck_one_after_its_minutes(tmp_path: Path) -> None:
    rules = {"groups": [{"name": "hybridai-gpu-burn-in", "rules": burn_in_alerts(107)}]}
    series = [
        (f'kube_node_spec_taint{{node="bad", key="{TAINT_KEY}", value="failed", effect="NoSchedule"}}', "1x200"),
        (f'kube_node_spec_taint{{node="slow", key="{TAINT_KEY}", value="pending", effect="NoSchedule"}}', "1x200"),
        (f'kube_node_spec_taint{{node="good", key="nvidia.com/gpu", value="true", effect="NoSchedule"}}', "1x200"),
    ]

    def alert(name: str, node_name: str) -> dict:
        rule = next(r for r in rules["groups"][0]["rules"] if r["alert"] == name)
        return {"exp_labels": {**rule["labels"], "node": node_name}, "exp_annotations": {k: v.replace("{{ $labels.node }}", node_name) for k, v in rule["annotations"].items()}}

    checks = [
        (1, "GpuBurnInFailed", [alert("GpuBurnInFailed", "bad")]),
        (100, "GpuBurnInStuck", []),
        (110, "GpuBurnInStuck", [alert("GpuBurnInStuck", "slow")]),
    ]
    result = promtool_test(rules, series, checks, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# --- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("level", "error"), [(0, "greater_than_equal"), (5, "less_than_equal")])
def test_a_diagnostic_level_dcgm_doesnt_have_is_refused_at_its_key(level: int, error: str) -> None:
    values = {**stack_values("healthcare-prod"), "gpuHealth": {"burnIn": {"diagLevel": level}}}
    assert problems_of("healthcare-prod", values) == {(("gpuHealth", "burnIn", "diagLevel"), error)}


def test_an_interconnect_that_doesnt_exist_is_refused_at_its_pool() -> None:
    values = json.loads(json.dumps(stack_values("healthcare-prod")))
    values["onprem"]["gpuPools"][1]["interconnect"] = "infiniband"
    assert problems_of("healthcare-prod", values) == {(("onprem", "gpuPools", 1, "interconnect"), "literal_error")}
