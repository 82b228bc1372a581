"""The Pulumi config codec: stack config as the Pulumi CLI hands it to a program (strings, objects
and lists JSON-encoded, every key namespaced `hybrid-ai:`) and back, and key paths in the form
`pulumi config --path` takes."""
from __future__ import annotations

import json
from typing import Any, Mapping

from hybridai import PROJECT


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


def stack_file_label(stack: str) -> str:
    """How messages name a stack's file: its path in the project."""
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
