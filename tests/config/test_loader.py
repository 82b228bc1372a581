"""The loader: stack files and runtime config to values, and errors a person can act on."""
from __future__ import annotations

from pathlib import Path

import pytest

from hybridai.blueprints import SPECS
from hybridai.config import StackConfigError, parse_spec
from hybridai.config.base import Problem
from hybridai.config.loader import NO_VALUE, decode_config, encode_config, key_path, read_stack_file


def test_key_paths_read_like_pulumi_config_paths() -> None:
    assert key_path(("teams", 0, "quota", "gpus")) == "hybrid-ai:teams[0].quota.gpus"
    assert key_path(("teams", 1, "quota", "mig", "3g.40gb")) == 'hybrid-ai:teams[1].quota.mig["3g.40gb"]'
    assert key_path(("environment",)) == "hybrid-ai:environment"


def test_error_lists_file_key_value_and_fix() -> None:
    error = StackConfigError(
        "stacks/Pulumi.x.yaml",
        [Problem(("teams", 0, "quota", "gpus"), "greater_than_equal", "Input should be greater than or equal to 0", -1), Problem(("costCenter",), "missing", "required key is missing; add it", NO_VALUE)],
    )
    lines = error.render().splitlines()
    assert lines[0] == "stacks/Pulumi.x.yaml: invalid stack config (2 problems); nothing was registered."
    assert lines[1] == "  stacks/Pulumi.x.yaml: hybrid-ai:teams[0].quota.gpus: Input should be greater than or equal to 0 (got -1)"
    assert lines[2] == "  stacks/Pulumi.x.yaml: hybrid-ai:costCenter: required key is missing; add it"
    assert lines[3].startswith("Fix: edit those keys in stacks/Pulumi.x.yaml")


def test_config_round_trips_through_pulumis_wire_format() -> None:
    # GIVEN stack-file values of every shape, in the form the Pulumi CLI passes them (strings)
    config = {"hybrid-ai:teams": [{"name": "a", "quota": {"gpus": 2}}], "hybrid-ai:environment": "dev", "hybrid-ai:flag": True, "hybrid-ai:n": 3, "aws:region": "eu-west-1"}
    wire = encode_config(config)
    assert wire["hybrid-ai:teams"] == '[{"name": "a", "quota": {"gpus": 2}}]'
    assert wire["hybrid-ai:flag"] == "true"
    # WHEN decoded THEN objects come back typed, scalars as strings, other namespaces dropped
    assert decode_config(wire) == {"teams": [{"name": "a", "quota": {"gpus": 2}}], "environment": "dev", "flag": "true", "n": "3"}


def test_unknown_key_suggests_the_closest_one() -> None:
    values = {"blueprint": "healthcare-onprem", "environment": "dev", "costCenter": "c", "teams": [{"name": "a", "group": "g"}], "onprem": {"contxt": "c", "gpuPools": []}}
    with pytest.raises(StackConfigError) as caught:
        parse_spec("dev", values, SPECS)
    messages = {p.loc: p.message for p in caught.value.problems}
    assert messages[("onprem", "contxt")] == "unknown key; did you mean `context`?"


@pytest.mark.parametrize(
    "text,loc,kind",
    [
        ("config: [unclosed", ("<file>",), "yaml"),
        ("runtime: python\n", ("config",), "missing"),
        ("config:\n  blueprint: healthcare-onprem\n", ("blueprint",), "not_namespaced"),
        ("config:\n  hybrid-ai:token:\n    secure: AAABAJ\n", ("token",), "secret"),
    ],
)
def test_malformed_stack_files_are_config_errors(tmp_path: Path, text: str, loc: tuple, kind: str) -> None:
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text(text)
    with pytest.raises(StackConfigError) as caught:
        read_stack_file(path, "stacks/Pulumi.x.yaml")
    assert [(p.loc, p.type) for p in caught.value.problems] == [(loc, kind)]


def test_missing_stack_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(StackConfigError) as caught:
        read_stack_file(tmp_path / "Pulumi.nope.yaml", "stacks/Pulumi.nope.yaml")
    assert "hybridai new" in caught.value.problems[0].message
