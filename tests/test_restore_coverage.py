"""Restore, tested offline: in every example plan, each namespace holding state (its PVCs, team
namespaces, edge model caches, Loki's and Prometheus' volumes, and whatever else protects its
namespace or claims a volume) is covered by a Velero schedule on its own cluster that runs within
the profile's recovery point objective and keeps its backups at least the profile's retention, into
a location on that cluster. "Stateful" comes from the recorded resources (hybridai/recorded.py),
not from a list of names, so a component added later is held to the same rule."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hybridai import catalog
from hybridai.recorded import BACKUP_LOCATION_TYPE, SCHEDULE_TYPE, covering_schedules, schedules, stateful_namespaces
from tests.conftest import EXAMPLE_STACKS, planned


def records(stack: str) -> list[dict[str, Any]]:
    _, files = planned(stack)
    return json.loads(files[Path("resources.json")])["resources"]


@pytest.mark.parametrize("stack", EXAMPLE_STACKS)
def test_every_stateful_namespace_is_backed_up_within_the_profiles_rpo_and_retention(stack: str) -> None:
    plan, _ = planned(stack)
    spec, recs = plan.spec, records(stack)
    required = catalog.backup_policy(spec.compliance_profiles())
    stateful = stateful_namespaces(recs)
    # GIVEN what the plan holds state in: every team's namespace on its cluster, every cluster's
    # monitoring (Prometheus' volume), the on-prem log store (Loki), each edge site's model cache
    teams = {(spec.onprem.name, t.namespace) for t in spec.teams}
    pool = spec.burst_pool()
    teams |= {(pool.cluster.name, t.namespace) for t in pool.teams} if pool else set()
    teams |= {(site.name, site.owner().namespace) for site in spec.edge_sites()}
    clusters = {c for c, _ in teams}
    expected = teams | {(c, spec.monitoring.namespace) for c in clusters} | {(spec.onprem.name, spec.logging.namespace)}
    assert expected <= set(stateful), "the stateful objects of the plan are found from its records"
    caches = {key for key, why in stateful.items() if why == "PersistentVolumeClaim model-cache"}
    assert caches == {(site.name, site.owner().namespace) for site in spec.edge_sites()}
    # WHEN each is matched with the schedules on its cluster
    locations = {(r["target"], r["inputs"]["metadata"]["name"]) for r in recs if r["type"] == BACKUP_LOCATION_TYPE}
    for (cluster, namespace), found in covering_schedules(recs).items():
        # THEN at least one backs it up often enough, keeps it long enough, into a location of that cluster
        ok = [
            s for s in found
            if s.every_hours is not None and s.every_hours <= required.rpo_hours
            and s.ttl_hours is not None and s.ttl_hours >= required.retention_days * 24
            and (cluster, s.location) in locations
        ]
        assert ok, f"{stack}: {namespace} on {cluster} ({stateful[(cluster, namespace)]}) has no schedule within {required.rpo_hours} h kept {required.retention_days} days: {found}"


def test_a_namespace_without_a_schedule_is_found_uncovered() -> None:
    # GIVEN healthcare-prod's records without radiology's schedule
    recs = [r for r in records("healthcare-prod") if not (r["type"] == SCHEDULE_TYPE and r["inputs"]["metadata"]["name"] == "team-radiology")]
    # THEN radiology is stateful and nothing covers it; pathology still is covered
    coverage = covering_schedules(recs)
    assert coverage[("dc1", "radiology")] == []
    assert [s.name for s in coverage[("dc1", "pathology")]] == ["team-pathology"]


def test_state_added_by_another_component_is_held_to_the_same_rule() -> None:
    # GIVEN a component the platform doesn't have yet (an experiment tracker's database) whose
    # StatefulSet claims a volume in a namespace no schedule includes
    recs = records("healthcare-prod") + [
        {
            "type": "kubernetes:apps/v1:StatefulSet",
            "target": "dc1",
            "protect": False,
            "inputs": {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "tracking-db", "namespace": "experiments"}, "spec": {"volumeClaimTemplates": [{}]}},
        }
    ]
    # THEN it counts as state, and as not backed up
    assert stateful_namespaces(recs)[("dc1", "experiments")] == "StatefulSet tracking-db"
    assert covering_schedules(recs)[("dc1", "experiments")] == []


def test_schedule_periods_and_retention_are_read_from_velero_durations() -> None:
    # GIVEN finance-prod (SOX: 24 h, 90 days), THEN its schedules read back as written
    planned_schedules = schedules(records("finance-prod"))
    assert {(s.target, s.every_hours, s.ttl_hours, s.location) for s in planned_schedules} == {("dc1", 24.0, 2160.0, "default"), ("training", 24.0, 2160.0, "default")}
