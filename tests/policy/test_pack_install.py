"""The policy pack installs from its own folder alone, the way Pulumi installs a published pack
(`python -m venv venv`, then `pip install -r requirements.txt` in the pack's folder): this project
as a wheel, at the versions of requirements.lock, with no access to the repository.

SLOW, about 30 s on 2 cores: it builds the wheel and installs some 450 MB (pulumi-aws is most of it)
into a fresh virtualenv, from pip's cache when that is warm. It needs PyPI otherwise; outside CI it is
skipped when PyPI can't be reached, in CI it fails."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import urllib.request
from pathlib import Path

from packaging.utils import canonicalize_name

from hybridai.policy.rules import RULES
from tests.conftest import ROOT
from tests.helpers import unavailable
from tests.test_lock import locked

VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
WHEEL = f"hybrid_ai-{VERSION}-py3-none-any.whl"


def pypi_reachable() -> bool:
    try:
        urllib.request.urlopen(urllib.request.Request("https://pypi.org/simple/pulumi-policy/", method="HEAD"), timeout=10)
        return True
    except OSError:
        return False


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"}}
    result = subprocess.run(args, cwd=cwd, env={**environment, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **env}, check=False, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


def test_pack_files_name_the_projects_version() -> None:
    # GIVEN the pack's requirements and project file, THEN they name the wheel of the project's
    # version, by file, constrained by the lock's copy, and the pack has the same version
    requirements = [line for line in (ROOT / "policy" / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    test_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    policy_sdk = next(r for r in test_extra if r.startswith("pulumi-policy"))
    assert requirements == ["-c wheels/constraints.txt", f"./wheels/{WHEEL}", policy_sdk]
    import yaml

    assert yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())["version"] == VERSION
    # AND nothing reaches outside the pack's folder
    assert not any(".." in line or line.startswith(("-e", "/")) for line in requirements)


def test_pack_installs_from_its_own_folder_alone_and_runs_every_rule(tmp_path: Path) -> None:  # slow: see the module's docstring
    if not pypi_reachable():
        unavailable("PyPI can't be reached: the pack's dependencies can't be installed")
    # GIVEN the pack built into a folder outside the repository, as for `pulumi policy publish`
    built = tmp_path / "built"
    run([str(ROOT / ".github" / "scripts" / "policy-pack.sh"), "build", str(built)], cwd=tmp_path, PYTHON=sys.executable)
    assert sorted(p.name for p in built.iterdir()) == [".gitignore", "PulumiPolicy.yaml", "README.md", "__main__.py", "requirements.txt", "wheels"]
    assert sorted(p.name for p in (built / "wheels").iterdir()) == ["constraints.txt", WHEEL]
    assert (built / "wheels" / "constraints.txt").read_bytes() == (ROOT / "requirements.lock").read_bytes()
    # (its .gitignore keeps the virtualenv out of the upload, and nothing else)
    assert (built / ".gitignore").read_text().split() == ["venv/", "__pycache__/"]
    # AND copied elsewhere, as Pulumi unpacks a published pack
    pack = tmp_path / "published" / "package"
    shutil.copytree(built, pack)
    shutil.rmtree(built)

    # WHEN Pulumi's steps install it there
    run([sys.executable, "-m", "venv", "venv"], cwd=pack)
    python = str(pack / "venv" / "bin" / "python")
    run([python, "-m", "pip", "install", "--quiet", "-r", "requirements.txt"], cwd=pack)

    # THEN the pack's own interpreter, isolated from the repository (-I: no cwd, no PYTHONPATH),
    # imports the CrossGuard module and every rule from the installed wheel
    probe = "import json, hybridai, hybridai.policy.crossguard, pulumi_policy; from hybridai.policy.rules import RULES; print(json.dumps({'file': hybridai.__file__, 'rules': sorted(RULES)}))"
    found = json.loads(run([python, "-I", "-c", probe], cwd=tmp_path).stdout)
    assert Path(found["file"]).is_relative_to(pack / "venv")
    assert found["rules"] == sorted(RULES) and len(found["rules"]) == len(RULES)
    # AND the pack's entry point builds one policy per rule (PolicyPack stands in: the real one serves)
    entry = "import runpy, pulumi_policy; pulumi_policy.PolicyPack = lambda **kw: print(kw['name'], len(kw['policies'])); runpy.run_path('__main__.py', run_name='__main__')"
    assert run([python, "-I", "-c", entry], cwd=pack).stdout.split() == ["hybrid-ai", str(len(RULES))]
    # AND every locked package it installed is at the locked version
    installed = {canonicalize_name(d["name"]): d["version"] for d in json.loads(run([python, "-m", "pip", "list", "--format", "json"], cwd=pack).stdout)}
    pins = locked()
    assert {name: version for name, version in installed.items() if name in pins and str(pins[name][0]) != version} == {}
    assert installed["hybrid-ai"] == VERSION and installed["pulumi-policy"] == str(pins["pulumi-policy"][0])
