"""Stack config reference, generated from the spec models: docs/reference.md, `hybridai reference` and `hybridai new` comments.

The models are the one source of truth for what a stack file may hold; documentation and the
template of a new stack are derived from them, so they can't drift apart.
"""
from __future__ import annotations

import difflib
import re
import textwrap
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hybridai import PROJECT
from hybridai.config.credentials import credential_needs
from hybridai.config.spec import StackSpec
from hybridai.rendering import template


@dataclass
class Key:
    """One key of a stack file, with what documentation and templates need to know about it."""

    name: str
    path: str
    type: str
    description: str
    required: bool
    suggested: bool = False
    """Optional, but a new stack file should set it (it gets its example value there)."""
    default: Any = None
    example: Any = None
    children: list[Key] = field(default_factory=list)
    is_list: bool = False
    """A list of objects (children describe one item)."""
    placeholder: bool = False
    """Its example stands for the user's environment (config.base.PLACEHOLDER): written `# example`."""


def keys(model: type[BaseModel], prefix: str = "", example: dict | None = None) -> list[Key]:
    """The keys of a model, each with everything under it. `example` is the example of the block
    they are in: its values replace the keys' own examples, so a model used in several places (an
    object store, a Secret key) gets each place's own example bucket and Secret."""
    out = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        path = f"{prefix}.{alias}" if prefix else alias
        sub, is_list = _sub_model(info.annotation)
        own = _merged(_example(info), (example or {}).get(alias))
        out.append(
            Key(
                name=alias,
                path=path,
                type=_type_name(info.annotation),
                description=info.description or "",
                required=info.is_required(),
                suggested=bool(_extra(info).get("suggest")),
                default=_default(info),
                example=own,
                children=keys(sub, f"{path}[]" if is_list else path, own if isinstance(own, dict) and not is_list else None) if sub else [],
                is_list=is_list,
                placeholder=bool(_extra(info).get("placeholder")),
            )
        )
    return out


def _extra(info: FieldInfo) -> dict:
    return info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}


def _merged(own: Any, outer: Any) -> Any:
    """A key's example where the block around it gives one too: the block's wins, key by key."""
    if isinstance(own, dict) and isinstance(outer, dict):
        return {**own, **{k: _merged(own.get(k), v) for k, v in outer.items()}}
    return own if outer is None else outer


def _sub_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is list and args and isinstance(args[0], type) and issubclass(args[0], BaseModel):
        return args[0], True
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            sub, is_list = _sub_model(arg)
            if sub:
                return sub, is_list
    return None, False


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in args if a is not type(None))
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is list:
        return f"list of {_type_name(args[0])}"
    if origin is dict:
        return f"map of {_type_name(args[0])} → {_type_name(args[1])}"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "object"
    if isinstance(annotation, type) and issubclass(annotation, SecretStr):
        return "secure string"
    return {str: "string", int: "integer", bool: "boolean", float: "number"}.get(annotation, str(annotation))


def _default(info: FieldInfo) -> Any:
    if info.default is not PydanticUndefined:
        value = info.default
    elif info.default_factory is not None:
        value = info.default_factory()
    else:
        return None
    return value.model_dump(by_alias=True, exclude_defaults=True) if isinstance(value, BaseModel) else value


def _example(info: FieldInfo) -> Any:
    if info.examples:
        return info.examples[0]
    args = typing.get_args(info.annotation)
    if typing.get_origin(info.annotation) is Literal and len(args) == 1:
        return args[0]
    return None


def inline(value: Any) -> str:
    """A value as it reads in YAML flow style on one line."""
    if value is None:
        return ""
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("\n...").strip()


def _need(key: Key) -> str:
    if key.required:
        return "required"
    if key.default is None:
        return "optional"
    return f"`{inline(key.default)}`"


def table(items: list[Key]) -> str:
    """A reference table of keys and everything under them, nested keys as paths."""
    rows = ["| key | type | required / default | description |", "|---|---|---|---|"]

    def walk(level: list[Key]) -> None:
        for key in level:
            description = key.description.replace("|", "\\|").replace("\n", " ")
            rows.append(f"| `{PROJECT}:{key.path}` | {key.type} | {_need(key)} | {description} |")
            walk(key.children)

    walk(items)
    return "\n".join(rows) + "\n"


# --- The whole reference: keys every blueprint shares, then each blueprint's own. ---------------


@dataclass
class Reference:
    """The stack config reference of a set of blueprints."""

    common: list[Key]
    """Top-level keys every blueprint has with the same keys under them."""
    own: dict[str, list[Key]]
    """Blueprint name → its other top-level keys."""
    summaries: dict[str, str]

    def scopes(self, blueprint: str | None = None) -> list[tuple[str | None, list[Key]]]:
        """(blueprint or None for the common keys, top-level keys) to search, in document order."""
        names = [blueprint] if blueprint else list(self.own)
        return [(None, self.common), *((name, self.own[name]) for name in names)]


def build(specs: dict[str, tuple[type[BaseModel], str]], base: type[BaseModel] | None = None) -> Reference:
    """Split the blueprints' keys into the common ones and each blueprint's own.

    A top-level key is common when every blueprint has it with the same type (literal types of a
    field of `base`, like `blueprint`, are merged), requiredness, default and keys under it. Where
    only its description differs, the common entry says what it is per blueprint — or, for a field
    of `base` (the spec every blueprint's extends), takes the base's description."""
    per = {name: keys(spec) for name, (spec, _) in specs.items()}
    base_keys = {k.name: k for k in keys(base)} if base is not None else {}
    names = list(per)
    common: list[Key] = []
    own: dict[str, list[Key]] = {name: [] for name in names}
    for first in per[names[0]] if names else []:
        found = [next((k for k in per[name] if k.name == first.name), None) for name in names]
        merged = _merge(dict(zip(names, found)), base_keys.get(first.name)) if all(found) else None
        if merged is not None:
            common.append(merged)
    shared = {k.name for k in common}
    for name in names:
        own[name] = [k for k in per[name] if k.name not in shared]
    return Reference(common=common, own=own, summaries={name: summary for name, (_, summary) in specs.items()})


def _merge(found: dict[str, Key], base: Key | None) -> Key | None:
    """One entry for a key every blueprint has (blueprint name → its key), or None when it differs
    by more than its description (or, for a field of the base spec, its literal type)."""
    items = list(found.values())
    first = items[0]
    if all(k == first for k in items):
        return first

    def same(attr: str) -> bool:
        return all(getattr(k, attr) == getattr(first, attr) for k in items)

    if not all(same(attr) for attr in ("required", "default", "is_list", "children")):
        return None
    if same("type"):
        kind = first.type
    elif base is not None and all(_literals(k.type) for k in items):
        kind = " \\| ".join(sorted({lit for k in items for lit in _literals(k.type)}))
    else:
        return None
    if same("description"):
        description = first.description
    elif base is not None and base.description:
        # The base's description, then what a blueprint says beyond it (not a mere restatement
        # of its literal type, like `blueprint`'s "`finance-hybrid`.").
        extra = {bp: k for bp, k in found.items() if k.description not in (base.description, f"{k.type}.")}
        description = " ".join([base.description, _per_blueprint(extra)]).strip()
    else:
        description = _per_blueprint(found)
    return Key(
        name=first.name, path=first.path, type=kind, description=description, required=first.required,
        suggested=first.suggested, default=first.default, example=first.example, children=first.children, is_list=first.is_list,
    )


def _per_blueprint(found: dict[str, Key]) -> str:
    """Descriptions that differ by blueprint, each once: "`a`, `b`: … `c`: …"."""
    by_text: dict[str, list[str]] = {}
    for bp, k in found.items():
        by_text.setdefault(k.description, []).append(f"`{bp}`")
    return " ".join(f"{', '.join(bps)}: {text}" for text, bps in by_text.items())


def _literals(type_name: str) -> list[str]:
    parts = type_name.split(" \\| ")
    return parts if all(p.startswith("`") and p.endswith("`") for p in parts) else []


INTRO = """\
# Stack config reference

<!-- Generated from the config models by `hybridai reference --write`: edit the field descriptions in hybridai/config/, not this file. -->

Every key a stack file (`stacks/Pulumi.<stack>.yaml`) may hold, generated from the config models;
a test keeps this page in sync with them. Keys are camelCase under the project namespace
`{project}:`; nested keys are shown as paths, `[]` marking the items of a list
(`pulumi config set --path '{project}:teams[0].quota.gpus' 4` sets one). Unknown keys are errors.
A new stack file written by `hybridai new BLUEPRINT STACK` holds every key with its description
(`--minimal`: only the keys it sets; `--environment prod`: also what prod requires), its
placeholders marked `# example`: a prod stack still holding one is refused at its key.

In a terminal, `hybridai reference BLUEPRINT` prints one blueprint's own keys, and
`hybridai reference --key cloud.gpuNodePools` one key with everything under it.

"""


REFERENCE_FILE = Path("docs") / "reference.md"
"""Where `hybridai reference --write` puts the reference, relative to the project."""


def project_reference() -> Reference:
    """The reference of every registered blueprint, the common keys split from their own."""
    from hybridai.blueprints import BLUEPRINTS
    from hybridai.config.spec import StackSpec

    return build({name: (bp.spec, bp.summary) for name, bp in sorted(BLUEPRINTS.items())}, base=StackSpec)


def rendered() -> str:
    """docs/reference.md as the models say it should read."""
    return document(project_reference())


def unknown_blueprint(ref: Reference, name: str) -> str:
    close = difflib.get_close_matches(name, list(ref.own), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown blueprint {name!r}{hint}; use one of {', '.join(ref.own)}"


def unknown_key(ref: Reference, key: str, blueprint: str | None = None) -> str:
    """Why a key path found nothing, and what was probably meant."""
    if blueprint:
        elsewhere = sorted({b for m in find(ref, key) for b in m.blueprints or []})
        if elsewhere:
            return f"blueprint {blueprint} has no key {key!r}; it is a key of {', '.join(elsewhere)}"
    scope = f"blueprint {blueprint} has no key" if blueprint else "no stack config key"
    close = close_matches(ref, key, blueprint)
    if close:
        return f"{scope} {key!r}; close matches: {', '.join(close)}"
    top = dict.fromkeys(k.name for _, items in ref.scopes(blueprint) for k in items)
    return f"{scope} {key!r}; top-level keys: {', '.join(top)}"


def _anchor(name: str) -> str:
    return f"#blueprint-{name}"


def document(ref: Reference) -> str:
    """docs/reference.md: the common keys once, then each blueprint's own keys."""
    parts = [INTRO.format(project=PROJECT)]
    parts.append("- [Common keys](#common-keys): in every stack file, whatever its blueprint\n")
    parts.extend(f"- [`{name}`]({_anchor(name)}): {ref.summaries[name]}\n" for name in ref.own)
    parts.append("\n" + common_section(ref))
    for name in ref.own:
        parts.append("\n" + blueprint_section(ref, name))
    return "".join(parts)


def common_section(ref: Reference) -> str:
    return (
        "## Common keys\n\n"
        "Every stack file has these keys, whatever its blueprint. Where a key's role differs by blueprint,\n"
        "its description says so per blueprint; the keys under it are the same.\n\n" + table(ref.common)
    )


def blueprint_section(ref: Reference, name: str, footer: bool = False) -> str:
    """A blueprint's own keys; with `footer`, for the terminal, the common keys named after them."""
    text = f"## Blueprint `{name}`\n\n{ref.summaries[name]}.\n\nBesides the [common keys](#common-keys), a `{name}` stack file has:\n\n" + table(ref.own[name])
    if footer:
        common = ", ".join(f"`{k.name}`" for k in ref.common)
        text += f"\nCommon keys (every blueprint): {common}. `hybridai reference --key KEY` prints one.\n"
    return text


def normalize(path: str) -> str:
    """A key path as users may write it — `hybrid-ai:teams[0].quota`, `teams[].quota` — reduced to
    `teams.quota`."""
    path = path.strip().removeprefix(f"{PROJECT}:")
    return ".".join(part for part in re.sub(r"\[[^\]]*\]", "", path).split(".") if part)


def _walk(items: list[Key]) -> typing.Iterator[Key]:
    for key in items:
        yield key
        yield from _walk(key.children)


@dataclass
class Match:
    key: Key
    blueprints: list[str] | None
    """Blueprints whose own key it is; None: a common key."""


def find(ref: Reference, path: str, blueprint: str | None = None) -> list[Match]:
    """The key at `path` (with everything under it) where it occurs: once if common, else once per
    distinct definition, naming the blueprints that have it."""
    wanted = normalize(path)
    matches: list[Match] = []
    for scope, items in ref.scopes(blueprint):
        for key in _walk(items):
            if normalize(key.path) != wanted:
                continue
            same = next((m for m in matches if m.blueprints is not None and m.key == key), None)
            if same is not None:
                same.blueprints.append(scope)
            else:
                matches.append(Match(key, None if scope is None else [scope]))
    return matches


def all_paths(ref: Reference, blueprint: str | None = None) -> list[str]:
    """Every key path (as the reference writes it, `[]` for list items), in document order."""
    return list(dict.fromkeys(key.path for _, items in ref.scopes(blueprint) for key in _walk(items)))


def close_matches(ref: Reference, path: str, blueprint: str | None = None) -> list[str]:
    """Paths a mistyped or partial key probably meant: those ending in it, those similar to it,
    then those whose last key is similar to its last key."""
    wanted = normalize(path)
    paths = {normalize(p): p for p in all_paths(ref, blueprint)}
    tail = [p for p in paths if p.endswith("." + wanted) or p.lower() == wanted.lower()]
    similar = difflib.get_close_matches(wanted, list(paths), n=3, cutoff=0.75)
    by_last: dict[str, list[str]] = {}
    for p in paths:
        by_last.setdefault(p.rsplit(".", 1)[-1], []).append(p)
    last = [p for name in difflib.get_close_matches(wanted.rsplit(".", 1)[-1], list(by_last), n=3, cutoff=0.75) for p in by_last[name]]
    return [paths[p] for p in dict.fromkeys(tail + similar + last)][:5]


def key_section(ref: Reference, match: Match) -> str:
    where = "every blueprint" if match.blueprints is None else ", ".join(f"`{b}`" for b in match.blueprints)
    return f"## `{PROJECT}:{match.key.path}` ({where})\n\n" + table([match.key])


# --- `hybridai new`: a stack file from the models -----------------------------------------------


UNSET = object()
"""A key the new stack file leaves at its default (written commented out, or not at all)."""


def _comment(text: str, indent: int, lead: str = "", more: str = "") -> list[str]:
    """`text` as comment lines at `indent`; `lead` before the first line, `more` before the others."""
    pad = " " * indent
    width = 96 - indent - len(lead)
    return [f"{pad}# {lead if i == 0 else more}{line}" for i, line in enumerate(textwrap.wrap(text, width))] if text else []


def _item_order(children: list[Key]) -> list[Key]:
    """The keys of a list item, required ones first (so an item starts with its `name`)."""
    return sorted(children, key=lambda k: not k.required)


def template_values(items: list[Key]) -> dict[str, Any]:
    """What a new stack file sets: every required or suggested key at its example (a list, one item
    of its required and suggested keys); the rest stays at its default."""
    return {key.name: _value(key) for key in items if key.required or key.suggested}


def _value(key: Key) -> Any:
    if key.children:
        fields = template_values(key.children)
        return [fields] if key.is_list else fields
    return key.example if key.example is not None else key.default


def _full_item(children: list[Key]) -> dict[str, Any]:
    """A list item with every key: set ones at their example, the others at their default (or empty),
    to show a list the stack file leaves empty."""
    item: dict[str, Any] = {}
    for key in children:
        if key.children:
            item[key.name] = [_full_item(key.children)] if key.is_list else _full_item(key.children)
        else:
            item[key.name] = _value(key) if key.required or key.suggested else key.default
    return item


def _line(pad: str, name: str, key: Key, value: Any) -> str:
    """`name: value`, marked `# example` where the value is a placeholder the user must replace."""
    mark = "  # example" if key.placeholder and value is not None and value == key.example else ""
    return f"{pad}{name}:" + ("" if value is None else f" {inline(value)}") + mark


def _set_lines(key: Key, value: Any, indent: int, name: str | None = None) -> list[str]:
    """A key and what it holds, without comments (list items and --minimal)."""
    pad, name = " " * indent, name or key.name
    if key.children and key.is_list and value:
        return [f"{pad}{name}:", *(line for item in value for line in _item_lines(key.children, item, indent + 2))]
    if key.children and isinstance(value, dict):
        return [f"{pad}{name}:", *(line for child in key.children if child.name in value for line in _set_lines(child, value[child.name], indent + 2))]
    return [_line(pad, name, key, value)]


def _item_lines(children: list[Key], item: dict[str, Any], indent: int) -> list[str]:
    """One list item, its keys together: `- ` before the first, the others under it."""
    lines = [line for key in _item_order(children) if key.name in item for line in _set_lines(key, item[key.name], indent + 2)]
    return [" " * indent + "- " + lines[0][indent + 2 :], *lines[1:]] if lines else [" " * indent + "- {}"]


def _item_docs(children: list[Key], indent: int, depth: int = 1) -> list[str]:
    """The keys of a list's items, described above the list so each item's keys stay together."""
    lines = _comment("Each item:", indent) if depth == 1 else []
    for key in _item_order(children):
        need = " (required)" if key.required else "" if key.default in (None, [], {}) else f" (default `{inline(key.default)}`)"
        lead = "  " * depth
        lines += _comment(f"{key.name}{need}: {key.description}", indent, lead, lead + "  ")
        lines += _item_docs(key.children, indent, depth + 1)
    return lines


def _off(lines: list[str]) -> list[str]:
    """Lines commented out, each `#` at the line's own indentation."""
    return [line if line.lstrip().startswith("#") else f"{line[: len(line) - len(line.lstrip())]}# {line.lstrip()}" for line in lines]


def _key_lines(key: Key, value: Any, indent: int, name: str) -> list[str]:
    """A key under its description: what the stack file sets, or commented out at its default."""
    pad = " " * indent
    lines = _comment(key.description, indent)
    if key.is_list:
        lines += _item_docs(key.children, indent)
        shown = value if value is not UNSET else [_full_item(key.children)]
        body = _set_lines(key, shown, indent, name) if shown else [_line(pad, name, key, shown)]
        return lines + (body if value is not UNSET else _off(body))
    if key.children:
        fields = value if value is not UNSET else {}
        lines.append(f"{pad}{name}:" if value is not UNSET else f"{pad}# {name}:")
        for child in key.children:
            lines += _key_lines(child, fields.get(child.name, UNSET), indent + 2, child.name)
        return lines
    if value is UNSET:
        return lines + _off([_line(pad, name, key, key.default)])
    return lines + [_line(pad, name, key, value)]


def stack_body(items: list[Key], values: dict[str, Any], minimal: bool = False) -> str:
    """The keys of a new stack file under `config:`: with `minimal`, only what it sets; else every
    key under its description, those it doesn't set commented out at their default."""
    blocks = []
    for key in items:
        name = f"{PROJECT}:{key.name}"
        value = values.get(key.name, UNSET)
        if minimal:
            if value is not UNSET:
                blocks.append("\n".join(_set_lines(key, value, 2, name)))
        else:
            blocks.append("\n".join(_key_lines(key, value, 2, name)) + "\n")
    return "\n".join(blocks) + "\n"


def stack_values(spec: type[StackSpec], stack: str, environment: str = "dev") -> dict[str, Any]:
    """What a new stack file of the blueprint sets for `environment`. A prod stack adds what prod
    requires beyond the template: a source in `secrets.sources` for every credential Secret the
    stack reads (from a secret store, never a plaintext value), and a backup of every edge site."""
    items = keys(spec)
    values = {**template_values(items), "environment": environment}
    if environment != "prod":
        return values
    draft = spec.model_validate(values, context={"stack": stack})
    secrets = next(k for k in items if k.name == "secrets")
    stores = next(k for k in secrets.children if k.name == "stores")
    store = _value(stores)[0]
    names = dict.fromkeys(need.name for need in credential_needs(draft))
    sources = [{"name": name, "store": store["name"], "remoteKey": f"{draft.prefix}/{name}"} for name in names]
    values["secrets"] = {"stores": [store], "sources": sources}
    if draft.backups is not None and draft.edge_sites():
        values["backups"] = {**values["backups"], "sites": [site.name for site in draft.edge_sites()]}
    return values


def new_stack(spec: type[StackSpec], blueprint: str, summary: str, stack: str, environment: str = "dev", minimal: bool = False) -> str:
    """A new stack file of the blueprint for `environment` that plans as written (once its example
    values are replaced, in prod): every key under its description, the ones it doesn't set
    commented out at their defaults; with `minimal`, only the keys it sets."""
    items = keys(spec)
    body = stack_body(items, stack_values(spec, stack, environment), minimal)
    options = (f" --environment {environment}" if environment != "dev" else "") + (" --minimal" if minimal else "")
    return template("stack.yaml.j2").render(
        body=body, blueprint=blueprint, summary=summary, stack=stack, options=options, environment=environment, minimal=minimal, project=PROJECT
    )
