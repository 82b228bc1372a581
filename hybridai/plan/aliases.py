"""URNs as the Pulumi engine forms them, and the earlier URNs each resource's aliases reach.

The SDK's mock monitor (the offline plan) builds a child's URN from its parent's *last* type only;
the engine builds it from the parent's whole type chain. `--compare` and the migration test need
the engine's form: it is what a deployed stack's state holds, and what aliases are resolved against.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Registered(Protocol):
    """What the resolution reads of a resource (a `hybridai.recorded.Resource`, or `Node`)."""

    urn: str
    type: str
    name: str
    parent: str | None
    aliases: list[dict[str, Any]]


class Node:
    """A resource read back from resources.json: no aliases there."""

    def __init__(self, record: dict[str, Any]):
        self.urn, self.type, self.name, self.parent = record["urn"], record["type"], record["name"], record.get("parent")
        self.aliases: list[dict[str, Any]] = []


class Urns:
    """Engine-form URNs of a plan's resources and the old URNs each one's aliases reach."""

    def __init__(self, resources: Iterable[Registered]):
        # Everything here is in the engine's form.
        self.by_urn = {r.urn: r for r in resources}
        self._real: dict[str, str] = {}
        self._reached: dict[str, set[str]] = {}

    @classmethod
    def of_records(cls, records: Iterable[dict[str, Any]]) -> Urns:
        return cls(Node(r) for r in records)

    def real(self, urn: str) -> str:
        if urn not in self._real:
            resource = self.by_urn[urn]
            self._real[urn] = self._child(self.real(resource.parent) if resource.parent in self.by_urn else None, resource.type, resource.name, urn)
        return self._real[urn]

    @staticmethod
    def _child(parent: str | None, type_: str, name: str, like: str) -> str:
        head = "::".join(like.split("::")[:2])
        qualified = f"{parent.split('::')[2]}${type_}" if parent else type_
        return f"{head}::{qualified}::{name}"

    def reached(self, urn: str) -> set[str]:
        """The resource's URN and every URN its aliases stand for, inherited ones included."""
        if urn in self._reached:
            return self._reached[urn]
        resource = self.by_urn[urn]
        reached = {self.real(urn)}
        for alias in resource.aliases:
            if "urn" in alias:
                reached.add(alias["urn"])
                continue
            if alias["noParent"]:
                parent = None
            elif alias["parentUrn"]:
                # A parent named by resource is sent with the monitor's URN for it; one named by a
                # URN computed from a top-level Target (`pulumi.create_urn`, for a component that no
                # longer exists) has the engine's form, but for the mock monitor's root-stack prefix.
                parent = self.real(alias["parentUrn"]) if alias["parentUrn"] in self.by_urn else alias["parentUrn"].replace("::pulumi:pulumi:Stack$", "::", 1)
            else:
                parent = self.real(resource.parent) if resource.parent in self.by_urn else None
            reached.add(self._child(parent, alias["type"] or resource.type, alias["name"] or resource.name, urn))
        if resource.parent in self.by_urn:
            parent_name = self.by_urn[resource.parent].name
            for parent in self.reached(resource.parent):
                # The engine's rule for a child named after its parent (`<parent>-…`): under a parent
                # alias of another name, the child's alias takes that name as its prefix.
                name = resource.name
                if name.startswith(parent_name):
                    name = parent.rsplit("::", 1)[-1] + name[len(parent_name):]
                reached.add(self._child(parent, resource.type, name, urn))
        self._reached[urn] = reached
        return reached


IDENTITY_KEYS = ("prefix", "onprem.name", "cloud.cluster.name", "sites[].name")
"""The stack keys the URNs of everything under them are named from: changing one renames resources."""

KEEP_IDENTITY = (
    "Keep their identity: for a renamed `onprem.name` or site `name`, set its `renamedFrom` to the old name (the program then "
    "aliases everything under it); otherwise add `aliases` to those resources in the program (`pulumi.ResourceOptions(aliases=[\"<old-urn>\"])`), "
    "or move each in the state before `pulumi up` with `pulumi state rename <old-urn> <new-name>`, or revert the rename. "
    f"URNs are named from the stack keys {', '.join(IDENTITY_KEYS)}: changing one renames everything under it."
)


def renames_message(renamed: list[dict[str, str]], base: Any, allowed: bool) -> str:
    """What `hybridai plan --compare` prints for protected resources whose URN changes."""
    n = len(renamed)
    head = (
        f"{'warning' if allowed else 'error'}: {n} protected resource{'s' if n != 1 else ''} would get a new URN against the base plan {base}: "
        "`pulumi up` would create them anew and then fail to delete the old ones (or, once unprotected, delete them and their data)"
    )
    lines = [head + ":"]
    for r in renamed:
        lines.append(f"  {r['type']}: {r['from']}")
        lines.append(f"    -> {r['to']}")
    lines.append(KEEP_IDENTITY)
    lines.append("Allowed by --allow-renames." if allowed else "Pass --allow-renames if the change is deliberate.")
    return "\n".join(lines)
