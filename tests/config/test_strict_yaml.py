"""The strict YAML reader: values as every YAML reader reads them, and every problem at its key
path and line. (Hostile files end to end, through `hybridai plan`: test_stack_file_hygiene.py.)"""
from __future__ import annotations

import pytest

from hybridai.config import StackConfigError
from hybridai.config.strict_yaml import Secure, parse_stack_yaml

LABEL = "stacks/Pulumi.x.yaml"


def test_top_level_values_are_the_text_the_file_holds() -> None:
    # GIVEN top-level values a YAML reader would turn into numbers or booleans
    text = "config:\n  hybrid-ai:costCenter: 1.50\n  hybrid-ai:prefix: true\n  hybrid-ai:environment:\n"
    # WHEN read THEN each is the text the file holds: what the Pulumi CLI hands the program under `pulumi up`
    assert parse_stack_yaml(text, LABEL) == {"config": {"hybrid-ai:costCenter": "1.50", "hybrid-ai:prefix": "true", "hybrid-ai:environment": ""}}


def test_quoted_and_core_values_are_read_as_written() -> None:
    # GIVEN values every YAML version reads alike
    text = "config:\n  hybrid-ai:x:\n    a: 'yes'\n    b: \"0777\"\n    c: [1, 2.5, true, null, 0x10, !!str 12, '2024-01-01']\n"
    # WHEN read THEN they keep their meaning
    assert parse_stack_yaml(text, LABEL) == {"config": {"hybrid-ai:x": {"a": "yes", "b": "0777", "c": [1, 2.5, True, None, 16, "12", "2024-01-01"]}}}


def test_a_secure_value_is_kept_for_the_loader_to_judge() -> None:
    # GIVEN a `secure:` value WHEN read THEN it is a Secure holding the ciphertext, not a map
    assert parse_stack_yaml("config:\n  hybrid-ai:token:\n    secure: AAABAJ\n", LABEL) == {"config": {"hybrid-ai:token": Secure("AAABAJ")}}


def test_every_problem_is_listed_at_its_key_path_and_line() -> None:
    # GIVEN a file with a key twice, a version-dependent scalar and a tag beyond the core ones
    text = "config:\n  hybrid-ai:teams:\n    - name: a\n      name: b\n  hybrid-ai:environment: on\n  hybrid-ai:costCenter: !!binary Y2M=\n"
    # WHEN read
    with pytest.raises(StackConfigError) as caught:
        parse_stack_yaml(text, LABEL)
    # THEN one error with each problem at the key path under the project key, its line in the message
    problems = caught.value.problems
    assert [(p.loc, p.type) for p in problems] == [(("teams", 0, "name"), "duplicate_key"), (("environment",), "yaml_ambiguous"), (("costCenter",), "yaml_tag")]
    assert problems[0].message.startswith("line 4, column 7: key appears twice, at lines 3 and 4 ('a', then 'b')")
    assert problems[1].message.startswith("line 5, column 26: plain `on` is the boolean true to YAML 1.1 readers")


def test_a_problem_outside_the_project_keys_is_a_problem_of_the_file() -> None:
    # GIVEN an anchor under a key that isn't the project's WHEN read THEN the problem is the file's, naming where
    with pytest.raises(StackConfigError) as caught:
        parse_stack_yaml("runtime: &r python\n", LABEL)
    [problem] = caught.value.problems
    assert (problem.loc, problem.type) == (("<file>",), "yaml_alias")
    assert problem.message.startswith("line 1, column 10 (`runtime`): anchor `&r`")
