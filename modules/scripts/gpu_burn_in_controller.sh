#!/bin/bash
# The burn-in controller (modules/gpu_burn_in.py runs it every minute as a CronJob in the burn-in
# namespace, on a node without GPUs): for every node carrying the burn-in taint (@TAINT_KEY@) it
# makes sure one burn-in Job runs there and acts on its outcome. All its state is in the cluster —
# the taint's value on the node and the Job named after the node — so a run that dies halfway is
# finished by the next one.
#
#   taint `pending`, no Job yet    → wait until the node advertises its GPUs (the GPU Operator's own
#                                    validator passed: the device plugin starts only after it), then
#                                    create the Job, requesting every GPU the node's pool has; a node
#                                    advertising fewer is failed at once (a GPU is missing);
#   taint `pending`, Job succeeded → remove the taint: the node takes work;
#   taint `pending`, Job failed    → set the taint to `failed` (the node stays out; GpuBurnInFailed);
#   taint `failed`                 → nothing: on-call repairs the node, deletes its Job and sets the
#                                    taint back to `pending` to burn it in again.
#
# Reads the node → pool map and each pool's burn-in (GPUs, the NCCL floor or why it is skipped) from
# @CONFIG@, and the Job it creates from @JOB_TEMPLATE@ (both written by modules/gpu_burn_in.py).

set -euo pipefail
key=@TAINT_KEY@
ns=@NAMESPACE@
config=@CONFIG@
kubectl get nodes -o json |
jq -r --arg key "$key" --arg group @GROUP_LABEL@ \
  '.items[] | select(any(.spec.taints[]?; .key == $key))
   | [.metadata.name, (first(.spec.taints[] | select(.key == $key)) | .value // ""), (.metadata.labels[$group] // ""),
      (.status.allocatable["@GPU_RESOURCE@"] // "0")] | join("|")' |
while IFS='|' read -r node state label gpus; do
  pool=${label:-$(jq -r --arg node "$node" '.nodes[$node] // ""' "$config")}
  if [ -z "$pool" ] || [ "$(jq -r --arg pool "$pool" '.pools | has($pool)' "$config")" != true ]; then
    echo "node $node: tainted $key=$state but in no pool the burn-in knows; left as it is"
    continue
  fi
  [ "$state" = pending ] || continue
  job="burn-in-$(printf '%s' "$node" | sha256sum | cut -c1-16)"
  expected=$(jq -r --arg pool "$pool" '.pools[$pool].gpus' "$config")
  status=$(kubectl -n "$ns" get job "$job" -o json 2>/dev/null |
    jq -r 'if any(.status.conditions[]?; .type == "Complete" and .status == "True") then "passed"
           elif any(.status.conditions[]?; .type == "Failed" and .status == "True") then "failed" else "running" end' || true)
  case "$status" in
    passed)
      kubectl taint node "$node" "$key-"
      echo "node $node: burn-in passed (job $ns/$job); taint removed" ;;
    failed)
      kubectl taint node "$node" "$key=failed:NoSchedule" --overwrite
      echo "node $node: burn-in failed: kubectl -n $ns logs job/$job --all-containers" ;;
    running) ;;
    *)
      if [ "$gpus" -eq 0 ]; then
        echo "node $node: no GPUs advertised yet (the GPU Operator's validator hasn't passed); waiting"
      elif [ "$gpus" -lt "$expected" ]; then
        kubectl taint node "$node" "$key=failed:NoSchedule" --overwrite
        echo "node $node: advertises $gpus GPUs, its pool $pool has $expected per node; burn-in failed"
      else
        jq --arg job "$job" --arg node "$node" --arg pool "$pool" --arg gpus "$expected" --slurpfile config "$config" \
          '.metadata.name = $job | .metadata.annotations["@NODE_ANNOTATION@"] = $node
           | .spec.template.spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values = [$node]
           | .spec.template.spec.initContainers[0].resources.limits["@GPU_RESOURCE@"] = $gpus
           | .spec.template.spec.containers[0].resources.limits["@GPU_RESOURCE@"] = $gpus
           | .spec.template.spec.containers[0].env += [
               {name: "GPUS", value: $gpus},
               {name: "NCCL_FLOOR_GBPS", value: ($config[0].pools[$pool].ncclFloorGbps // "" | tostring)},
               {name: "NCCL_SKIPPED", value: ($config[0].pools[$pool].ncclSkipped // "")}]' \
          @JOB_TEMPLATE@ | kubectl create -f -
        echo "node $node: burn-in started (job $ns/$job, pool $pool, $expected GPUs)"
      fi ;;
  esac
done
