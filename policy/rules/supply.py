"""Supply-chain rules: the images a prod stack runs are pinned by the digests images.lock resolved."""
from __future__ import annotations

from typing import Iterator

from hybridai.policy.rules.base import Finding, PolicyContext, Resource, rule
from hybridai.supply.images import ImageLock, lock_problems


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
    for problem in lock_problems(resources, ImageLock.of(ctx.image_lock)):
        yield Finding(problem.urn, f"{problem.kind}: {problem.image} ({problem.detail})")
