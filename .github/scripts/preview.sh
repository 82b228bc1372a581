#!/usr/bin/env bash
# The pull-request workflow's preview of one stack, from a maintainer's machine:
#
#   .github/scripts/preview.sh STACK [MORE PULUMI PREVIEW FLAGS]
#
# prepare.sh STACK (the locked .venv, a passing plan, policy/venv), then
#   pulumi preview --stack STACK --policy-pack policy --policy-pack-config build/STACK/policy-config.json
# Credentials are the caller's: the Pulumi backend logged in to, AWS from the environment or profile,
# and the kubeconfig in KUBECONFIG (default ~/.kube/config) holding the contexts the stack file names.
# `pulumi up` runs the same way with the same flags (docs/deploying.md).
set -euo pipefail
[ $# -ge 1 ] || { sed -n '4p' "$0" >&2; exit 2; }
stack=$1
shift
cd "$(dirname "$0")/../.."
command -v pulumi >/dev/null || { echo "preview.sh: no pulumi on PATH (https://www.pulumi.com/docs/install/)" >&2; exit 2; }

.github/scripts/prepare.sh "$stack"
exec pulumi preview --stack "$stack" --policy-pack policy --policy-pack-config "build/$stack/policy-config.json" "$@"
