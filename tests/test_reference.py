"""The stack config reference: docs/reference.md generated from the spec models, and the
`hybridai reference` command that prints all of it, one blueprint's keys or one key."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from typer.testing import CliRunner

from hybridai import reference
from hybridai.cli import app
from tests.conftest import ROOT

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def rows(text: str) -> list[str]:
    """The key column of every table row, without the `hybrid-ai:` namespace."""
    return [line.split("`")[1].removeprefix("hybrid-ai:") for line in text.splitlines() if line.startswith("| `hybrid-ai:")]


# --- docs/reference.md ---------------------------------------------------------------------------


def test_docs_reference_is_generated_from_the_models() -> None:
    # GIVEN the committed reference page, WHEN the models render it now, THEN both are the same
    committed = (ROOT / "docs" / "reference.md").read_text()
    assert committed == reference.rendered(), "docs/reference.md is stale: run `hybridai reference --write`"


def test_common_keys_are_listed_once_then_each_blueprints_own() -> None:
    # GIVEN the reference of the three blueprints
    text = reference.rendered()
    common, rest = text.split("## Common keys\n", 1)[1].split("## Blueprint `finance-hybrid`\n", 1)
    finance, rest = rest.split("## Blueprint `healthcare-onprem`\n", 1)
    healthcare, manufacturing = rest.split("## Blueprint `manufacturing-edge`\n", 1)
    # THEN the keys of the spec every blueprint extends are common, with their nested keys
    for key in ("blueprint", "environment", "prefix", "costCenter", "monitoring.retention", "cost.onprem.pue", "policy.enforcement", "serving.gateway"):
        assert key in rows(common), key
    # AND so are keys whose nested keys are identical in every blueprint
    for key in ("gpuOperator.migStrategy", "onprem.gpuPools[].mig", "models[].canary.trafficPercent", "training[].deadlineHours"):
        assert key in rows(common), key
    # AND each appears once in the whole page
    assert text.count("| `hybrid-ai:monitoring.retention` |") == 1
    assert text.count("| `hybrid-ai:gpuOperator.cdi` |") == 1
    # AND the blueprint key lists every blueprint name as its type
    assert "| `hybrid-ai:blueprint` | `finance-hybrid` \\| `healthcare-onprem` \\| `manufacturing-edge` | required |" in common
    # AND teams, which differ (a hospital's data is PHI by default), stay per blueprint
    assert "| `hybrid-ai:teams[].dataClassification` | `phi` \\| `confidential` \\| `internal` \\| `public` | `phi` |" in healthcare
    assert "| `hybrid-ai:teams[].dataClassification` | `phi` \\| `confidential` \\| `internal` \\| `public` | `internal` |" in finance
    assert "teams[].quota.gpus" in rows(finance) and "teams" not in rows(common)
    # AND each blueprint lists its own keys only
    assert {"jurisdiction", "cloud.region", "audit.lockMode"} <= set(rows(finance)) and "sites" not in rows(finance)
    assert {"sites[].name", "sites[].maintenanceWindow.start", "hubRemoteWriteUrl"} <= set(rows(manufacturing))
    assert not {"cloud", "audit", "sites", "monitoring"} & set(rows(healthcare))


class _Settings(BaseModel):
    size: int = Field(default=1, description="How big.")


class _Base(BaseModel):
    blueprint: str = Field(description="Blueprint that builds this stack.")
    settings: _Settings = Field(default_factory=_Settings, description="Settings of the cluster.")


class _A(_Base):
    blueprint: Literal["a"] = Field(description="`a`.")
    settings: _Settings = Field(default_factory=_Settings, description="Settings of A's cluster: the plant's.")
    shared: _Settings = Field(default_factory=_Settings, description="The same everywhere.")
    other: _Settings = Field(default_factory=_Settings, description="Other of A.")
    only_a: int = Field(default=0, alias="onlyA", description="A's own.")


class _B(_Base):
    blueprint: Literal["b"] = Field(description="`b`.")
    shared: _Settings = Field(default_factory=_Settings, description="The same everywhere.")
    other: _Settings = Field(default_factory=_Settings, description="Other of B.")
    only_a: str = Field(default="x", alias="onlyA", description="Same name, another type.")


def test_build_splits_common_from_own_keys_of_any_spec_models() -> None:
    # GIVEN two specs extending a base, sharing keys identically, with other descriptions, and by name only
    ref = reference.build({"a": (_A, "A"), "b": (_B, "B")}, base=_Base)
    common = {k.name: k for k in ref.common}
    # THEN the base's blueprint field merges the blueprints' literal types and keeps the base's description
    assert common["blueprint"].type == "`a` \\| `b`" and common["blueprint"].description == "Blueprint that builds this stack."
    # AND a base field one blueprint describes further keeps the base's words, then that blueprint's
    assert common["settings"].description == "Settings of the cluster. `a`: Settings of A's cluster: the plant's."
    assert [c.path for c in common["settings"].children] == ["settings.size"]
    # AND an identical key is common as it is
    assert common["shared"].description == "The same everywhere."
    # AND a key with the same nested keys but its own description per blueprint is common, described per blueprint
    assert common["other"].description == "`a`: Other of A. `b`: Other of B."
    # AND a key whose type differs stays each blueprint's own
    assert [k.type for k in ref.own["a"]] == ["integer"] and [k.type for k in ref.own["b"]] == ["string"]


# --- hybridai reference ---------------------------------------------------------------------------


def test_reference_prints_the_whole_page() -> None:
    result = invoke("reference")
    assert result.exit_code == 0, result.output
    assert result.stdout == reference.rendered()


def test_reference_of_one_blueprint_prints_its_own_keys_and_names_the_common_ones() -> None:
    # WHEN one blueprint's reference is asked for
    result = invoke("reference", "manufacturing-edge")
    # THEN only its section prints: its own keys, not the common ones nor other blueprints'
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("## Blueprint `manufacturing-edge`\n")
    keys = rows(result.stdout)
    assert {"hubRemoteWriteUrl", "sites", "cloud.region", "jurisdiction"} <= set(keys)
    assert "audit" not in keys and "monitoring.retention" not in keys
    assert "## Blueprint `finance-hybrid`" not in result.stdout and "## Common keys" not in result.stdout
    # AND the common keys are named, with how to print one
    assert "Common keys (every blueprint): `blueprint`, `environment`, `prefix`, `costCenter`, `monitoring`" in result.stdout
    assert "`hybridai reference --key KEY` prints one." in result.stdout


def test_reference_key_prints_that_key_and_everything_under_it() -> None:
    # WHEN a nested key of the cloud burst pool is asked for
    result = invoke("reference", "--key", "cloud.gpuNodePools")
    # THEN it prints once, for both blueprints that have it, with its nested keys and nothing else
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("## `hybrid-ai:cloud.gpuNodePools` (`finance-hybrid`, `manufacturing-edge`)\n")
    keys = rows(result.stdout)
    assert keys[0] == "cloud.gpuNodePools"
    assert "cloud.gpuNodePools[].gpuLimit" in keys and "cloud.gpuNodePools[].capacityTypes" in keys
    assert all(k.startswith("cloud.gpuNodePools") for k in keys)


def test_every_key_the_page_names_as_an_example_exists() -> None:
    # GIVEN the keys the page's introduction shows `hybridai reference --key` with
    ref = reference.project_reference()
    examples = [line.split("--key ", 1)[1].split("`", 1)[0] for line in reference.INTRO.splitlines() if "--key " in line]
    # WHEN each is looked up THEN it is a key of the models (a renamed key doesn't linger in the docs)
    assert examples == ["cloud.gpuNodePools"]
    assert all(reference.find(ref, key) for key in examples)


def test_reference_key_takes_paths_as_errors_print_them_and_knows_common_keys() -> None:
    # GIVEN a key path as a config error prints it (namespace, list index)
    result = invoke("reference", "healthcare-onprem", "--key", "hybrid-ai:teams[2].quota.gpus")
    # THEN that one key prints, for that blueprint
    assert result.exit_code == 0, result.output
    assert rows(result.stdout) == ["teams[].quota.gpus"]
    assert "(`healthcare-onprem`)" in result.stdout
    # AND a common key says it is in every blueprint
    common = invoke("reference", "--key", "monitoring.idleGpuMinutes")
    assert common.exit_code == 0 and "(every blueprint)" in common.stdout
    assert "| `hybrid-ai:monitoring.idleGpuMinutes` | integer | `30` |" in common.stdout


def test_unknown_key_exits_2_naming_it_and_close_matches() -> None:
    # WHEN a mistyped key is asked for
    result = invoke("reference", "--key", "cloud.gpuNodePool")
    # THEN exit 2, the key named, the intended one suggested, nothing printed to stdout
    assert result.exit_code == 2
    assert "error: no stack config key 'cloud.gpuNodePool'; close matches: cloud.gpuNodePools" in result.stderr
    assert result.stdout == ""
    # AND a last key alone finds its full path
    assert "close matches: cloud.gpuNodePools[].instanceTypes" in invoke("reference", "--key", "instanceType").stderr


def test_key_of_another_blueprint_says_whose_it_is() -> None:
    result = invoke("reference", "healthcare-onprem", "--key", "sites")
    assert result.exit_code == 2
    assert "error: blueprint healthcare-onprem has no key 'sites'; it is a key of manufacturing-edge" in result.stderr


def test_unrelated_key_lists_the_top_level_keys() -> None:
    result = invoke("reference", "--key", "zzzz")
    assert result.exit_code == 2
    assert "error: no stack config key 'zzzz'; top-level keys: blueprint, environment," in result.stderr


def test_unknown_blueprint_exits_2_listing_the_blueprints() -> None:
    result = invoke("reference", "healthcare")
    assert result.exit_code == 2
    assert "error: unknown blueprint 'healthcare' (did you mean 'healthcare-onprem'?); use one of finance-hybrid, healthcare-onprem, manufacturing-edge" in result.stderr
    assert result.stdout == ""


def test_write_rewrites_docs_reference_of_the_project(project: Path) -> None:
    # GIVEN a project with a stale reference page
    (project / "docs").mkdir()
    (project / "docs" / "reference.md").write_text("stale\n")
    # WHEN it is rewritten
    result = invoke("reference", "--write", "--project-dir", str(project))
    # THEN the page is what the models say
    assert result.exit_code == 0, result.output
    assert (project / "docs" / "reference.md").read_text() == reference.rendered()
    assert f"wrote {project / 'docs' / 'reference.md'}" in result.stdout


def test_write_refuses_a_filter(project: Path) -> None:
    result = invoke("reference", "finance-hybrid", "--write", "--project-dir", str(project))
    assert result.exit_code == 2
    assert "--write rewrites the whole docs/reference.md; drop the blueprint and --key" in result.stderr
    assert not (project / "docs").exists()


# --- where users are sent for the reference --------------------------------------------------------


def test_config_errors_and_new_stacks_point_to_the_reference_page() -> None:
    from hybridai.blueprints import BLUEPRINTS
    from hybridai.config import Problem, StackConfigError

    # GIVEN a config error, THEN its fix line names the page that exists and the command
    message = StackConfigError("stacks/Pulumi.x.yaml", [Problem(("environment",), "literal_error", "bad", "qa")]).render()
    assert "every key is described in docs/reference.md (`hybridai reference --key <key.path>` prints one)." in message
    assert (ROOT / "docs" / "reference.md").is_file()
    # AND a new stack file points to it too
    bp = BLUEPRINTS["healthcare-onprem"]
    text = reference.new_stack(bp.spec, "healthcare-onprem", bp.summary, "scratch")
    assert "# Reference: docs/reference.md (or `hybridai reference healthcare-onprem`)." in text
