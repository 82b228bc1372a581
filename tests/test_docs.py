"""The documentation: a short README, and relative links in README, CONTRIBUTING and docs/ that
lead somewhere (the file, and the heading when a link names one)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import ROOT

README_LIMIT = 15 * 1024
DOCS = sorted([ROOT / "README.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")])
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def prose(text: str) -> str:
    """Markdown without fenced code blocks and inline code, where brackets aren't links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def links(path: Path) -> list[str]:
    return LINK.findall(prose(path.read_text()))


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: formatting dropped, lower case, punctuation removed, spaces → -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"[`*_]", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in re.sub(r"^```.*?^```", "", path.read_text(), flags=re.S | re.M).splitlines():
        match = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        base = slug(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def test_readme_is_short() -> None:
    # GIVEN the README, THEN it stays an entry point: details live in docs/
    size = len((ROOT / "README.md").read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes, more than {README_LIMIT}: move details to docs/"


def test_readme_quick_start_is_what_ci_runs() -> None:
    # GIVEN the README's quick start and .ci/run, THEN both plan the same example stack and run the same tests
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    quick_start = readme.split("## Quick start", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    for in_readme, in_ci in [
        (".venv/bin/pip install -e '.[test]'", "-e '.[test]'"),
        (".venv/bin/hybridai plan healthcare-prod", ".venv/bin/hybridai plan healthcare-prod"),
        (".venv/bin/python -m pytest -n auto", ".venv/bin/python -m pytest -n auto"),
    ]:
        assert in_readme in quick_start and in_ci in ci, in_readme


def test_every_page_is_linked_from_the_readme_or_another_page() -> None:
    # GIVEN every page under docs/, THEN a newcomer can reach each one by following links
    linked = {(path.parent / target.split("#", 1)[0]).resolve() for path in DOCS for target in links(path) if not re.match(r"[a-z]+:", target) and not target.startswith("#")}
    orphans = [str(p.relative_to(ROOT)) for p in DOCS if p.parent != ROOT and p.resolve() not in linked]
    assert orphans == []


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    # GIVEN each relative link of a page
    broken = []
    for target in links(path):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto: — not ours to check offline
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        # THEN it names a file of the repository, and a heading of it when it names one
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading #{anchor} in {resolved.relative_to(ROOT)}")
    assert broken == [], f"{path.relative_to(ROOT)}: broken links"


def test_link_checker_sees_broken_links_and_headings(tmp_path: Path) -> None:
    # GIVEN a page with a link in prose, one in code, and headings that collide
    page = tmp_path / "page.md"
    page.write_text("# Deploying `finance-hybrid`\n## When it doesn't fit\n## When it doesn't fit\n[a](missing.md#x) `[b](code.md)`\n```\n[c](fenced.md)\n```\n")
    # THEN only the prose link counts, and anchors follow GitHub's rules
    assert links(page) == ["missing.md#x"]
    assert anchors(page) == {"deploying-finance-hybrid", "when-it-doesnt-fit", "when-it-doesnt-fit-1"}
