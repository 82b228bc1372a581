"""The few Go-template forms of KServe's `files/common/configmap-patch.yaml` (kserve-resources
v0.20.0), rendered as Helm's `tpl` does, so a test can compare the program's own
`inferenceservice-config` with what the chart would have rendered from the same values.

Handled: `{{ .Values.a.b }}`, `{{ .Values.a | default .Values.b }}` (Helm's `default`: an empty
value — "", false, 0, nil, an empty list or map — takes the second) and the one `range` over
`additionalIngressDomains`. Anything else is an error, so a chart bump that adds a form fails the
test instead of rendering wrong.
"""
from __future__ import annotations

import json
import re
from typing import Any

_RANGE = re.compile(r"\{\{-\s*range \$index, \$flag := \.Values\.([\w.]+)\s*\}\}(.*?)\{\{-\s*end\s*\}\}", re.S)
_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")


def _lookup(values: dict, path: str) -> Any:
    node: Any = values
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _go(value: Any) -> str:
    """How Go's text/template prints a value: booleans lower-case, nil as `<no value>`, a list as `[a b]`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<no value>"
    if isinstance(value, list):
        return "[" + " ".join(_go(v) for v in value) + "]"
    return str(value)


def _empty(value: Any) -> bool:
    return value in (None, "", False, 0) or value == [] or value == {}


def render(template: str, values: dict) -> str:
    """`template` rendered with `values` (`.Values`)."""

    def expand_range(match: re.Match) -> str:
        items = _lookup(values, match.group(1)) or []
        return ", ".join(json.dumps(str(item)) for item in items)

    text = _RANGE.sub(expand_range, template)

    def action(match: re.Match) -> str:
        expr = match.group(1)
        single = re.fullmatch(r"\.Values\.([\w.]+)", expr)
        if single:
            return _go(_lookup(values, single.group(1)))
        fallback = re.fullmatch(r"\.Values\.([\w.]+) \| default \.Values\.([\w.]+)", expr)
        if fallback:
            first = _lookup(values, fallback.group(1))
            return _go(_lookup(values, fallback.group(2)) if _empty(first) else first)
        raise ValueError(f"a template form this renderer doesn't know: {{{{ {expr} }}}}")

    return _ACTION.sub(action, text)
