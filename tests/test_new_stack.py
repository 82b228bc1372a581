"""`hybridai new`: the stack files it writes plan as written (dev) or once their `# example` values
are replaced (prod), every store has its own Secret and bucket, a prod stack keeps no example value,
and going to prod reports everything prod requires in one run."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from hybridai.blueprints import BLUEPRINTS
from hybridai.cli import app
from hybridai.reference import Key, keys

runner = CliRunner()
STACK = "scratch"


def new(project: Path, blueprint: str, *options: str) -> dict[str, Any]:
    result = runner.invoke(app, ["new", blueprint, STACK, "--project-dir", str(project), "--force", *options])
    assert result.exit_code == 0, result.output
    return yaml.safe_load(stack_file(project).read_text())


def stack_file(project: Path) -> Path:
    return project / "stacks" / f"Pulumi.{STACK}.yaml"


def write(project: Path, document: dict[str, Any]) -> None:
    stack_file(project).write_text(yaml.safe_dump(document, sort_keys=False))


def plan(project: Path, tmp_path: Path, out: str = "out"):
    return runner.invoke(app, ["plan", STACK, "--out", str(tmp_path / out), "--project-dir", str(project)])


def _examples(items: list[Key]) -> set[str]:
    """The example values of every PLACEHOLDER key (a list's items, a mapping's values)."""
    found: set[str] = set()
    for key in items:
        if key.placeholder and key.example is not None:
            example = key.example
            found |= set(example if isinstance(example, list) else example.values() if isinstance(example, dict) else [example])
        found |= _examples(key.children)
    return found


def _yours(value: str) -> str:
    """What a user writes instead of an example value: their own domain, account, names."""
    if "example" in value:
        return value.replace("example", "acme")
    return value.replace("111122223333", "123456789012") if "111122223333" in value else f"{value}x"


def replace_examples(document: dict[str, Any], blueprint: str) -> dict[str, Any]:
    """The stack file with every example value replaced, wherever it appears (a team's name also
    where a model names its team; the account inside a role ARN)."""
    examples = _examples(keys(BLUEPRINTS[blueprint].spec))
    accounts = {e for e in examples if e.isdigit()}

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str) and (value in examples or any(a in value for a in accounts)):
            return _yours(value)
        return value

    return walk(document)


def config(document: dict[str, Any], key: str) -> Any:
    return document["config"][f"hybrid-ai:{key}"]


@pytest.mark.parametrize("minimal", [False, True], ids=["full", "minimal"])
@pytest.mark.parametrize("blueprint", sorted(BLUEPRINTS))
def test_a_new_dev_stack_plans_as_written_and_warns_of_its_examples(project: Path, tmp_path: Path, blueprint: str, minimal: bool) -> None:
    # GIVEN a new dev stack file, full or --minimal
    document = new(project, blueprint, *(["--minimal"] if minimal else []))
    text = stack_file(project).read_text()
    # THEN its placeholders are marked, and --minimal has no commented-out keys
    assert "hybrid-ai:costCenter: cc-0000  # example" in text
    assert ("# hybrid-ai:gpuOperator:" in text) is not minimal
    # WHEN it is planned as written
    result = plan(project, tmp_path)
    # THEN it plans, and each example value it still holds is a warning naming its key
    assert result.exit_code == 0, result.output
    assert f"warning: stacks/Pulumi.{STACK}.yaml: hybrid-ai:costCenter: is the example `hybridai new` wrote" in result.stderr
    assert "hybrid-ai:onprem.context: is the example" in result.stderr
    # AND with the examples replaced, nothing is warned of
    write(project, replace_examples(document, blueprint))
    assert "warning" not in plan(project, tmp_path, "replaced").stderr


@pytest.mark.parametrize("minimal", [False, True], ids=["full", "minimal"])
@pytest.mark.parametrize("blueprint", sorted(BLUEPRINTS))
def test_a_new_prod_stack_plans_once_its_examples_are_replaced(project: Path, tmp_path: Path, blueprint: str, minimal: bool) -> None:
    # GIVEN a new prod stack file
    document = new(project, blueprint, "--environment", "prod", *(["--minimal"] if minimal else []))
    assert config(document, "environment") == "prod"
    # THEN every credential Secret comes from the secret store, never a value in the file
    secrets = config(document, "secrets")
    assert secrets["sources"] and all(s["store"] == secrets["stores"][0]["name"] and "values" not in s for s in secrets["sources"])
    # WHEN it is planned as written: the only problems are its example values, each at its key
    refused = plan(project, tmp_path)
    assert refused.exit_code == 2
    problems = [line for line in refused.stderr.splitlines() if line.startswith(f"  stacks/Pulumi.{STACK}.yaml:")]
    assert problems and all("is the example `hybridai new` wrote" in line and "a prod stack can't keep one" in line for line in problems), refused.stderr
    # WHEN they are replaced, THEN it plans, the mandatory policy rules included
    write(project, replace_examples(document, blueprint))
    planned = plan(project, tmp_path, "replaced")
    assert planned.exit_code == 0, planned.output


def _stores(value: Any, at: str = "") -> dict[str, dict[str, Any]]:
    """Every object store block of a stack file (a mapping with a `bucket` and access key), by key path."""
    found: dict[str, dict[str, Any]] = {}
    if isinstance(value, dict):
        if "bucket" in value and "accessKeyId" in value:
            found[at] = value
        for k, v in value.items():
            found |= _stores(v, f"{at}.{k}" if at else k)
    return found


@pytest.mark.parametrize("environment", ["dev", "prod"])
@pytest.mark.parametrize("blueprint", sorted(BLUEPRINTS))
def test_no_two_stores_of_a_new_stack_share_a_secret_or_a_bucket(project: Path, blueprint: str, environment: str) -> None:
    # GIVEN a new stack file
    document = new(project, blueprint, "--environment", environment)
    # WHEN its object stores (the log store, the audit archive, the backup store) are read
    stores = _stores(document["config"])
    assert {"hybrid-ai:logging.objectStore", "hybrid-ai:logging.auditArchive", "hybrid-ai:backups.objectStore"} <= set(stores)
    # THEN each has a bucket and a Secret of its own, both keys in it, each key its own
    buckets = [s["bucket"] for s in stores.values()]
    secrets = [s["accessKeyId"]["name"] for s in stores.values()]
    assert len(set(buckets)) == len(buckets) and len(set(secrets)) == len(secrets)
    for store in stores.values():
        assert store["secretAccessKey"]["name"] == store["accessKeyId"]["name"]
        assert (store["accessKeyId"]["key"], store["secretAccessKey"]["key"]) == ("access-key-id", "secret-access-key")


def test_comments_name_the_namespace_each_secret_is_read_in(project: Path) -> None:
    # GIVEN the full finance template (MLflow and Argo blocks commented out in it)
    new(project, "finance-hybrid")
    text = stack_file(project).read_text()
    # THEN a Secret MLflow or Argo reads is described in its own namespace, never the monitoring one
    assert "Secret in MLflow's namespace (`mlflow`)." in text and "Secret in Argo Workflows' namespace (`argo`)." in text
    assert "Its access key is read from a Secret in Loki's namespace (`logging.namespace`)." in text
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "Secret in the monitoring namespace" in line:
            # only Alertmanager's receiver keys, under monitoring.alerting
            assert any("alerting" in above for above in lines[max(0, i - 60) : i]), line


def test_a_list_item_keeps_its_keys_together(project: Path) -> None:
    # GIVEN the full template
    new(project, "healthcare-onprem")
    lines = stack_file(project).read_text().splitlines()
    # WHEN the teams list is read
    start = lines.index("  hybrid-ai:teams:")
    item = lines[start + 1 : start + 1 + next(i for i, line in enumerate(lines[start + 1 :]) if not line.startswith("    "))]
    # THEN its item starts with its name and no comment line sits between its keys (they are
    # described above the list)
    assert item[0].startswith("    - name:") and len(item) >= 2
    assert not any(line.lstrip().startswith("#") for line in item)
    assert lines[start - 1].lstrip().startswith("#")


def test_going_to_prod_reports_everything_prod_requires_in_one_run(project: Path, tmp_path: Path) -> None:
    # GIVEN a dev stack of the edge blueprint, its examples replaced, switched to prod by hand
    dev = replace_examples(new(project, "manufacturing-edge"), "manufacturing-edge")
    prod = replace_examples(new(project, "manufacturing-edge", "--environment", "prod"), "manufacturing-edge")
    dev["config"]["hybrid-ai:environment"] = "prod"
    write(project, dev)
    # WHEN it is planned once
    first = plan(project, tmp_path)
    # THEN it is refused with every requirement prod adds: a source for each credential Secret and a
    # backup of each edge site (a mandatory policy rule's, said before planning)
    assert first.exit_code == 2
    for source in config(prod, "secrets")["sources"]:
        assert f"add a source for '{source['name']}'" in first.stderr
    assert "hybrid-ai:backups.sites: a prod stack backs up every namespace holding data (policy rule backup-stateful-namespaces)" in first.stderr
    # AND doing what it said is all it takes: the second run plans (one round)
    dev["config"]["hybrid-ai:secrets"] = config(prod, "secrets")
    dev["config"]["hybrid-ai:backups"] = config(prod, "backups")
    write(project, dev)
    second = plan(project, tmp_path, "second")
    assert second.exit_code == 0, second.output


def test_a_raw_uri_production_model_learns_the_registry_chain_in_one_run(project: Path, tmp_path: Path) -> None:
    # GIVEN a HIPAA prod stack without MLOps, serving a production model from a raw URI
    document = replace_examples(new(project, "healthcare-onprem", "--environment", "prod"), "healthcare-onprem")
    team = config(document, "teams")[0]["name"]
    document["config"]["hybrid-ai:models"] = [
        {"name": "notes", "team": team, "storageUri": "s3://models/notes/v1", "gpuMemoryGb": 10, "peakRps": 10, "throughputRps": 10}
    ]
    write(project, document)
    # WHEN it is planned
    result = plan(project, tmp_path)
    # THEN the config check says, at the model's key, what the models-from-registry rule will
    # require and what that needs in turn (the registry's MLflow and its Secrets' sources)
    assert result.exit_code == 2
    assert "hybrid-ai:models[0].storageUri: model notes: a production model is served from a pinned registry version (policy rule models-from-registry, profiles hipaa)" in result.stderr
    assert "add the `mlops` block too" in result.stderr and "a `secrets.sources` entry for each Secret it names" in result.stderr
    # AND a stack that lowers the rule, with its reason, is not held to it ahead
    document["config"]["hybrid-ai:policy"] = {"enforcement": {"models-from-registry": {"level": "advisory", "reason": "pilot: registry next quarter"}}}
    write(project, document)
    lowered = plan(project, tmp_path, "lowered")
    assert lowered.exit_code == 0, lowered.output
    assert "hybrid-ai:models[0].storageUri" not in lowered.stderr
