#!/bin/bash
# The NCCL all-reduce of a new multi-GPU node, the burn-in Job's second step (modules/gpu_burn_in.py):
# nccl-tests' all_reduce_perf over all of the node's GPUs (GPUS) in one process, from 512 MiB to
# 8 GiB messages. Fails when any result is wrong (its `#wrong` column: data corrupted in transit) or
# the out-of-place bus bandwidth at the largest message is below the floor of the pool's GPU model
# and interconnect (NCCL_FLOOR_GBPS, hybridai/data/gpu-health.yaml). Where there is no floor
# (NCCL_SKIPPED says why) the test doesn't run and the reason is logged.

set -euo pipefail
if [ -n "${NCCL_SKIPPED:-}" ]; then
  echo "NCCL all-reduce skipped: $NCCL_SKIPPED"
  exit 0
fi
@ALL_REDUCE_PERF@ -b 512M -e 8G -f 2 -g "$GPUS" | tee /tmp/all_reduce.txt
awk -v floor="$NCCL_FLOOR_GBPS" '
  $1 ~ /^[0-9]+$/ { rows++; busbw = $8; if ($9 != 0 || $13 != 0) wrong++ }
  END {
    if (rows == 0) { print "all_reduce_perf printed no results"; exit 1 }
    if (wrong > 0) { print wrong " message sizes returned wrong results"; exit 1 }
    if (busbw + 0 < floor + 0) { print "bus bandwidth " busbw " GB/s at the largest message is below the floor of " floor " GB/s"; exit 1 }
    print "bus bandwidth " busbw " GB/s at the largest message reaches the floor of " floor " GB/s"
  }' /tmp/all_reduce.txt
