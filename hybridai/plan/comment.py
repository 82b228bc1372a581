"""One pull-request comment for several stacks' plans, within GitHub's size limit.

GitHub refuses a comment over 65,536 characters. Each stack's summary.md is included whole while
they fit; past that, a stack gets its head — the verdict, warnings, cost and change counts, up to
its first section — and a pointer to its full summary in the run's artifacts. A summary is never
cut mid-table.
"""
from __future__ import annotations

from pathlib import Path

GITHUB_LIMIT = 65_536
MARKER = "<!-- hybrid-ai-plan -->"


def head(summary: str) -> str:
    """The summary down to its first `###` section: verdict, warnings, cost."""
    cut = summary.find("\n### ")
    return summary if cut < 0 else summary[:cut].rstrip() + "\n"


def comment(summaries: list[tuple[str, str | None]], artifacts_url: str | None = None, limit: int = GITHUB_LIMIT) -> str:
    """The comment for (stack, summary.md text or None when the plan failed)."""
    pointer = f"[the run's artifacts]({artifacts_url})" if artifacts_url else "the run's artifacts"
    parts = [MARKER + "\n"]
    budget = limit - len(parts[0]) - 200
    pending = list(summaries)
    for i, (stack, text) in enumerate(pending):
        if text is None:
            block = f"## hybrid-ai plan: `{stack}`\n\nThe stack could not be planned: see the job log.\n"
        else:
            block = text
            # Leave room for the heads of the stacks still to come.
            rest = sum(len(head(t or "")) + 200 for _, t in pending[i + 1 :])
            if len(block) > budget - rest:
                block = head(text) + f"\n_The rest of `{stack}`'s summary is in {pointer} (`build/{stack}/summary.md`): this comment has GitHub's size limit._\n"
        if len(block) > budget:
            block = f"## hybrid-ai plan: `{stack}`\n\n_Summary in {pointer} (`build/{stack}/summary.md`)._\n"
        parts.append(block + "\n")
        budget -= len(block) + 1
    return "".join(parts)


def from_folders(folders: list[Path], artifacts_url: str | None = None, limit: int = GITHUB_LIMIT) -> str:
    summaries = []
    for folder in folders:
        path = folder / "summary.md"
        summaries.append((folder.name, path.read_text() if path.is_file() else None))
    return comment(summaries, artifacts_url, limit)
