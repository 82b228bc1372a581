"""Stack config errors: every problem with its file, key path, value and the fix; pydantic's errors
translated into problems a person can act on."""
from __future__ import annotations

import pytest

from hybridai.blueprints import SPECS
from hybridai.config import StackConfigError, parse_spec
from hybridai.config.base import NO_VALUE, Problem


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


def test_unknown_key_suggests_the_closest_one() -> None:
    values = {"blueprint": "healthcare-onprem", "environment": "dev", "costCenter": "c", "teams": [{"name": "a", "group": "g"}], "onprem": {"contxt": "c", "gpuPools": []}}
    with pytest.raises(StackConfigError) as caught:
        parse_spec("dev", values, SPECS)
    messages = {p.loc: p.message for p in caught.value.problems}
    assert messages[("onprem", "contxt")] == "unknown key; did you mean `context`?"
