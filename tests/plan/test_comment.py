"""One PR comment for several stacks stays under GitHub's limit and never cuts a summary mid-table."""
from __future__ import annotations

from pathlib import Path

from hybridai.plan.comment import GITHUB_LIMIT, MARKER, comment, head
from tests.conftest import EXAMPLE_STACKS, planned


def summaries() -> list[tuple[str, str]]:
    return [(stack, planned(stack)[1][Path("summary.md")]) for stack in EXAMPLE_STACKS]


def test_every_example_stack_fits_whole_in_one_comment() -> None:
    body = comment(summaries())
    assert body.startswith(MARKER) and len(body) <= GITHUB_LIMIT
    for _, text in summaries():
        assert text in body


def test_past_the_limit_later_stacks_keep_their_verdict_and_cost_and_point_to_the_artifacts() -> None:
    # GIVEN a limit only the first two summaries fit under
    texts = summaries()
    limit = len(texts[0][1]) + len(texts[1][1]) + 3000
    body = comment(texts, "https://ci.example/run/1#artifacts", limit)
    # THEN the comment respects it, the first stacks are whole, and every later stack still shows
    # its head (verdict, warnings, cost) and where the rest is
    assert len(body) <= limit
    assert texts[0][1] in body
    for stack, text in texts[2:]:
        assert head(text) in body
        assert f"[the run's artifacts](https://ci.example/run/1#artifacts) (`build/{stack}/summary.md`)" in body
    # AND no table is cut: every kept line is a whole line of some summary
    lines = {line for _, text in texts for line in text.splitlines()}
    kept = [line for line in body.splitlines() if line.startswith("|")]
    assert all(line in lines for line in kept)


def test_a_stack_that_failed_to_plan_says_so() -> None:
    assert "The stack could not be planned: see the job log." in comment([("broken", None)])
