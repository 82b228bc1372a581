"""The one Jinja environment the plan's Markdown and YAML artifacts are rendered with (templates in
hybridai/templates/): undefined names are errors, never empty text, and block tags leave no blank
lines, so a template reads like the file it writes."""
from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template


@cache
def _environment() -> Environment:
    return Environment(loader=PackageLoader("hybridai", "templates"), undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def template(name: str) -> Template:
    """The template `hybridai/templates/<name>`, loaded once."""
    return _environment().get_template(name)
