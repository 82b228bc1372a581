"""From a stack's raw config to a validated spec, or one error that lists every problem.

Two sources feed the same function: under `pulumi up` the Pulumi CLI hands the program the stack's
config (decrypted, as strings); under `hybridai plan` the engine reads the stack file and hands it
over in the same string form. Either way `parse_spec` validates everything before any resource is
registered.

Stack files are read strictly (`parse_stack_yaml`): at most 1 MiB of UTF-8, one document, no
anchors, aliases or tags beyond the core ones, each key once, and no plain scalar whose meaning
depends on the YAML version (`yes`, `on`, `0777`, `1_000`, `2024-01-01`, `1:30`): quoted, they are
text for every reader. Top-level values are kept as the text the file holds, which is what the
Pulumi CLI hands a program. `secure:` values are accepted only for `Credential` keys; the offline
plan can't decrypt them and uses a stand-in that the engine marks secret.
"""
from __future__ import annotations

import difflib
import json
import math
import re
from pathlib import Path
from typing import Any, Mapping, NamedTuple

import yaml
from pydantic import BaseModel, ValidationError

from hybridai import PROJECT
from hybridai.config.base import CREDENTIAL_STAND_IN, NO_VALUE, Problem, is_credential
from hybridai.config.spec import StackSpec

FILE: tuple[str, ...] = ("<file>",)
"""The location of a problem of the file itself (its bytes, its YAML), not of one key."""
SECRET_STAND_IN = CREDENTIAL_STAND_IN
"""What the offline plan uses for a `secure:` value it can't decrypt; the engine lists its key as
secret, and a credential reaches resources only as a Pulumi secret: artifacts show `[secret…]`."""
MAX_STACK_FILE_BYTES = 1 << 20
MAX_DEPTH = 32


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
            where = "" if p.loc == FILE else f" {key_path(p.loc)}:"
            lines.append(f"  {self.stack_file}:{where} {p.message}{got}")
        if all(p.loc == FILE for p in self.problems):
            lines.append(f"Fix: edit {self.stack_file} as each problem says; every key is described in docs/reference.md.")
        else:
            lines.append(
                f"Fix: edit those keys in {self.stack_file} (or `pulumi config set --path '<key.path>' <value>`); "
                "every key is described in docs/reference.md (`hybridai reference --key <key.path>` prints one)."
            )
        return "\n".join(lines)


class StackFileMissing(StackConfigError):
    """No stack file of that name: not a config problem, so it says which stacks exist instead."""

    def __init__(self, stack_file: str, stack: str, existing: list[str]):
        self.stack = stack
        self.existing = existing
        self.closest = difflib.get_close_matches(stack, existing, n=3, cutoff=0.5)
        super().__init__(stack_file, [Problem(FILE, "missing", f"no such stack file; start it with `hybridai new BLUEPRINT {stack}`", NO_VALUE)])

    def render(self) -> str:
        lines = [f"{self.stack_file}: no such stack file; nothing was planned."]
        if self.closest:
            lines.append(f"  Did you mean {', '.join(self.closest[:-1]) + ' or ' if len(self.closest) > 1 else ''}{self.closest[-1]}?")
        lines.append(f"  Stacks here: {', '.join(self.existing)}." if self.existing else "  There are no stack files in stacks/ yet.")
        plan_hint = f"plan an existing one (`hybridai plan {self.closest[0]}`), or " if self.closest else ""
        lines.append(f"Fix: {plan_hint}start this stack with `hybridai new BLUEPRINT {self.stack}` (`hybridai blueprints` lists the blueprints).")
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


class Secure(NamedTuple):
    """A `secure:` value as the stack file holds it (encrypted; only Pulumi can decrypt it)."""

    ciphertext: str


class StackFile(NamedTuple):
    config: dict[str, Any]
    """The `config:` map: top-level values as the text the file holds, objects typed; each
    `secure:` value of a credential key replaced by SECRET_STAND_IN."""
    secret_keys: list[str]
    """Config keys (`hybrid-ai:token`) holding a `secure:` value, as the Pulumi CLI lists them."""


def load_stack_file(path: Path, label: str, specs: Mapping[str, type[StackSpec]] | None = None) -> StackFile:
    """Read and check a stack file: StackFileMissing when there is none, StackConfigError listing
    every problem of its bytes, its YAML and its `secure:` values (which keys of the blueprint in
    `specs` are credentials decides which may be secure; without `specs`, none)."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_STACK_FILE_BYTES + 1)
    except FileNotFoundError:
        existing = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in path.parent.glob("Pulumi.*.yaml")) if path.parent.is_dir() else []
        raise StackFileMissing(label, path.name.removeprefix("Pulumi.").removesuffix(".yaml"), existing) from None
    except IsADirectoryError:
        raise StackConfigError(label, [Problem(FILE, "not_a_file", "is a folder, not a stack file", NO_VALUE)]) from None
    if len(data) > MAX_STACK_FILE_BYTES:
        size = path.stat().st_size
        raise StackConfigError(
            label, [Problem(FILE, "too_large", f"is {size:,} bytes; a stack file holds at most {MAX_STACK_FILE_BYTES:,} (1 MiB) of settings: nothing in a stack needs more", NO_VALUE)]
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        column = err.start - (data.rfind(b"\n", 0, err.start) + 1) + 1
        raise StackConfigError(
            label, [Problem(FILE, "encoding", f"not UTF-8: byte 0x{data[err.start]:02x} at byte position {err.start} (line {line}, column {column}) can't be decoded; save the file as UTF-8", NO_VALUE)]
        ) from None
    document = parse_stack_yaml(text, label)
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise StackConfigError(label, [Problem(("config",), "missing", "the stack file needs a `config:` map", NO_VALUE)])
    problems = [Problem((str(key),), "not_namespaced", f"config keys are namespaced; write `{PROJECT}:{key}`", value) for key, value in config.items() if ":" not in str(key)]
    if problems:
        raise StackConfigError(label, problems)
    return _stand_in_secrets(config, label, specs or {})


def read_stack_file(path: Path, label: str, specs: Mapping[str, type[StackSpec]] | None = None) -> dict[str, Any]:
    """The `config:` map of a stack file, every problem of the file reported like config errors
    (see `load_stack_file`)."""
    return load_stack_file(path, label, specs).config


# --- Strict YAML -------------------------------------------------------------------------------

_CORE_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq")}
_YAML11 = yaml.resolver.Resolver()
_YAML11_VALUES = yaml.constructor.SafeConstructor()
_INVALID = object()
_NULL12 = {"", "~", "null", "Null", "NULL"}
_BOOL12 = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT12 = re.compile(r"^[-+]?[0-9]+$")
_FLOAT12 = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INF12 = re.compile(r"^[-+]?\.(inf|Inf|INF)$")
_NAN12 = re.compile(r"^\.(nan|NaN|NAN)$")


def _core_value(tag: str | None, text: str) -> Any:
    """`text` as the YAML 1.2 core schema reads it (untagged: resolved; tagged: checked), or _INVALID."""
    if tag in (None, "tag:yaml.org,2002:null") and text in _NULL12:
        return None
    if tag in (None, "tag:yaml.org,2002:bool") and text in _BOOL12:
        return _BOOL12[text]
    if tag in (None, "tag:yaml.org,2002:int"):
        if _INT12.match(text):
            return int(text, 10)
        if text.startswith("0o") and re.fullmatch(r"[0-7]+", text[2:]):
            return int(text[2:], 8)
        if text.startswith("0x") and re.fullmatch(r"[0-9a-fA-F]+", text[2:]):
            return int(text[2:], 16)
    if tag in (None, "tag:yaml.org,2002:float"):
        if _FLOAT12.match(text):
            return float(text)
        if _INF12.match(text):
            return float("-inf") if text.startswith("-") else float("inf")
        if _NAN12.match(text):
            return float("nan")
    if tag in (None, "tag:yaml.org,2002:str"):
        return text
    return _INVALID


def _yaml11_value(tag: str | None, text: str) -> Any:
    """`text` as a YAML 1.1 reader (PyYAML's safe_load, go-yaml v2) reads it, or _INVALID."""
    node = yaml.ScalarNode(tag or _YAML11.resolve(yaml.ScalarNode, text, (True, False)), text)
    try:
        return _YAML11_VALUES.construct_object(node, deep=True)
    except (yaml.YAMLError, ValueError, TypeError, OverflowError):
        return _INVALID


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {value!r}"
    if hasattr(value, "isoformat"):
        return f"the date {value.isoformat()}"
    return f"a {type(value).__name__}"


class _Fatal(Exception):
    """A YAML problem after which reading can't go on (an alias to expand, nesting too deep)."""


class _PyEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
    """PyYAML's pure-Python event parser (used when PyYAML is built without libyaml)."""

    def __init__(self, text: str):
        yaml.reader.Reader.__init__(self, text)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)


def _events(text: str) -> Any:
    try:
        from yaml._yaml import CParser  # libyaml's parser: the events, ~10x faster

        return CParser(text)
    except ImportError:  # pragma: no cover - PyYAML without libyaml
        return _PyEvents(text)


class _StrictReader:
    """Builds the document from parser events, refusing what a stack file never needs and what
    different YAML readers (the Pulumi CLI, PyYAML, yq, editors) would read differently."""

    def __init__(self, text: str):
        self.events = _events(text)
        self.problems: list[tuple[tuple, Any, str, str]] = []
        """(path, mark, kind, message) of every problem found."""

    def document(self) -> Any:
        events = self.events
        events.get_event()  # stream start
        if isinstance(events.peek_event(), yaml.StreamEndEvent):
            return None
        events.get_event()  # document start
        value = self.node((), 0)
        events.get_event()  # document end
        if not isinstance(events.peek_event(), yaml.StreamEndEvent):
            self.problems.append(((), events.peek_event().start_mark, "yaml", "a stack file is one YAML document; remove the `---` and what follows"))
        return value

    def problem(self, path: tuple, mark: Any, kind: str, message: str) -> None:
        self.problems.append((path, mark, kind, message))

    def node(self, path: tuple, depth: int, raw: bool = False) -> Any:
        event = self.events.get_event()
        mark = event.start_mark
        if isinstance(event, yaml.AliasEvent):
            raise _Fatal(path, mark, "yaml_alias", f"alias `*{event.anchor}`: YAML anchors and aliases are not accepted in stack files (Pulumi writes none, and expanding them can take any amount of memory); write the value out")
        if event.anchor is not None:
            raise _Fatal(path, mark, "yaml_alias", f"anchor `&{event.anchor}`: YAML anchors and aliases are not accepted in stack files (Pulumi writes none, and expanding them can take any amount of memory); write the value out")
        if depth > MAX_DEPTH:
            raise _Fatal(path, mark, "yaml_depth", f"values nested more than {MAX_DEPTH} levels deep; no stack key needs that")
        tag = event.tag if event.tag not in (None, "!") else None
        if tag is not None and tag not in _CORE_TAGS:
            shown = tag.replace("tag:yaml.org,2002:", "!!")
            self.problem(path, mark, "yaml_tag", f"tag `{shown}`: stack files hold plain values; only the core tags !!str, !!int, !!float, !!bool, !!null, !!map and !!seq are accepted")
            tag = None
        if isinstance(event, yaml.ScalarEvent):
            return self.scalar(event, tag, path, raw)
        if isinstance(event, yaml.SequenceStartEvent):
            items = []
            while not isinstance(self.events.peek_event(), yaml.SequenceEndEvent):
                items.append(self.node((*path, len(items)), depth + 1))
            self.events.get_event()
            return items
        return self.mapping(path, depth, mark)

    def mapping(self, path: tuple, depth: int, mark: Any) -> Any:
        values: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        while not isinstance(self.events.peek_event(), yaml.MappingEndEvent):
            key_event = self.events.peek_event()
            if not isinstance(key_event, yaml.ScalarEvent) or key_event.anchor is not None:
                self.node(path, depth + 1)  # raises for aliases and anchors
                self.problem(path, key_event.start_mark, "yaml_key", "keys are names; a list or map as a key is not accepted")
                self.node(path, depth + 1)
                continue
            self.events.get_event()
            key = self.scalar(key_event, key_event.tag if key_event.tag not in (None, "!") else None, path, raw=False)
            if not isinstance(key, str):
                self.problem(path, key_event.start_mark, "yaml_key", f"key `{key_event.value}` is read as {_describe(key)}; keys are names: quote it")
                key = key_event.value
            line = key_event.start_mark.line + 1
            value = self.node((*path, key), depth + 1, raw=path == ("config",))
            if key in lines:
                self.problem(
                    (*path, key), key_event.start_mark, "duplicate_key",
                    f"key appears twice, at lines {lines[key]} and {line} ({_brief(values[key])}, then {_brief(value)}); YAML readers differ on which one counts: keep one",
                )
                continue
            lines[key] = line
            values[key] = value
        self.events.get_event()
        if set(values) == {"secure"} and isinstance(values["secure"], str):
            return Secure(values["secure"])
        return values

    def scalar(self, event: Any, tag: str | None, path: tuple, raw: bool) -> Any:
        text = event.value
        plain = bool(event.implicit[0]) and not event.style
        if tag is None and not plain:
            return text  # quoted or block: text for every reader
        value = _core_value(tag, text)
        if value is _INVALID:
            self.problem(path, event.start_mark, "yaml_value", f"`{text}` is not a valid {tag.replace('tag:yaml.org,2002:', '!!') if tag else 'value'}")
            return text
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(path, event.start_mark, "yaml_value", f"`{text}` is not a finite number")
            return text
        older = _yaml11_value(tag, text)
        if older is _INVALID or type(older) is not type(value) or older != value:
            self.problem(
                path, event.start_mark, "yaml_ambiguous",
                f"plain `{text}` is {_describe(older) if older is not _INVALID else 'an error'} to YAML 1.1 readers and {_describe(value)} to YAML 1.2 readers: "
                f"quote it ('{text}') if you mean the text, or write the value so that both agree",
            )
            return text
        if raw:
            # The Pulumi CLI hands a program every top-level value as the text the file holds.
            return "" if value is None else text
        return value


def _brief(value: Any) -> str:
    if isinstance(value, Secure):
        return "a secure value"
    if isinstance(value, (dict, list)):
        return "a map" if isinstance(value, dict) else "a list"
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _location(path: tuple, mark: Any) -> tuple[tuple, str]:
    """Where a YAML problem is: the key path when it lies under a project key, and the line."""
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "the file"
    prefix = f"{PROJECT}:"
    if len(path) >= 2 and path[0] == "config" and isinstance(path[1], str) and path[1].startswith(prefix):
        return (path[1][len(prefix):], *path[2:]), where
    if path:
        shown = "".join(f"[{p}]" if isinstance(p, int) else (p if i == 0 else f".{p}") for i, p in enumerate(path))
        return FILE, f"{where} (`{shown}`)"
    return FILE, where


def parse_stack_yaml(text: str, label: str) -> Any:
    """The stack file's document, read strictly; StackConfigError listing every problem, each at
    its key path and line."""
    reader = _StrictReader(text)
    try:
        document = reader.document()
    except _Fatal as fatal:
        path, mark, kind, message = fatal.args
        reader.problems.append((path, mark, kind, message))
        document = None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise StackConfigError(label, [Problem(FILE, "yaml", f"not valid YAML{where}: {err.problem or err.context or err}", NO_VALUE)]) from None
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        raise StackConfigError(label, [Problem(FILE, "yaml", f"character U+{err.character:04X} at line {line} is not allowed in YAML; remove it", NO_VALUE)]) from None
    except yaml.YAMLError as err:
        raise StackConfigError(label, [Problem(FILE, "yaml", f"not valid YAML: {err}", NO_VALUE)]) from None
    finally:
        dispose = getattr(reader.events, "dispose", None)
        if dispose:
            dispose()
    if reader.problems:
        out = []
        for path, mark, kind, message in reader.problems[:50]:
            loc, where = _location(path, mark)
            out.append(Problem(loc, kind, f"{where}: {message}", NO_VALUE))
        raise StackConfigError(label, out)
    return document


# --- Secure values ---------------------------------------------------------------------------------


def _field_at(model: type[BaseModel] | None, loc: tuple) -> Any:
    """The pydantic field at a key path of the model (list indexes skipped), or None."""
    info = None
    for part in loc:
        if isinstance(part, int):
            continue
        if model is None:
            return None
        info = next((f for f in model.model_fields.values() if f.alias == part), None)
        if info is None:
            return None
        model = _model_of(info.annotation)
    return info


def credential_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Key paths of the model's `Credential` keys (`storage.secretKey`, `sites[].token`)."""
    keys = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{info.alias or name}"
        if is_credential(info):
            keys.append(path)
        elif (sub := _model_of(info.annotation)) is not None:
            is_list = "list[" in str(info.annotation)
            keys += credential_keys(sub, f"{path}[]." if is_list else f"{path}.")
    return keys


def _stand_in_secrets(config: dict[str, Any], label: str, specs: Mapping[str, type[StackSpec]]) -> StackFile:
    """Replace each `secure:` value of a credential key with SECRET_STAND_IN; refuse `secure:` on
    any other project key and plain text on a credential key."""
    blueprint = config.get(f"{PROJECT}:blueprint")
    spec = specs.get(blueprint) if isinstance(blueprint, str) else None
    allowed = credential_keys(spec) if spec else []
    problems: list[Problem] = []
    secret_keys: set[str] = set()

    def walk(value: Any, loc: tuple, key: str, project: bool) -> Any:
        info = _field_at(spec, loc) if project and loc else None
        if isinstance(value, Secure):
            secret_keys.add(key)
            if not project or (info is not None and is_credential(info)):
                return SECRET_STAND_IN
            which = f"those of {blueprint}: {', '.join(allowed)}" if allowed else (f"{blueprint} has none yet" if spec else "none without a known `blueprint`")
            problems.append(
                Problem(
                    loc, "secret",
                    f"`secure:` (encrypted) values are only for keys that hold a credential, and this one doesn't: write its value in plain text. "
                    f"Keys that take a secure value: {which} (other credentials live in Kubernetes Secrets the components reference)",
                    "<secure>",
                )
            )
            return value
        if project and info is not None and is_credential(info) and value is not None:
            problems.append(
                Problem(
                    loc, "credential_plaintext",
                    f"holds a credential, so it must be stored encrypted: `pulumi config set --secret --path '{key_path(loc)}' <value>` "
                    "writes it as a `secure:` value (the plain text in the file was not used)",
                    NO_VALUE,
                )
            )
            return value
        if isinstance(value, dict):
            return {k: walk(v, (*loc, k), key, project) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v, (*loc, i), key, project) for i, v in enumerate(value)]
        return value

    out = {}
    for key, value in config.items():
        out[key] = walk(value, (key.split(":", 1)[1],), key, key.startswith(f"{PROJECT}:"))
    if problems:
        raise StackConfigError(label, problems)
    return StackFile(out, sorted(secret_keys))


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
        problems = _one_per_typo([_problem(e, spec_type) for e in err.errors()], spec_type)
        raise StackConfigError(label, [_named(p, values) for p in problems]) from None


def _one_per_typo(problems: list[Problem], model: type[BaseModel]) -> list[Problem]:
    """A misspelt key is both an unknown key and a missing one: keep the unknown key, which
    names the missing one (`unknown key; did you mean …?`), and drop the missing one."""
    suggested = set()
    for p in problems:
        if p.type == "extra_forbidden":
            fields = _fields_at(model, p.loc[:-1])
            match = difflib.get_close_matches(str(p.loc[-1]), fields, n=1, cutoff=0.6)
            if match:
                suggested.add((*p.loc[:-1], match[0]))
    return [p for p in problems if not (p.type == "missing" and p.loc in suggested)]


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
    value = error.get("input")
    if kind == "plaintext_credential":
        value = "[redacted]"
    elif kind == "url_credentials":
        value = (error.get("ctx") or {}).get("redacted", "[redacted]")
    elif any((info := _field_at(model, loc[:n])) is not None and is_credential(info) for n in range(1, len(loc) + 1)):
        value = SECRET_STAND_IN  # a credential is never printed, not even when it is wrong
    return Problem(loc, kind, message, value)


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
