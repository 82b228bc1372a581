"""The one Jinja environment the plan's Markdown and YAML artifacts are rendered with (templates in
hybridai/templates/): undefined names are errors, never empty text, and block tags leave no blank
lines, so a template reads like the file it writes."""
from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined, Template


@cache
def _environment() -> Environment:
    env = Environment(loader=PackageLoader("hybridai", "templates"), undefined=StrictUndefined, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    # Amounts as reviewers read them: whole dollars with thousands separators, a change with its sign.
    env.filters["money"] = lambda v: "—" if v is None else f"{v:,.0f}"
    env.filters["signed"] = lambda v: f"{v:+,.0f}"
    return env


def template(name: str) -> Template:
    """The template `hybridai/templates/<name>`, loaded once."""
    return _environment().get_template(name)


@cache
def _html_environment() -> Environment:
    env = Environment(loader=PackageLoader("hybridai", "templates"), undefined=StrictUndefined, autoescape=True, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(_environment().filters)
    return env


def html_template(name: str) -> Template:
    """The HTML template `hybridai/templates/<name>`, loaded once: every value it writes is escaped
    (a stack's names and the findings' messages come from stack files and resources)."""
    return _html_environment().get_template(name)
