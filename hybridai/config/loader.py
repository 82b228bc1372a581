"""From a stack's raw config to a validated spec, or one error that lists every problem.

Two sources feed the same function: under `pulumi up` the Pulumi CLI hands the program the stack's
config (decrypted, as strings); under `hybridai plan` the engine reads the stack file and hands it
over in the same string form. Either way `parse_spec` validates everything before any resource is
registered.
"""
from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from hybridai import PROJECT
from hybridai.config.base import Problem
from hybridai.config.spec import StackSpec

NO_VALUE = object()


class StackConfigError(Exception):
    """A stack file that can't be deployed: every problem, each with its key path and value."""

    def __init__(self, stack_file: str, problems: list[Problem]):
        self.stack_file = stack_file
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{self.stack_file}: invalid stack config ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}); nothing was registered."]
        for p in self.problems:
            got = "" if p.value is NO_VALUE else f" (got {_show(p.value)})"
            lines.append(f"  {self.stack_file}: {key_path(p.loc)}: {p.message}{got}")
        lines.append(
            f"Fix: edit those keys in {self.stack_file} (or `pulumi config set --path '<key.path>' <value>`); "
            "every key is described in docs/reference.md (`hybridai reference --key <key.path>` prints one)."
        )
        return "\n".join(lines)


def key_path(loc: tuple[str | int, ...]) -> str:
    """`('teams', 0, 'quota', 'gpus')` → `hybrid-ai:teams[0].quota.gpus`, the form `pulumi config --path` takes."""
    out = f"{PROJECT}:"
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i == 0:
            out += part
        elif any(c in part for c in ".[]"):
            out += f'["{part}"]'
        else:
            out += f".{part}"
    return out


def _show(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def stack_file_label(stack: str) -> str:
    return f"stacks/Pulumi.{stack}.yaml"


def decode_config(raw: Mapping[str, str]) -> dict[str, Any]:
    """Pulumi passes config values as strings, objects and lists JSON-encoded; keep the project's keys."""
    values: dict[str, Any] = {}
    prefix = f"{PROJECT}:"
    for key, text in raw.items():
        if not key.startswith(prefix):
            continue  # provider and `pulumi:` keys belong to Pulumi, not to the blueprint
        if isinstance(text, str) and text[:1] in "[{":
            try:
                text = json.loads(text)
            except json.JSONDecodeError:
                pass
        values[key[len(prefix):]] = text
    return values


def encode_config(config: Mapping[str, Any]) -> dict[str, str]:
    """Stack-file values in the form the Pulumi CLI hands them to a program (what `set_all_config` takes)."""
    encoded = {}
    for key, value in config.items():
        if isinstance(value, (dict, list)):
            encoded[key] = json.dumps(value)
        elif isinstance(value, bool):
            encoded[key] = "true" if value else "false"
        else:
            encoded[key] = str(value)
    return encoded


def read_stack_file(path: Path, label: str) -> dict[str, Any]:
    """The `config:` map of a stack file, with YAML and shape errors reported like config errors."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise StackConfigError(label, [Problem(("<file>",), "missing", f"no stack file at {path}; create it with `hybridai new BLUEPRINT STACK`", NO_VALUE)]) from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise StackConfigError(label, [Problem(("<file>",), "yaml", f"not valid YAML{where}: {getattr(err, 'problem', err)}", NO_VALUE)]) from None
    config = (document or {}).get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackConfigError(label, [Problem(("config",), "missing", "the stack file needs a `config:` map", NO_VALUE)])
    problems = []
    for key, value in config.items():
        if ":" not in str(key):
            problems.append(Problem((str(key),), "not_namespaced", f"config keys are namespaced; write `{PROJECT}:{key}`", value))
        elif isinstance(value, dict) and set(value) == {"secure"}:
            problems.append(Problem((str(key).split(":", 1)[1],), "secret", "encrypted values can't be read by the offline plan; plan with a copy that holds a stand-in value", "<secure>"))
    if problems:
        raise StackConfigError(label, problems)
    return config


def validate_spec(stack: str, values: Mapping[str, Any], specs: Mapping[str, type[StackSpec]], label: str | None = None) -> StackSpec:
    """Decoded config values as the spec of the blueprint they name, every value checked; raises
    StackConfigError with all problems pydantic finds. Cross-field checks are `spec.check()`."""
    label = label or stack_file_label(stack)
    name = values.get("blueprint")
    spec_type = specs.get(name) if isinstance(name, str) else None
    if spec_type is None:
        message = "required key is missing" if name is None else "unknown blueprint"
        raise StackConfigError(label, [Problem(("blueprint",), "blueprint_unknown", f"{message}; use one of {', '.join(sorted(specs))}", NO_VALUE if name is None else name)])
    try:
        return spec_type.model_validate(dict(values), context={"stack": stack})
    except ValidationError as err:
        raise StackConfigError(label, [_named(_problem(e, spec_type), values) for e in err.errors()]) from None


def reject(label: str, problems: list[Problem], values: Mapping[str, Any]) -> None:
    """Raise one StackConfigError listing `problems`, if there are any."""
    if problems:
        raise StackConfigError(label, [_named(p, values) for p in problems])


def parse_spec(stack: str, values: Mapping[str, Any], specs: Mapping[str, type[StackSpec]], label: str | None = None) -> StackSpec:
    """Validate decoded config values against the spec of the blueprint they name, cross-field
    checks included."""
    spec = validate_spec(stack, values, specs, label)
    reject(label or stack_file_label(stack), spec.check(), values)
    return spec


def _named(problem: Problem, values: Mapping[str, Any]) -> Problem:
    """Name the list item a problem sits in (`site line-3: …`): an index alone is easy to misread
    in a file of many sites or teams."""
    loc = problem.loc
    if len(loc) >= 2 and isinstance(loc[1], int):
        items = values.get(loc[0])
        if isinstance(items, list) and loc[1] < len(items) and isinstance(items[loc[1]], dict) and isinstance(items[loc[1]].get("name"), str):
            noun = {"sites": "site", "teams": "team", "training": "job"}.get(str(loc[0]), str(loc[0]).rstrip("s"))
            return problem._replace(message=f"{noun} {items[loc[1]]['name']}: {problem.message}")
    return problem


def _problem(error: Any, model: type[BaseModel]) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    if kind == "missing":
        return Problem(loc, kind, "required key is missing; add it", NO_VALUE)
    if kind == "extra_forbidden":
        hint = _did_you_mean(model, loc)
        return Problem(loc, kind, f"unknown key{hint}", error["input"])
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return Problem(loc, kind, message, error.get("input"))


def _did_you_mean(model: type[BaseModel], loc: tuple) -> str:
    """Suggest the closest key of the model the unknown key sits in."""
    fields = _fields_at(model, loc[:-1])
    if not fields:
        return ""
    match = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
    return f"; did you mean `{match[0]}`?" if match else f"; known keys: {', '.join(sorted(fields))}"


def _fields_at(model: type[BaseModel] | None, path: tuple) -> list[str]:
    for part in path:
        if model is None or isinstance(part, int):
            continue
        field = next((f for f in model.model_fields.values() if f.alias == part), None)
        model = _model_of(field.annotation) if field else None
    if model is None:
        return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found:
            return found
    return None
