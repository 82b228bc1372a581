"""The Pulumi program as `pulumi up` runs it: config from the CLI's environment, errors without tracebacks."""
from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from hybridai.config.codec import encode_config
from hybridai.plan.engine import execute
from hybridai.program import run
from tests.conftest import ROOT


def cli_environment(stack: str) -> str:
    """PULUMI_CONFIG as the Pulumi CLI sets it for the language host: every key, values as strings."""
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return json.dumps(encode_config(config))


def test_program_reads_the_config_the_pulumi_cli_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the stack's config only in the environment, as under `pulumi up`
    monkeypatch.setenv("PULUMI_CONFIG", cli_environment("healthcare-dev"))
    # WHEN the program runs with nothing set through the SDK
    resources = execute(run, project="hybrid-ai", stack="healthcare-dev")
    # THEN it builds the stack the file describes
    assert {r.target for r in resources} == {"lab"}
    assert any(r.type == "hybrid-ai:gpu_operator:GpuOperator" for r in resources)


def test_invalid_config_stops_the_program_with_a_run_error_and_registers_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    config = json.loads(cli_environment("healthcare-dev"))
    config["hybrid-ai:environment"] = "qa"
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    registered: list[str] = []
    # RunError is the SDK's error that Pulumi prints as a message, without a stack trace.
    with pytest.raises(pulumi.RunError) as caught:
        execute(run, project="hybrid-ai", stack="healthcare-dev", on_register=registered.append)
    assert str(caught.value).splitlines()[1] == "  stacks/Pulumi.healthcare-dev.yaml: hybrid-ai:environment: Input should be 'prod', 'staging' or 'dev' (got 'qa')"
    assert registered == []
