"""`onprem` as a list of data centers (hybridai/config/sites.py): the shape, the rules of the list,
where teams and models run, the share of each model's peak each site carries, the failover table."""
from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from hybridai.config import StackConfigError
from hybridai.config.codec import decode_config, encode_config
from hybridai.config.sites import failover, model_sites, normal_share, peak_share, site_view, standby_sites, team_sites
from hybridai.program import prepare
from tests.conftest import TWO_DC, TWO_DC_FILE
from tests.helpers import problems_of, stack_values

STACK = TWO_DC


def two_dc() -> dict[str, Any]:
    config = yaml.safe_load(TWO_DC_FILE.read_text())["config"]
    return decode_config(encode_config(config))


def primary_dr() -> dict[str, Any]:
    """The example as a primary with a DR site that stands by for fraud scoring alone."""
    values = two_dc()
    values["onprem"][0]["role"] = "primary"
    values["onprem"][1]["role"] = "dr"
    for model in values["models"]:
        model["production"] = model["name"] == "fraud-score"
    values["models"][0]["critical"] = True
    return values


def test_a_single_mapping_is_one_site_and_its_own_view() -> None:
    # GIVEN finance-prod, whose `onprem` is one mapping
    spec, capacity = prepare("finance-prod", stack_values("finance-prod"))
    # WHEN its sites are read THEN it is one site, and the stack as that site sees it is the stack itself
    assert [s.name for s in spec.onprem_sites()] == ["dc1"]
    assert not spec.multi_site()
    assert site_view(spec, "dc1") is spec
    # AND no other cluster is planned
    assert capacity.clusters == {}


def test_a_list_of_clusters_keeps_the_first_as_the_lead() -> None:
    # GIVEN the two-DC example (both active)
    spec, capacity = prepare(STACK, two_dc())
    # THEN `onprem` is the first listed (the hub), both are sites, and dc2 has a capacity plan of its own
    assert spec.onprem.name == "dc1" and spec.onprem.context == "bank-dc1-admin"
    assert [(s.name, s.role, s.context) for s in spec.onprem_sites()] == [("dc1", "active", "bank-dc1-admin"), ("dc2", "active", "bank-dc2-admin")]
    assert set(capacity.clusters) == {"dc2"}


def test_a_primary_leads_wherever_it_is_listed() -> None:
    # GIVEN the DR pair with the DR site listed first
    values = primary_dr()
    values["onprem"].reverse()
    spec, _ = prepare(STACK, values)
    # THEN the primary is the lead cluster
    assert spec.onprem.name == "dc1"


def test_active_active_sizes_each_site_for_the_whole_peak() -> None:
    # GIVEN two active sites serving every model
    spec, capacity = prepare(STACK, two_dc())
    fraud = next(m for m in spec.models if m.name == "fraud-score")
    # THEN each carries half the peak while both are up, and is sized for all of it (the other lost)
    assert model_sites(spec, fraud) == ["dc1", "dc2"]
    assert (normal_share(spec, fraud, "dc1"), peak_share(spec, fraud, "dc1")) == (0.5, 1.0)
    # AND both plan the replicas finance-prod's one cluster plans for the whole peak (900 rps / 250 → 6 with headroom)
    _, single = prepare("finance-prod", stack_values("finance-prod"))
    assert capacity.onprem.placements["fraud-score"] == capacity.clusters["dc2"].placements["fraud-score"] == single.onprem.placements["fraud-score"]


def test_three_active_sites_size_each_for_half() -> None:
    # GIVEN a third active site
    values = two_dc()
    third = copy.deepcopy(values["onprem"][1])
    third.update(name="dc3", context="bank-dc3-admin", network={"podCidr": "10.100.0.0/16", "serviceCidr": "10.101.0.0/16"})
    for pool in third["gpuPools"]:
        pool["nodes"] = [n.replace("dc2", "dc3") for n in pool["nodes"]]
    values["onprem"].append(third)
    spec, capacity = prepare(STACK, values)
    fraud = next(m for m in spec.models if m.name == "fraud-score")
    # THEN each site carries a third and is sized for half (one of three lost)
    assert (normal_share(spec, fraud, "dc3"), peak_share(spec, fraud, "dc3")) == (pytest.approx(1 / 3), 0.5)
    view = site_view(spec, "dc3")
    assert next(m for m in view.models if m.name == "fraud-score").peak_rps == 450
    # AND the failover table shows the two survivors taking half each when dc1 is lost
    row = next(r for r in failover(spec) if r["model"] == "fraud-score")
    assert row["down"]["dc1"] == [("dc2", 0.5, "serving"), ("dc3", 0.5, "serving")]
    assert "dc3" in capacity.clusters


def test_a_dr_site_stands_by_for_the_critical_models_only() -> None:
    # GIVEN a primary and a DR site, fraud scoring critical
    spec, capacity = prepare(STACK, primary_dr())
    fraud, credit = (next(m for m in spec.models if m.name == n) for n in ("fraud-score", "credit-limit"))
    # THEN the primary serves both, the DR site holds fraud scoring at its whole peak, not credit
    assert model_sites(spec, credit) == ["dc1"] and standby_sites(spec, credit) == []
    assert standby_sites(spec, fraud) == ["dc2"] and peak_share(spec, fraud, "dc2") == 1.0 and normal_share(spec, fraud, "dc2") == 0.0
    assert set(capacity.clusters["dc2"].placements) == {"fraud-score"}
    # AND only fraud's team has a namespace on dc2
    assert [t.name for t in spec.teams if "dc2" in team_sites(spec, t)] == ["fraud"]
    # AND with dc1 down fraud scoring runs on the warm standby, the rest is down
    table = {r["model"]: r for r in failover(spec)}
    assert table["fraud-score"]["down"]["dc1"] == [("dc2", 1.0, "warm standby")]
    assert table["credit-limit"]["down"]["dc1"] == []
    assert table["credit-limit"]["down"]["dc2"] == [("dc1", 1.0, "serving")]


def test_the_list_shape_is_refused_in_the_users_words() -> None:
    # GIVEN `onprem` as a string
    values = two_dc()
    values["onprem"] = "dc1"
    # WHEN prepared THEN the problem is at `onprem`, says both shapes, and names no Python class
    with pytest.raises(StackConfigError) as caught:
        prepare(STACK, values)
    assert [(p.loc, p.type) for p in caught.value.problems] == [(("onprem",), "onprem_shape")]
    text = caught.value.render()
    assert "a list of them, one per data center" in text and "OnpremCluster" not in text and "OnpremSite" not in text


def test_a_bad_key_in_a_listed_cluster_is_at_its_index() -> None:
    # GIVEN dc2 without its context, or with an unknown key
    missing, unknown = two_dc(), two_dc()
    del missing["onprem"][1]["context"]
    unknown["onprem"][1]["kubeContext"] = "bank-dc2-admin"
    # THEN each is reported at onprem[1]
    assert problems_of(STACK, missing) == {(("onprem", 1, "context"), "missing")}
    assert problems_of(STACK, unknown) == {(("onprem", 1, "kubeContext"), "extra_forbidden")}


def test_an_example_value_in_a_listed_cluster_is_at_its_index() -> None:
    # GIVEN dc2 keeping the pod network `hybridai new` writes
    values = two_dc()
    values["onprem"][1]["network"]["podCidr"] = "10.244.0.0/16"
    # THEN the prod stack is refused at onprem[1].network.podCidr
    assert problems_of(STACK, values) == {(("onprem", 1, "network", "podCidr"), "example_value")}


def set_at(values: dict, path: list, value: Any) -> dict:
    node = values
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return values


BAD_INPUT = [
    ("two clusters with one name", lambda v: set_at(v, ["onprem", 1, "name"], "dc1"), {(("onprem", 1, "name"), "duplicate")}),
    ("an on-prem cluster named like the cloud pool's (`training` by default)", lambda v: set_at(v, ["onprem", 1, "name"], "training"), {(("onprem", 1, "name"), "duplicate")}),
    ("two primaries", lambda v: set_at(set_at(v, ["onprem", 0, "role"], "primary"), ["onprem", 1, "role"], "primary"), {(("onprem", 1, "role"), "primary_twice")}),
    ("a dr without a primary", lambda v: set_at(v, ["onprem", 1, "role"], "dr") and [m.update(critical=True) for m in v["models"]] and v, {(("onprem", 1, "role"), "dr_without_primary")}),
    ("a dr with no critical model", lambda v: set_at(primary_dr(), ["models", 0, "critical"], False), {(("onprem", 1, "role"), "dr_without_critical"), (("models", 0, "clusters"), "single_site")}),
    ("a model pinned to a cluster that doesn't exist", lambda v: set_at(v, ["models", 1, "clusters"], ["dc1", "dc9"]), {(("models", 1, "clusters", 1), "cluster_unknown")}),
    ("a team on a cluster that doesn't exist", lambda v: set_at(v, ["teams", 1, "clusters"], ["dc1", "dc3"]), {(("teams", 1, "clusters", 1), "cluster_unknown")}),
    ("a model pinned to the dr cluster", lambda v: set_at(primary_dr(), ["models", 0, "clusters"], ["dc2"]), {(("models", 0, "clusters", 0), "cluster_standby")}),
    ("a production model on one site of a prod stack", lambda v: set_at(v, ["models", 1, "clusters"], ["dc1"]), {(("models", 1, "clusters"), "single_site")}),
    ("a model on a cluster its team isn't on", lambda v: set_at(set_at(v, ["teams", 1, "clusters"], ["dc1"]), ["models", 1, "clusters"], ["dc1", "dc2"]), {(("models", 1, "clusters"), "team_not_on_cluster")}),
    ("a cloud team placed on an on-prem cluster", lambda v: set_at(v, ["cloud", "teams", 0, "clusters"], ["dc1"]), {(("cloud", "teams", 0, "clusters"), "cluster_not_onprem")}),
    ("overlapping pod networks", lambda v: set_at(v, ["onprem", 1, "network", "podCidr"], "10.96.128.0/17"), {(("onprem", 1, "network", "podCidr"), "network_overlap")}),
    ("a residency-bound model on a foreign site", lambda v: set_at(v, ["onprem", 1, "jurisdiction"], "us"), {(("onprem", 1, "jurisdiction"), "residency")}),
    ("an unknown jurisdiction", lambda v: set_at(v, ["onprem", 1, "jurisdiction"], "atlantis"), {(("onprem", 1, "jurisdiction"), "jurisdiction_unknown")}),
    ("a dr standby neither warm nor cold", lambda v: set_at(primary_dr(), ["onprem", 1, "standby"], "lukewarm"), {(("onprem", 1, "standby"), "literal_error")}),
]


@pytest.mark.parametrize("values_of, expected", [pytest.param(f, e, id=name) for name, f, e in BAD_INPUT])
def test_bad_input_is_refused_at_its_key(values_of, expected) -> None:
    # GIVEN the two-DC example with one thing wrong
    values = values_of(two_dc())
    # WHEN prepared THEN it is refused at that key
    assert problems_of(STACK, values) == expected


def test_a_training_team_kept_off_the_hub_is_refused() -> None:
    # GIVEN fraud (which trains) only on dc2
    values = set_at(set_at(two_dc(), ["teams", 0, "clusters"], ["dc2"]), ["models", 0, "clusters"], ["dc2"])
    # THEN the team is refused at its clusters (training runs on the hub)
    assert (("teams", 0, "clusters"), "training_off_hub") in problems_of(STACK, values)


def test_sites_with_logs_need_the_hub_address() -> None:
    # GIVEN no `logging.hubUrl` (the EKS pool needs it too)
    values = two_dc()
    del values["logging"]["hubUrl"]
    # THEN the sites' rule asks for it
    assert (("logging", "hubUrl"), "hub_url_needed") in problems_of(STACK, values)


def test_a_single_cluster_names_only_itself() -> None:
    # GIVEN finance-prod (one cluster) with a model pinned to another
    values = copy.deepcopy(stack_values("finance-prod"))
    values["models"][0]["clusters"] = ["dc2"]
    # THEN it is refused at that name
    assert problems_of("finance-prod", values) == {(("models", 0, "clusters", 0), "cluster_unknown")}


def test_a_site_outside_the_jurisdiction_may_hold_nothing_of_a_residency_bound_stack() -> None:
    # GIVEN dc2 in the US, and the stack's teams and models kept to dc1 only — yet prod needs two sites
    values = two_dc()
    values["onprem"][1]["jurisdiction"] = "us"
    for team in values["teams"]:
        team["clusters"] = ["dc1"]
    # THEN dc2 no longer holds anything (no residency problem), but every production model is on one site
    found = problems_of(STACK, values)
    assert not any(t == "residency" for _, t in found)
    assert {loc for loc, t in found if t == "single_site"} == {("models", i, "clusters") for i in range(3)}
