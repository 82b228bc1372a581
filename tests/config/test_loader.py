"""The loader: stack files to config values, every problem of the file a config error."""
from __future__ import annotations

from pathlib import Path

import pytest

from hybridai.config import StackConfigError
from hybridai.config.loader import read_stack_file


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
