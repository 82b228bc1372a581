"""The offline plan is independent of the machine: no environment variable changes it, and nothing
of the machine (a kubeconfig, a token) reaches an artifact."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from hybridai.plan import run_plan
from hybridai.plan.artifacts import SECRET, render
from hybridai.plan.engine import HIDDEN_ENVIRONMENT, independent_environment

STACK = "healthcare-dev"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.machine-token"
INLINE_KUBECONFIG = f"apiVersion: v1\nkind: Config\nusers:\n- name: me\n  user:\n    token: {TOKEN}\n"

HOSTILE_ENVIRONMENT = {
    "KUBECONFIG": INLINE_KUBECONFIG,
    # Config the SDK falls back to for keys the stack file doesn't set
    "PULUMI_CONFIG": json.dumps({"hybrid-ai:monitoring": json.dumps({"namespace": "from-the-environment"}), "kubernetes:namespace": "elsewhere"}),
    "PULUMI_CONFIG_HYBRID_AI_GPUOPERATOR": json.dumps({"namespace": "from-the-environment"}),
    "PULUMI_CONFIG_SECRET_KEYS": json.dumps(["hybrid-ai:teams"]),
    "PULUMI_K8S_ENABLE_SERVER_SIDE_APPLY": "false",
    "PULUMI_K8S_DELETE_UNREACHABLE": "true",
    "PULUMI_DISABLE_RESOURCE_REFERENCES": "true",
    "AWS_REGION": "ap-southeast-2",
    "AWS_PROFILE": "someone-elses",
}


def plan_files(project: Path) -> dict[Path, str]:
    return render(run_plan(STACK, project))


def test_two_machines_plan_the_same_commit_byte_identically(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a plan on a clean machine
    for name in [n for n in os.environ if HIDDEN_ENVIRONMENT.match(n)]:
        monkeypatch.delenv(name)
    clean = plan_files(project)
    # WHEN the same stack is planned where kubeconfig, Pulumi config, provider switches and AWS settings are set
    for name, value in HOSTILE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    planned = plan_files(project)
    # THEN every artifact is byte-identical, and nothing of that environment is in any of them
    assert planned.keys() == clean.keys()
    assert [p for p in clean if planned[p] != clean[p]] == []
    everything = "".join(planned.values())
    assert TOKEN not in everything and "from-the-environment" not in everything and "ap-southeast-2" not in everything


def test_the_environment_is_restored_after_the_plan(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in HOSTILE_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    run_plan(STACK, project)
    assert {name: os.environ.get(name) for name in HOSTILE_ENVIRONMENT} == HOSTILE_ENVIRONMENT


def test_the_environment_is_restored_when_the_program_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", "/home/me/.kube/config")
    with pytest.raises(RuntimeError), independent_environment():
        assert "KUBECONFIG" not in os.environ
        os.environ["PULUMI_CONFIG"] = "{}"  # set while the program runs: dropped
        raise RuntimeError("the program failed")
    assert os.environ["KUBECONFIG"] == "/home/me/.kube/config"
    assert "PULUMI_CONFIG" not in os.environ


def _environment_variables_read_by(package: str) -> set[str]:
    root = Path(__import__(package).__file__).parent
    reads = re.compile(r"""(?:get_env(?:_bool|_int|_float)?|os\.getenv|environ\.get|environ\[|in\s+os\.environ)\s*\(?\s*((?:["'][A-Z][A-Z0-9_]+["']\s*,?\s*)+)""")
    names = set()
    for source in root.rglob("*.py"):
        for match in reads.finditer(source.read_text(encoding="utf-8", errors="replace")):
            names.update(re.findall(r"[A-Z][A-Z0-9_]+", match.group(1)))
    return names


# Read by the SDK for tracing only: they change no input of any resource.
TELEMETRY = {"TRACEPARENT", "OTEL_EXPORTER_OTLP_INSECURE"}


@pytest.mark.parametrize("package", ["pulumi", "pulumi_kubernetes", "pulumi_aws"])
def test_every_variable_the_sdks_read_is_hidden_during_the_plan(package: str) -> None:
    # GIVEN the environment variables the installed SDK reads (found in its source)
    names = _environment_variables_read_by(package)
    assert names, f"found no environment reads in {package}: the scan is broken"
    # THEN each one is hidden while the program runs (telemetry aside)
    assert sorted(n for n in names - TELEMETRY if not HIDDEN_ENVIRONMENT.match(n)) == []


def test_a_kubeconfig_with_a_token_in_the_stack_is_recorded_as_a_secret(project: Path) -> None:
    # GIVEN a stack whose on-prem cluster names inline kubeconfig content with a token
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    text = path.read_text()
    inline = json.dumps(INLINE_KUBECONFIG)
    path.write_text(text.replace("    context: hospital-lab\n", f"    context: hospital-lab\n    kubeconfig: {inline}\n"))
    # WHEN planned
    files = plan_files(project)
    # THEN the provider's kubeconfig is redacted, and the token is in no artifact
    resources = json.loads(files[Path("resources.json")])["resources"]
    [provider] = [r for r in resources if r["type"] == "pulumi:providers:kubernetes"]
    assert provider["inputs"]["kubeconfig"] == SECRET
    assert TOKEN not in "".join(files.values())


def test_a_kubeconfig_path_in_the_stack_stays_visible(project: Path) -> None:
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    path.write_text(path.read_text().replace("    context: hospital-lab\n", "    context: hospital-lab\n    kubeconfig: /etc/kube/lab\n"))
    resources = json.loads(plan_files(project)[Path("resources.json")])["resources"]
    [provider] = [r for r in resources if r["type"] == "pulumi:providers:kubernetes"]
    assert provider["inputs"]["kubeconfig"] == "/etc/kube/lab"

