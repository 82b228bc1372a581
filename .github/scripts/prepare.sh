#!/usr/bin/env bash
# Everything `pulumi preview` or `pulumi up` of one stack needs before any credential is in reach.
# The pull-request workflow's preview job, the deploy workflow's up job and preview.sh run it:
#
#   .github/scripts/prepare.sh STACK
#
#   1. .venv as `pulumi install` makes it (requirements.txt: this project at the versions of
#      requirements.lock), unless one exists: CI starts without; the quick start's is the same;
#   2. `hybridai plan STACK --out build/STACK`, which must pass (exit 0): it writes
#      build/STACK/policy-config.json, the levels and context the policy pack runs with;
#   3. the policy pack's virtualenv, policy/venv, afresh from this checkout (policy-pack.sh venv).
set -euo pipefail
[ $# -eq 1 ] || { sed -n '5p' "$0" >&2; exit 2; }
stack=$1
cd "$(dirname "$0")/../.."

if [ ! -x .venv/bin/hybridai ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
fi
.venv/bin/hybridai plan "$stack" --out "build/$stack"
.github/scripts/policy-pack.sh venv policy
