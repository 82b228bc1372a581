"""The strict YAML reader of stack files: one document of plain values, read the same by every
YAML reader, or one error listing every problem, each at its key path and line.

It refuses what a stack file never needs and what different readers (the Pulumi CLI, PyYAML, yq,
editors) would read differently: anchors, aliases and tags beyond the core ones, a key twice,
nesting deeper than MAX_DEPTH, and plain scalars whose meaning depends on the YAML version (`yes`,
`on`, `0777`, `1_000`, `2024-01-01`, `1:30`): quoted, they are text for every reader. Top-level
values are kept as the text the file holds, which is what the Pulumi CLI hands a program; a
`secure:` value is kept as `Secure` for the loader to judge.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple

import yaml

from hybridai import PROJECT
from hybridai.config.base import NO_VALUE, Problem
from hybridai.config.errors import FILE, StackConfigError

MAX_DEPTH = 32
"""How deep values may nest; no stack key needs more, and the limit bounds the reader's recursion."""


class Secure(NamedTuple):
    """A `secure:` value as the stack file holds it (encrypted; only Pulumi can decrypt it)."""

    ciphertext: str


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
