#!/usr/bin/env bash
# The CrossGuard pack as Pulumi runs it: this project's wheel at the locked versions.
#
#   .github/scripts/policy-pack.sh build [DIR]   DIR (default: policy) becomes a publishable pack: its
#                                                wheels/ holds this project's wheel and constraints.txt,
#                                                a copy of requirements.lock. Any DIR other than policy/
#                                                first gets the pack's own files and a .gitignore that
#                                                keeps venv/ out of `pulumi policy publish`'s upload
#                                                (publish from such a copy); the rules come from the
#                                                wheel, not from policy/rules.
#   .github/scripts/policy-pack.sh venv [DIR]    build, then DIR/venv made afresh the way Pulumi makes a
#                                                published pack's: what `pulumi preview --policy-pack DIR`
#                                                runs. A wheel of the same version never replaces an
#                                                installed one, so the venv is always new.
#
# PYTHON names the interpreter (default: python3). The wheel is built from a clean copy of the
# sources: an in-tree build would reuse setuptools' build/ folder (the plans' folder) and could
# package files deleted since.
set -euo pipefail

usage() { sed -n '3,14p' "$0" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
command=$1
case $command in build|venv) ;; *) usage ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
python=${PYTHON:-python3}
mkdir -p "${2:-$root/policy}"
dir=$(cd "${2:-$root/policy}" && pwd)

if [ "$dir" != "$root/policy" ]; then
  for file in PulumiPolicy.yaml __main__.py requirements.txt README.md; do
    cp "$root/policy/$file" "$dir/"
  done
  printf 'venv/\n__pycache__/\n' > "$dir/.gitignore"
fi

# the wheel's sources: everything but VCS data, virtualenvs, build output and caches
excludes=(--exclude=.git --exclude=.venv --exclude=venv --exclude=build --exclude=wheels
          --exclude=__pycache__ --exclude='*.egg-info' --exclude=.pytest_cache --exclude=.ruff_cache
          --exclude=node_modules)

src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
(cd "$root" && tar "${excludes[@]}" -cf - .) | (cd "$src" && tar -xf -)
rm -rf "$dir/wheels"
"$python" -m pip wheel --quiet --disable-pip-version-check --no-deps --wheel-dir "$dir/wheels" "$src"
cp "$root/requirements.lock" "$dir/wheels/constraints.txt"

# requirements.txt names the wheel by file: it must be the one just built (the project's version)
wanted=$(sed -n 's|^\./wheels/||p' "$dir/requirements.txt")
if [ ! -f "$dir/wheels/$wanted" ]; then
  echo "policy-pack.sh: policy/requirements.txt names wheels/$wanted, the build made $(cd "$dir/wheels" && ls -- *.whl)" >&2
  exit 1
fi

if [ "$command" = venv ]; then
  cd "$dir"
  "$python" -m venv --clear venv
  venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
fi
