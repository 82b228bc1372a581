"""Stack config errors: every problem with its file, key path, value and the fix; pydantic's errors
translated into problems a person can act on."""
from __future__ import annotations

import importlib
import inspect
import pkgutil
import re

import pytest
from pydantic import BaseModel

from hybridai.blueprints import SPECS
from hybridai.config import StackConfigError, parse_spec
from hybridai.config.base import NO_VALUE, Problem
from hybridai.program import prepare
from tests.helpers import stack_values
import hybridai.config as config_package


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



def _model_classes() -> set[str]:
    """Names of every pydantic model of hybridai/config (what pydantic prints as `instance of …`)."""
    names = set()
    for info in pkgutil.iter_modules(config_package.__path__):
        module = importlib.import_module(f"hybridai.config.{info.name}")
        names |= {n for n, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, BaseModel) and c.__module__.startswith("hybridai.config")}
    return names


@pytest.mark.parametrize("stack", ["healthcare-prod", "finance-prod", "manufacturing-prod"])
def test_no_message_names_a_python_class(stack: str) -> None:
    # GIVEN an example stack with each top-level key in turn given a value of the wrong shape
    classes = _model_classes()
    assert {"OnpremCluster", "Team", "CloudPool"} <= classes
    messages = []
    for key in stack_values(stack):
        for wrong in ([1], "text", 7, True):
            try:
                prepare(stack, {**stack_values(stack), key: wrong})
            except StackConfigError as error:
                messages += [p.message for p in error.problems]
    # WHEN each is validated THEN no problem's message names one of our classes; a block asks for its keys
    named = re.compile(r"\b(" + "|".join(sorted(classes)) + r")\b")
    assert messages and sorted({m for m in messages if named.search(m)}) == []
    assert "should be a mapping of keys (`hybridai reference --key onprem` lists them)" in messages


@pytest.mark.parametrize("shape, shown", [({"tls.crt": "PLAINTEXT-CERT", "tls.key": "PLAINTEXT-KEY"}, "a mapping of 2 keys (values hidden)"), ("PLAINTEXT-CERT", "'[secret]'")])
def test_a_value_at_or_below_a_credential_key_is_never_echoed_whatever_its_shape(shape: object, shown: str) -> None:
    # GIVEN a secret source whose `values` (a list of credentials) is given as a mapping or a string
    values = stack_values("healthcare-prod")
    values["secrets"]["sources"].append({"name": "x-tls", "values": shape})
    # WHEN it is validated THEN the problem is at its key, shows only the shape, and no plaintext reaches the message
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", values)
    [problem] = [p for p in caught.value.problems if p.loc[:2] == ("secrets", "sources")]
    assert problem.loc[-1] == "values" and problem.type == "list_type"
    assert f"(got {shown})" in caught.value.render() and "PLAINTEXT" not in caught.value.render()
