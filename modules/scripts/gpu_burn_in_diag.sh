#!/bin/bash
# DCGM diagnostics of a new node's GPUs, the burn-in Job's first step (modules/gpu_burn_in.py): the
# pod holds every GPU of the node; this starts DCGM's host engine in the container (the node's own
# hostengine, where the GPU Operator runs one, serves other clients and can't be reached on this
# node alone) and runs `dcgmi diag` at the stack's level (DIAG_LEVEL). Fails when dcgmi exits
# non-zero or any test reports Fail, printing DCGM's own table so the Job's log says which test on
# which GPU.

set -uo pipefail
nv-hostengine
sleep 2
out=$(dcgmi diag -r "$DIAG_LEVEL" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne 0 ] || printf '%s\n' "$out" | grep -q '| *Fail'; then
  echo "DCGM diagnostic level $DIAG_LEVEL failed (exit $rc)"
  exit 1
fi
echo "DCGM diagnostic level $DIAG_LEVEL passed"
