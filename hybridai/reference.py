"""Stack config reference, generated from the spec models: README tables and `hybridai new` comments.

The models are the one source of truth for what a stack file may hold; documentation and the
template of a new stack are derived from them, so they can't drift apart.
"""
from __future__ import annotations

import json
import textwrap
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from hybridai import PROJECT


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


def keys(model: type[BaseModel], prefix: str = "") -> list[Key]:
    out = []
    for name, info in model.model_fields.items():
        alias = info.alias or name
        path = f"{prefix}.{alias}" if prefix else alias
        sub, is_list = _sub_model(info.annotation)
        out.append(
            Key(
                name=alias,
                path=path,
                type=_type_name(info.annotation),
                description=info.description or "",
                required=info.is_required(),
                suggested=bool((info.json_schema_extra or {}).get("suggest")) if isinstance(info.json_schema_extra, dict) else False,
                default=_default(info),
                example=_example(info),
                children=keys(sub, f"{path}[]" if is_list else path) if sub else [],
                is_list=is_list,
            )
        )
    return out


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


def markdown(spec: type[BaseModel], heading: str) -> str:
    """A reference table of every key of a spec, nested keys as dotted paths."""
    rows = [f"#### {heading}", "", "| key | type | required / default | description |", "|---|---|---|---|"]

    def walk(items: list[Key]) -> None:
        for key in items:
            if key.required:
                need = "required"
            elif key.default is None:
                need = "optional"
            else:
                need = f"`{inline(key.default)}`"
            description = key.description.replace("|", "\\|").replace("\n", " ")
            rows.append(f"| `{PROJECT}:{key.path}` | {key.type} | {need} | {description} |")
            walk(key.children)

    walk(keys(spec))
    return "\n".join(rows) + "\n"


def _comment(text: str, indent: int) -> list[str]:
    pad = " " * indent
    return [f"{pad}# {line}" for line in textwrap.wrap(text, 96 - indent)] if text else []


_env = Environment(loader=PackageLoader("hybridai", "templates"), undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
_env.filters["comment"] = _comment
_env.filters["inline"] = inline
_env.filters["tojson"] = json.dumps


def new_stack(spec: type[BaseModel], blueprint: str, summary: str, stack: str) -> str:
    """A stack file with every key: required ones with example values, optional ones commented
    out at their defaults, each under its description."""
    return _env.get_template("stack.yaml.j2").render(keys=keys(spec), blueprint=blueprint, summary=summary, stack=stack, project=PROJECT)
