"""Stack config errors as a person reads them: one error listing every problem, each with its key
path, the value seen and the fix; pydantic's validation errors translated into such problems."""
from __future__ import annotations

import difflib
import json
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from hybridai.config.base import CREDENTIAL_STAND_IN, NO_VALUE, Problem, may_hold_credential, model_at
from hybridai.config.codec import key_path

FILE: tuple[str, ...] = ("<file>",)
"""The location of a problem of the file itself (its bytes, its YAML), not of one key."""


class StackConfigError(Exception):
    """A stack file that can't be deployed: every problem, each with its key path and value."""

    def __init__(self, stack_file: str, problems: list[Problem]):
        self.stack_file = stack_file
        self.problems = problems
        super().__init__(self.render())

    def render(self) -> str:
        """The message: a line per problem (its key path, what is wrong, the value seen), then the fix."""
        lines = [f"{self.stack_file}: invalid stack config ({len(self.problems)} problem{'s' if len(self.problems) != 1 else ''}); nothing was registered."]
        lines += [f"  {problem_line(self.stack_file, p)}" for p in self.problems]
        if all(p.loc == FILE for p in self.problems):
            lines.append(f"Fix: edit {self.stack_file} as each problem says; every key is described in docs/reference.md.")
        else:
            lines.append(
                f"Fix: edit those keys in {self.stack_file} (or `pulumi config set --path '<key.path>' <value>`); "
                "every key is described in docs/reference.md (`hybridai reference --key <key.path>` prints one)."
            )
        return "\n".join(lines)


def problem_line(stack_file: str, problem: Problem) -> str:
    """One problem as a line: the stack file, the key path, what is wrong, the value seen."""
    got = "" if problem.value is NO_VALUE else f" (got {_show(problem.value)})"
    where = "" if problem.loc == FILE else f" {key_path(problem.loc)}:"
    return f"{stack_file}:{where} {problem.message}{got}"


class StackFileMissing(StackConfigError):
    """No stack file of that name: not a config problem, so it says which stacks exist instead."""

    def __init__(self, stack_file: str, stack: str, existing: list[str]):
        self.stack = stack
        self.existing = existing
        self.closest = difflib.get_close_matches(stack, existing, n=3, cutoff=0.5)
        super().__init__(stack_file, [Problem(FILE, "missing", f"no such stack file; start it with `hybridai new BLUEPRINT {stack}`", NO_VALUE)])

    def render(self) -> str:
        """The message: which stacks exist, the closest first, and how to start this one."""
        lines = [f"{self.stack_file}: no such stack file; nothing was planned."]
        if self.closest:
            lines.append(f"  Did you mean {', '.join(self.closest[:-1]) + ' or ' if len(self.closest) > 1 else ''}{self.closest[-1]}?")
        lines.append(f"  Stacks here: {', '.join(self.existing)}." if self.existing else "  There are no stack files in stacks/ yet.")
        plan_hint = f"plan an existing one (`hybridai plan {self.closest[0]}`), or " if self.closest else ""
        lines.append(f"Fix: {plan_hint}start this stack with `hybridai new BLUEPRINT {self.stack}` (`hybridai blueprints` lists the blueprints).")
        return "\n".join(lines)


def _show(value: Any) -> str:
    if isinstance(value, Hidden):
        return str(value)
    text = json.dumps(value, default=str, sort_keys=True) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def reject(label: str, problems: list[Problem], values: Mapping[str, Any]) -> None:
    """Raise one StackConfigError listing `problems`, if there are any, each named after the list
    item it sits in."""
    if problems:
        raise StackConfigError(label, [_named(p, values) for p in problems])


def validation_problems(error: ValidationError, model: type[BaseModel], values: Mapping[str, Any]) -> list[Problem]:
    """pydantic's errors of validating `values` as `model`, as problems: our messages, credentials
    never shown, a misspelt key reported once, each named after the list item it sits in."""
    return [_named(p, values) for p in _one_per_typo([_problem(e, model) for e in error.errors()], model)]


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
        return Problem(loc, kind, f"unknown key{_did_you_mean(model, loc)}", error["input"])
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    if kind in CLASS_NAMING_TYPES:
        # pydantic names the model class (`… instance of OnpremCluster`): ours, not the user's words.
        path = key_path(tuple(p for p in loc if not isinstance(p, int))).split(":", 1)[1]
        message = f"should be a mapping of keys (`hybridai reference --key {path}` lists them)"
    value = error.get("input")
    if kind == "plaintext_credential":
        value = "[redacted]"
    elif kind == "url_credentials":
        value = (error.get("ctx") or {}).get("redacted", "[redacted]")
    elif may_hold_credential(model, loc):
        value = hidden(value)  # a credential is never printed, not even when it is wrong, whatever its shape
    return Problem(loc, kind, message, value)


class Hidden(str):
    """A value shown by its shape only (it is, or may hold, a credential): printed as it is, unquoted."""


def hidden(value: Any) -> Any:
    """What a problem shows of a value at or below a credential key: its shape, never its content."""
    if isinstance(value, dict):
        return Hidden(f"a mapping of {len(value)} key{'s' if len(value) != 1 else ''} (values hidden)")
    if isinstance(value, list):
        return Hidden(f"a list of {len(value)} item{'s' if len(value) != 1 else ''} (values hidden)")
    return CREDENTIAL_STAND_IN


CLASS_NAMING_TYPES = frozenset({"model_type", "model_attributes_type", "dataclass_type", "is_instance_of"})
"""pydantic error types whose message names a Python class rather than what the stack file should hold."""


def _closest_key(model: type[BaseModel], loc: tuple) -> tuple[str | None, list[str]]:
    """The key of the model the unknown key at `loc` sits in that is closest to it, and all its keys."""
    parent = model_at(model, loc[:-1])
    fields = [f.alias or n for n, f in parent.model_fields.items()] if parent is not None else []
    match = difflib.get_close_matches(str(loc[-1]), fields, n=1, cutoff=0.6)
    return (match[0] if match else None), fields


def _did_you_mean(model: type[BaseModel], loc: tuple) -> str:
    """Suggest the closest key of the model the unknown key sits in."""
    match, fields = _closest_key(model, loc)
    if not fields:
        return ""
    return f"; did you mean `{match}`?" if match else f"; known keys: {', '.join(sorted(fields))}"


def _one_per_typo(problems: list[Problem], model: type[BaseModel]) -> list[Problem]:
    """A misspelt key is both an unknown key and a missing one: keep the unknown key, which
    names the missing one (`unknown key; did you mean …?`), and drop the missing one."""
    suggested = set()
    for p in problems:
        if p.type == "extra_forbidden":
            match, _ = _closest_key(model, p.loc)
            if match:
                suggested.add((*p.loc[:-1], match))
    return [p for p in problems if not (p.type == "missing" and p.loc in suggested)]
