"""Where the pinned charts' reference data (Chart.yaml, default values, CRDs) is read from: the
one answer the validation harness and `hybridai plan --validate` share.

1. ../shared/upstream beside the checkout, or the folder $HYBRIDAI_UPSTREAM names, when it exists:
   the curated copy (it also holds reference data that is not in any chart archive: CRDs taken
   from their projects' source trees, Pulumi's project schema, OSCAL's schemas);
2. else the chart cache's last complete pull (`hybridai charts pull`; $HYBRIDAI_CHART_CACHE or
   the XDG cache), laid out the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from hybridai import catalog
from hybridai.supply import charts


@dataclass(frozen=True)
class ReferenceData:
    kind: Literal["upstream", "cache"]
    root: Path
    """The folder holding `<pin.upstream>/` for each pinned chart."""

    def folder(self, pin: catalog.ChartPin) -> Path:
        return self.root / pin.upstream


def reference_data(cache: Path | None = None) -> ReferenceData | None:
    """The reference data to validate against, or None when there is none (nothing at
    ../shared/upstream and no complete pull in the cache)."""
    upstream = catalog.upstream_dir()
    if upstream.is_dir():
        return ReferenceData("upstream", upstream)
    tree = charts.reference_tree(charts.cache_dir(cache))
    return ReferenceData("cache", tree) if tree is not None else None


def missing_reason(cache: Path | None = None) -> str:
    """Why there is no reference data, and how to get it."""
    return (
        f"no chart reference data: nothing at {catalog.upstream_dir()} (set {catalog.UPSTREAM_ENV}) and no complete "
        f"`hybridai charts pull` in {charts.cache_dir(cache)} (set {charts.CACHE_ENV} or pass --cache)"
    )
