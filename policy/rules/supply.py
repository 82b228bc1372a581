"""Supply-chain rules: the images a prod stack runs are pinned by the digests images.lock resolved."""
from __future__ import annotations

from typing import Iterator

from hybridai.policy.rules.base import Finding, PolicyContext, Resource, rule
from hybridai.supply.images import ImageLock, grouped, lock_problems


@rule(
    "supply-images-locked",
    "Prod stacks run images images.lock resolved to digests from their registries (unresolved, unlocked and stale images reported)",
    "advisory",
)
def images_locked(resources: list[Resource], ctx: PolicyContext) -> Iterator[Finding]:
    # Advisory: digests must come from the registries (never typed in), and where this machine
    # can't reach one the lock says `unresolved` rather than invent a digest; a reviewer decides.
    if not ctx.production or ctx.image_lock is None:
        return
    # One finding per state and reason (an unreachable registry is one finding, not one per
    # image); the resource is named when only one runs them.
    problems = lock_problems(resources, ImageLock.of(ctx.image_lock))
    for group in grouped(problems):
        urns = {p.urn for p in problems if (p.kind, p.detail) == (group.kind, group.detail)}
        # One image is named; more are counted, so the findings don't repeat summary.md's list of
        # them (also `hybridai images STACK`) and every stack's summary fits one PR comment.
        shown = group.images[0] if len(group.images) == 1 else f"{len(group.images)} images (listed in summary.md and by `hybridai images`)"
        yield Finding(next(iter(urns)) if len(urns) == 1 else "", f"{group.kind}: {shown} ({group.detail})")
