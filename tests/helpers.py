"""Helpers for tests: run a module alone under the plan engine's recording monitor, query resources,
read an example stack's values."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Callable, Iterable, NoReturn

import pytest
import yaml

from hybridai.config import StackConfigError
from hybridai.config.codec import decode_config, encode_config
from hybridai.plan import Resource
from hybridai.plan.engine import execute
from tests.conftest import ROOT


def run_module(program: Callable[[], object], stack: str = "test") -> list[Resource]:
    return execute(program, project="hybrid-ai", stack=stack)


def of_kind(resources: Iterable[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r.custom and r.inputs.get("kind") == kind]


def named(resources: Iterable[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in of_kind(resources, kind) if r.inputs["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def of_type(resources: Iterable[Resource], type_: str) -> list[Resource]:
    return [r for r in resources if r.type == type_]


def release(resources: Iterable[Resource], chart: str, target: str | None = None) -> Resource:
    matches = [r for r in of_type(resources, "kubernetes:helm.sh/v3:Release") if r.inputs["chart"] == chart and target in (None, r.target)]
    assert len(matches) == 1, f"expected one {chart} release, found {len(matches)}"
    return matches[0]


def stack_values(stack: str) -> dict[str, Any]:
    """An example stack's config values as the program receives them (through Pulumi's wire encoding)."""
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return decode_config(encode_config(config))


def unavailable(reason: str) -> NoReturn:
    """A tool or service a test needs is missing: in CI (`CI` set) that fails the test, since CI must
    run it; elsewhere the test is skipped with the reason."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def chromium() -> str | None:
    """A headless-capable Chromium: Debian's `chromium` (what .ci/run installs) or, on GitHub's
    Ubuntu runners, Google Chrome; None when there is none."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def promtool() -> str:
    """promtool's path (Debian's `prometheus` package; .ci/run installs it)."""

    path = shutil.which("promtool")
    if path is None:
        unavailable("promtool not installed (Debian package `prometheus`; .ci/run installs it)")
    return path


def promtool_test(rules: dict, series: list[tuple[str, str]], checks: list[tuple[int, str, list]], folder: Path) -> subprocess.CompletedProcess[str]:
    """`promtool test rules` of `rules` on synthetic `series` ((series, values) at one-minute steps),
    expecting at each (minute, alert) the listed alerts; the files go in `folder`."""

    (folder / "rules.yaml").write_text(yaml.safe_dump(rules))
    test = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "alert_rule_test": [{"eval_time": f"{t}m", "alertname": name, "exp_alerts": alerts} for t, name, alerts in checks],
            }
        ],
    }
    (folder / "test.yaml").write_text(yaml.safe_dump(test, sort_keys=False))
    return subprocess.run([promtool(), "test", "rules", str(folder / "test.yaml")], capture_output=True, text=True, cwd=folder)


def problems_of(stack: str, values: dict[str, Any]) -> set[tuple[tuple, str]]:
    """(key path, error type) of each problem `prepare` finds in the stack's `values`; fails the
    test when it finds none."""
    from hybridai.program import prepare

    with pytest.raises(StackConfigError) as caught:
        prepare(stack, values)
    return {(p.loc, p.type) for p in caught.value.problems}


def at(values: dict, path: list) -> tuple[dict, Any]:
    """The mapping (or list) holding the last key of `path` in `values`, and that key."""
    node = values
    for part in path[:-1]:
        node = node[part]
    return node, path[-1]


def has_path(values: Any, path: tuple[str, ...]) -> bool:
    """Whether nested mappings `values` hold the keys of `path`, one inside the other."""
    node = values
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


@functools.cache
def prepared(stack: str):
    """An example stack's validated spec and capacity plan, as the program gets them (made once per
    session; tests read them, never change them)."""
    from hybridai.program import prepare

    return prepare(stack, stack_values(stack))
