"""Stack files as untrusted input: every hostile or ambiguous file is refused before anything runs —
exit 2, one readable message naming the file, the key path (or line), the value and the fix; no
traceback; nothing written. A table: add a row for every new way a stack file can go wrong.

GIVEN healthcare-dev's stack file with one change, WHEN `hybridai plan` reads it, THEN it exits 2
with the listed texts in its message and writes nothing.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, NamedTuple

import pytest
from typer.testing import CliRunner

from hybridai.cli import app
from hybridai.config import StackConfigError
from hybridai.config.loader import read_stack_file
from tests.conftest import ROOT

STACK = "healthcare-dev"
FILE = f"stacks/Pulumi.{STACK}.yaml"
TEXT = (ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text()
runner = CliRunner()


def replace(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert text.count(old) == 1, f"{old!r} is not in {FILE} exactly once"
        return text.replace(old, new)

    return mutate


def append(extra: str) -> Callable[[str], str]:
    return lambda text: text + extra


def alias_bomb(levels: int) -> str:
    """The "billion laughs": each level is a list of nine aliases of the level before."""
    lines = ['  hybrid-ai:l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"  hybrid-ai:l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


class Case(NamedTuple):
    name: str
    mutate: Callable[[str], str | bytes]
    expected: tuple[str, ...]
    """Texts the error message holds (key path, line, value, fix)."""


COST_CENTER = "  hybrid-ai:costCenter: cc-4410-clinical-ai\n"
HUGE_COST_CENTER = "  hybrid-ai:costCenter: " + "c" * 50_000_000 + "\n"
HUGE_FILE_SIZE = f"{len(TEXT.replace(COST_CENTER, HUGE_COST_CENTER).encode()):,}"
"""The size the loader reports for the file with that cost center, as it prints it."""
APPENDED = len(TEXT.splitlines()) + 1
"""The line of the first line appended to the stack file."""
FIRST_TEAM = "      dataClassification: internal\n      # 7 slices"

CASES = [
    # Expansion: aliases are refused where they appear, not expanded.
    Case("a small alias bomb (the 9-level one: below, in a process of its own)", append(alias_bomb(3)), (f"hybrid-ai:l0: line {APPENDED}, column 17: anchor `&l0`", "anchors and aliases are not accepted", "write the value out")),
    Case("an alias of a team", append("  hybrid-ai:extra: &t {a: 1}\n  hybrid-ai:more: *t\n"), ("hybrid-ai:extra:", "anchor `&t`", "not accepted in stack files")),
    Case("values nested 100 levels deep", append("  hybrid-ai:deep: " + "[" * 100 + "]" * 100 + "\n"), ("hybrid-ai:deep", "nested more than 32 levels deep")),
    # Bytes that aren't YAML text.
    Case("a byte that isn't UTF-8", lambda text: text.encode().replace(b"cc-4410", b"cc-\xff410"), ("not UTF-8: byte 0xff at byte position 371 (line 8, column 28)", "save the file as UTF-8")),
    Case("Latin-1 text", lambda text: text.replace("development cluster", "développement").encode("latin-1"), ("not UTF-8: byte 0xe9 at byte position 34 (line 1, column 35)",)),
    Case("a control character", replace(COST_CENTER, "  hybrid-ai:costCenter: cc-4410\x07\n"), ("character U+0007 at line 8 is not allowed in YAML",)),
    Case("a second YAML document", append("---\nconfig: {}\n"), (f"line {APPENDED}, column 1: a stack file is one YAML document",)),
    Case("a 50 MB cost center", replace(COST_CENTER, HUGE_COST_CENTER), ("at most 1,048,576 (1 MiB)", f"is {HUGE_FILE_SIZE} bytes")),
    # The same key twice: YAML readers disagree on which one counts.
    Case(
        "a data classification downgraded by a second key",
        replace(FIRST_TEAM, "      dataClassification: phi\n      dataClassification: internal\n      # 7 slices"),
        ("hybrid-ai:teams[0].dataClassification: line 24, column 7: key appears twice, at lines 23 and 24 ('phi', then 'internal')", "keep one"),
    ),
    Case("a top-level key twice", replace(COST_CENTER, COST_CENTER + "  hybrid-ai:costCenter: cc-0000\n"), ("hybrid-ai:costCenter: line 9, column 3: key appears twice, at lines 8 and 9 ('cc-4410-clinical-ai', then 'cc-0000')",)),
    # Tags beyond the core schema.
    Case("a !!set", replace(FIRST_TEAM, "      dataClassification: !!set {phi}\n      # 7 slices"), ("hybrid-ai:teams[0].dataClassification: line 23, column 27: tag `!!set`", "only the core tags")),
    Case("a !!binary", replace(COST_CENTER, "  hybrid-ai:costCenter: !!binary Y2MtNDQxMA==\n"), ("hybrid-ai:costCenter: line 8, column 25: tag `!!binary`",)),
    Case("a Python object tag", replace(COST_CENTER, "  hybrid-ai:costCenter: !!python/object:os.system [ls]\n"), ("tag `!!python/object:os.system`",)),
    Case("a local tag", replace(COST_CENTER, "  hybrid-ai:costCenter: !vault cc-4410\n"), ("tag `!vault`",)),
    # Plain scalars YAML 1.1 and 1.2 readers read differently: quoted, they are text for all.
    Case("yes as a cost center", replace(COST_CENTER, "  hybrid-ai:costCenter: yes\n"), ("hybrid-ai:costCenter: line 8, column 25: plain `yes` is the boolean true to YAML 1.1 readers and the text 'yes' to YAML 1.2 readers", "quote it ('yes')")),
    Case("on as a group", replace("group: oidc:radiology-ml", "group: on"), ("hybrid-ai:teams[0].group: line 22, column 14: plain `on` is the boolean true",)),
    Case("off as a distribution", replace("distribution: k3s", "distribution: off"), ("hybrid-ai:onprem.distribution", "plain `off` is the boolean false")),
    Case("a sexagesimal number", replace("gpuMemoryGb: 5", "gpuMemoryGb: 1:30"), ("hybrid-ai:models[0].gpuMemoryGb", "plain `1:30` is the number 90 to YAML 1.1 readers and the text '1:30' to YAML 1.2 readers")),
    Case("an octal number", replace("peakRps: 5", "peakRps: 010"), ("hybrid-ai:models[0].peakRps", "plain `010` is the number 8 to YAML 1.1 readers and the number 10 to YAML 1.2 readers")),
    Case("a number with underscores", replace("throughputRps: 10", "throughputRps: 1_0"), ("hybrid-ai:models[0].throughputRps", "plain `1_0` is the number 10")),
    Case("a date as a cost center", replace(COST_CENTER, "  hybrid-ai:costCenter: 2024-01-01\n"), ("hybrid-ai:costCenter", "plain `2024-01-01` is the date 2024-01-01 to YAML 1.1 readers")),
    Case("a key read as a boolean", replace("      quota: {gpus: 7,", "      quota: {on: 7,"), ("hybrid-ai:teams[0].quota", "plain `on` is the boolean true")),
    # Values Kubernetes refuses as a label value.
    Case("a cost center with spaces", replace(COST_CENTER, "  hybrid-ai:costCenter: cc 4410\n"), ("hybrid-ai:costCenter: not a Kubernetes label value", "(got 'cc 4410')")),
    Case("a cost center with a slash", replace(COST_CENTER, "  hybrid-ai:costCenter: cc/4410\n"), ("hybrid-ai:costCenter: not a Kubernetes label value", "(got 'cc/4410')")),
    Case("a 300-character cost center", replace(COST_CENTER, "  hybrid-ai:costCenter: " + "c" * 300 + "\n"), ("hybrid-ai:costCenter: not a Kubernetes label value: at most 63 characters",)),
    # A misspelt key is one problem, not two.
    Case("a misspelt top-level key", replace("hybrid-ai:costCenter:", "hybrid-ai:costCentre:"), ("1 problem", "hybrid-ai:costCentre: unknown key; did you mean `costCenter`?")),
    Case("a misspelt nested key", replace("    context: hospital-lab", "    contxt: hospital-lab"), ("1 problem", "hybrid-ai:onprem.contxt: unknown key; did you mean `context`?")),
    # TLS and credentials (docs/security.md).
    Case(
        "a serving stack without an issuer",
        replace("  hybrid-ai:tls:\n    issuer: {ca: {secret: hybridai-ca}}\n", ""),
        ("hybrid-ai:tls: the stack serves models, and KServe's webhooks need cert-manager", "set `tls.issuer`"),
    ),
    Case(
        "a source naming a store the stack doesn't have",
        replace("{name: grafana-admin, store: vault,", "{name: grafana-admin, store: vualt,"),
        ("hybrid-ai:secrets.sources[1].store: no store 'vualt' in `secrets.stores`; did you mean `vault`? stores: vault", "(got 'vualt')"),
    ),
    Case(
        "a credential in plain text instead of a secure value",
        replace("      - {name: grafana-admin, store: vault, remoteKey: hc-dev/grafana-admin}\n", "      - {name: grafana-admin, values: [{key: admin-password, value: hunter2-admin}]}\n"),
        ("hybrid-ai:secrets.sources[1].values[0].value: holds a credential, so it must be stored encrypted", "pulumi config set --secret"),
    ),
]


def plan(project: Path, tmp_path: Path, stack: str = STACK):
    out = tmp_path / "out"
    result = runner.invoke(app, ["plan", stack, "--out", str(out), "--project-dir", str(project)])
    return result, out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_hostile_stack_file_is_refused_with_its_key_and_fix(project: Path, tmp_path: Path, case: Case) -> None:
    # GIVEN the stack file with one hostile change
    content = case.mutate(TEXT)
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    # WHEN it is planned
    started = time.perf_counter()
    result, out = plan(project, tmp_path)
    # THEN exit 2, within a second, one message naming file, key and fix; no traceback; nothing written
    assert time.perf_counter() - started < 5  # the program never runs: a refusal takes milliseconds
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stderr.startswith(f"{FILE}: invalid stack config"), result.stderr
    for text in case.expected:
        assert text in result.stderr, f"{text!r} not in:\n{result.stderr}"
    assert "Traceback" not in result.output and "Traceback" not in result.stderr
    assert not out.exists()


def test_a_misspelt_key_is_not_also_reported_missing(project: Path, tmp_path: Path) -> None:
    (project / "stacks" / f"Pulumi.{STACK}.yaml").write_text(TEXT.replace("hybrid-ai:costCenter:", "hybrid-ai:costCentre:"))
    result, _ = plan(project, tmp_path)
    assert result.exit_code == 2
    assert "required key is missing" not in result.stderr


def test_an_alias_bomb_fails_in_milliseconds_in_a_fresh_process(project: Path, tmp_path: Path) -> None:
    # GIVEN the stack file with 1 KB of aliases appended that expand to 9^10 strings (the old loader never finished)
    path = project / "stacks" / f"Pulumi.{STACK}.yaml"
    path.write_text(TEXT + alias_bomb(9))
    assert path.stat().st_size - len(TEXT.encode()) < 1024
    # WHEN planned in a process of its own (killed after 30 s if it expands the aliases)
    result = subprocess.run(
        [sys.executable, "-m", "hybridai.cli", "plan", STACK, "--out", str(tmp_path / "out"), "--project-dir", str(project)],
        capture_output=True, text=True, timeout=30, check=False,
    )
    # THEN exit 2 naming the first anchor's line
    assert result.returncode == 2, result.stderr
    assert f"hybrid-ai:l0: line {APPENDED}, column 17: anchor `&l0`" in result.stderr
    # AND the reading itself takes well under a second
    started = time.perf_counter()
    with pytest.raises(StackConfigError):
        read_stack_file(path, FILE)
    assert time.perf_counter() - started < 1


# Stack names: Pulumi's rule, and never a path out of stacks/.
BAD_NAMES = ["../../../tmp/evil", "../escaped", "a/b", "a\\b", "a::b", ".hidden", "..", "a b", "x" * 101, "stack;rm"]


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


@pytest.mark.parametrize("name", BAD_NAMES)
def test_new_refuses_a_stack_name_that_isnt_one_and_writes_nothing(project: Path, tmp_path: Path, name: str) -> None:
    before = files_under(tmp_path)
    result = runner.invoke(app, ["new", "healthcare-onprem", name, "--project-dir", str(project)])
    assert result.exit_code == 2
    assert "is not a stack name: use letters, digits, '-', '_' and '.', at most 100 characters, not starting with '.'" in result.stderr
    assert "nothing was written" in result.stderr
    assert files_under(tmp_path) == before


@pytest.mark.parametrize("name", BAD_NAMES)
def test_plan_refuses_a_stack_name_that_isnt_one(project: Path, tmp_path: Path, name: str) -> None:
    result, out = plan(project, tmp_path, name)
    assert result.exit_code == 2
    assert "is not a stack name" in result.stderr
    assert not out.exists()


@pytest.mark.parametrize("name", ["prod", "team_a.eu-west-1", "A-1", "x" * 100])
def test_valid_stack_names_are_accepted_by_new(project: Path, name: str) -> None:
    result = runner.invoke(app, ["new", "healthcare-onprem", name, "--project-dir", str(project)])
    assert result.exit_code == 0, result.output
    assert (project / "stacks" / f"Pulumi.{name}.yaml").is_file()


def test_a_missing_stack_file_names_the_closest_stacks_and_hybridai_new(project: Path, tmp_path: Path) -> None:
    # GIVEN no stack file healthcare-prd WHEN it is planned
    result, out = plan(project, tmp_path, "healthcare-prd")
    # THEN its own message: which stacks exist, the closest first, and how to start it
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "stacks/Pulumi.healthcare-prd.yaml: no such stack file; nothing was planned."
    assert lines[1].startswith("  Did you mean healthcare-prod")
    assert "Stacks here: finance-dev, finance-prod, healthcare-dev, healthcare-prod, manufacturing-prod." in result.stderr
    assert "`hybridai new BLUEPRINT healthcare-prd`" in result.stderr
    assert "invalid stack config" not in result.stderr and "edit those keys" not in result.stderr
    assert not out.exists()
